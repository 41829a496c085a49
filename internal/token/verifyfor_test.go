package token_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/token"
)

// claimsText is the JSON text of sampleClaims, edited as text, so that a
// test can repeat or rename a name (a map cannot).
func claimsText(t *testing.T, edit func(s string) string) string {
	t.Helper()
	s := claimsJSON(t, nil)
	if edit != nil {
		s = edit(s)
	}
	return s
}

func TestVerifyFor(t *testing.T) {
	key := fixedKey(t, "k1")
	s := newSigner(t, key)
	jwks := s.JWKS()
	c := sampleClaims() // lic_01, rankmath-pro, example.com, valid until 2027-01-31, issued at issuedAt
	good, err := s.Sign(c)
	require.NoError(t, err)
	parts := strings.Split(good, ".")
	hdr := `{"alg":"EdDSA","kid":"k1","typ":"JWT"}`
	signed := func(header, payload string) string { return forge(key.Private, header, payload) }
	status := func(st string) string {
		return signed(hdr, claimsJSON(t, func(m map[string]any) { m["status"] = st }))
	}
	flipped := unb64(t, parts[2])
	flipped[0] ^= 0x01
	byOther, err := newSigner(t, newKey(t, "k2")).Sign(c)
	require.NoError(t, err)
	// The license expires on 2027-01-31; a token issued the day before is
	// still inside its own grace window after that.
	lastDay := time.Date(2027, 1, 30, 12, 0, 0, 0, time.UTC)
	late := c
	late.IssuedAt, late.ValidUntil, late.RecheckAfter, late.Expiry = lastDay.Unix(), lastDay.Unix()+7*86400, lastDay.Unix()+60, lastDay.Unix()+7*86400
	lateTok, err := s.Sign(late)
	require.NoError(t, err)

	site := token.URL("https://www.Example.com/")
	tests := []struct {
		name     string
		token    string
		license  string
		product  string
		instance token.Instance
		now      time.Time
		want     error // nil: accepted
		claims   bool  // the claims come back with the error
	}{
		{name: "good, the site as the product names it", token: good, instance: site},
		{name: "good, the canonical site", token: good, instance: token.URL("example.com")},
		{name: "good, empty type is url", token: good, instance: token.Instance{Identifier: "http://example.com:80"}},
		{name: "good at valid_until", token: good, instance: site, now: time.Unix(c.ValidUntil, 0)},
		{name: "tampered signature", token: parts[0] + "." + parts[1] + "." + b64(flipped), instance: site, want: token.ErrSignature},
		{name: "tampered claim", token: parts[0] + "." + b64([]byte(claimsJSON(t, func(m map[string]any) { m["instance"] = "evil.com" }))) + "." + parts[2],
			instance: token.URL("evil.com"), want: token.ErrSignature},
		{name: "wrong kid", token: byOther, instance: site, want: token.ErrUnknownKey},
		{name: "kid of another key", token: signed(`{"alg":"EdDSA","kid":"k2","typ":"JWT"}`, claimsJSON(t, nil)), instance: site, want: token.ErrUnknownKey},
		{name: "alg none", token: b64([]byte(`{"alg":"none","kid":"k1","typ":"JWT"}`)) + "." + parts[1] + ".", instance: site, want: token.ErrMalformed},
		{name: "alg none, signed", token: signed(`{"alg":"none","kid":"k1","typ":"JWT"}`, claimsJSON(t, nil)), instance: site, want: token.ErrAlgorithm},
		{name: "extra header name", token: signed(`{"alg":"EdDSA","kid":"k1","typ":"JWT","jku":"https://evil.example/keys"}`, claimsJSON(t, nil)), instance: site, want: token.ErrMalformed},
		{name: "header name twice", token: signed(`{"alg":"EdDSA","kid":"k2","kid":"k1","typ":"JWT"}`, claimsJSON(t, nil)), instance: site, want: token.ErrMalformed},
		{name: "header name in another case", token: signed(`{"alg":"EdDSA","KID":"k1","typ":"JWT"}`, claimsJSON(t, nil)), instance: site, want: token.ErrMalformed},
		{name: "header without typ", token: signed(`{"alg":"EdDSA","kid":"k1"}`, claimsJSON(t, nil)), instance: site, want: token.ErrMalformed},
		{name: "typ in lower case", token: signed(`{"alg":"EdDSA","kid":"k1","typ":"jwt"}`, claimsJSON(t, nil)), instance: site, want: token.ErrMalformed},
		{name: "duplicate claim", token: signed(hdr, claimsText(t, func(s string) string {
			return strings.Replace(s, `"status":"valid"`, `"status":"suspended","status":"valid"`, 1)
		})), instance: site, want: token.ErrClaims},
		{name: "duplicate claim, escaped", token: signed(hdr, claimsText(t, func(s string) string {
			return strings.Replace(s, `"instance":"example.com"`, `"instance":"example.com","\u0069nstance":"other.com"`, 1)
		})), instance: site, want: token.ErrClaims},
		{name: "claim in another case", token: signed(hdr, claimsText(t, func(s string) string {
			return strings.Replace(s, `"lid":`, `"LID":`, 1)
		})), instance: site, want: token.ErrClaims},
		{name: "unknown claim", token: signed(hdr, claimsJSON(t, func(m map[string]any) { m["premium"] = true })), instance: site, want: token.ErrClaims},
		{name: "missing claim", token: signed(hdr, claimsJSON(t, func(m map[string]any) { delete(m, "recheck_after") })), instance: site, want: token.ErrClaims},
		{name: "data after the claims", token: signed(hdr, claimsJSON(t, nil)+`{}`), instance: site, want: token.ErrMalformed},
		{name: "wrong site", token: good, instance: token.URL("https://example.org/"), want: token.ErrNotBound},
		{name: "a subpath is another site", token: good, instance: token.URL("https://example.com/blog"), want: token.ErrNotBound},
		{name: "a host name keeps its www", token: good, instance: token.Hostname("www.example.com"), want: token.ErrNotBound},
		{name: "a machine id is exact", token: good, instance: token.MachineID("Example.com"), want: token.ErrNotBound},
		{name: "not an identifier", token: good, instance: token.URL(""), want: token.ErrNotBound},
		{name: "wrong license", token: good, license: "lic_02", instance: site, want: token.ErrNotBound},
		{name: "wrong product", token: good, product: "content-ai", instance: site, want: token.ErrNotBound},
		{name: "wrong site, past valid_until", token: good, instance: token.URL("example.org"), now: time.Unix(c.ValidUntil+1, 0), want: token.ErrNotBound},
		{name: "expired token", token: good, instance: site, now: time.Unix(c.ValidUntil+1, 0), want: token.ErrExpired, claims: true},
		{name: "suspended", token: status("suspended"), instance: site, want: token.ErrSuspended, claims: true},
		{name: "cancelled", token: status("cancelled"), instance: site, want: token.ErrCancelled, claims: true},
		{name: "license expired at issue", token: status("expired"), instance: site, want: token.ErrLicenseExpired, claims: true},
		{name: "license expired since issue", token: lateTok, instance: site, now: lastDay.Add(36 * time.Hour), want: token.ErrLicenseExpired, claims: true},
		{name: "issued in the future", token: good, instance: site, now: issuedAt.Add(-time.Hour), want: token.ErrNotYetValid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			license, product, now := tc.license, tc.product, tc.now
			if license == "" {
				license = "lic_01"
			}
			if product == "" {
				product = "rankmath-pro"
			}
			if now.IsZero() {
				now = issuedAt
			}
			got, err := token.VerifyFor(tc.token, jwks, license, product, tc.instance, now)
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, "lic_01", got.LicenseID)
				assert.Equal(t, "example.com", got.Instance)
				return
			}
			require.ErrorIs(t, err, tc.want)
			if tc.claims {
				assert.Equal(t, "lic_01", got.LicenseID, "the claims of a genuine token for this seat come back")
			} else {
				assert.Zero(t, got)
			}
		})
	}
}

// A product tells the refusals apart with errors.Is.
func TestVerifyForErrorsApart(t *testing.T) {
	for _, e := range []error{token.ErrSuspended, token.ErrCancelled, token.ErrLicenseExpired} {
		assert.ErrorIs(t, e, token.ErrNotValid)
		assert.NotErrorIs(t, e, token.ErrExpired)
		assert.NotErrorIs(t, e, token.ErrNotBound)
	}
	assert.NotErrorIs(t, token.ErrExpired, token.ErrNotValid)
	assert.NotErrorIs(t, token.ErrSuspended, token.ErrCancelled)
}
