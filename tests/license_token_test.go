package tests

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/token"
)

// Check and activate answers carry a license token that verifies against
// the JWKS the API serves, with the brand's grace window.
func TestLicenseTokensOverHTTP(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	e := start(t, func(o *devserver.Options) { o.Now = c.Now })
	keys := e.get(t, "/api/v1/product/keys", "")
	require.Equal(t, http.StatusOK, keys.status)
	assert.Contains(t, keys.header.Get("Cache-Control"), "max-age")

	var act struct {
		ActivationID string `json:"activation_id"`
		LicenseToken string `json:"license_token"`
	}
	expectOK(t, e.post(t, "/api/v1/product/licenses/activate", "", map[string]string{
		"license_key": demo.RankMathKey, "instance_identifier": "https://www.token-site.com/", "product": "rankmath-pro",
	}), http.StatusCreated, &act)
	// VerifyFor is what a product calls: genuine, for this license, product
	// and site (named as the product names it), in good standing.
	site := token.URL("https://www.token-site.com/")
	claims, err := token.VerifyFor(act.LicenseToken, keys.body, demo.RankMathProLicense, "rankmath-pro", site, c.Now())
	require.NoError(t, err)
	assert.ErrorIs(t, verifyErr(act.LicenseToken, keys.body, demo.RankMathProLicense, "rankmath-pro", token.URL("other-site.com"), c.Now()), token.ErrNotBound)
	assert.ErrorIs(t, verifyErr(act.LicenseToken, keys.body, demo.RankMathProLicense, "content-ai", site, c.Now()), token.ErrNotBound)
	assert.ErrorIs(t, verifyErr(act.LicenseToken, keys.body, demo.RankMathProLicense, "rankmath-pro", site, c.Now().Add(7*24*time.Hour+time.Second)), token.ErrExpired)
	// The product's own verifier (tests/token_test.go), sharing no code with
	// the service, accepts the served token with the served JWKS alone.
	offline, why, ok := offlineVerify(act.LicenseToken, keys.body)
	require.True(t, ok, why)
	assert.Equal(t, claims.ActivationID, offline.ActivationID)
	assert.Equal(t, claims.ValidUntil, offline.Exp)
	assert.Equal(t, act.ActivationID, claims.ActivationID)
	assert.Equal(t, demo.RankMathProLicense, claims.LicenseID)
	assert.Equal(t, "rankmath-pro", claims.Product)
	assert.Equal(t, "token-site.com", claims.Instance)
	assert.Equal(t, "valid", claims.Status)
	assert.Equal(t, "rankmath", claims.Brand)
	assert.Equal(t, c.Now().Add(7*24*time.Hour).Unix(), claims.ValidUntil, "default grace: 7 days")
	assert.Equal(t, c.Now().Add(60*time.Second).Unix(), claims.RecheckAfter)

	q := url.Values{"license_key": {demo.RankMathKey}, "instance_identifier": {"token-site.com"}, "product": {"rankmath-pro"}}
	r := e.get(t, "/api/v1/product/licenses/check?"+q.Encode(), "")
	require.Equal(t, http.StatusOK, r.status)
	var chk struct {
		LicenseToken string `json:"license_token"`
	}
	require.NoError(t, json.Unmarshal(r.body, &chk))
	claims, err = token.VerifyFor(chk.LicenseToken, keys.body, demo.RankMathProLicense, "rankmath-pro", token.URL("token-site.com"), c.Now())
	require.NoError(t, err)
	assert.True(t, claims.Entitled(c.Now()))
	assert.Equal(t, act.ActivationID, claims.ActivationID)
	_, why, ok = offlineVerify(chk.LicenseToken, keys.body)
	require.True(t, ok, why)

	// A site that holds no seat gets the answer but no token: it has nothing
	// to keep on offline.
	for _, site := range []string{"other-site.com", ""} {
		q := url.Values{"license_key": {demo.RankMathKey}, "instance_identifier": {site}, "product": {"rankmath-pro"}}
		r := e.get(t, "/api/v1/product/licenses/check?"+q.Encode(), "")
		require.Equal(t, http.StatusOK, r.status, site)
		var seatless map[string]any
		require.NoError(t, json.Unmarshal(r.body, &seatless))
		assert.Equal(t, true, seatless["is_valid"], site)
		assert.NotContains(t, seatless, "license_token", site)
	}

	// The ETag ignores the token's issue time: a second later the answer is 304.
	c.advance(time.Second)
	req, err := http.NewRequest(http.MethodGet, e.srv.APIURL+"/api/v1/product/licenses/check?"+q.Encode(), nil)
	require.NoError(t, err)
	req.Header.Set("If-None-Match", r.header.Get("ETag"))
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)

	// A suspended license's token says so; the product stops trusting it.
	expectOK(t, e.post(t, actionPath(demo.RankMathProLicense, "suspend"), rmKey, map[string]string{}), http.StatusOK, nil)
	r = e.get(t, "/api/v1/product/licenses/check?"+q.Encode(), "")
	require.NoError(t, json.Unmarshal(r.body, &chk))
	claims, err = token.VerifyFor(chk.LicenseToken, keys.body, demo.RankMathProLicense, "rankmath-pro", site, c.Now())
	require.ErrorIs(t, err, token.ErrSuspended, "the product tells a suspension from an expiry or another site")
	assert.Equal(t, "suspended", claims.Status)
	assert.False(t, claims.Entitled(c.Now()))
}

// verifyErr is VerifyFor's error alone.
func verifyErr(tok string, jwks []byte, license, product string, in token.Instance, now time.Time) error {
	_, err := token.VerifyFor(tok, jwks, license, product, in, now)
	return err
}
