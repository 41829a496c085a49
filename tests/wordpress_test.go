package tests

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/licensing"
)

type wpSeat struct {
	ActivationID       string `json:"activation_id"`
	InstanceIdentifier string `json:"instance_identifier"`
	Environment        string `json:"environment"`
	SeatsUsed          int    `json:"seats_used"`
	SeatsRemaining     int    `json:"seats_remaining"`
	StagingUsed        int    `json:"staging_sites_used"`
	MovedFrom          string `json:"moved_from"`
}

func wpActivate(t *testing.T, e *env, key, site, previous string) reply {
	t.Helper()
	body := map[string]string{"license_key": key, "instance_identifier": site}
	if previous != "" {
		body["previous_instance_identifier"] = previous
	}
	return e.post(t, "/api/v1/product/licenses/activate", "", body)
}

// Over HTTP: staging and local copies beyond a full license's seats, the
// staging cap, a site move under a full license, and the reclaim of a stale
// seat with the service's clock moved.
func TestWordPressSeatsOverHTTP(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	e := start(t, func(o *devserver.Options) { o.Now = c.Now })
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: "wp@example.com", Products: []string{"rankmath-pro"}, MaxSeats: ptr(1)})
	key, id := p.LicenseKey.Key, p.Licenses[0].ID

	var s wpSeat
	expectOK(t, wpActivate(t, e, key, "https://www.shop.com/", ""), http.StatusCreated, &s)
	assert.Equal(t, "production", s.Environment)
	assert.Empty(t, s.MovedFrom, "not a move")
	assert.Equal(t, 0, s.SeatsRemaining)
	expectError(t, e, call{method: http.MethodPost, path: "/api/v1/product/licenses/activate",
		body: jsonOf(t, map[string]string{"license_key": key, "instance_identifier": "https://other.com"})}, http.StatusConflict, "no_seats_available")

	// Staging and local copies take no seat, up to the cap of 3.
	for i, site := range []string{"https://staging.shop.com", "http://localhost:8888/shop", "https://shop.wpengine.com"} {
		expectOK(t, wpActivate(t, e, key, site, ""), http.StatusCreated, &s)
		assert.NotEqual(t, "production", s.Environment, site)
		assert.Equal(t, 1, s.SeatsUsed, site)
		assert.Equal(t, i+1, s.StagingUsed, site)
	}
	expectError(t, e, call{method: http.MethodPost, path: "/api/v1/product/licenses/activate",
		body: jsonOf(t, map[string]string{"license_key": key, "instance_identifier": "https://dev.shop.com"})}, http.StatusConflict, "no_seats_available")

	// The brand raises its cap; the fourth copy fits.
	require.NoError(t, e.srv.Service.App.Ops().ConfigureBrand(context.Background(), "rankmath", licensing.BrandSettings{StagingCap: 4}))
	expectOK(t, wpActivate(t, e, key, "https://dev.shop.com", ""), http.StatusCreated, &s)

	// A move under the full license: shop.com → new-shop.com keeps the seat.
	var moved wpSeat
	expectOK(t, wpActivate(t, e, key, "https://new-shop.com", "https://shop.com"), http.StatusCreated, &moved)
	assert.Equal(t, "new-shop.com", moved.InstanceIdentifier)
	assert.Equal(t, "shop.com", moved.MovedFrom, "the answer says whose seat it took")
	assert.Equal(t, 1, moved.SeatsUsed)
	var lic struct {
		SeatsUsed   int `json:"seats_used"`
		Activations []struct {
			InstanceIdentifier string `json:"instance_identifier"`
			Environment        string `json:"environment"`
			LastSeenAt         string `json:"last_seen_at"`
		} `json:"activations"`
	}
	expectOK(t, e.get(t, licensePath(id), rmKey), http.StatusOK, &lic)
	sites := map[string]string{}
	for _, a := range lic.Activations {
		sites[a.InstanceIdentifier] = a.Environment
		assert.NotEmpty(t, a.LastSeenAt, "support sees when a site was last seen")
	}
	assert.Equal(t, "production", sites["new-shop.com"])
	assert.NotContains(t, sites, "shop.com")
	assert.Len(t, sites, 5)

	// 31 days later only new-shop.com has called in; with 30 stale days the
	// daily job frees the unseen copies.
	c.advance(31 * 24 * time.Hour)
	r := e.get(t, "/api/v1/product/licenses/check?license_key="+key+"&instance_identifier=new-shop.com", "")
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, e.srv.Service.App.Ops().ConfigureBrand(context.Background(), "rankmath", licensing.BrandSettings{StagingCap: 4, StaleAfterDays: 30}))
	done, err := e.srv.Service.App.Ops().ReclaimStale(context.Background())
	require.NoError(t, err)
	require.Len(t, done, 1)
	assert.Equal(t, 5, done[0].Seats, "the four copies nobody saw for 31 days, and the demo data's seat")
	expectOK(t, e.get(t, licensePath(id), rmKey), http.StatusOK, &lic)
	require.Len(t, lic.Activations, 1)
	assert.Equal(t, "new-shop.com", lic.Activations[0].InstanceIdentifier)
	assert.Equal(t, 1, lic.SeatsUsed)
}
