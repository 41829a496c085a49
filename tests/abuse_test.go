package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"
	miniserver "github.com/truora/minidyn/server"

	"github.com/clsvc/license-service/internal/apigw"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/dev/stack"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/schedule"
)

// Abuse: bad input and limits over HTTP. Every refusal is the contract's
// error answer and leaves the table exactly as it was.

// abMaxBody is the documented body limit (16 KiB).
const abMaxBody = 16 << 10

// abBodyLimits are the POST routes with a larger body limit than abMaxBody:
// a release's changelog alone may be 64 KiB.
var abBodyLimits = map[string]int{
	"POST /api/v1/brand/products/{product}/releases": apigw.MaxReleaseBodyBytes,
}

// abBodyLimit is a POST route's body limit.
func abBodyLimit(key string) int {
	if n, ok := abBodyLimits[key]; ok {
		return n
	}
	return abMaxBody
}

const (
	pathEDDLogs    = "/api/v1/product/edd"
	pathActivate   = "/api/v1/product/licenses/activate"
	pathDeactivate = "/api/v1/product/licenses/deactivate"
	pathCheck      = "/api/v1/product/licenses/check"
)

// abPostRoutes returns every POST route of template.yaml with a valid
// request for it (from the fault tests' table).
func abPostRoutes(t *testing.T) []struct {
	route stack.FunctionRoute
	valid fltRoute
} {
	t.Helper()
	table := fltRoutes()
	var out []struct {
		route stack.FunctionRoute
		valid fltRoute
	}
	for _, r := range fltTemplateRoutes(t) {
		if r.Method != http.MethodPost {
			continue
		}
		rt, ok := table[fltKey(r)]
		require.True(t, ok, "route %s has no valid request (see TestFaultTableCoversEveryRoute)", fltKey(r))
		if rt.body == "" {
			rt.body = "{}"
		}
		out = append(out, struct {
			route stack.FunctionRoute
			valid fltRoute
		}{r, rt})
	}
	require.NotEmpty(t, out)
	return out
}

func TestAbuseTooManyProducts(t *testing.T) {
	t.Parallel()
	e := start(t)
	refs := func(n int) string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprintf("%q", fmt.Sprintf("no-such-product-%d", i+1)))
		}
		return `{"customer_email":"many@example.com","products":[` + strings.Join(s, ",") + `]}`
	}
	expectInvalid(t, e, call{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: []byte(refs(21))}, "products")
	expectInvalid(t, e, call{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: []byte(refs(100))}, "products")
	// 20 is within the limit: the products are looked up (and unknown).
	expectError(t, e, call{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: []byte(refs(20))}, http.StatusNotFound, "product_not_found")
}

// abPad pads a JSON body with trailing white space to exactly n bytes, so
// that only its size is wrong.
func abPad(t *testing.T, body string, n int) []byte {
	t.Helper()
	require.LessOrEqual(t, len(body), n)
	return append([]byte(body), bytes.Repeat([]byte(" "), n-len(body))...)
}

func TestAbuseBodyTooLarge(t *testing.T) {
	t.Parallel()
	var keys []string
	for _, p := range abPostRoutes(t) {
		keys = append(keys, fltKey(p.route))
		limit := abBodyLimit(fltKey(p.route))
		t.Run(fltKey(p.route), func(t *testing.T) {
			t.Parallel()
			e := start(t)
			if p.valid.setup != nil {
				p.valid.setup(t, e)
			}
			for _, n := range []int{limit + 1, 2*limit + 1, 4 * limit, 1 << 20} {
				if n <= limit {
					continue
				}
				c := p.valid.call(t, p.route)
				c.body = abPad(t, p.valid.body, n)
				expectError(t, e, c, http.StatusRequestEntityTooLarge, "payload_too_large")
				// The same in a JSON string rather than white space.
				c.body = []byte(`{"padding":"` + strings.Repeat("a", n) + `"}`)
				expectError(t, e, c, http.StatusRequestEntityTooLarge, "payload_too_large")
			}
			// Exactly the limit is not too large: the request works.
			c := p.valid.call(t, p.route)
			c.body = abPad(t, p.valid.body, limit)
			r := e.do(t, c)
			require.Equal(t, p.valid.ok, r.status, "a body of exactly %d bytes: %s", limit, r.body)
		})
	}
	for k := range abBodyLimits {
		require.Contains(t, keys, k, "abBodyLimits names %s, which is not a POST route of template.yaml", k)
	}
}

