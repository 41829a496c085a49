package apigw

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/licensing"
)

const formType = "application/x-www-form-urlencoded"

func eddPost(body string, base64Body bool) events.APIGatewayProxyRequest {
	req := events.APIGatewayProxyRequest{HTTPMethod: http.MethodPost, Headers: map[string]string{"content-type": formType + "; charset=UTF-8"}, Body: body}
	if base64Body {
		req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(body)), true
	}
	return req
}

func eddGet(q map[string]string) events.APIGatewayProxyRequest {
	return events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet, QueryStringParameters: q}
}

func TestEDDParseRequest(t *testing.T) {
	want := eddParams{action: eddActivate, license: "RM-DEMA-2222-3333-4444", itemName: "Rank Math Pro", url: "https://example.com/shop", product: "rank-math-pro"}
	form := "edd_action=activate_license&license=RM-DEMA-2222-3333-4444&item_name=Rank+Math+Pro&url=https%3A%2F%2Fexample.com%2Fshop"
	tests := []struct {
		name string
		req  events.APIGatewayProxyRequest
		want eddParams
	}{
		{"GET query string", eddGet(map[string]string{
			"edd_action": "activate_license", "license": "RM-DEMA-2222-3333-4444", "item_name": "Rank Math Pro", "url": "https://example.com/shop",
		}), want},
		{"POST form", eddPost(form, false), want},
		{"POST form, base64", eddPost(form, true), want},
		{"POST form without a Content-Type", events.APIGatewayProxyRequest{HTTPMethod: http.MethodPost, Body: form}, want},
		{"POST form with a trailing newline", eddPost(form+"\n", false), want},
		{"the body wins over the query string", func() events.APIGatewayProxyRequest {
			r := eddPost(form, false)
			r.QueryStringParameters = map[string]string{"edd_action": "check_license", "license": "RM-OTHR-2222-3333-4444"}
			return r
		}(), want},
		{"POST reads the query string too", func() events.APIGatewayProxyRequest {
			r := eddPost("license=RM-DEMA-2222-3333-4444&item_name=Rank%20Math%20Pro&url=https://example.com/shop", false)
			r.QueryStringParameters = map[string]string{"edd_action": "activate_license"}
			return r
		}(), want},
		{"GET ignores a body", func() events.APIGatewayProxyRequest {
			r := eddGet(map[string]string{"edd_action": "check_license", "license": "k"})
			r.Body = "edd_action=activate_license"
			return r
		}(), eddParams{action: eddCheck, license: "k"}},
		{"a repeated parameter counts with its last value", events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet,
			QueryStringParameters:           map[string]string{"edd_action": "check_license", "license": "b"},
			MultiValueQueryStringParameters: map[string][]string{"edd_action": {"check_license"}, "license": {"a", "b"}},
		}, eddParams{action: eddCheck, license: "b"}},
		{"a repeated form field too", eddPost("edd_action=check_license&license=a&license=b", false), eddParams{action: eddCheck, license: "b"}},
		{"item_name: HTML entities and white space", eddGet(map[string]string{"edd_action": "check_license", "item_name": "  Content&nbsp;AI &amp;  Co "}),
			eddParams{action: eddCheck, itemName: "Content AI & Co"}},
		{"item_id wins over item_name", eddGet(map[string]string{"edd_action": "deactivate_license", "item_id": "wp-rocket", "item_name": "Other"}),
			eddParams{action: eddDeactivate, itemID: "wp-rocket", itemName: "Other", product: "wp-rocket"}},
		{"item_name that has no slug form", eddGet(map[string]string{"edd_action": "check_license", "item_name": "Rank Math Pro™"}),
			eddParams{action: eddCheck, itemName: "Rank Math Pro™"}},
		// EDD's sample code sends urlencode(name) or rawurlencode(name) in a
		// form that wp_remote_post encodes again (http_build_query).
		{"item_name double-encoded with urlencode", eddPost("edd_action=check_license&item_name=Rank%2BMath%2BPro", false),
			eddParams{action: eddCheck, itemName: "Rank+Math+Pro", itemNameAlt: "Rank Math Pro"}},
		{"item_name double-encoded with rawurlencode", eddPost("edd_action=check_license&item_name=Rank%2520Math%2520Pro", false),
			eddParams{action: eddCheck, itemName: "Rank%20Math%20Pro", itemNameAlt: "Rank Math Pro"}},
		{"item_name double-encoded in a query string", eddGet(map[string]string{"edd_action": "check_license", "item_name": "WP+Rocket"}),
			eddParams{action: eddCheck, itemName: "WP+Rocket", itemNameAlt: "WP Rocket"}},
		{"item_name with a literal +: its decoded form comes second", eddGet(map[string]string{"edd_action": "check_license", "item_name": "C++ Tools"}),
			eddParams{action: eddCheck, itemName: "C++ Tools", itemNameAlt: "C Tools"}},
		{"item_name with a literal % that does not decode", eddGet(map[string]string{"edd_action": "check_license", "item_name": "100% SEO"}),
			eddParams{action: eddCheck, itemName: "100% SEO"}},
		{"item_name double-encoded with entities", eddPost("edd_action=check_license&item_name=Content%2BAI%2B%2526amp%253B%2BCo", false),
			eddParams{action: eddCheck, itemName: "Content+AI+%26amp%3B+Co", itemNameAlt: "Content AI & Co"}},
		{"a numeric item_id and a double-encoded item_name, as the newer sample plugin sends them",
			eddPost("edd_action=activate_license&license=RM-DEMA-2222-3333-4444&item_id=4242&item_name=Rank%2520Math%2520Pro&url=https%3A%2F%2Fexample.com%2Fshop&environment=production", false),
			eddParams{action: eddActivate, license: "RM-DEMA-2222-3333-4444", itemID: "4242", itemName: "Rank%20Math%20Pro", itemNameAlt: "Rank Math Pro", url: "https://example.com/shop", product: "4242"}},
		{"the other parameters of EDD's updater are ignored", eddPost(form+"&author=Rank+Math&environment=production&php_version=8.3&wp_version=6.8", false), want},
		{"get_version's version and beta are read", eddPost(strings.Replace(form, "activate_license", "get_version", 1)+"&version=1.2.3&beta=1&item_id=0", false),
			func() eddParams { w := want; w.action, w.version, w.beta = eddGetVersion, "1.2.3", true; return w }()},
		{"get_version: item_name and item_id sent as false (0) name nothing; the slug is kept",
			eddPost("edd_action=get_version&license=k&item_name=0&item_id=0&slug=wp-rocket&beta=", false),
			eddParams{action: eddGetVersion, license: "k", slug: "wp-rocket"}},
		{"package_download carries its grant", eddGet(map[string]string{"edd_action": "package_download", "id": "abc.def"}),
			eddParams{action: eddDownload, id: "abc.def"}},
		{"a form sent as JSON reads as a form", func() events.APIGatewayProxyRequest {
			r := eddPost(form, false)
			r.Headers = map[string]string{"Content-Type": "application/json"}
			return r
		}(), want},
		{"values are trimmed", eddGet(map[string]string{"edd_action": " check_license ", "license": " k ", "url": " example.com "}),
			eddParams{action: eddCheck, license: "k", url: "example.com"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEDDRequest(tc.req)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestEDDParseRequestErrors(t *testing.T) {
	tests := []struct {
		name  string
		req   events.APIGatewayProxyRequest
		code  licensing.Code
		field string
	}{
		{"no edd_action", eddGet(map[string]string{"license": "k"}), licensing.CodeValidation, "edd_action"},
		{"no parameters at all", eddGet(nil), licensing.CodeValidation, "edd_action"},
		{"an unknown edd_action", eddGet(map[string]string{"edd_action": "get_versions"}), licensing.CodeValidation, "edd_action"},
		{"edd_action in another case", eddGet(map[string]string{"edd_action": "Check_License"}), licensing.CodeValidation, "edd_action"},
		{"an unknown edd_action in the body", eddPost("edd_action=drop_tables", false), licensing.CodeValidation, "edd_action"},
		{"a JSON body", func() events.APIGatewayProxyRequest {
			r := eddPost(`{"edd_action":"check_license"}`, false)
			r.Headers = map[string]string{"Content-Type": "application/json"}
			return r
		}(), licensing.CodeValidation, "edd_action"},
		{"a body that is not base64", func() events.APIGatewayProxyRequest {
			r := eddPost("", false)
			r.Body, r.IsBase64Encoded = "!!not base64!!", true
			return r
		}(), licensing.CodeValidation, "body"},
		{"a malformed form", eddPost("edd_action=check_license&license=%zz", false), licensing.CodeValidation, "body"},
		{"a body too large", eddPost("edd_action=check_license&x="+strings.Repeat("a", MaxBodyBytes), false), licensing.CodePayloadTooLarge, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseEDDRequest(tc.req)
			require.Error(t, err)
			e, ok := errors.AsType[*licensing.Error](err)
			require.True(t, ok, "%T %v", err, err)
			assert.Equal(t, tc.code, e.Code)
			assert.Equal(t, tc.field, e.Field)
		})
	}
}

func TestEDDSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Content AI":      "content-ai",
		"WP Rocket":       "wp-rocket",
		"  wp   rocket  ": "wp-rocket",
		"Rank Math Pro":   "rank-math-pro",
		"rankmath-pro":    "rankmath-pro",
		"Rank Math Pro™":  "",
		"A & B":           "",
		"":                "",
	} {
		assert.Equal(t, want, eddSlug(in), "eddSlug(%q)", in)
	}
}

