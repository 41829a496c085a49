package tests

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	miniserver "github.com/truora/minidyn/server"

	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/devserver"
)

// pathEDD is the EDD-compatible product route.
const pathEDD = "/api/v1/product/edd"

// eddAnswer is an EDD answer as an EDD client reads it.
type eddAnswer struct {
	Success         bool   `json:"success"`
	License         string `json:"license"`
	ItemID          any    `json:"item_id"`
	ItemName        string `json:"item_name"`
	Checksum        string `json:"checksum"`
	Expires         any    `json:"expires"`
	PaymentID       int    `json:"payment_id"`
	CustomerName    string `json:"customer_name"`
	CustomerEmail   string `json:"customer_email"`
	LicenseLimit    int    `json:"license_limit"`
	SiteCount       int    `json:"site_count"`
	ActivationsLeft int    `json:"activations_left"`
	IsLocal         bool   `json:"is_local"`
	Error           string `json:"error"`
	raw             string
}

// eddParams are the parameters of one EDD request.
type eddParams map[string]string

func (p eddParams) values() url.Values {
	v := url.Values{}
	for k, s := range p {
		v.Set(k, s)
	}
	return v
}

// eddRaw sends an EDD request as a WordPress plugin does: GET with the query
// string, POST with a form body, over HTTP to the local service, which must
// serve the route.
func (e *env) eddRaw(t *testing.T, method string, p eddParams) reply {
	t.Helper()
	return e.eddWire(t, method, p.values().Encode())
}

// eddWire sends an EDD request with exactly these bytes on the wire: the
// query string of a GET, the form body of a POST (with the Content-Type
// WordPress' wp_remote_post sends).
func (e *env) eddWire(t *testing.T, method, raw string) reply {
	t.Helper()
	c := call{method: method, path: pathEDD}
	if method == http.MethodPost {
		c.body = []byte(raw)
		c.header = map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
	} else if raw != "" {
		c.path += "?" + raw
	}
	return e.do(t, c)
}

// customerData must never appear in an EDD answer: the customers' e-mails of
// these tests, and the ids of keys and licenses.
var customerData = []string{demo.DemoCustomer, "edd-expiry@example.com", "edd-owner@example.com", `"lic_`, `"lk_`, "@"}

// edd sends an EDD request and requires a 200 EDD answer that shows no
// customer data.
func (e *env) edd(t *testing.T, method string, p eddParams) eddAnswer {
	t.Helper()
	return e.eddRead(t, e.eddRaw(t, method, p))
}

// eddRead requires a 200 EDD answer that shows no customer data.
func (e *env) eddRead(t *testing.T, r reply) eddAnswer {
	t.Helper()
	m := expectOK(t, r, http.StatusOK, nil)
	requireFields(t, m, "success", "license", "item_id", "item_name", "expires", "payment_id",
		"customer_name", "customer_email", "license_limit", "site_count", "activations_left")
	var a eddAnswer
	require.NoError(t, json.Unmarshal(r.body, &a), "body: %s", r.body)
	a.raw = string(r.body)
	require.Empty(t, a.CustomerName, "customer_name in %s", r.body)
	require.Empty(t, a.CustomerEmail, "customer_email in %s", r.body)
	require.Zero(t, a.PaymentID)
	for _, s := range customerData {
		require.NotContains(t, string(r.body), s, "the answer shows customer data")
	}
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	return a
}

// eddFail requires a failed answer with license value and error code, and
// that the request changed nothing.
func (e *env) eddFail(t *testing.T, method string, p eddParams, license, code string) eddAnswer {
	t.Helper()
	var a eddAnswer
	e.unchanged(t, func() { a = e.edd(t, method, p) })
	require.False(t, a.Success, a.raw)
	require.Equal(t, license, a.License, a.raw)
	require.Equal(t, code, a.Error, a.raw)
	return a
}

// eddCheck requires a check answer (success true) with license value and
// error code, and that the check changed nothing.
func (e *env) eddCheck(t *testing.T, method string, p eddParams, license, code string) eddAnswer {
	t.Helper()
	p["edd_action"] = "check_license"
	var a eddAnswer
	e.unchanged(t, func() { a = e.edd(t, method, p) })
	require.True(t, a.Success, a.raw)
	require.Equal(t, license, a.License, a.raw)
	require.Equal(t, code, a.Error, a.raw)
	return a
}