// abEmail builds a syntactically valid e-mail address of exactly n bytes:
// a 64-character local part and a domain of labels of at most 63.
func abEmail(t *testing.T, n int) string {
	t.Helper()
	local := strings.Repeat("a", 64)
	rest := n - len(local) - 1 - len(".com")
	require.Positive(t, rest)
	var labels []string
	for i := 0; rest > 0; i++ {
		l := min(rest, 63)
		if rest-l == 1 { // never leave a label of length 0 after a dot
			l--
		}
		labels = append(labels, strings.Repeat(string(rune('b'+i%20)), l))
		rest -= l + 1
	}
	s := local + "@" + strings.Join(labels, ".") + ".com"
	require.Len(t, s, n)
	return s
}

func TestAbuseStringLimits(t *testing.T) {
	t.Parallel()
	lic := demo.RankMathProLicense
	jsonStr := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	seat := func(key, instance, typ string) string {
		return `{"license_key":` + jsonStr(key) + `,"instance_identifier":` + jsonStr(instance) + `,"instance_type":"` + typ + `","product":"rankmath-pro"}`
	}
	post := func(path, body string) call {
		c := call{method: http.MethodPost, path: path, body: []byte(body)}
		if strings.HasPrefix(path, "/api/v1/brand/") {
			c.apiKey = rmKey
		}
		return c
	}
	tooLong := []struct {
		name  string
		c     call
		field string
	}{
		{"name of 101 characters", post(pathProducts, `{"slug":"long-name","name":"`+strings.Repeat("n", 101)+`"}`), "name"},
		{"name of 101 two-byte characters", post(pathProducts, `{"slug":"long-name","name":"`+strings.Repeat("é", 101)+`"}`), "name"},
		{"slug of 65 characters", post(pathProducts, `{"slug":"`+strings.Repeat("s", 65)+`","name":"Long Slug"}`), "slug"},
		{"suspend reason of 501 characters", post(actionPath(lic, "suspend"), `{"reason":"`+strings.Repeat("r", 501)+`"}`), "reason"},
		{"cancel reason of 501 characters", post(actionPath(lic, "cancel"), `{"reason":"`+strings.Repeat("r", 501)+`"}`), "reason"},
		{"customer_email of 255 characters", post(pathProvision, `{"customer_email":"`+abEmail(t, 255)+`","products":["rankmath-pro"]}`), "customer_email"},
		{"product reference of 65 characters", post(pathProvision, `{"customer_email":"ref@example.com","products":["`+strings.Repeat("p", 65)+`"]}`), "products[0]"},
		{"idempotency_key of 129 characters", post(pathProvision, `{"customer_email":"idem@example.com","products":["rankmath-pro"],"idempotency_key":"`+strings.Repeat("i", 129)+`"}`), "idempotency_key"},
		{"activate instance_identifier of 256 characters", post(pathActivate, seat(demo.RankMathKey, strings.Repeat("m", 256), "machine_id")), "instance_identifier"},
		{"activate URL of 256 characters", post(pathActivate, seat(demo.RankMathKey, "https://example.com/"+strings.Repeat("u", 236), "url")), "instance_identifier"},
		{"deactivate instance_identifier of 256 characters", post(pathDeactivate, seat(demo.RankMathKey, strings.Repeat("m", 256), "machine_id")), "instance_identifier"},
		{"activate product of 65 characters", post(pathActivate, `{"license_key":"`+demo.RankMathKey+`","instance_identifier":"p.example.com","product":"`+strings.Repeat("p", 65)+`"}`), "product"},
		{"list by e-mail of 255 characters", call{method: http.MethodGet, path: emailQuery(abEmail(t, 255)), apiKey: rmKey}, "email"},
		{"check instance_identifier of 256 characters", call{method: http.MethodGet,
			path: pathCheck + "?license_key=" + demo.RankMathKey + "&instance_type=machine_id&instance_identifier=" + strings.Repeat("m", 256)}, "instance_identifier"},
	}
	idemHeader := post(pathProvision, `{"customer_email":"idem@example.com","products":["rankmath-pro"]}`)
	idemHeader.header = map[string]string{"Idempotency-Key": strings.Repeat("h", 129)}
	tooLong = append(tooLong, struct {
		name  string
		c     call
		field string
	}{"Idempotency-Key header of 129 characters", idemHeader, "idempotency_key"})

	for _, tc := range tooLong {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := start(t)
			expectInvalid(t, e, tc.c, tc.field)
		})
	}

	// At the limit the same values are accepted.
	idemOK := post(pathProvision, `{"customer_email":"idem@example.com","products":["rankmath-pro"]}`)
	idemOK.header = map[string]string{"Idempotency-Key": strings.Repeat("h", 128)}
	atLimit := []struct {
		name   string
		c      call
		status int
	}{
		{"name of 100 characters", post(pathProducts, `{"slug":"long-name","name":"`+strings.Repeat("n", 100)+`"}`), http.StatusCreated},
		{"name of 100 two-byte characters", post(pathProducts, `{"slug":"long-name","name":"`+strings.Repeat("é", 100)+`"}`), http.StatusCreated},
		{"slug of 64 characters", post(pathProducts, `{"slug":"`+strings.Repeat("s", 64)+`","name":"Long Slug"}`), http.StatusCreated},
		{"reason of 500 characters", post(actionPath(lic, "suspend"), `{"reason":"`+strings.Repeat("r", 500)+`"}`), http.StatusOK},
		{"customer_email of 254 characters", post(pathProvision, `{"customer_email":"`+abEmail(t, 254)+`","products":["rankmath-pro"]}`), http.StatusCreated},
		{"idempotency_key of 128 characters", post(pathProvision, `{"customer_email":"idem@example.com","products":["rankmath-pro"],"idempotency_key":"`+strings.Repeat("i", 128)+`"}`), http.StatusCreated},
		{"Idempotency-Key header of 128 characters", idemOK, http.StatusCreated},
		{"instance_identifier of 255 characters", post(pathActivate, seat(demo.RankMathKey, strings.Repeat("m", 255), "machine_id")), http.StatusCreated},
	}
	for _, tc := range atLimit {
		t.Run("at the limit: "+tc.name, func(t *testing.T) {
			t.Parallel()
			e := start(t)
			r := e.do(t, tc.c)
			require.Equal(t, tc.status, r.status, "body: %s", r.body)
		})
	}
}