func TestEDDAnswer(t *testing.T) {
	exp := time.Date(2030, 12, 31, 23, 59, 59, 0, time.FixedZone("CET", 3600))
	l := licensing.License{ID: "lic_a", ProductID: "prd_a", ProductSlug: "rankmath-pro", SeatLimit: 3, SeatsUsed: 1, ExpiresAt: &exp}

	p := eddParams{}
	out := p.answer(true, eddValid, "", &l)
	assert.Equal(t, "2030-12-31 22:59:59", out.Expires, "Y-m-d H:i:s in UTC")
	assert.Equal(t, "prd_a", out.ItemID)
	assert.Equal(t, "rankmath-pro", out.ItemName, "the slug without an item_name")
	assert.Equal(t, 3, out.LicenseLimit)
	assert.Equal(t, 1, out.SiteCount)
	assert.Equal(t, 2, out.ActivationsLeft)
	sum, err := hex.DecodeString(out.Checksum)
	require.NoError(t, err)
	assert.Len(t, sum, 32)
	assert.Equal(t, out.Checksum, p.answer(false, eddInvalid, eddErrNoneLeft, &l).Checksum, "the checksum is stable")

	perpetual := l
	perpetual.ExpiresAt = nil
	named := eddParams{itemName: "Rank Math Pro"}
	out = named.answer(true, eddValid, "", &perpetual)
	assert.Equal(t, "lifetime", out.Expires)
	assert.Equal(t, "Rank Math Pro", out.ItemName, "item_name is echoed")
	assert.NotEqual(t, p.answer(true, eddValid, "", &l).Checksum, out.Checksum)

	var none eddParams
	b, err := json.Marshal(none.answer(false, eddInvalid, eddErrMissing, nil))
	require.NoError(t, err)
	assert.JSONEq(t, `{"success":false,"license":"invalid","item_id":false,"item_name":"","expires":false,"payment_id":0,"price_id":false,
		"customer_name":"","customer_email":"","license_limit":0,"site_count":0,"activations_left":0,"error":"missing"}`, string(b))

	long := eddParams{itemName: strings.Repeat("x", maxEDDItemName+1)}
	assert.Empty(t, long.answer(false, eddInvalid, eddErrNameMismatch, nil).ItemName, "a huge item_name is not echoed")
	for _, name := range []string{"Rank \u202EMath", "Rank\u200BMath", "Rank\x01Math"} {
		p := eddParams{itemName: eddName(name)}
		assert.Empty(t, p.answer(false, eddInvalid, eddErrNameMismatch, nil).ItemName, "%q is not echoed", name)
	}
	alt := eddParams{itemName: "Rank%E2%80%AEMath", itemNameAlt: "Rank\u202EMath"}
	assert.Empty(t, alt.answer(false, eddInvalid, eddErrNameMismatch, nil).ItemName, "nor once URL-decoded")
}