// productIDs are a brand's product ids by slug.
func (e *env) productIDs(t *testing.T, apiKey string) map[string]string {
	t.Helper()
	var out struct {
		Products []productJSON `json:"products"`
	}
	expectOK(t, e.get(t, pathProducts, apiKey), http.StatusOK, &out)
	ids := map[string]string{}
	for _, p := range out.Products {
		ids[p.Slug] = p.ID
	}
	return ids
}

// act is an activation as EDD's plugin updater sends it, with parameters
// the endpoint does not use.
func act(key, item, site string) eddParams {
	return eddParams{"edd_action": "activate_license", "license": key, "item_name": item, "url": site, "environment": "production", "version": "1.0.0"}
}

func deact(key, item, site string) eddParams {
	return eddParams{"edd_action": "deactivate_license", "license": key, "item_name": item, "url": site}
}

func TestEDDActivate(t *testing.T) {
	t.Parallel()
	e := start(t)
	ids := e.productIDs(t, rmKey)
	const key = demo.RankMathKey

	t.Run("a new site takes a seat", func(t *testing.T) {
		a := e.edd(t, http.MethodPost, act(key, "Rank Math Pro", "https://one.example.com/"))
		require.True(t, a.Success, a.raw)
		require.Equal(t, "valid", a.License)
		require.Empty(t, a.Error)
		require.Equal(t, ids["rankmath-pro"], a.ItemID)
		require.Equal(t, "Rank Math Pro", a.ItemName)
		require.Equal(t, "2030-12-31 23:59:59", a.Expires)
		require.Equal(t, 3, a.LicenseLimit)
		require.Equal(t, 2, a.SiteCount, "demo.example.com holds the other seat")
		require.Equal(t, 1, a.ActivationsLeft)
		require.Regexp(t, `^[0-9a-f]{64}$`, a.Checksum)
	})
	t.Run("a site that holds a seat keeps it", func(t *testing.T) {
		for _, site := range []string{"http://www.one.example.com", "https://" + demo.DemoSite} {
			var a eddAnswer
			e.unchanged(t, func() { a = e.edd(t, http.MethodGet, act(key, "rank math pro", site)) })
			require.True(t, a.Success, a.raw)
			require.Equal(t, "valid", a.License)
			require.Equal(t, 2, a.SiteCount)
		}
	})
	t.Run("item_id by slug and by id, item_name by slug form", func(t *testing.T) {
		a := e.edd(t, http.MethodGet, eddParams{"edd_action": "activate_license", "license": key, "item_id": "content-ai", "url": "one.example.com"})
		require.True(t, a.Success, a.raw)
		require.Equal(t, ids["content-ai"], a.ItemID)
		require.Equal(t, "content-ai", a.ItemName, "no item_name: the product's slug")
		require.Equal(t, 1, a.SiteCount)
		a = e.edd(t, http.MethodPost, eddParams{"edd_action": "activate_license", "license": strings.ToLower(key), "item_id": ids["content-ai"], "url": "two.example.com"})
		require.True(t, a.Success, a.raw)
		require.Equal(t, 2, a.SiteCount)
		a = e.edd(t, http.MethodPost, act(key, "CONTENT  AI", "three.example.com"))
		require.True(t, a.Success, a.raw)
		require.Equal(t, 3, a.SiteCount)
	})
	t.Run("a staging or local site takes no seat", func(t *testing.T) {
		for _, site := range []string{"https://staging.one.example.com", "http://localhost:8080/wp"} {
			a := e.edd(t, http.MethodPost, act(key, "Rank Math Pro", site))
			require.True(t, a.Success, a.raw)
			require.Equal(t, "valid", a.License)
			require.True(t, a.IsLocal, a.raw)
			require.Equal(t, 2, a.SiteCount)
			e.eddCheck(t, http.MethodGet, eddParams{"license": key, "item_name": "Rank Math Pro", "url": site}, "valid", "")
		}
		a := e.edd(t, http.MethodPost, act(key, "Rank Math Pro", "one.example.com"))
		require.False(t, a.IsLocal, a.raw)
		require.NotContains(t, a.raw, "is_local")
	})
	t.Run("a key of one product needs no item", func(t *testing.T) {
		a := e.edd(t, http.MethodPost, eddParams{"edd_action": "activate_license", "license": demo.WPRocketKey, "url": "rocket.example.com"})
		require.True(t, a.Success, a.raw)
		require.Equal(t, "wp-rocket", a.ItemName)
		require.Equal(t, 0, a.ActivationsLeft)
	})
	t.Run("no_activations_left", func(t *testing.T) {
		a := e.edd(t, http.MethodPost, act(key, "Rank Math Pro", "two.example.com"))
		require.True(t, a.Success, a.raw)
		require.Equal(t, 0, a.ActivationsLeft)
		a = e.eddFail(t, http.MethodPost, act(key, "Rank Math Pro", "four.example.com"), "invalid", "no_activations_left")
		require.Equal(t, 3, a.LicenseLimit)
		require.Equal(t, 3, a.SiteCount)
		require.Equal(t, 0, a.ActivationsLeft)
		require.Equal(t, "2030-12-31 23:59:59", a.Expires)
		a = e.eddFail(t, http.MethodGet, eddParams{"edd_action": "activate_license", "license": demo.WPRocketKey, "url": "rocket2.example.com"}, "invalid", "no_activations_left")
		require.Equal(t, 1, a.SiteCount)
	})
	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			p    eddParams
			code string
		}{
			{"an unknown key", act("RM-ZZZZ-2222-3333-4444", "Rank Math Pro", "x.example.com"), "missing"},
			{"an unknown key with a name to look up", act("RM-ZZZZ-2222-3333-4444", "Rank Math Pro™", "x.example.com"), "missing"},
			{"an unknown prefix", act("XX-ZZZZ-2222-3333-4444", "Rank Math Pro", "x.example.com"), "missing"},
			{"a malformed key", act("not a key", "Rank Math Pro", "x.example.com"), "missing"},
			{"no key", act("", "Rank Math Pro", "x.example.com"), "missing"},
			{"another brand's product by name", act(key, "WP Rocket", "x.example.com"), "item_name_mismatch"},
			{"an unknown product name", act(key, "Rank Math Ultra", "x.example.com"), "item_name_mismatch"},
			{"a name without a slug form", act(key, "Rank Math Pro™", "x.example.com"), "item_name_mismatch"},
			{"another brand's product by slug", eddParams{"edd_action": "activate_license", "license": key, "item_id": "wp-rocket", "url": "x.example.com"}, "invalid_item_id"},
			{"a numeric item_id", eddParams{"edd_action": "activate_license", "license": key, "item_id": "123", "url": "x.example.com"}, "invalid_item_id"},
			{"a garbage item_id", eddParams{"edd_action": "activate_license", "license": key, "item_id": "no such!", "url": "x.example.com"}, "invalid_item_id"},
			{"a key of several products without an item", eddParams{"edd_action": "activate_license", "license": key, "url": "x.example.com"}, "key_mismatch"},
			{"no url", act(key, "Rank Math Pro", ""), "missing_url"},
			{"a url that is not one", act(key, "Rank Math Pro", "ftp://x.example.com"), "missing_url"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := e.eddFail(t, http.MethodPost, tc.p, "invalid", tc.code)
				require.Equal(t, false, a.ItemID)
			})
		}
	})
}

