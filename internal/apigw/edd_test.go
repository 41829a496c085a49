package apigw

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/demo"
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
		{"the other parameters of EDD's updater are ignored", eddPost(form+"&version=1.2.3&slug=seo-by-rank-math-pro&beta=false&environment=production&php_version=8.3&wp_version=6.8", false), want},
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
		{"an unknown edd_action", eddGet(map[string]string{"edd_action": "get_version"}), licensing.CodeValidation, "edd_action"},
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
	assert.JSONEq(t, `{"success":false,"license":"invalid","item_id":false,"item_name":"","expires":false,"payment_id":0,
		"customer_name":"","customer_email":"","license_limit":0,"site_count":0,"activations_left":0,"error":"missing"}`, string(b))

	long := eddParams{itemName: strings.Repeat("x", maxEDDItemName+1)}
	assert.Empty(t, long.answer(false, eddInvalid, eddErrNameMismatch, nil).ItemName, "a huge item_name is not echoed")
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
	return resp, m
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