func TestAbuseInvalidUTF8(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"invalid byte":         "\xff",
		"overlong encoding":    "\xc0\xaf",
		"UTF-16 surrogate":     "\xed\xa0\x80",
		"truncated sequence":   "ok\xe2\x82",
		"Latin-1 e with acute": "caf\xe9",
	}
	lic := demo.RankMathProLicense
	cases := []struct {
		name, path, apiKey, body string
	}{
		{"product name", pathProducts, rmKey, `{"slug":"utf-product","name":"N%s"}`},
		{"customer_email", pathProvision, rmKey, `{"customer_email":"a%s@example.com","products":["rankmath-pro"]}`},
		{"reason", actionPath(lic, "suspend"), rmKey, `{"reason":"r%s"}`},
		{"expiration_date", actionPath(lic, "renew"), rmKey, `{"expiration_date":"2031%s"}`},
		{"instance_identifier", pathActivate, "", `{"license_key":"` + demo.RankMathKey + `","instance_identifier":"s%s.example.com","product":"rankmath-pro"}`},
		{"license_key", pathDeactivate, "", `{"license_key":"RM-DEMA%s","instance_identifier":"demo.example.com","product":"rankmath-pro"}`},
		{"a field name", pathProducts, rmKey, `{"slug":"utf-product","name":"N","x%s":1}`},
	}
	e := start(t)
	for _, tc := range cases {
		for bname, b := range bad {
			t.Run(tc.name+"/"+bname, func(t *testing.T) {
				body := fmt.Sprintf(tc.body, b)
				expectError(t, e, call{method: http.MethodPost, path: tc.path, apiKey: tc.apiKey, body: []byte(body)}, http.StatusBadRequest, "invalid_json")
			})
		}
	}
	// In a query string it is a bad value of the parameter.
	for _, q := range []struct{ path, apiKey, field string }{
		{pathLicenses + "?email=a%FF@example.com", rmKey, "email"},
		{pathCheck + "?license_key=" + demo.RankMathKey + "&instance_identifier=s%FF.example.com", "", "instance_identifier"},
	} {
		t.Run("query "+q.field, func(t *testing.T) {
			expectInvalid(t, e, call{method: http.MethodGet, path: q.path, apiKey: q.apiKey}, q.field)
		})
	}
}

// abWithField returns body (a JSON object) with one more member in front.
func abWithField(body, member string) string {
	rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(body), "{"))
	if rest == "}" {
		return "{" + member + "}"
	}
	return "{" + member + "," + rest
}