func TestEDDCheck(t *testing.T) {
	t.Parallel()
	e := start(t)
	const key = demo.RankMathKey
	check := func(item, site string) eddParams {
		return eddParams{"license": key, "item_name": item, "url": site}
	}

	a := e.eddCheck(t, http.MethodGet, check("Rank Math Pro", "https://www."+demo.DemoSite+"/"), "valid", "")
	require.Equal(t, 1, a.SiteCount)
	require.Equal(t, 2, a.ActivationsLeft)
	require.Equal(t, "2030-12-31 23:59:59", a.Expires)
	e.eddCheck(t, http.MethodPost, check("Rank Math Pro", demo.DemoSite), "valid", "")
	e.eddCheck(t, http.MethodPost, check("Rank Math Pro", "other.example.com"), "site_inactive", "site_inactive")
	e.eddCheck(t, http.MethodGet, check("Rank Math Pro", ""), "valid", "")
	e.eddCheck(t, http.MethodGet, check("Content AI", ""), "inactive", "")
	e.eddCheck(t, http.MethodGet, check("Content AI", demo.DemoSite), "site_inactive", "site_inactive")

	// As EDD's check_license: a known key that covers no such item answers
	// the item error as the license value, with success; a key of several
	// products and no item is EDD's item_name_mismatch (an empty name).
	a = e.eddCheck(t, http.MethodGet, check("WP Rocket", demo.DemoSite), "item_name_mismatch", "item_name_mismatch")
	require.Equal(t, false, a.ItemID)
	e.eddCheck(t, http.MethodPost, check("WP+Rocket", demo.DemoSite), "item_name_mismatch", "item_name_mismatch")
	e.eddCheck(t, http.MethodGet, check("Rank Math Ultra", demo.DemoSite), "item_name_mismatch", "item_name_mismatch")
	e.eddCheck(t, http.MethodGet, eddParams{"license": key, "item_id": "wp-rocket", "url": demo.DemoSite}, "invalid_item_id", "invalid_item_id")
	e.eddCheck(t, http.MethodGet, eddParams{"license": key, "item_id": "4242", "url": demo.DemoSite}, "invalid_item_id", "invalid_item_id")
	e.eddCheck(t, http.MethodGet, eddParams{"license": key, "url": demo.DemoSite}, "item_name_mismatch", "key_mismatch")
	// Only "invalid" (an unknown, malformed or missing key) has success false.
	for _, k := range []string{"RM-ZZZZ-2222-3333-4444", "XX-ZZZZ-2222-3333-4444", "not a key"} {
		a = e.eddFail(t, http.MethodPost, eddParams{"edd_action": "check_license", "license": k, "item_name": "Rank Math Pro", "url": demo.DemoSite}, "invalid", "missing")
		require.Equal(t, false, a.ItemID)
		require.Equal(t, false, a.Expires)
	}
	e.eddFail(t, http.MethodGet, eddParams{"edd_action": "check_license", "license": "RM-ZZZZ-2222-3333-4444", "item_name": "Rank Math Pro™"}, "invalid", "missing")
	e.eddFail(t, http.MethodGet, eddParams{"edd_action": "check_license", "item_name": "Rank Math Pro", "url": demo.DemoSite}, "invalid", "missing")
	e.eddFail(t, http.MethodGet, eddParams{"edd_action": "check_license", "license": key, "item_name": "Rank Math Pro", "url": "http://"}, "invalid", "missing_url")

	t.Run("disabled", func(t *testing.T) {
		expectOK(t, e.post(t, actionPath(demo.RankMathProLicense, "suspend"), rmKey, map[string]string{"reason": "chargeback"}), http.StatusOK, nil)
		a := e.eddCheck(t, http.MethodGet, check("Rank Math Pro", demo.DemoSite), "disabled", "disabled")
		require.Equal(t, 1, a.SiteCount)
		a = e.eddFail(t, http.MethodPost, act(key, "Rank Math Pro", "new.example.com"), "invalid", "disabled")
		require.Equal(t, "2030-12-31 23:59:59", a.Expires)
		require.Equal(t, 1, a.SiteCount)
		// A seat is freed in every status, as by the product API.
		a = e.edd(t, http.MethodPost, deact(key, "Rank Math Pro", demo.DemoSite))
		require.True(t, a.Success, a.raw)
		require.Equal(t, "deactivated", a.License)
		require.Equal(t, 0, a.SiteCount)
		expectOK(t, e.post(t, actionPath(demo.RankMathProLicense, "resume"), rmKey, map[string]string{}), http.StatusOK, nil)
		e.eddCheck(t, http.MethodGet, check("Rank Math Pro", demo.DemoSite), "site_inactive", "site_inactive")

		expectOK(t, e.post(t, actionPath(demo.ContentAILicense, "cancel"), rmKey, map[string]string{"reason": "refund"}), http.StatusOK, nil)
		e.eddCheck(t, http.MethodPost, check("Content AI", demo.DemoSite), "disabled", "disabled")
		e.eddFail(t, http.MethodGet, act(key, "Content AI", demo.DemoSite), "invalid", "disabled")
	})
}