// eddStack is the EDD handler over the use cases on the embedded engine with
// the demo data.
func eddStack(t *testing.T) *API {
	t.Helper()
	eng := dynamotest.Start(t)
	a := app.New(eng.Store, nil)
	require.NoError(t, demo.Seed(context.Background(), a.Ops()))
	return New(a, nil, Options{})
}

func eddCall(t *testing.T, api *API, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, map[string]any) {
	t.Helper()
	resp, err := api.EDD(context.Background(), req)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &m), resp.Body)
	// The endpoint never shows the customer: no e-mail, no name.
	assert.NotContains(t, resp.Body, "@", "customer data in %s", resp.Body)
	if _, ok := m["success"]; ok {
		assert.Equal(t, "", m["customer_email"], resp.Body)
		assert.Equal(t, "", m["customer_name"], resp.Body)
	}
	return resp, m
}

// eddWire is the event API Gateway builds for an EDD request exactly as it
// goes over the wire: GET with the raw query string, POST with the raw form
// body.
func eddWire(t *testing.T, method, raw string) events.APIGatewayProxyRequest {
	t.Helper()
	if method == http.MethodPost {
		return eddPost(raw, false)
	}
	q, err := url.ParseQuery(raw)
	require.NoError(t, err)
	req := events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet, QueryStringParameters: map[string]string{}, MultiValueQueryStringParameters: q}
	for k, vs := range q {
		req.QueryStringParameters[k] = vs[len(vs)-1]
	}
	return req
}