func TestAbuseUnknownFields(t *testing.T) {
	t.Parallel()
	for _, p := range abPostRoutes(t) {
		if p.valid.form {
			continue // form bodies ignore extra fields, as EDD clients expect
		}
		t.Run(fltKey(p.route), func(t *testing.T) {
			t.Parallel()
			e := start(t)
			if p.valid.setup != nil {
				p.valid.setup(t, e)
			}
			for _, field := range []string{"brand", "x_unknown", "seats_used", "status", "api_key"} {
				c := p.valid.call(t, p.route)
				c.body = []byte(abWithField(p.valid.body, `"`+field+`":"wp-rocket"`))
				got := expectInvalid(t, e, c, field)
				require.Equal(t, field, got.Field, "the error names the unknown field: %s", got.raw)
			}
			// The valid request itself works, so the refusals were about
			// the unknown field alone.
			r := e.do(t, p.valid.call(t, p.route))
			require.Equal(t, p.valid.ok, r.status, "the valid request: %s", r.body)
		})
	}
}

// TestAbuseFieldNameCase: the contract's field names are exact; a member
// whose name differs only in case is not one of them, so it is an unknown
// field (encoding/json would otherwise match it case-insensitively).
func TestAbuseFieldNameCase(t *testing.T) {
	t.Parallel()
	for _, p := range abPostRoutes(t) {
		if p.valid.form {
			continue // form bodies ignore extra fields, as EDD clients expect
		}
		var members map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(p.valid.body), &members))
		if len(members) == 0 {
			continue
		}
		t.Run(fltKey(p.route), func(t *testing.T) {
			t.Parallel()
			e := start(t)
			if p.valid.setup != nil {
				p.valid.setup(t, e)
			}
			for _, name := range slices.Sorted(maps.Keys(members)) {
				upper := strings.ToUpper(name)
				renamed := map[string]json.RawMessage{}
				for k, v := range members {
					renamed[k] = v
				}
				delete(renamed, name)
				renamed[upper] = members[name]
				b, err := json.Marshal(renamed)
				require.NoError(t, err)
				c := p.valid.call(t, p.route)
				c.body = b
				expectInvalid(t, e, c, upper)
			}
		})
	}
}

func TestAbuseHistoryLimit(t *testing.T) {
	t.Parallel()
	e := start(t)
	path := actionPath(demo.RankMathProLicense, "events")
	for _, limit := range []string{"0", "101", "abc", "-1", "1.5", "1e2", "%205", "0x10", "99999999999999999999", "100000"} {
		t.Run("limit="+limit, func(t *testing.T) {
			expectInvalid(t, e, call{method: http.MethodGet, path: path + "?limit=" + limit, apiKey: rmKey}, "limit")
		})
	}
	for _, limit := range []string{"1", "100"} {
		t.Run("limit="+limit+" works", func(t *testing.T) {
			expectOK(t, e.get(t, path+"?limit="+limit, rmKey), http.StatusOK, nil)
		})
	}
}

func TestAbuseHugeQueryValues(t *testing.T) {
	t.Parallel()
	e := start(t)
	huge := "RM-" + strings.Repeat("2345-", 2048) // about 10 KB, key-shaped
	require.GreaterOrEqual(t, len(huge), 10<<10)
	t.Run("license key in check's query", func(t *testing.T) {
		got := expectInvalid(t, e, call{method: http.MethodGet, path: pathCheck + "?license_key=" + huge + "&instance_identifier=" + demo.DemoSite}, "license_key")
		require.Less(t, len(got.raw), 2048, "the error echoes the huge value")
	})
	t.Run("license key in activate's body", func(t *testing.T) {
		body := `{"license_key":"` + huge + `","instance_identifier":"huge.example.com"}`
		expectInvalid(t, e, call{method: http.MethodPost, path: pathActivate, body: []byte(body)}, "license_key")
	})
	t.Run("e-mail in list's query", func(t *testing.T) {
		expectInvalid(t, e, call{method: http.MethodGet, path: emailQuery(strings.Repeat("a", 10<<10) + "@example.com"), apiKey: rmKey}, "email")
	})
	t.Run("API key of 10 KB", func(t *testing.T) {
		expectError(t, e, call{method: http.MethodGet, path: pathProducts, apiKey: strings.Repeat("k", 10<<10)}, http.StatusUnauthorized, "unauthorized")
	})
}