// TestEDDAsWordPressSendsIt replays the bytes a WordPress site sends with
// EDD's sample plugin: item_name urlencode()d (older sample) or
// rawurlencode()d (newer, with a numeric item_id and environment), which
// wp_remote_post encodes again with http_build_query, or which
// wp_remote_get(add_query_arg(…)) puts in the URL as they are. EDD urldecodes
// the name before comparing it; so does the endpoint, after trying the name as
// sent, so that a '+' in a product's name still matches.
func TestEDDAsWordPressSendsIt(t *testing.T) {
	t.Parallel()
	e := start(t)
	ids := e.productIDs(t, rmKey)
	const key = demo.RankMathKey

	t.Run("check", func(t *testing.T) {
		const check = "edd_action=check_license&license=" + key
		const site = "&url=https%3A%2F%2F" + demo.DemoSite
		for _, tc := range []struct{ name, method, raw string }{
			{"wp_remote_post, urlencode(name)", http.MethodPost, check + "&item_name=Rank%2BMath%2BPro" + site},
			{"wp_remote_post, rawurlencode(name)", http.MethodPost, check + "&item_name=Rank%2520Math%2520Pro" + site},
			{"wp_remote_post, the name as it is", http.MethodPost, check + "&item_name=Rank+Math+Pro" + site},
			{"wp_remote_post, numeric item_id and rawurlencode(name)", http.MethodPost, check + "&item_id=4242&item_name=Rank%2520Math%2520Pro" + site + "&environment=production"},
			{"wp_remote_get(add_query_arg()), urlencode(name)", http.MethodGet, check + "&item_name=Rank+Math+Pro&url=https://" + demo.DemoSite},
			{"wp_remote_get(add_query_arg()), rawurlencode(name)", http.MethodGet, check + "&item_name=Rank%20Math%20Pro&url=https://" + demo.DemoSite},
			{"add_query_arg(urlencode_deep()) of urlencode(name)", http.MethodGet, check + "&item_name=Rank%2BMath%2BPro" + site},
			{"add_query_arg(urlencode_deep()) of rawurlencode(name)", http.MethodGet, check + "&item_name=Rank%2520Math%2520Pro" + site},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var a eddAnswer
				e.unchanged(t, func() { a = e.eddRead(t, e.eddWire(t, tc.method, tc.raw)) })
				require.True(t, a.Success, a.raw)
				require.Equal(t, "valid", a.License, a.raw)
				require.Equal(t, ids["rankmath-pro"], a.ItemID, a.raw)
				require.Equal(t, 1, a.SiteCount, a.raw)
			})
		}
	})

	t.Run("activate and deactivate", func(t *testing.T) {
		a := e.eddRead(t, e.eddWire(t, http.MethodPost, "edd_action=activate_license&license="+key+
			"&item_name=Rank%2BMath%2BPro&url=https%3A%2F%2Fwp.example.org"))
		require.True(t, a.Success, a.raw)
		require.Equal(t, "valid", a.License, a.raw)
		require.Equal(t, 2, a.SiteCount)
		a = e.eddRead(t, e.eddWire(t, http.MethodPost, "edd_action=activate_license&license="+key+
			"&item_id=4242&item_name=Content%2520AI&url=https%3A%2F%2Fwp.example.org&environment=production"))
		require.True(t, a.Success, a.raw)
		require.Equal(t, ids["content-ai"], a.ItemID, a.raw)
		require.Equal(t, 1, a.SiteCount)
		a = e.eddRead(t, e.eddWire(t, http.MethodGet, "edd_action=deactivate_license&license="+key+
			"&item_name=Rank%2BMath%2BPro&url=https://wp.example.org"))
		require.True(t, a.Success, a.raw)
		require.Equal(t, "deactivated", a.License, a.raw)
		require.Equal(t, 1, a.SiteCount)
		a = e.eddFail(t, http.MethodPost, eddParams{"edd_action": "deactivate_license", "license": key, "item_id": "4242", "item_name": "WP+Rocket", "url": "wp.example.org"}, "failed", "invalid_item_id")
		require.Equal(t, false, a.ItemID)
	})

	t.Run("a + in the product's name", func(t *testing.T) {
		var plus, decoy productJSON
		expectOK(t, e.post(t, pathProducts, rmKey, map[string]string{"slug": "cpp-tools", "name": "C++ Tools"}), http.StatusCreated, &plus)
		expectOK(t, e.post(t, pathProducts, rmKey, map[string]string{"slug": "c-tools", "name": "C Tools"}), http.StatusCreated, &decoy)
		k := e.provision(t, rmKey, provisionReq{CustomerEmail: "edd-owner@example.com", Products: []string{"cpp-tools", "c-tools"}, MaxSeats: ptr(2)}).LicenseKey.Key
		check := "edd_action=check_license&license=" + k
		for _, tc := range []struct{ name, method, raw, want string }{
			{"GET, add_query_arg of urlencode(name)", http.MethodGet, check + "&item_name=C%2B%2B+Tools", plus.ID},
			{"POST, the name as it is", http.MethodPost, check + "&item_name=C%2B%2B+Tools", plus.ID},
			{"POST, urlencode(name) encoded again", http.MethodPost, check + "&item_name=C%252B%252B%2BTools", plus.ID},
			{"POST, rawurlencode(name) encoded again", http.MethodPost, check + "&item_name=C%252B%252B%2520Tools", plus.ID},
			{"the other product", http.MethodPost, check + "&item_name=C%2BTools", decoy.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := e.eddRead(t, e.eddWire(t, tc.method, tc.raw))
				require.True(t, a.Success, a.raw)
				require.Equal(t, "inactive", a.License, a.raw)
				require.Equal(t, tc.want, a.ItemID, a.raw)
			})
		}
	})
}

