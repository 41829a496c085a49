package tests

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/devserver"
)

// Stricter input: invisible and bidirectional characters, controls and
// line separators in any text field, e-mail domains that are no host names,
// instance identifiers with a bad port or a hidden character, and JSON
// objects that name a key twice are refused, over every route that takes
// them, and nothing changes in the table. License keys in request paths are
// logged masked.

// inRow is one refusal: the request, and the answer's status, code and
// field (empty when the answer names none). An EDD row expects the EDD
// protocol's answer instead: 200, and eddError in the body's "error".
type inRow struct {
	name     string
	c        call
	status   int
	code     string
	field    string
	eddError string
}

// inLogs is a log sink the server writes to from its goroutines.
type inLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *inLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *inLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestInputRefusals(t *testing.T) {
	t.Parallel()
	logs := &inLogs{}
	e := start(t, func(o *devserver.Options) { o.Log = slog.New(slog.NewJSONHandler(logs, nil)) })

	body := func(v map[string]any) []byte {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return b
	}
	brandPost := func(path string, v map[string]any) call {
		return call{method: http.MethodPost, path: path, apiKey: rmKey, body: body(v)}
	}
	provision := func(mod map[string]any) call {
		v := map[string]any{"customer_email": "input@example.com", "products": []string{"rankmath-pro"}}
		for k, x := range mod {
			v[k] = x
		}
		return brandPost(pathProvision, v)
	}
	product := func(mod map[string]any) call {
		v := map[string]any{"slug": "input-product", "name": "Input Product"}
		for k, x := range mod {
			v[k] = x
		}
		return brandPost(pathProducts, v)
	}
	seat := func(path string, mod map[string]any) call {
		v := map[string]any{"license_key": demo.RankMathKey, "instance_identifier": "input.example.com", "product": "rankmath-pro"}
		for k, x := range mod {
			v[k] = x
		}
		return call{method: http.MethodPost, path: path, body: body(v)}
	}
	get := func(path string, q url.Values, apiKey string) call {
		return call{method: http.MethodGet, path: path + "?" + q.Encode(), apiKey: apiKey}
	}
	check := func(name, value string) call {
		q := url.Values{"license_key": {demo.RankMathKey}, "instance_identifier": {demo.DemoSite}, "product": {"rankmath-pro"}}
		q.Set(name, value)
		return get(pathCheck, q, "")
	}
	updates := func(name, value string) call {
		q := url.Values{"license_key": {demo.RankMathKey}, "instance_identifier": {demo.DemoSite}, "product": {"rankmath-pro"}}
		q.Set(name, value)
		return get(pathUpdates, q, "")
	}
	edd := func(name, value string) call {
		f := url.Values{"edd_action": {"activate_license"}, "license": {demo.RankMathKey}, "item_name": {"Rank Math Pro"}, "url": {"input.example.com"}}
		f.Set(name, value)
		return call{method: http.MethodPost, path: pathEDD, body: []byte(f.Encode()),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}
	}
	lic := demo.RankMathProLicense
	const bad, invalidJSON = http.StatusBadRequest, "invalid_json"
	invalid := func(name string, c call, field string) inRow {
		return inRow{name: name, c: c, status: bad, code: "validation_error", field: field}
	}

	rows := []inRow{
		// Invisible, bidirectional and separator characters and controls in
		// text fields: inside, and at the edges, where trimming would have
		// dropped the separators silently.
		invalid("name with U+202E", product(map[string]any{"name": "Input \u202EProduct"}), "name"),
		invalid("name with U+200B", product(map[string]any{"name": "Input\u200BProduct"}), "name"),
		invalid("name ending in U+2028", product(map[string]any{"name": "Input Product\u2028"}), "name"),
		invalid("name with U+0085", product(map[string]any{"name": "Input\u0085Product"}), "name"),
		invalid("name with U+2029", product(map[string]any{"name": "\u2029Input Product"}), "name"),
		invalid("name with a control", product(map[string]any{"name": "Input\x01Product"}), "name"),
		invalid("slug ending in U+2029", product(map[string]any{"slug": "input-product\u2029"}), "slug"),
		invalid("customer_email with U+202E", provision(map[string]any{"customer_email": "in\u202Eput@example.com"}), "customer_email"),
		invalid("customer_email with U+200B", provision(map[string]any{"customer_email": "input@exa\u200Bmple.com"}), "customer_email"),
		invalid("customer_email ending in U+2028", provision(map[string]any{"customer_email": "input@example.com\u2028"}), "customer_email"),
		invalid("customer_email ending in U+0085", provision(map[string]any{"customer_email": "input@example.com\u0085"}), "customer_email"),
		invalid("customer_email with a control", provision(map[string]any{"customer_email": "in\x07put@example.com"}), "customer_email"),
		invalid("product reference with U+200B", provision(map[string]any{"products": []string{"rankmath-pro\u200B"}}), "products[0]"),
		invalid("product reference with U+202E", provision(map[string]any{"products": []string{"content-ai", "\u202Erankmath-pro"}}), "products[1]"),
		invalid("idempotency_key with U+202E", provision(map[string]any{"idempotency_key": "order\u202E1"}), "idempotency_key"),
		invalid("idempotency_key ending in U+2028", provision(map[string]any{"idempotency_key": "order-1\u2028"}), "idempotency_key"),
		invalid("Idempotency-Key header ending in U+2029", inHeader(provision(nil), "Idempotency-Key", "order-1\u2029"), "idempotency_key"),
		invalid("email query with U+200B", get(pathLicenses, url.Values{"email": {"demo@exa\u200Bmple.com"}}, rmKey), "email"),
		invalid("email query ending in U+2028", get(pathLicenses, url.Values{"email": {demo.DemoCustomer + "\u2028"}}, rmKey), "email"),
		invalid("suspend reason with U+202E", brandPost(actionPath(lic, "suspend"), map[string]any{"reason": "charge\u202Eback"}), "reason"),
		invalid("suspend reason with U+2028", brandPost(actionPath(lic, "suspend"), map[string]any{"reason": "charge\u2028back"}), "reason"),
		invalid("cancel reason with U+0085", brandPost(actionPath(lic, "cancel"), map[string]any{"reason": "charge\u0085back"}), "reason"),
		invalid("cancel reason with a control", brandPost(actionPath(lic, "cancel"), map[string]any{"reason": "charge\x00back"}), "reason"),
		invalid("renew date ending in U+2028", brandPost(actionPath(lic, "renew"), map[string]any{"expiration_date": isoRenewTo() + "\u2028"}), "expiration_date"),
		invalid("release changelog with U+202E", brandPost(relPath("rankmath-pro"), inWith(relBody("3.0.0", "stable", isoPackage), "changelog", "- fixed \u202Eevil")), "changelog"),
		invalid("release version with U+200B", brandPost(relPath("rankmath-pro"), inWith(relBody("3.0.0", "stable", isoPackage), "version", "3.0.0\u200B")), "version"),
		invalid("webhook url with U+202E", brandPost(pathWebhooks, map[string]any{"url": "https://hooks.example.com/\u202Ex", "event_types": []string{"*"}}), "url"),

		// E-mail domains must be host names.
		invalid("e-mail domain 1.2.3.4", provision(map[string]any{"customer_email": "input@1.2.3.4"}), "customer_email"),
		invalid("e-mail domain [1.2.3.4]", provision(map[string]any{"customer_email": "input@[1.2.3.4]"}), "customer_email"),
		invalid("e-mail domain -x.com", provision(map[string]any{"customer_email": "input@-x.com"}), "customer_email"),
		invalid("e-mail domain x-.com", provision(map[string]any{"customer_email": "input@x-.com"}), "customer_email"),
		invalid("e-mail domain a#b.com", provision(map[string]any{"customer_email": "input@a#b.com"}), "customer_email"),
		invalid("e-mail query domain 1.2.3.4", get(pathLicenses, url.Values{"email": {"demo@1.2.3.4"}}, rmKey), "email"),

		// Instance identifiers, in bodies and query strings.
		invalid("license_key with U+200B", seat(pathActivate, map[string]any{"license_key": demo.RankMathKey + "\u200B"}), "license_key"),
		invalid("instance example.com:99999", seat(pathActivate, map[string]any{"instance_identifier": "example.com:99999"}), "instance_identifier"),
		invalid("instance example.com:0", seat(pathActivate, map[string]any{"instance_identifier": "example.com:0"}), "instance_identifier"),
		invalid("instance with U+200B", seat(pathActivate, map[string]any{"instance_identifier": "exa\u200Bmple.com"}), "instance_identifier"),
		invalid("instance with U+202E", seat(pathActivate, map[string]any{"instance_identifier": "\u202Eexample.com"}), "instance_identifier"),
		invalid("instance ending in U+2028", seat(pathActivate, map[string]any{"instance_identifier": "example.com\u2028"}), "instance_identifier"),
		invalid("instance with U+0085", seat(pathActivate, map[string]any{"instance_identifier": "example.com\u0085"}), "instance_identifier"),
		invalid("instance with a control", seat(pathActivate, map[string]any{"instance_identifier": "exa\x01mple.com"}), "instance_identifier"),
		invalid("hostname with U+200B", seat(pathActivate, map[string]any{"instance_type": "hostname", "instance_identifier": "exa\u200Bmple.com"}), "instance_identifier"),
		invalid("hostname example.com:99999", seat(pathActivate, map[string]any{"instance_type": "hostname", "instance_identifier": "example.com:99999"}), "instance_identifier"),
		invalid("machine_id with U+0085", seat(pathActivate, map[string]any{"instance_type": "machine_id", "instance_identifier": "abc\u0085def"}), "instance_identifier"),
		invalid("instance_type with U+202E", seat(pathActivate, map[string]any{"instance_type": "url\u202E"}), "instance_type"),
		invalid("previous instance with U+200B", seat(pathActivate, map[string]any{"previous_instance_identifier": "old\u200B.example.com"}), "previous_instance_identifier"),
		invalid("product ending in U+2028", seat(pathActivate, map[string]any{"product": "rankmath-pro\u2028"}), "product"),
		invalid("deactivate instance example.com:99999", seat(pathDeactivate, map[string]any{"instance_identifier": "example.com:99999"}), "instance_identifier"),
		invalid("deactivate instance with U+202E", seat(pathDeactivate, map[string]any{"instance_identifier": "demo.example\u202E.com"}), "instance_identifier"),
		invalid("check instance with U+200B", check("instance_identifier", "exa\u200Bmple.com"), "instance_identifier"),
		invalid("check instance with a percent-encoded U+200B", check("instance_identifier", "http://exa%E2%80%8Bmple.com"), "instance_identifier"),
		invalid("check instance example.com:99999", check("instance_identifier", "example.com:99999"), "instance_identifier"),
		invalid("check license_key ending in U+0085", check("license_key", demo.RankMathKey+"\u0085"), "license_key"),
		invalid("check product ending in U+2028", check("product", "rankmath-pro\u2028"), "product"),
		invalid("updates channel with U+202E", updates("channel", "beta\u202E"), "channel"),
		invalid("updates version with U+200B", updates("version", "1.2\u200B"), "version"),
		invalid("updates instance example.com:0", updates("instance_identifier", "example.com:0"), "instance_identifier"),

		// The EDD endpoint answers in its protocol: a refused key is
		// "missing", a refused URL "missing_url"; an edd_action that is not
		// one is the API's 400.
		{name: "EDD url with U+200B", c: edd("url", "exa\u200Bmple.com"), status: http.StatusOK, eddError: "missing_url"},
		{name: "EDD url example.com:99999", c: edd("url", "example.com:99999"), status: http.StatusOK, eddError: "missing_url"},
		{name: "EDD license with U+202E", c: edd("license", "\u202E"+demo.RankMathKey), status: http.StatusOK, eddError: "missing"},
		invalid("EDD edd_action with U+202E", edd("edd_action", "activate_license\u202E"), "edd_action"),

		// Duplicate keys, at the top and nested.
		{name: "provision names customer_email twice", status: bad, code: invalidJSON, c: call{method: http.MethodPost, path: pathProvision, apiKey: rmKey,
			body: []byte(`{"customer_email":"a@example.com","customer_email":"b@example.com","products":["rankmath-pro"]}`)}},
		{name: "provision with a nested key twice", status: bad, code: invalidJSON, c: call{method: http.MethodPost, path: pathProvision, apiKey: rmKey,
			body: []byte(`{"customer_email":"a@example.com","products":["rankmath-pro"],"x":{"a":1,"a":2}}`)}},
		{name: "activate names license_key twice", status: bad, code: invalidJSON, c: call{method: http.MethodPost, path: pathActivate,
			body: []byte(`{"license_key":"` + demo.RankMathKey + `","instance_identifier":"a.example.com","license_key":"` + demo.RankMathKey + `"}`)}},
		{name: "activate with a nested key twice", status: bad, code: invalidJSON, c: call{method: http.MethodPost, path: pathActivate,
			body: []byte(`{"license_key":"` + demo.RankMathKey + `","instance_identifier":"a.example.com","x":[{"k":1,"k":1}]}`)}},
		{name: "suspend names reason twice, once escaped", status: bad, code: invalidJSON, c: call{method: http.MethodPost, path: actionPath(lic, "suspend"), apiKey: rmKey,
			body: []byte(`{"reason":"a","re\u0061son":"b"}`)}},
	}
	// Every JSON route refuses a key twice, at the top and nested.
	for _, p := range abPostRoutes(t) {
		if p.valid.form {
			continue
		}
		c := p.valid.call(t, p.route)
		top, nested := c, c
		top.body = []byte(abWithField(string(c.body), `"dup":1,"dup":2`))
		nested.body = []byte(abWithField(string(c.body), `"dup":{"k":[],"k":{}}`))
		rows = append(rows,
			inRow{name: fltKey(p.route) + " with a key twice", c: top, status: bad, code: invalidJSON},
			inRow{name: fltKey(p.route) + " with a nested key twice", c: nested, status: bad, code: invalidJSON})
	}
	// A license key where a license id goes: not found, and logged masked.
	rows = append(rows, inRow{name: "a license key in the path", status: http.StatusNotFound, code: "license_not_found",
		c: call{method: http.MethodGet, path: licensePath(strings.ToLower(demo.RankMathKey)), apiKey: rmKey}})

	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			e.unchanged(t, func() {
				got := e.do(t, r.c)
				if r.eddError != "" {
					var out struct {
						Success bool   `json:"success"`
						Error   string `json:"error"`
					}
					m := expectOK(t, got, r.status, &out)
					require.False(t, out.Success, "%v", m)
					require.Equal(t, r.eddError, out.Error, "%v", m)
					return
				}
				a := checkError(t, got, r.status, r.code)
				require.Equal(t, r.field, a.Field, "body: %s", got.body)
				if r.field != "" {
					require.Contains(t, a.Message, r.field)
				}
				require.NotRegexp(t, "[\u202E\u200B\u2028\u2029\u0085]", a.Message, "the message reflects no invisible character")
			})
		})
	}

	// No full license key in the server's logs, in any case; the key in the
	// path shows masked (prefix and last group).
	out := strings.ToUpper(logs.String())
	require.NotEmpty(t, out)
	require.NotContains(t, out, strings.ToUpper(demo.RankMathKey))
	require.Contains(t, out, "/API/V1/BRAND/LICENSES/RM-****-****-****-4444")
}

// inHeader is c with one more header.
func inHeader(c call, k, v string) call {
	c.header = map[string]string{k: v}
	return c
}

// inWith is a copy of v with k set to x.
func inWith(v map[string]any, k string, x any) map[string]any {
	out := make(map[string]any, len(v)+1)
	for key, val := range v {
		out[key] = val
	}
	out[k] = x
	return out
}