// abDo sends a request with possibly repeated headers.
func abDo(t *testing.T, e *env, method, path, body string, header http.Header) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.APIURL+path, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestAbuseDuplicateKeys: JSON members, query parameters and headers given
// twice are handled the same way every time, never with a 5xx; a refusal
// changes nothing, and an accepted request acts on exactly one of the values,
// the one it answers with.
func TestAbuseDuplicateKeys(t *testing.T) {
	t.Parallel()
	lic := demo.RankMathProLicense
	rm := http.Header{"X-Api-Key": {rmKey}}
	type dupCase struct {
		name         string
		method, path string
		body         string
		header       http.Header
		// won reads which value an accepted request took, and checks that
		// the stored data agrees.
		won func(t *testing.T, e *env, r reply) string
	}
	jsonField := func(t *testing.T, r reply, path ...string) string {
		t.Helper()
		var v any
		require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
		for _, p := range path {
			m, ok := v.(map[string]any)
			require.True(t, ok, "no %q in %s", p, r.body)
			v = m[p]
		}
		s, _ := v.(string)
		return s
	}
	oneOf := func(t *testing.T, got string, values ...string) {
		t.Helper()
		require.Contains(t, values, got, "the answer took neither value")
	}
	cases := []dupCase{
		{
			name: "customer_email twice", method: http.MethodPost, path: pathProvision, header: rm,
			body: `{"customer_email":"first@example.com","customer_email":"second@example.com","products":["rankmath-pro"]}`,
			won: func(t *testing.T, e *env, r reply) string {
				got := jsonField(t, r, "license_key", "customer_email")
				oneOf(t, got, "first@example.com", "second@example.com")
				for _, email := range []string{"first@example.com", "second@example.com"} {
					var c customerJSON
					expectOK(t, e.get(t, emailQuery(email), rmKey), http.StatusOK, &c)
					require.Equal(t, email == got, len(c.LicenseKeys) == 1, "%s holds %d keys", email, len(c.LicenseKeys))
				}
				return got
			},
		},
		{
			name: "slug twice", method: http.MethodPost, path: pathProducts, header: rm,
			body: `{"slug":"dup-first","slug":"dup-second","name":"Dup"}`,
			won: func(t *testing.T, e *env, r reply) string {
				got := jsonField(t, r, "slug")
				oneOf(t, got, "dup-first", "dup-second")
				var list struct {
					Products []productJSON `json:"products"`
				}
				expectOK(t, e.get(t, pathProducts, rmKey), http.StatusOK, &list)
				var slugs []string
				for _, p := range list.Products {
					slugs = append(slugs, p.Slug)
				}
				require.Contains(t, slugs, got)
				require.NotContains(t, slugs, map[string]string{"dup-first": "dup-second", "dup-second": "dup-first"}[got])
				return got
			},
		},
		{
			name: "reason twice", method: http.MethodPost, path: actionPath(lic, "suspend"), header: rm,
			body: `{"reason":"first","reason":"second"}`,
			won: func(t *testing.T, e *env, r reply) string {
				got := jsonField(t, r, "status_reason")
				oneOf(t, got, "first", "second")
				l, _ := e.licenseOf(t, rmKey, lic)
				require.Equal(t, got, l.StatusReason)
				return got
			},
		},
		{
			name: "reason twice in two cases", method: http.MethodPost, path: actionPath(lic, "suspend"), header: rm,
			body: `{"reason":"first","REASON":"second"}`,
			won: func(t *testing.T, e *env, r reply) string {
				got := jsonField(t, r, "status_reason")
				oneOf(t, got, "first", "second")
				return got
			},
		},
		{
			name: "license_key twice on activate", method: http.MethodPost, path: pathActivate,
			body: `{"license_key":"` + demo.WPRocketKey + `","license_key":"` + demo.RankMathKey + `","instance_identifier":"dup.example.com","product":"rankmath-pro"}`,
			won: func(t *testing.T, e *env, r reply) string {
				got := jsonField(t, r, "license_id")
				require.Equal(t, lic, got, "only rankmath's key covers rankmath-pro")
				return got
			},
		},
		{
			name: "license_key twice in check's query", method: http.MethodGet,
			path: pathCheck + "?license_key=" + demo.WPRocketKey + "&license_key=" + demo.RankMathKey + "&product=rankmath-pro",
			won: func(t *testing.T, _ *env, r reply) string {
				return jsonField(t, r, "license", "id")
			},
		},
		{
			name: "X-API-Key twice", method: http.MethodGet, path: licensePath(lic),
			header: http.Header{"X-Api-Key": {wprKey, rmKey}},
			won: func(t *testing.T, _ *env, r reply) string {
				return jsonField(t, r, "id")
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var outcomes []string
			for range 3 {
				e := start(t)
				before := e.snapshot(t)
				r := abDo(t, e, tc.method, tc.path, tc.body, tc.header)
				require.Less(t, r.status, 500, "body: %s", r.body)
				var outcome string
				if r.status >= 400 {
					outcome = fmt.Sprintf("%d %s", r.status, isoCodeOf(t, r))
					checkError(t, r, r.status, isoCodeOf(t, r))
					require.Equal(t, lines(before), lines(e.snapshot(t)), "a refused request changed the table")
				} else {
					outcome = fmt.Sprintf("%d %s", r.status, tc.won(t, e, r))
				}
				outcomes = append(outcomes, outcome)
			}
			require.Len(t, slices.Compact(slices.Clone(outcomes)), 1, "answers differ between runs: %q", outcomes)
			t.Logf("answer: %s", outcomes[0])
		})
	}
}