func TestEDDDeactivate(t *testing.T) {
	t.Parallel()
	e := start(t)
	const key = demo.RankMathKey

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			p    eddParams
			code string
		}{
			{"an unknown key", deact("RM-ZZZZ-2222-3333-4444", "Rank Math Pro", demo.DemoSite), "missing"},
			{"no key", deact("", "Rank Math Pro", demo.DemoSite), "missing"},
			{"another product by name", deact(key, "WP Rocket", demo.DemoSite), "item_name_mismatch"},
			{"another product by item_id", eddParams{"edd_action": "deactivate_license", "license": key, "item_id": "wp-rocket", "url": demo.DemoSite}, "invalid_item_id"},
			{"no item for a key of several products", eddParams{"edd_action": "deactivate_license", "license": key, "url": demo.DemoSite}, "key_mismatch"},
			{"no url", deact(key, "Rank Math Pro", ""), "missing_url"},
			{"a site without a seat", deact(key, "Rank Math Pro", "other.example.com"), "site_inactive"},
			{"a seat on another product", deact(key, "Content AI", demo.DemoSite), "site_inactive"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e.eddFail(t, http.MethodPost, tc.p, "failed", tc.code)
			})
		}
	})

	a := e.edd(t, http.MethodPost, deact(key, "Rank Math Pro", "https://www."+demo.DemoSite))
	require.True(t, a.Success, a.raw)
	require.Equal(t, "deactivated", a.License)
	require.Empty(t, a.Error)
	require.Equal(t, 0, a.SiteCount)
	require.Equal(t, 3, a.ActivationsLeft)
	e.eddCheck(t, http.MethodGet, eddParams{"license": key, "item_name": "Rank Math Pro", "url": demo.DemoSite}, "site_inactive", "site_inactive")
	e.eddCheck(t, http.MethodGet, eddParams{"license": key, "item_name": "Rank Math Pro"}, "inactive", "")
	a = e.eddFail(t, http.MethodGet, deact(key, "Rank Math Pro", demo.DemoSite), "failed", "site_inactive")
	require.Equal(t, 0, a.SiteCount)

	// The seat is free again: activate, deactivate over GET.
	require.True(t, e.edd(t, http.MethodGet, act(key, "Rank Math Pro", demo.DemoSite)).Success)
	a = e.edd(t, http.MethodGet, deact(key, "rankmath-pro", demo.DemoSite))
	require.True(t, a.Success, a.raw)
	require.Equal(t, "deactivated", a.License)
}