// eddProductIDs are the demo brand rankmath's product ids by slug.
func eddProductIDs(t *testing.T, api *API) map[string]string {
	t.Helper()
	ps, err := api.app.ListProducts(context.Background(), licensing.Tenant{Brand: "rankmath", KeyPrefix: "RM"})
	require.NoError(t, err)
	ids := map[string]string{}
	for _, p := range ps {
		ids[p.Slug] = p.ID
	}
	return ids
}

// TestEDDItemNameAsWordPressSendsIt replays the bytes a WordPress site sends
// with EDD's sample plugin and updater: item_name urlencode()d (older sample)
// or rawurlencode()d (newer), then wp_remote_post encodes the body array
// again with http_build_query, while wp_remote_get(add_query_arg(…)) puts the
// values in the URL as they are. EDD urldecodes the name before comparing;
// so does the endpoint.
func TestEDDItemNameAsWordPressSendsIt(t *testing.T) {
	api := eddStack(t)
	ids := eddProductIDs(t, api)
	const check = "edd_action=check_license&license=" + demo.RankMathKey
	const site = "&url=https%3A%2F%2F" + demo.DemoSite
	for _, tc := range []struct {
		name, method, raw string
	}{
		{"wp_remote_post, urlencode(name) (sample plugin)", http.MethodPost, check + "&item_name=Rank%2BMath%2BPro" + site},
		{"wp_remote_post, rawurlencode(name)", http.MethodPost, check + "&item_name=Rank%2520Math%2520Pro" + site},
		{"wp_remote_post, the name as it is", http.MethodPost, check + "&item_name=Rank+Math+Pro" + site},
		{"wp_remote_post with the updater's other parameters", http.MethodPost, check + "&item_name=Rank%2BMath%2BPro" + site + "&version=1.2.3&slug=seo-by-rank-math-pro&beta=&environment=production"},
		{"wp_remote_get(add_query_arg()), urlencode(name)", http.MethodGet, check + "&item_name=Rank+Math+Pro&url=https://" + demo.DemoSite},
		{"wp_remote_get(add_query_arg()), rawurlencode(name)", http.MethodGet, check + "&item_name=Rank%20Math%20Pro&url=https://" + demo.DemoSite},
		{"add_query_arg(urlencode_deep()) of urlencode(name)", http.MethodGet, check + "&item_name=Rank%2BMath%2BPro" + site},
		{"add_query_arg(urlencode_deep()) of rawurlencode(name)", http.MethodGet, check + "&item_name=Rank%2520Math%2520Pro" + site},
		{"lower case, double-encoded", http.MethodPost, check + "&item_name=rank%2Bmath%2Bpro" + site},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, m := eddCall(t, api, eddWire(t, tc.method, tc.raw))
			require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
			assert.Equal(t, true, m["success"], resp.Body)
			assert.Equal(t, "valid", m["license"], resp.Body)
			assert.Equal(t, ids["rankmath-pro"], m["item_id"], resp.Body)
		})
	}

	// A name in slug form (WP Rocket → wp-rocket), double-encoded, and an
	// activation of the newer sample plugin (numeric item_id, rawurlencode).
	_, m := eddCall(t, api, eddWire(t, http.MethodPost, "edd_action=check_license&license="+demo.WPRocketKey+"&item_name=WP%2BRocket"))
	assert.Equal(t, "inactive", m["license"], m)
	_, m = eddCall(t, api, eddWire(t, http.MethodPost, "edd_action=activate_license&license="+demo.RankMathKey+
		"&item_id=4242&item_name=Rank%2520Math%2520Pro&url=https%3A%2F%2Fshop.example.org&environment=production"))
	assert.Equal(t, true, m["success"], m)
	assert.Equal(t, "valid", m["license"], m)
	assert.EqualValues(t, 2, m["site_count"])

	// A double-encoded name of a product the key does not cover is still a
	// mismatch.
	_, m = eddCall(t, api, eddWire(t, http.MethodPost, check+"&item_name=WP%2BRocket"+site))
	assert.Equal(t, true, m["success"], m)
	assert.Equal(t, "item_name_mismatch", m["license"], m)
}