// abLog is a log destination that handlers on the server's goroutines and
// the test may use at once.
type abLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *abLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *abLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestLogsKeepSecretsOut: one JSON line per request with its id, use case,
// status and outcome, and never a full license key or a plain API key; nor
// in the lines of the EDD endpoint, of the brand authorizer function and of
// the scheduled reclaim of stale seats.
func TestLogsKeepSecretsOut(t *testing.T) {
	t.Parallel()
	logs := &abLog{}
	clk := &clock{now: time.Now().UTC()}
	e := start(t, func(o *devserver.Options) {
		o.Log = slog.New(slog.NewJSONHandler(logs, nil))
		o.Now = clk.Now
	})

	const attemptedAPIKey = "attempted-secret-api-key-0123456789"
	const unknownLicenseKey = "RM-2345-6789-ABCD-EFGH"
	type step struct {
		useCase string
		c       call
		status  int
		code    string // the outcome of a refusal
	}
	seat := func(key, site string) []byte {
		return []byte(`{"license_key":"` + key + `","instance_identifier":"` + site + `","product":"rankmath-pro"}`)
	}
	check := func(key string) string {
		return pathCheck + "?license_key=" + url.QueryEscape(key) + "&instance_identifier=" + demo.DemoSite + "&product=rankmath-pro"
	}
	lower := strings.ToLower(demo.RankMathKey)
	// EDD requests: a form body (POST) or the query string (GET) carries the key.
	edd := func(method, action, key, site string) call {
		form := url.Values{"edd_action": {action}, "license": {key}, "item_id": {"rankmath-pro"}}
		if site != "" {
			form.Set("url", site)
		}
		if method == http.MethodGet {
			return call{method: method, path: pathEDDLogs + "?" + form.Encode()}
		}
		return call{method: method, path: pathEDDLogs, body: []byte(form.Encode()),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}
	}
	steps := []step{
		{"check-license", call{method: http.MethodGet, path: check(demo.RankMathKey)}, http.StatusOK, ""},
		{"check-license", call{method: http.MethodGet, path: check(lower)}, http.StatusOK, ""},
		{"check-license", call{method: http.MethodGet, path: check(unknownLicenseKey)}, http.StatusNotFound, "license_not_found"},
		{"activate-license", call{method: http.MethodPost, path: pathActivate, body: seat(demo.RankMathKey, "logs.example.com")}, http.StatusCreated, ""},
		{"activate-license", call{method: http.MethodPost, path: pathActivate, body: seat(lower, "logs.example.com")}, http.StatusOK, ""},
		{"activate-license", call{method: http.MethodPost, path: pathActivate, body: []byte(`{"license_key":"` + lower + `","instance_identifier":""}`)}, http.StatusBadRequest, "validation_error"},
		{"deactivate-seat", call{method: http.MethodPost, path: pathDeactivate, body: seat(lower, "logs.example.com")}, http.StatusOK, ""},
		{"deactivate-seat", call{method: http.MethodPost, path: pathDeactivate, body: seat(demo.RankMathKey, "logs.example.com")}, http.StatusNotFound, "activation_not_found"},
		{"list-products", call{method: http.MethodGet, path: pathProducts, apiKey: rmKey}, http.StatusOK, ""},
		{"get-license", call{method: http.MethodGet, path: licensePath(demo.RankMathProLicense), apiKey: rmKey}, http.StatusOK, ""},
		{"list-licenses", call{method: http.MethodGet, path: emailQuery(demo.DemoCustomer), apiKey: rmKey}, http.StatusOK, ""},
		{"provision-license", call{method: http.MethodPost, path: pathProvision, apiKey: rmKey,
			body: []byte(`{"customer_email":"logs@example.com","products":["rankmath-pro"]}`)}, http.StatusCreated, ""},
		{"suspend-license", call{method: http.MethodPost, path: actionPath(demo.RankMathProLicense, "suspend"), apiKey: rmKey, body: []byte(`{}`)}, http.StatusOK, ""},
		{"resume-license", call{method: http.MethodPost, path: actionPath(demo.RankMathProLicense, "resume"), apiKey: rmKey, body: []byte(`{}`)}, http.StatusOK, ""},
		{"list-products", call{method: http.MethodGet, path: pathProducts, apiKey: wprKey}, http.StatusOK, ""},
		{"list-products", call{method: http.MethodGet, path: pathProducts, apiKey: attemptedAPIKey}, http.StatusUnauthorized, "unauthorized"},
		{"get-license", call{method: http.MethodGet, path: licensePath(demo.RankMathProLicense), apiKey: wprKey}, http.StatusNotFound, "license_not_found"},
		{"edd", edd(http.MethodPost, "activate_license", demo.RankMathKey, "https://edd-logs.example.com"), http.StatusOK, "valid"},
		{"edd", edd(http.MethodGet, "check_license", lower, "edd-logs.example.com"), http.StatusOK, "valid"},
		{"edd", edd(http.MethodPost, "deactivate_license", lower, "edd-logs.example.com"), http.StatusOK, "deactivated"},
		{"edd", edd(http.MethodGet, "check_license", unknownLicenseKey, ""), http.StatusOK, "missing"},
		{"edd", edd(http.MethodPost, "activate_license", lower, ""), http.StatusOK, "missing_url"},
		{"edd", edd(http.MethodGet, "get_version", demo.RankMathKey, ""), http.StatusOK, "missing_url"},
		{"edd", edd(http.MethodPost, "get_version", lower, "https://"+demo.DemoSite), http.StatusOK, "entitled"},
		{"edd", edd(http.MethodPost, "get_version", unknownLicenseKey, "https://"+demo.DemoSite), http.StatusOK, "missing"},
		{"product-updates", call{method: http.MethodGet, path: "/api/v1/product/updates?license_key=" + lower + "&instance_identifier=" + demo.DemoSite + "&product=rankmath-pro"}, http.StatusOK, ""},
		{"product-updates", call{method: http.MethodGet, path: "/api/v1/product/updates?license_key=" + unknownLicenseKey + "&instance_identifier=" + demo.DemoSite}, http.StatusNotFound, "license_not_found"},
	}
	secrets := []string{demo.RankMathKey, demo.WPRocketKey, unknownLicenseKey, rmKey, wprKey, attemptedAPIKey}
	for _, s := range steps {
		r := e.do(t, s.c)
		require.Equal(t, s.status, r.status, "%s %s: %s", s.c.method, s.c.path, r.body)
		if s.useCase == "provision-license" {
			var p provisionedJSON
			require.NoError(t, json.Unmarshal(r.body, &p))
			secrets = append(secrets, p.LicenseKey.Key)
		}
	}
	// A failure is logged with its error: still no key in it.
	func() {
		e.srv.Engine.EmulateFailure(miniserver.FailureConditionInternalServerError)
		defer e.srv.Engine.EmulateFailure(miniserver.FailureConditionNone)
		for _, c := range []call{
			{method: http.MethodPost, path: pathActivate, body: seat(demo.RankMathKey, "down.example.com")},
			{method: http.MethodGet, path: check(lower)},
			{method: http.MethodGet, path: pathProducts, apiKey: rmKey},
			edd(http.MethodPost, "activate_license", lower, "down.example.com"),
		} {
			r := e.do(t, c)
			require.Equal(t, http.StatusServiceUnavailable, r.status, "%s %s: %s", c.method, c.path, r.body)
		}
	}()
	steps = append(steps,
		step{"activate-license", call{}, http.StatusServiceUnavailable, "service_unavailable"},
		step{"check-license", call{}, http.StatusServiceUnavailable, "service_unavailable"},
		step{"list-products", call{}, http.StatusServiceUnavailable, "service_unavailable"},
		step{"edd", call{}, http.StatusServiceUnavailable, "service_unavailable"})

	// The brand authorizer function (API Gateway runs it in AWS): a good
	// key, a wrong one, and DynamoDB failing; what it returns shows no key either.
	ctx := context.Background()
	authorize := func(key string) error {
		_, err := e.srv.Service.API.AuthorizeBrand(ctx, events.APIGatewayCustomAuthorizerRequestTypeRequest{
			MethodArn: "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/api/v1/brand/products",
			Headers:   map[string]string{"X-API-Key": key},
		})
		return err
	}
	require.NoError(t, authorize(rmKey))
	require.ErrorIs(t, authorize(attemptedAPIKey), apigw.ErrUnauthorized)
	var returned []string // what the functions hand back to Lambda, which logs it
	func() {
		e.srv.Engine.EmulateFailure(miniserver.FailureConditionInternalServerError)
		defer e.srv.Engine.EmulateFailure(miniserver.FailureConditionNone)
		err := authorize(wprKey)
		require.Error(t, err)
		require.NotErrorIs(t, err, apigw.ErrUnauthorized, "an outage is not a 401")
		returned = append(returned, err.Error())
	}()
	wantAuthorize := []string{"allow", "unauthorized", "service_unavailable"}

	// The scheduled reclaim: 31 days on, with rankmath freeing seats unseen
	// for 30, it frees the demo seat; then once with DynamoDB failing.
	require.NoError(t, e.srv.Service.App.Ops().ConfigureBrand(ctx, "rankmath", licensing.BrandSettings{StaleAfterDays: 30}))
	clk.advance(31 * 24 * time.Hour)
	reclaim := schedule.Reclaim(e.srv.Service.App, e.srv.Service.Log)
	res, err := reclaim(ctx, events.CloudWatchEvent{ID: "logs-reclaim-1"})
	require.NoError(t, err)
	require.Positive(t, res.Seats, "the demo seat is stale")
	func() {
		e.srv.Engine.EmulateFailure(miniserver.FailureConditionInternalServerError)
		defer e.srv.Engine.EmulateFailure(miniserver.FailureConditionNone)
		_, err := reclaim(ctx, events.CloudWatchEvent{ID: "logs-reclaim-2"})
		require.Error(t, err)
		returned = append(returned, err.Error())
	}()

	out := logs.String()
	for _, s := range secrets {
		require.NotContains(t, strings.ToLower(out), strings.ToLower(s), "the logs hold a secret")
		for _, r := range returned {
			require.NotContains(t, strings.ToLower(r), strings.ToLower(s), "a returned error holds a secret")
		}
	}

	// One line per request, in order, with what an operator needs.
	var requests []map[string]any
	var authorizeOutcomes, reclaimLines []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "a log line is not JSON: %s", sc.Text())
		switch m["msg"] {
		case "request":
			requests = append(requests, m)
		case "authorize":
			require.Equal(t, "authorize-brand", m["use_case"], "%v", m)
			authorizeOutcomes = append(authorizeOutcomes, fmt.Sprint(m["outcome"]))
		case "reclaim", "reclaim failed":
			require.Equal(t, "reclaim-seats", m["use_case"], "%v", m)
			require.Contains(t, m, "seats_reclaimed")
			reclaimLines = append(reclaimLines, m["msg"].(string))
		}
	}
	require.NoError(t, sc.Err())
	require.Equal(t, wantAuthorize, authorizeOutcomes, "one authorize line per authorization:\n%s", out)
	require.Equal(t, []string{"reclaim", "reclaim failed"}, reclaimLines, "one line per reclaim run:\n%s", out)
	require.Len(t, requests, len(steps), "one request line per request:\n%s", out)
	ids := map[string]bool{}
	for i, s := range steps {
		m := requests[i]
		for _, f := range []string{"request_id", "use_case", "status", "outcome"} {
			require.Contains(t, m, f, "line %d: %v", i, m)
		}
		id, _ := m["request_id"].(string)
		require.NotEmpty(t, id, "line %d: %v", i, m)
		require.False(t, ids[id], "request id %s used twice", id)
		ids[id] = true
		require.Equal(t, s.useCase, m["use_case"], "line %d: %v", i, m)
		require.EqualValues(t, s.status, m["status"], "line %d: %v", i, m)
		outcome, _ := m["outcome"].(string)
		if s.code != "" {
			require.Equal(t, s.code, outcome, "line %d: %v", i, m)
		} else {
			require.NotEmpty(t, outcome, "line %d: %v", i, m)
		}
	}
	var useCases []string
	for _, m := range requests {
		useCases = append(useCases, fmt.Sprint(m["use_case"]))
	}
	sort.Strings(useCases)
	t.Logf("request lines: %d (%s)", len(requests), strings.Join(slices.Compact(useCases), ", "))
}