func TestEDDExpired(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Now().UTC()}
	e := start(t, func(o *devserver.Options) { o.Now = c.Now })
	expires := c.Now().Add(time.Hour).Truncate(time.Second)
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: "edd-expiry@example.com", Products: []string{"rankmath-pro"},
		ExpirationDate: expires.Format(time.RFC3339), MaxSeats: ptr(2)})
	key := p.LicenseKey.Key

	a := e.edd(t, http.MethodPost, act(key, "Rank Math Pro", "late.example.com"))
	require.True(t, a.Success, a.raw)
	require.Equal(t, expires.Format("2006-01-02 15:04:05"), a.Expires)

	c.advance(2 * time.Hour)
	a = e.eddCheck(t, http.MethodGet, eddParams{"license": key, "item_name": "Rank Math Pro", "url": "late.example.com"}, "expired", "expired")
	require.Equal(t, expires.Format("2006-01-02 15:04:05"), a.Expires)
	require.Equal(t, 1, a.SiteCount)
	a = e.eddCheck(t, http.MethodGet, eddParams{"license": key, "item_id": "rankmath-pro"}, "expired", "expired")
	require.Equal(t, 2, a.LicenseLimit)
	a = e.eddFail(t, http.MethodPost, act(key, "Rank Math Pro", "later.example.com"), "invalid", "expired")
	require.Equal(t, expires.Format("2006-01-02 15:04:05"), a.Expires)
	require.Equal(t, 1, a.ActivationsLeft)

	// A seat is freed in every status, as by the product API.
	a = e.edd(t, http.MethodPost, deact(key, "Rank Math Pro", "late.example.com"))
	require.True(t, a.Success, a.raw)
	require.Equal(t, "deactivated", a.License)
}