// TestEDDItemNameWithAPlus: a '+' that is part of the product's name still
// matches, sent once or twice encoded: the name is tried as sent before its
// URL-decoded form, so "C++ Tools" never turns into "C Tools".
func TestEDDItemNameWithAPlus(t *testing.T) {
	api := eddStack(t)
	ctx := context.Background()
	plus, err := api.app.Ops().CreateProduct(ctx, "rankmath", "cpp-tools", "C++ Tools")
	require.NoError(t, err)
	decoy, err := api.app.Ops().CreateProduct(ctx, "rankmath", "c-tools", "C Tools")
	require.NoError(t, err)
	seats := 3
	res, _, err := api.app.Provision(ctx, licensing.Tenant{Brand: "rankmath", KeyPrefix: "RM"},
		app.ProvisionInput{CustomerEmail: "plus@example.com", Products: []string{"cpp-tools", "c-tools"}, MaxSeats: &seats}, "")
	require.NoError(t, err)
	check := "edd_action=check_license&license=" + string(res.Key.Key)

	for _, tc := range []struct {
		name, method, raw, want string
	}{
		{"GET, add_query_arg of urlencode(name)", http.MethodGet, check + "&item_name=C%2B%2B+Tools", plus.ID},
		{"GET, add_query_arg of rawurlencode(name)", http.MethodGet, check + "&item_name=C%2B%2B%20Tools", plus.ID},
		{"POST, the name as it is", http.MethodPost, check + "&item_name=C%2B%2B+Tools", plus.ID},
		{"POST, urlencode(name) encoded again", http.MethodPost, check + "&item_name=C%252B%252B%2BTools", plus.ID},
		{"POST, rawurlencode(name) encoded again", http.MethodPost, check + "&item_name=C%252B%252B%2520Tools", plus.ID},
		{"the other product", http.MethodPost, check + "&item_name=C%2BTools", decoy.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, m := eddCall(t, api, eddWire(t, tc.method, tc.raw))
			require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
			assert.Equal(t, true, m["success"], resp.Body)
			assert.Equal(t, "inactive", m["license"], resp.Body)
			assert.Equal(t, tc.want, m["item_id"], resp.Body)
		})
	}
}

