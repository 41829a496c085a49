package apigw

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/licensing"
)

// eddFuzzRequest is the event API Gateway would build from a raw query string
// and body: the query's pairs (what url.ParseQuery could read of it) as the
// last value and all values of each parameter.
func eddFuzzRequest(method, rawQuery, body string, b64 bool) events.APIGatewayProxyRequest {
	req := events.APIGatewayProxyRequest{HTTPMethod: method, Body: body}
	if q, _ := url.ParseQuery(rawQuery); len(q) > 0 {
		req.QueryStringParameters = map[string]string{}
		req.MultiValueQueryStringParameters = q
		for k, vs := range q {
			req.QueryStringParameters[k] = vs[len(vs)-1]
		}
	}
	if b64 {
		req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(body)), true
	}
	return req
}

// FuzzParseEDDRequest feeds parseEDDRequest arbitrary query strings and
// bodies, plain or base64, over any method. It must never panic; it either
// refuses the request with a 400 or 413 of the API contract, or reads one of
// the three EDD actions with trimmed values no longer than the request, a
// normalised item_name and a product reference that is item_id or a valid
// slug; the same request parses the same way, plain or base64; GET ignores
// the body. The seeds run in every `go test`; fuzz with
//
//	go test -run '^$' -fuzz FuzzParseEDDRequest -fuzztime 60s ./internal/apigw/
func FuzzParseEDDRequest(f *testing.F) {
	const key = "RM-DEMA-2222-3333-4444"
	const form = "edd_action=activate_license&license=" + key + "&item_name=Rank+Math+Pro&url=https%3A%2F%2Fexample.com%2Fshop"
	for _, s := range []struct {
		method, query, body string
		b64                 bool
	}{
		// GET and POST as EDD clients send them.
		{http.MethodGet, "edd_action=check_license&license=" + key + "&item_name=Rank+Math+Pro&url=https://example.com", "", false},
		{http.MethodGet, "edd_action=deactivate_license&license=" + key + "&item_id=rankmath-pro&url=example.com", "", false},
		{http.MethodPost, "", form, false},
		{http.MethodPost, "", form, true},
		{http.MethodPost, "edd_action=check_license", "license=" + key + "&item_name=Rank%20Math%20Pro", false},
		{http.MethodPost, "", form + "&version=1.2.3&slug=seo-by-rank-math-pro&beta=false&environment=production", false},
		// Double-encoded names: urlencode and rawurlencode, then the form.
		{http.MethodPost, "", "edd_action=activate_license&license=" + key + "&item_name=Rank%2BMath%2BPro&url=https%3A%2F%2Fshop.example.org", false},
		{http.MethodPost, "", "edd_action=activate_license&license=" + key + "&item_id=4242&item_name=Rank%2520Math%2520Pro&url=https%3A%2F%2Fshop.example.org&environment=production", false},
		{http.MethodGet, "edd_action=check_license&item_name=Rank%2BMath%2BPro", "", false},
		{http.MethodGet, "edd_action=check_license&item_name=C%2B%2B+Tools", "", false},
		{http.MethodPost, "", "edd_action=check_license&item_name=C%252B%252B%2BTools", true},
		{http.MethodGet, "edd_action=check_license&item_name=100%25+SEO", "", false},
		{http.MethodGet, "edd_action=check_license&item_name=%26nGt%3B%26amp%3Bamp%3B%26%2335%3B%25%32%35", "", false},
		{http.MethodGet, "edd_action=check_license&item_name=++Content%26nbsp%3BAI+%26amp%3B++Co+", "", false},
		// Repeated parameters, body over query.
		{http.MethodGet, "edd_action=check_license&license=a&license=b", "", false},
		{http.MethodPost, "edd_action=deactivate_license&license=q", "edd_action=check_license&license=a&license=b", false},
		// Junk.
		{http.MethodGet, "", "", false},
		{http.MethodGet, "edd_action=get_version", "", false},
		{http.MethodGet, "edd_action=Check_License", "", false},
		{http.MethodGet, "edd_action=%20check_license%20&license=%20k%20", "", false},
		{http.MethodGet, "edd_action=check_license&license=%zz", "", false},
		{http.MethodGet, "&&&==&=&edd_action", "edd_action=check_license", false},
		{http.MethodPost, "", "edd_action=check_license&license=%zz", false},
		{http.MethodPost, "", `{"edd_action":"check_license"}`, false},
		{http.MethodPost, "", "!!not base64!!", false},
		{http.MethodPost, "", "edd_action=check_license&item_name=\x00\xff\xfe&item_id=\t", false},
		{http.MethodPost, "", "edd_action=check_license&x=" + strings.Repeat("a", MaxBodyBytes), false},
		{http.MethodPost, "", "edd_action=check_license&item_name=" + strings.Repeat("%2B", 2000), false},
		{"post", "", form, false},
		{http.MethodPut, "edd_action=check_license", form, true},
	} {
		f.Add(s.method, s.query, s.body, s.b64)
	}
	f.Fuzz(func(t *testing.T, method, rawQuery, body string, b64 bool) {
		req := eddFuzzRequest(method, rawQuery, body, b64)
		p, err := parseEDDRequest(req)
		if err != nil {
			e, ok := errors.AsType[*licensing.Error](err)
			require.True(t, ok, "%T %v", err, err)
			switch e.Code {
			case licensing.CodeValidation:
				require.Contains(t, []string{"edd_action", "body"}, e.Field, "%v", err)
			case licensing.CodePayloadTooLarge:
				require.Equal(t, http.MethodPost, method)
			default:
				require.Failf(t, "unexpected error", "%v", err)
			}
			if method != http.MethodPost {
				require.Equal(t, "edd_action", e.Field, "GET reads no body: %v", err)
			}
			return
		}

		require.Contains(t, []string{eddActivate, eddCheck, eddDeactivate, eddGetVersion, eddDownload}, p.action)
		bound := len(rawQuery) + len(body)
		for name, v := range map[string]string{"license": p.license, "item_id": p.itemID, "url": p.url} {
			require.Equal(t, strings.TrimSpace(v), v, "%s is trimmed", name)
			require.LessOrEqual(t, len(v), bound, "%s is no longer than the request", name)
		}
		for name, v := range map[string]string{"item_name": p.itemName, "item_name, decoded": p.itemNameAlt} {
			require.Equal(t, strings.Join(strings.Fields(v), " "), v, "%s has its white space collapsed", name)
			// HTML entities can grow a little when decoded ("&nGt;"), never twice over.
			require.LessOrEqual(t, len(v), 2*bound, "%s is bounded by the request", name)
		}
		if p.itemNameAlt != "" {
			require.NotEqual(t, p.itemName, p.itemNameAlt, "a second form only when it differs")
		}
		if p.itemID != "" {
			require.Equal(t, p.itemID, p.product, "item_id is the reference tried first")
		} else {
			require.Equal(t, eddSlug(p.itemName), p.product)
			if p.product != "" {
				_, err := licensing.ParseSlug("item_name", p.product)
				require.NoError(t, err, "the product reference is a slug")
			}
		}
		require.LessOrEqual(t, len(p.answer(false, eddInvalid, eddErrNameMismatch, nil).ItemName), maxEDDItemName, "the echoed item_name is bounded")

		again, err := parseEDDRequest(req)
		require.NoError(t, err)
		require.Equal(t, p, again, "parsing is deterministic")
		if method == http.MethodPost {
			other, err := parseEDDRequest(eddFuzzRequest(method, rawQuery, body, !b64))
			require.NoError(t, err)
			require.Equal(t, p, other, "a base64 body reads as the plain one")
		} else {
			other, err := parseEDDRequest(eddFuzzRequest(method, rawQuery, "edd_action=drop_tables&license=x", b64))
			require.NoError(t, err)
			require.Equal(t, p, other, "GET ignores the body")
		}
	})
}