func TestEDDNotAnEDDRequest(t *testing.T) {
	t.Parallel()
	e := start(t)
	for _, p := range []eddParams{
		{"license": demo.RankMathKey, "item_name": "Rank Math Pro", "url": demo.DemoSite},
		{"edd_action": "get_versions", "license": demo.RankMathKey},
		{"edd_action": "activate_license; drop", "license": demo.RankMathKey},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			e.unchanged(t, func() {
				got := checkError(t, e.eddRaw(t, method, p), http.StatusBadRequest, "validation_error")
				require.Equal(t, "edd_action", got.Field)
				for _, s := range customerData {
					require.NotContains(t, string(got.raw), s)
				}
			})
		}
	}
}

// TestEDDEngineDown: a failure of the service is the contract's 503, never
// passed off as an invalid license or a failed deactivation.
func TestEDDEngineDown(t *testing.T) {
	t.Parallel()
	e := start(t)
	for _, tc := range []struct {
		method string
		p      eddParams
	}{
		{http.MethodGet, eddParams{"edd_action": "check_license", "license": demo.RankMathKey, "item_name": "Content AI", "url": demo.DemoSite}},
		{http.MethodGet, eddParams{"edd_action": "check_license", "license": demo.RankMathKey, "item_name": "Rank Math Pro", "url": demo.DemoSite}},
		{http.MethodPost, act(demo.RankMathKey, "Rank Math Pro", "down.example.com")},
		{http.MethodPost, act(demo.RankMathKey, "Rank Math Pro™", "down.example.com")},
		{http.MethodPost, deact(demo.RankMathKey, "Rank Math Pro", demo.DemoSite)},
		// The updater's get_version answers 200 for every license verdict,
		// but an outage is a 503 (the updater retries after an hour), never
		// "no update".
		{http.MethodPost, eddParams{"edd_action": "get_version", "license": demo.RankMathKey, "item_name": "Rank Math Pro", "item_id": "0",
			"version": "0.9.0", "url": "https://" + demo.DemoSite, "beta": ""}},
	} {
		t.Run(tc.method+" "+tc.p["edd_action"]+" "+tc.p["item_name"], func(t *testing.T) {
			e.unchanged(t, func() {
				e.srv.Engine.EmulateFailure(miniserver.FailureConditionInternalServerError)
				defer e.srv.Engine.EmulateFailure(miniserver.FailureConditionNone)
				r := e.eddRaw(t, tc.method, tc.p)
				checkError(t, r, http.StatusServiceUnavailable, "service_unavailable")
				require.NotEmpty(t, r.header.Get("Retry-After"))
				require.NotContains(t, string(r.body), `"success"`)
			})
		})
	}
	// Once the engine answers again, so does the endpoint.
	e.eddCheck(t, http.MethodGet, eddParams{"license": demo.RankMathKey, "item_name": "Rank Math Pro", "url": demo.DemoSite}, "valid", "")
}