// TestEDDNumericItemID: EDD's numeric item_id (a download post id) names no
// product here; with an item_name it falls back to the name, without one
// (or with a name that does not match either) it is invalid_item_id. A
// product id or slug as item_id is used as it is, without a fallback.
func TestEDDNumericItemID(t *testing.T) {
	api := eddStack(t)
	ids := eddProductIDs(t, api)
	req := func(action string, q map[string]string) events.APIGatewayProxyRequest {
		q["edd_action"], q["license"] = action, demo.RankMathKey
		return eddGet(q)
	}
	for _, tc := range []struct {
		name          string
		q             map[string]string
		success       bool
		license, code string
		itemID        any
	}{
		{"numeric item_id and item_name", map[string]string{"item_id": "4242", "item_name": "Rank Math Pro", "url": demo.DemoSite}, true, "valid", "", ids["rankmath-pro"]},
		{"numeric item_id and a double-encoded item_name", map[string]string{"item_id": "17", "item_name": "Rank%20Math%20Pro", "url": demo.DemoSite}, true, "valid", "", ids["rankmath-pro"]},
		{"numeric item_id and item_name in slug form", map[string]string{"item_id": "17", "item_name": "Content AI"}, true, "inactive", "", ids["content-ai"]},
		{"item_id: the product id", map[string]string{"item_id": ids["rankmath-pro"], "url": demo.DemoSite}, true, "valid", "", ids["rankmath-pro"]},
		{"item_id: the slug", map[string]string{"item_id": "rankmath-pro", "url": demo.DemoSite}, true, "valid", "", ids["rankmath-pro"]},
		{"numeric item_id alone", map[string]string{"item_id": "4242", "url": demo.DemoSite}, true, "invalid_item_id", "invalid_item_id", false},
		{"numeric item_id and a name the key does not cover", map[string]string{"item_id": "4242", "item_name": "WP Rocket", "url": demo.DemoSite}, true, "invalid_item_id", "invalid_item_id", false},
		{"a slug item_id the key does not cover: no fallback", map[string]string{"item_id": "wp-rocket", "item_name": "Rank Math Pro", "url": demo.DemoSite}, true, "invalid_item_id", "invalid_item_id", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, m := eddCall(t, api, req(eddCheck, tc.q))
			require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
			assert.Equal(t, tc.success, m["success"], resp.Body)
			assert.Equal(t, tc.license, m["license"], resp.Body)
			if tc.code == "" {
				assert.NotContains(t, m, "error", resp.Body)
			} else {
				assert.Equal(t, tc.code, m["error"], resp.Body)
			}
			assert.Equal(t, tc.itemID, m["item_id"], resp.Body)
		})
	}

	// Activate and deactivate by numeric item_id and name, as EDD clients send them.
	_, m := eddCall(t, api, req(eddActivate, map[string]string{"item_id": "4242", "item_name": "Rank Math Pro", "url": "shop.example.org"}))
	assert.Equal(t, true, m["success"], m)
	assert.Equal(t, "valid", m["license"], m)
	assert.EqualValues(t, 2, m["site_count"])
	_, m = eddCall(t, api, req(eddActivate, map[string]string{"item_id": "4242", "url": "shop.example.org"}))
	assert.Equal(t, false, m["success"], m)
	assert.Equal(t, "invalid", m["license"], m)
	assert.Equal(t, "invalid_item_id", m["error"], m)
	_, m = eddCall(t, api, req(eddDeactivate, map[string]string{"item_id": "4242", "item_name": "Rank Math Pro", "url": "shop.example.org"}))
	assert.Equal(t, true, m["success"], m)
	assert.Equal(t, "deactivated", m["license"], m)
	assert.EqualValues(t, 1, m["site_count"])
	_, m = eddCall(t, api, req(eddDeactivate, map[string]string{"item_id": "4242", "item_name": "WP Rocket", "url": demo.DemoSite}))
	assert.Equal(t, false, m["success"], m)
	assert.Equal(t, "failed", m["license"], m)
	assert.Equal(t, "invalid_item_id", m["error"], m)
}

// TestEDDCheckAnswers: check_license answers as EDD's does: "invalid" with
// success false for a key it does not know, the item error as the license
// value with success true for a key that covers no such item.
func TestEDDCheckAnswers(t *testing.T) {
	api := eddStack(t)
	for _, tc := range []struct {
		name          string
		q             map[string]string
		success       bool
		license, code string
	}{
		{"an unknown key", map[string]string{"license": "RM-ZZZZ-2222-3333-4444", "item_name": "Rank Math Pro"}, false, "invalid", "missing"},
		{"an unknown key, a name without a slug form", map[string]string{"license": "RM-ZZZZ-2222-3333-4444", "item_name": "Rank Math Pro™"}, false, "invalid", "missing"},
		{"an unknown key prefix", map[string]string{"license": "XX-ZZZZ-2222-3333-4444", "item_name": "Rank%2BMath%2BPro"}, false, "invalid", "missing"},
		{"a malformed key", map[string]string{"license": "nope", "item_name": "Rank Math Pro"}, false, "invalid", "missing"},
		{"no key", map[string]string{"item_name": "Rank Math Pro"}, false, "invalid", "missing"},
		{"an item_name the key does not cover", map[string]string{"license": demo.RankMathKey, "item_name": "WP Rocket"}, true, "item_name_mismatch", "item_name_mismatch"},
		{"an item_name no product has", map[string]string{"license": demo.RankMathKey, "item_name": "Rank Math Ultra™"}, true, "item_name_mismatch", "item_name_mismatch"},
		{"an item_id the key does not cover", map[string]string{"license": demo.RankMathKey, "item_id": "wp-rocket"}, true, "invalid_item_id", "invalid_item_id"},
		{"no item, a key of several products", map[string]string{"license": demo.RankMathKey}, true, "item_name_mismatch", "key_mismatch"},
		{"a url that is not a site", map[string]string{"license": demo.RankMathKey, "item_name": "Rank Math Pro", "url": "ftp://x"}, false, "invalid", "missing_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q["edd_action"] = eddCheck
			resp, m := eddCall(t, api, eddGet(tc.q))
			require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
			assert.Equal(t, tc.success, m["success"], resp.Body)
			assert.Equal(t, tc.license, m["license"], resp.Body)
			assert.Equal(t, tc.code, m["error"], resp.Body)
			assert.Equal(t, false, m["item_id"], resp.Body)
			assert.Equal(t, false, m["expires"], resp.Body)
		})
	}
}

func TestEDDHandlerGetPostBase64(t *testing.T) {
	api := eddStack(t)
	q := map[string]string{"edd_action": "check_license", "license": demo.RankMathKey, "item_name": "Rank Math Pro", "url": "https://www." + demo.DemoSite + "/"}
	form := "edd_action=check_license&license=" + demo.RankMathKey + "&item_name=Rank%20Math%20Pro&url=https%3A%2F%2Fwww." + demo.DemoSite + "%2F"

	get, m := eddCall(t, api, eddGet(q))
	require.Equal(t, http.StatusOK, get.StatusCode, get.Body)
	assert.Equal(t, "application/json", get.Headers["Content-Type"])
	assert.Equal(t, "no-store", get.Headers["Cache-Control"])
	assert.Equal(t, true, m["success"])
	assert.Equal(t, "valid", m["license"], get.Body)
	assert.Equal(t, "Rank Math Pro", m["item_name"])
	assert.Equal(t, "2030-12-31 23:59:59", m["expires"])
	assert.NotContains(t, get.Body, demo.DemoCustomer)

	post, _ := eddCall(t, api, eddPost(form, false))
	b64, _ := eddCall(t, api, eddPost(form, true))
	assert.Equal(t, get.Body, post.Body, "GET and POST answer alike")
	assert.Equal(t, get.Body, b64.Body, "a base64 body reads as the plain one")

	// Activate over a base64 POST, then the site checks valid over GET.
	act, m := eddCall(t, api, eddPost("edd_action=activate_license&license="+demo.WPRocketKey+"&item_name=WP+Rocket&url=shop.example.org", true))
	require.Equal(t, http.StatusOK, act.StatusCode)
	assert.Equal(t, true, m["success"], act.Body)
	assert.Equal(t, "valid", m["license"])
	assert.EqualValues(t, 0, m["activations_left"])
	_, m = eddCall(t, api, eddGet(map[string]string{"edd_action": "check_license", "license": demo.WPRocketKey, "url": "https://shop.example.org"}))
	assert.Equal(t, "valid", m["license"])

	// A request that is not an EDD request is a 400 of the API contract.
	bad, m := eddCall(t, api, eddGet(map[string]string{"edd_action": "nope", "license": demo.WPRocketKey}))
	assert.Equal(t, http.StatusBadRequest, bad.StatusCode)
	assert.Equal(t, "no-store", bad.Headers["Cache-Control"])
	assert.Equal(t, "validation_error", m["error"].(map[string]any)["code"])
	assert.Equal(t, "edd_action", m["error"].(map[string]any)["field"])
}
