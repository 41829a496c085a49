package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/devserver"
	miniserver "github.com/truora/minidyn/server"
)

// Paths of the product API (the license key is the credential: no X-API-Key).
const (
	paActivatePath   = "/api/v1/product/licenses/activate"
	paCheckPath      = "/api/v1/product/licenses/check"
	paDeactivatePath = "/api/v1/product/licenses/deactivate"
)

// paFreeSeatPath is the brand route that frees a seat by activation id.
func paFreeSeatPath(licenseID, activationID string) string {
	return licensePath(licenseID) + "/activations/" + activationID
}

// paUnknownKey is a well-formed license key that was never issued.
const paUnknownKey = "RM-2345-6789-ABCD-EFGH"

// paSeat identifies a seat as a product sends it: the body of activate and
// deactivate, the query of check.
type paSeat struct {
	LicenseKey         string `json:"license_key,omitempty"`
	InstanceIdentifier string `json:"instance_identifier,omitempty"`
	InstanceType       string `json:"instance_type,omitempty"`
	Product            string `json:"product,omitempty"`
}

func (s paSeat) with(identifier, typ string) paSeat {
	s.InstanceIdentifier, s.InstanceType = identifier, typ
	return s
}

// checkPath is the check URL with s as its query.
func (s paSeat) checkPath() string {
	q := url.Values{}
	for k, v := range map[string]string{
		"license_key": s.LicenseKey, "instance_identifier": s.InstanceIdentifier,
		"instance_type": s.InstanceType, "product": s.Product,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return paCheckPath + "?" + q.Encode()
}

func paActivateCall(t *testing.T, s paSeat) call {
	return call{method: http.MethodPost, path: paActivatePath, body: jsonOf(t, s)}
}

func paDeactivateCall(t *testing.T, s paSeat) call {
	return call{method: http.MethodPost, path: paDeactivatePath, body: jsonOf(t, s)}
}

func paCheckCall(s paSeat) call {
	return call{method: http.MethodGet, path: s.checkPath()}
}

// The JSON shapes of the product API.

type paActivation struct {
	ActivationID       string `json:"activation_id"`
	Status             string `json:"status"`
	LicenseID          string `json:"license_id"`
	Product            string `json:"product"`
	InstanceIdentifier string `json:"instance_identifier"`
	InstanceType       string `json:"instance_type"`
	SeatsUsed          int    `json:"seats_used"`
	SeatsRemaining     int    `json:"seats_remaining"`
	ActivatedAt        string `json:"activated_at"`
}

type paCheckJSON struct {
	IsValid bool    `json:"is_valid"`
	Reason  *string `json:"reason"`
	License struct {
		ID             string  `json:"id"`
		Product        string  `json:"product"`
		Status         string  `json:"status"`
		SeatLimit      int     `json:"seat_limit"`
		SeatsUsed      int     `json:"seats_used"`
		SeatsRemaining int     `json:"seats_remaining"`
		ExpiresAt      *string `json:"expires_at"`
	} `json:"license"`
	IsActivated bool `json:"is_activated"`
	Activation  *struct {
		ID          string `json:"id"`
		ActivatedAt string `json:"activated_at"`
	} `json:"activation"`
	Instance *struct {
		Identifier string `json:"identifier"`
		Type       string `json:"type"`
	} `json:"instance"`
}

type paDeactivation struct {
	Status             string `json:"status"`
	LicenseID          string `json:"license_id"`
	Product            string `json:"product"`
	InstanceIdentifier string `json:"instance_identifier"`
	SeatsUsed          int    `json:"seats_used"`
	SeatsRemaining     int    `json:"seats_remaining"`
}

// paListed is an activation as the brand's license detail lists it.
type paListed struct {
	ID                 string `json:"id"`
	InstanceIdentifier string `json:"instance_identifier"`
	InstanceType       string `json:"instance_type"`
	ActivatedAt        string `json:"activated_at"`
}

func (a paActivation) listed() paListed {
	return paListed{ID: a.ActivationID, InstanceIdentifier: a.InstanceIdentifier, InstanceType: a.InstanceType, ActivatedAt: a.ActivatedAt}
}

// paRequireActivation checks the shape of an activate answer.
func paRequireActivation(t *testing.T, r reply, status int) paActivation {
	t.Helper()
	var a paActivation
	m := expectOK(t, r, status, &a)
	requireFields(t, m, "activation_id", "status", "license_id", "product", "instance_identifier", "instance_type", "seats_used", "seats_remaining", "activated_at")
	require.Regexp(t, `^act_[a-z2-7]{20}$`, a.ActivationID)
	require.Equal(t, "active", a.Status)
	require.Regexp(t, `^lic_[a-z2-7]{20}$`, a.LicenseID)
	mustParseTime(t, a.ActivatedAt)
	return a
}

// paActivate activates s and requires a new seat (201).
func paActivate(t *testing.T, e *env, s paSeat) paActivation {
	t.Helper()
	return paRequireActivation(t, e.do(t, paActivateCall(t, s)), http.StatusCreated)
}

// paReactivate activates an instance that already holds a seat: 200, the
// same activation, and nothing written.
func paReactivate(t *testing.T, e *env, s paSeat, held paActivation) paActivation {
	t.Helper()
	var r reply
	e.unchanged(t, func() { r = e.do(t, paActivateCall(t, s)) })
	a := paRequireActivation(t, r, http.StatusOK)
	require.Equal(t, held.ActivationID, a.ActivationID, "the same instance must keep its activation")
	require.Equal(t, held.ActivatedAt, a.ActivatedAt)
	require.Equal(t, held.InstanceIdentifier, a.InstanceIdentifier)
	require.Equal(t, held.LicenseID, a.LicenseID)
	return a
}

// paCheck checks s, requires a cacheable 200 and that nothing was written.
func paCheck(t *testing.T, e *env, s paSeat) (paCheckJSON, reply) {
	t.Helper()
	var r reply
	e.unchanged(t, func() { r = e.do(t, paCheckCall(s)) })
	var c paCheckJSON
	m := expectOK(t, r, http.StatusOK, &c)
	requireFields(t, m, "is_valid", "license", "is_activated", "activation")
	requireFields(t, m["license"].(map[string]any), "id", "product", "status", "seat_limit", "seats_used", "seats_remaining", "expires_at")
	if c.IsValid {
		require.Nil(t, m["reason"], "a valid license has no reason")
	} else {
		require.NotNil(t, c.Reason, "an invalid license says why: %s", r.body)
	}
	require.Equal(t, c.IsActivated, c.Activation != nil, "is_activated and activation disagree: %s", r.body)
	if s.InstanceIdentifier != "" {
		requireFields(t, m, "instance")
		require.NotNil(t, c.Instance)
	}
	require.Equal(t, "public, max-age=60", r.header.Get("Cache-Control"))
	require.NotEmpty(t, r.header.Get("ETag"))
	return c, r
}

// paDeactivate deactivates s and requires success.
func paDeactivate(t *testing.T, e *env, s paSeat) paDeactivation {
	t.Helper()
	var d paDeactivation
	m := expectOK(t, e.do(t, paDeactivateCall(t, s)), http.StatusOK, &d)
	requireFields(t, m, "status", "license_id", "product", "instance_identifier", "seats_used", "seats_remaining")
	require.Equal(t, "deactivated", d.Status)
	return d
}

// paCheckError is expectError for check: the error answer, the table
// unchanged, and an answer that no cache may keep.
func paCheckError(t *testing.T, e *env, s paSeat, status int, code string) apiError {
	t.Helper()
	var r reply
	e.unchanged(t, func() { r = e.do(t, paCheckCall(s)) })
	got := checkError(t, r, status, code)
	require.Equal(t, "no-store", r.header.Get("Cache-Control"), "an error of check must not be cached")
	return got
}

// paSeats reads a license with the brand's key and returns it with its listed activations.
func paSeats(t *testing.T, e *env, apiKey, licenseID string) (licenseDetailJSON, []paListed) {
	t.Helper()
	l, r := e.licenseOf(t, apiKey, licenseID)
	for _, a := range l.Activations {
		requireFields(t, a, "id", "instance_identifier", "instance_type", "activated_at")
	}
	var d struct {
		Activations []paListed `json:"activations"`
	}
	require.NoError(t, json.Unmarshal(r.body, &d))
	return l, d.Activations
}

// paProvision provisions a key for rankmath-pro with seats seats, for a month.
func paProvision(t *testing.T, e *env, email string, seats int) (keyJSON, licenseJSON) {
	t.Helper()
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: email, Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour), MaxSeats: ptr(seats)})
	return p.LicenseKey, p.Licenses[0]
}

func TestProductAPIActivate(t *testing.T) {
	t.Parallel()
	e := start(t)
	key, lic := paProvision(t, e, "act@example.com", 3)
	seat := paSeat{LicenseKey: key.Key}

	// No instance_type means url; no product is fine for a one-product key.
	first := paActivate(t, e, seat.with("https://www.Example.com/", ""))
	require.Equal(t, lic.ID, first.LicenseID)
	require.Equal(t, "rankmath-pro", first.Product)
	require.Equal(t, "example.com", first.InstanceIdentifier, "the canonical identifier")
	require.Equal(t, "url", first.InstanceType)
	require.Equal(t, 1, first.SeatsUsed)
	require.Equal(t, 2, first.SeatsRemaining)
	require.WithinDuration(t, time.Now(), mustParseTime(t, first.ActivatedAt), time.Minute)

	t.Run("the same site spelled otherwise is the same seat", func(t *testing.T) {
		for _, site := range []string{
			"http://example.com",
			"example.com",
			"EXAMPLE.COM/",
			"https://example.com:443/",
			"http://www.example.com:80",
			"https://user@www.example.com/?utm_source=x#top",
			"  https://example.com//  ",
		} {
			t.Run(site, func(t *testing.T) {
				a := paReactivate(t, e, seat.with(site, "url"), first)
				require.Equal(t, 1, a.SeatsUsed, "no extra seat")
				require.Equal(t, 2, a.SeatsRemaining)
				require.Equal(t, "example.com", a.InstanceIdentifier)
			})
		}
	})

	t.Run("a lower-case license key is the same key", func(t *testing.T) {
		lower := paSeat{LicenseKey: strings.ToLower(key.Key)}
		paReactivate(t, e, lower.with("http://example.com", ""), first)
		padded := paSeat{LicenseKey: "  " + strings.ToLower(key.Key) + " "}
		paReactivate(t, e, padded.with("example.com", "url"), first)
	})

	t.Run("the product by slug or by id", func(t *testing.T) {
		bySlug := seat.with("example.com", "url")
		bySlug.Product = "rankmath-pro"
		paReactivate(t, e, bySlug, first)
		byID := bySlug
		byID.Product = lic.ProductID
		paReactivate(t, e, byID, first)
	})

	// A path is another site.
	blog := paActivate(t, e, seat.with("https://www.example.com/blog/", "url"))
	require.NotEqual(t, first.ActivationID, blog.ActivationID)
	require.Equal(t, "example.com/blog", blog.InstanceIdentifier)
	require.Equal(t, 2, blog.SeatsUsed)
	require.Equal(t, 1, blog.SeatsRemaining)
	require.Equal(t, lic.ID, blog.LicenseID)

	got, listed := paSeats(t, e, rmKey, lic.ID)
	require.Equal(t, 2, got.SeatsUsed)
	require.Equal(t, 1, got.SeatsRemaining)
	require.ElementsMatch(t, []paListed{first.listed(), blog.listed()}, listed)

	t.Run("another brand's key", func(t *testing.T) {
		p := e.provision(t, wprKey, provisionReq{CustomerEmail: "act@example.com", Products: []string{"wp-rocket"}})
		a := paActivate(t, e, paSeat{LicenseKey: p.LicenseKey.Key, InstanceIdentifier: "example.com"})
		require.Equal(t, "wp-rocket", a.Product)
		require.Equal(t, p.Licenses[0].ID, a.LicenseID)
		require.NotEqual(t, first.ActivationID, a.ActivationID)
		require.Equal(t, 1, a.SeatsUsed)
		// The rankmath license did not change.
		again, _ := paSeats(t, e, rmKey, lic.ID)
		require.Equal(t, 2, again.SeatsUsed)
	})
}

func TestProductAPIInstanceTypes(t *testing.T) {
	t.Parallel()
	e := start(t)
	key, lic := paProvision(t, e, "types@example.com", 6)
	seat := paSeat{LicenseKey: key.Key}

	host := paActivate(t, e, seat.with("  Shop.Example.COM ", "hostname"))
	require.Equal(t, "shop.example.com", host.InstanceIdentifier, "host names are trimmed and lower-cased")
	require.Equal(t, "hostname", host.InstanceType)
	paReactivate(t, e, seat.with("shop.example.com", "hostname"), host)
	paReactivate(t, e, seat.with("SHOP.EXAMPLE.COM", "hostname"), host)

	upper := paActivate(t, e, seat.with("ABC", "machine_id"))
	require.Equal(t, "ABC", upper.InstanceIdentifier)
	require.Equal(t, "machine_id", upper.InstanceType)
	lower := paActivate(t, e, seat.with("abc", "machine_id"))
	require.Equal(t, "abc", lower.InstanceIdentifier)
	require.NotEqual(t, upper.ActivationID, lower.ActivationID, "machine ids are case-sensitive")
	require.Equal(t, 3, lower.SeatsUsed)
	paReactivate(t, e, seat.with("ABC", "machine_id"), upper)

	// 255 characters is the longest identifier.
	long := strings.Repeat("m", 255)
	longest := paActivate(t, e, seat.with(long, "machine_id"))
	require.Equal(t, long, longest.InstanceIdentifier)
	longURL := "example.com/" + strings.Repeat("p", 255-len("example.com/"))
	longestURL := paActivate(t, e, seat.with(longURL, "url"))
	require.Equal(t, longURL, longestURL.InstanceIdentifier)

	// An internationalised domain name is stored as punycode.
	idn := paActivate(t, e, seat.with("https://Bücher.de/", "url"))
	require.Equal(t, "xn--bcher-kva.de", idn.InstanceIdentifier)
	paReactivate(t, e, seat.with("xn--bcher-kva.de", "url"), idn)

	got, listed := paSeats(t, e, rmKey, lic.ID)
	require.Equal(t, 6, got.SeatsUsed)
	require.ElementsMatch(t, []paListed{host.listed(), upper.listed(), lower.listed(), longest.listed(), longestURL.listed(), idn.listed()}, listed)

	for _, a := range []paActivation{host, upper, lower} {
		c, _ := paCheck(t, e, seat.with(a.InstanceIdentifier, a.InstanceType))
		require.True(t, c.IsActivated, "%s %s", a.InstanceType, a.InstanceIdentifier)
		require.Equal(t, a.ActivationID, c.Activation.ID)
		require.Equal(t, a.InstanceIdentifier, c.Instance.Identifier)
		require.Equal(t, a.InstanceType, c.Instance.Type)
	}
	c, _ := paCheck(t, e, seat.with("Abc", "machine_id"))
	require.False(t, c.IsActivated, "machine id Abc holds no seat")
}

// paBad is a request the product API must refuse as invalid, with the field at fault.
type paBad struct {
	name  string
	body  []byte
	field string
}

// paInvalidBodies are activate and deactivate bodies with a field at fault.
func paInvalidBodies(t *testing.T, key string) []paBad {
	t.Helper()
	site := func(s paSeat) []byte { return jsonOf(t, s) }
	return []paBad{
		{"empty body", nil, "license_key"},
		{"empty object", []byte(`{}`), "license_key"},
		{"missing license_key", site(paSeat{InstanceIdentifier: "example.com"}), "license_key"},
		{"blank license_key", site(paSeat{LicenseKey: "   ", InstanceIdentifier: "example.com"}), "license_key"},
		{"malformed license_key", site(paSeat{LicenseKey: "RM-1234", InstanceIdentifier: "example.com"}), "license_key"},
		{"license_key with look-alike characters", site(paSeat{LicenseKey: "RM-0O1I-2222-2222-2222", InstanceIdentifier: "example.com"}), "license_key"},
		{"license_key with an extra group", site(paSeat{LicenseKey: key + "-ABCD", InstanceIdentifier: "example.com"}), "license_key"},
		{"license_key of wrong type", []byte(`{"license_key":12345,"instance_identifier":"example.com"}`), "license_key"},
		{"missing instance_identifier", site(paSeat{LicenseKey: key}), "instance_identifier"},
		{"blank instance_identifier", site(paSeat{LicenseKey: key, InstanceIdentifier: "   "}), "instance_identifier"},
		{"instance_identifier of wrong type", []byte(`{"license_key":"` + key + `","instance_identifier":["example.com"]}`), "instance_identifier"},
		{"url of 256 characters", site(paSeat{LicenseKey: key, InstanceIdentifier: "example.com/" + strings.Repeat("p", 256-len("example.com/"))}), "instance_identifier"},
		{"machine id of 256 characters", site(paSeat{LicenseKey: key, InstanceIdentifier: strings.Repeat("m", 256), InstanceType: "machine_id"}), "instance_identifier"},
		{"new line", site(paSeat{LicenseKey: key, InstanceIdentifier: "example.com\nevil.com"}), "instance_identifier"},
		{"NUL in a machine id", site(paSeat{LicenseKey: key, InstanceIdentifier: "abc\x00def", InstanceType: "machine_id"}), "instance_identifier"},
		{"escape in a host name", site(paSeat{LicenseKey: key, InstanceIdentifier: "host\x1b.example.com", InstanceType: "hostname"}), "instance_identifier"},
		{"tab in a url", site(paSeat{LicenseKey: key, InstanceIdentifier: "example.com/\tshop"}), "instance_identifier"},
		{"not an http url", site(paSeat{LicenseKey: key, InstanceIdentifier: "ftp://example.com"}), "instance_identifier"},
		{"url without a host", site(paSeat{LicenseKey: key, InstanceIdentifier: "https://"}), "instance_identifier"},
		{"host name with a space", site(paSeat{LicenseKey: key, InstanceIdentifier: "my host", InstanceType: "hostname"}), "instance_identifier"},
		{"unknown instance_type", site(paSeat{LicenseKey: key, InstanceIdentifier: "example.com", InstanceType: "ip"}), "instance_type"},
		{"instance_type of wrong type", []byte(`{"license_key":"` + key + `","instance_identifier":"example.com","instance_type":1}`), "instance_type"},
		{"malformed product", site(paSeat{LicenseKey: key, InstanceIdentifier: "example.com", Product: "Bad Slug!"}), "product"},
		{"unknown field", []byte(`{"license_key":"` + key + `","instance_identifier":"example.com","seats":1}`), "seats"},
	}
}

// paInvalidJSON are bodies that are no JSON object.
var paInvalidJSON = []struct{ name, body string }{
	{"malformed", `{"license_key":`},
	{"single quotes", `{'license_key':'x'}`},
	{"trailing comma", `{"license_key":"x",}`},
	{"array", `[{"license_key":"x"}]`},
	{"string", `"license_key"`},
	{"null", `null`},
	{"two objects", `{}{}`},
	{"invalid UTF-8", "{\"license_key\":\"\xff\xfe\"}"},
}

// TestProductAPIErrors sends every kind of bad request to activate and
// deactivate; none may change the table.
func TestProductAPIErrors(t *testing.T) {
	t.Parallel()
	e := start(t)
	key, lic := paProvision(t, e, "errors@example.com", 2)
	held := paActivate(t, e, paSeat{LicenseKey: key.Key, InstanceIdentifier: "held.example.com"})
	other := e.provision(t, wprKey, provisionReq{CustomerEmail: "errors@example.com", Products: []string{"wp-rocket"}})
	var wpr struct {
		Products []productJSON `json:"products"`
	}
	expectOK(t, e.get(t, pathProducts, wprKey), http.StatusOK, &wpr)
	_, before := e.licenseOf(t, rmKey, lic.ID)

	routes := []struct {
		name string
		path string
	}{{"activate", paActivatePath}, {"deactivate", paDeactivatePath}}
	for _, route := range routes {
		t.Run(route.name, func(t *testing.T) {
			post := func(body []byte) call { return call{method: http.MethodPost, path: route.path, body: body} }
			for _, tc := range paInvalidBodies(t, key.Key) {
				t.Run("validation/"+tc.name, func(t *testing.T) {
					expectInvalid(t, e, post(tc.body), tc.field)
				})
			}
			for _, tc := range paInvalidJSON {
				t.Run("invalid json/"+tc.name, func(t *testing.T) {
					expectError(t, e, post([]byte(tc.body)), http.StatusBadRequest, "invalid_json")
				})
			}
			t.Run("payload too large", func(t *testing.T) {
				body := `{"license_key":"` + key.Key + `","instance_identifier":"big.example.com","padding":"` + strings.Repeat("x", 20<<10) + `"}`
				expectError(t, e, post([]byte(body)), http.StatusRequestEntityTooLarge, "payload_too_large")
			})
			for _, tc := range []struct{ name, key string }{
				{"unknown key", paUnknownKey},
				{"unknown key in lower case", strings.ToLower(paUnknownKey)},
				{"unknown prefix", "ZZ-2345-6789-ABCD-EFGH"},
			} {
				t.Run("license not found/"+tc.name, func(t *testing.T) {
					expectError(t, e, post(jsonOf(t, paSeat{LicenseKey: tc.key, InstanceIdentifier: "held.example.com"})), http.StatusNotFound, "license_not_found")
				})
			}
			for _, tc := range []struct{ name, product string }{
				{"another product of the brand", "content-ai"},
				{"unknown slug", "no-such-plugin"},
				{"unknown id", "prd_aaaaaaaaaaaaaaaaaaaa"},
				{"another brand's slug", "wp-rocket"},
				{"another brand's id", wpr.Products[0].ID},
			} {
				t.Run("product not found/"+tc.name, func(t *testing.T) {
					got := expectError(t, e, post(jsonOf(t, paSeat{LicenseKey: key.Key, InstanceIdentifier: "held.example.com", Product: tc.product})), http.StatusNotFound, "product_not_found")
					require.Contains(t, got.Message, tc.product)
				})
			}
			t.Run("product not found/rankmath product on a wp-rocket key", func(t *testing.T) {
				expectError(t, e, post(jsonOf(t, paSeat{LicenseKey: other.LicenseKey.Key, InstanceIdentifier: "held.example.com", Product: "rankmath-pro"})), http.StatusNotFound, "product_not_found")
			})
		})
	}

	t.Run("deactivate an instance without a seat", func(t *testing.T) {
		for _, s := range []paSeat{
			{LicenseKey: key.Key, InstanceIdentifier: "never.example.com"},
			{LicenseKey: key.Key, InstanceIdentifier: "held.example.com/shop"},
			{LicenseKey: key.Key, InstanceIdentifier: "HELD", InstanceType: "machine_id"},
			{LicenseKey: other.LicenseKey.Key, InstanceIdentifier: "held.example.com"},
		} {
			expectError(t, e, paDeactivateCall(t, s), http.StatusNotFound, "activation_not_found")
		}
	})

	t.Run("methods", func(t *testing.T) {
		for _, c := range []call{
			{method: http.MethodGet, path: paActivatePath},
			{method: http.MethodPut, path: paDeactivatePath, body: []byte(`{}`)},
			{method: http.MethodPost, path: paCheckPath, body: []byte(`{}`)},
		} {
			var r reply
			e.unchanged(t, func() { r = e.do(t, c) })
			checkError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
			require.NotContains(t, r.header.Get("Allow"), c.method)
		}
	})

	_, after := e.licenseOf(t, rmKey, lic.ID)
	require.Equal(t, string(before.body), string(after.body))
	c, _ := paCheck(t, e, paSeat{LicenseKey: key.Key, InstanceIdentifier: "held.example.com"})
	require.True(t, c.IsActivated)
	require.Equal(t, held.ActivationID, c.Activation.ID)
}

func TestProductAPICheck(t *testing.T) {
	t.Parallel()
	e := start(t)
	const email = "secret.customer@example.com"
	expiry := time.Now().UTC().Add(90 * 24 * time.Hour).Truncate(time.Second)
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: email, Products: []string{"rankmath-pro"}, ExpirationDate: expiry.Format(time.RFC3339), MaxSeats: ptr(3)})
	key, lic := p.LicenseKey, p.Licenses[0]
	seat := paSeat{LicenseKey: key.Key}
	a := paActivate(t, e, seat.with("https://a.example.com", ""))
	b := paActivate(t, e, seat.with("https://b-site.example.org/shop", ""))

	c, r := paCheck(t, e, seat.with("http://www.A.example.com/", "url"))
	require.True(t, c.IsValid)
	require.Equal(t, lic.ID, c.License.ID)
	require.Equal(t, "rankmath-pro", c.License.Product)
	require.Equal(t, "valid", c.License.Status)
	require.Equal(t, 3, c.License.SeatLimit)
	require.Equal(t, 2, c.License.SeatsUsed)
	require.Equal(t, 1, c.License.SeatsRemaining)
	require.NotNil(t, c.License.ExpiresAt)
	require.True(t, expiry.Equal(mustParseTime(t, *c.License.ExpiresAt)))
	require.True(t, c.IsActivated)
	require.Equal(t, a.ActivationID, c.Activation.ID)
	require.Equal(t, a.ActivatedAt, c.Activation.ActivatedAt)
	require.Equal(t, "a.example.com", c.Instance.Identifier)
	require.Equal(t, "url", c.Instance.Type)
	etag := r.header.Get("ETag")

	t.Run("no customer email nor other instances", func(t *testing.T) {
		for _, s := range []paSeat{seat.with("a.example.com", ""), seat, seat.with("c.example.com", "")} {
			_, r := paCheck(t, e, s)
			body := strings.ToLower(string(r.body))
			require.NotContains(t, body, "secret.customer")
			require.NotContains(t, body, "b-site", "another instance's identifier")
			require.NotContains(t, body, b.ActivationID, "another instance's activation")
			if s.InstanceIdentifier != "a.example.com" {
				require.NotContains(t, body, a.ActivationID)
			}
		}
	})

	t.Run("without an instance", func(t *testing.T) {
		c, _ := paCheck(t, e, seat)
		require.True(t, c.IsValid)
		require.False(t, c.IsActivated)
		require.Nil(t, c.Activation)
		require.Equal(t, 2, c.License.SeatsUsed)
	})

	t.Run("an instance without a seat", func(t *testing.T) {
		c, _ := paCheck(t, e, seat.with("c.example.com", "url"))
		require.True(t, c.IsValid)
		require.False(t, c.IsActivated)
		require.Nil(t, c.Activation)
		require.Equal(t, "c.example.com", c.Instance.Identifier)
	})

	t.Run("lower-case key, product by slug or id", func(t *testing.T) {
		for _, s := range []paSeat{
			{LicenseKey: strings.ToLower(key.Key), InstanceIdentifier: "a.example.com"},
			{LicenseKey: key.Key, InstanceIdentifier: "a.example.com", InstanceType: "url", Product: "rankmath-pro"},
			{LicenseKey: key.Key, InstanceIdentifier: "a.example.com", Product: lic.ProductID},
		} {
			_, r2 := paCheck(t, e, s)
			require.Equal(t, paWithoutToken(t, r.body), paWithoutToken(t, r2.body))
			require.Equal(t, etag, r2.header.Get("ETag"))
		}
	})

	t.Run("not modified", func(t *testing.T) {
		s := seat.with("http://www.A.example.com/", "url")
		cond := paCheckCall(s)
		cond.header = map[string]string{"If-None-Match": etag}
		var r304 reply
		e.unchanged(t, func() { r304 = e.do(t, cond) })
		require.Equal(t, http.StatusNotModified, r304.status, "body: %s", r304.body)
		require.Empty(t, r304.body)
		require.Equal(t, etag, r304.header.Get("ETag"))

		// Another validator gets the full answer.
		cond.header = map[string]string{"If-None-Match": `"not-the-etag"`}
		r200 := e.do(t, cond)
		expectOK(t, r200, http.StatusOK, nil)
		require.Equal(t, paWithoutToken(t, r.body), paWithoutToken(t, r200.body))

		// A change of the license changes the answer and its ETag.
		d := paDeactivate(t, e, seat.with(b.InstanceIdentifier, ""))
		require.Equal(t, 1, d.SeatsUsed)
		cond.header = map[string]string{"If-None-Match": etag}
		var fresh reply
		e.unchanged(t, func() { fresh = e.do(t, cond) })
		var c paCheckJSON
		expectOK(t, fresh, http.StatusOK, &c)
		require.Equal(t, 1, c.License.SeatsUsed)
		require.Equal(t, 2, c.License.SeatsRemaining)
		newTag := fresh.header.Get("ETag")
		require.NotEmpty(t, newTag)
		require.NotEqual(t, etag, newTag)
		require.Equal(t, "public, max-age=60", fresh.header.Get("Cache-Control"))

		cond.header = map[string]string{"If-None-Match": newTag}
		r304 = e.do(t, cond)
		require.Equal(t, http.StatusNotModified, r304.status, "body: %s", r304.body)
		require.Empty(t, r304.body)
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			seat  paSeat
			field string
		}{
			{"no query", paSeat{}, "license_key"},
			{"blank license_key", paSeat{LicenseKey: " ", InstanceIdentifier: "a.example.com"}, "license_key"},
			{"malformed license_key", paSeat{LicenseKey: "RM-XXXX", InstanceIdentifier: "a.example.com"}, "license_key"},
			{"license_key with look-alike characters", paSeat{LicenseKey: "RM-0O1I-2222-2222-2222"}, "license_key"},
			{"blank instance_identifier", seat.with("   ", "url"), "instance_identifier"},
			{"instance_identifier of 256 characters", seat.with(strings.Repeat("m", 256), "machine_id"), "instance_identifier"},
			{"control character", seat.with("a.example.com\r\nx", "url"), "instance_identifier"},
			{"invalid UTF-8", seat.with("a.example.com/\xff", "url"), "instance_identifier"},
			{"not an http url", seat.with("ftp://a.example.com", "url"), "instance_identifier"},
			{"unknown instance_type", seat.with("a.example.com", "ip"), "instance_type"},
			{"malformed product", paSeat{LicenseKey: key.Key, Product: "Bad Slug!"}, "product"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := paCheckError(t, e, tc.seat, http.StatusBadRequest, "validation_error")
				require.Contains(t, got.Message, tc.field)
				if got.Field != "" {
					require.Equal(t, tc.field, got.Field)
				}
			})
		}
		paCheckError(t, e, paSeat{LicenseKey: paUnknownKey, InstanceIdentifier: "a.example.com"}, http.StatusNotFound, "license_not_found")
		paCheckError(t, e, paSeat{LicenseKey: strings.ToLower(paUnknownKey)}, http.StatusNotFound, "license_not_found")
		for _, product := range []string{"content-ai", "wp-rocket", "prd_aaaaaaaaaaaaaaaaaaaa"} {
			got := paCheckError(t, e, paSeat{LicenseKey: key.Key, InstanceIdentifier: "a.example.com", Product: product}, http.StatusNotFound, "product_not_found")
			require.Contains(t, got.Message, product)
		}
	})
}

func TestProductAPIDeactivate(t *testing.T) {
	t.Parallel()
	e := start(t)
	key, lic := paProvision(t, e, "deact@example.com", 3)
	seat := paSeat{LicenseKey: key.Key}
	a := paActivate(t, e, seat.with("https://a.example.com", ""))
	b := paActivate(t, e, seat.with("b.example.com", "hostname"))
	m := paActivate(t, e, seat.with("MACHINE-1", "machine_id"))

	// The instance may be spelled otherwise, as long as it is the same site.
	d := paDeactivate(t, e, paSeat{LicenseKey: strings.ToLower(key.Key), InstanceIdentifier: "http://www.A.Example.com/", Product: "rankmath-pro"})
	require.Equal(t, lic.ID, d.LicenseID)
	require.Equal(t, "rankmath-pro", d.Product)
	require.Equal(t, "a.example.com", d.InstanceIdentifier)
	require.Equal(t, 2, d.SeatsUsed)
	require.Equal(t, 1, d.SeatsRemaining)

	got, listed := paSeats(t, e, rmKey, lic.ID)
	require.Equal(t, 2, got.SeatsUsed)
	require.Equal(t, 1, got.SeatsRemaining)
	require.ElementsMatch(t, []paListed{b.listed(), m.listed()}, listed)

	c, _ := paCheck(t, e, seat.with("a.example.com", ""))
	require.False(t, c.IsActivated)
	require.Nil(t, c.Activation)
	require.Equal(t, 2, c.License.SeatsUsed)

	// Twice is not found, and frees nothing more.
	expectError(t, e, paDeactivateCall(t, seat.with("https://a.example.com", "")), http.StatusNotFound, "activation_not_found")
	// Machine ids are exact.
	expectError(t, e, paDeactivateCall(t, seat.with("machine-1", "machine_id")), http.StatusNotFound, "activation_not_found")

	d = paDeactivate(t, e, seat.with("B.EXAMPLE.COM", "hostname"))
	require.Equal(t, "b.example.com", d.InstanceIdentifier)
	require.Equal(t, 1, d.SeatsUsed)
	require.Equal(t, 2, d.SeatsRemaining)
	d = paDeactivate(t, e, paSeat{LicenseKey: key.Key, InstanceIdentifier: "MACHINE-1", InstanceType: "machine_id", Product: lic.ProductID})
	require.Equal(t, "MACHINE-1", d.InstanceIdentifier)
	require.Equal(t, 0, d.SeatsUsed)
	require.Equal(t, 3, d.SeatsRemaining)

	got, listed = paSeats(t, e, rmKey, lic.ID)
	require.Equal(t, 0, got.SeatsUsed)
	require.Empty(t, listed)

	// Activating again is a new seat with a new activation.
	again := paActivate(t, e, seat.with("a.example.com", ""))
	require.NotEqual(t, a.ActivationID, again.ActivationID)
	require.Equal(t, 1, again.SeatsUsed)
}

func TestProductAPIMultiProductKey(t *testing.T) {
	t.Parallel()
	e := start(t)
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: "multi@example.com", Products: []string{"rankmath-pro", "content-ai"}, ExpirationDate: futureDate(30 * 24 * time.Hour), MaxSeats: ptr(2)})
	lics := map[string]licenseJSON{}
	for _, l := range p.Licenses {
		lics[l.ProductSlug] = l
	}
	pro, ai := lics["rankmath-pro"], lics["content-ai"]
	seat := paSeat{LicenseKey: p.LicenseKey.Key, InstanceIdentifier: "https://multi.example.com"}

	t.Run("product is required", func(t *testing.T) {
		for _, c := range []call{paActivateCall(t, seat), paDeactivateCall(t, seat)} {
			got := expectInvalid(t, e, c, "product")
			require.Contains(t, got.Message, "rankmath-pro")
			require.Contains(t, got.Message, "content-ai")
		}
		got := paCheckError(t, e, seat, http.StatusBadRequest, "validation_error")
		require.Contains(t, got.Message, "product")
		require.Contains(t, got.Message, "rankmath-pro")
		require.Contains(t, got.Message, "content-ai")
	})

	bySlug := seat
	bySlug.Product = "content-ai"
	onAI := paActivate(t, e, bySlug)
	require.Equal(t, "content-ai", onAI.Product)
	require.Equal(t, ai.ID, onAI.LicenseID)
	require.Equal(t, "multi.example.com", onAI.InstanceIdentifier)
	require.Equal(t, 1, onAI.SeatsUsed)

	byID := seat
	byID.Product = pro.ProductID
	onPro := paActivate(t, e, byID)
	require.Equal(t, "rankmath-pro", onPro.Product)
	require.Equal(t, pro.ID, onPro.LicenseID)
	require.NotEqual(t, onAI.ActivationID, onPro.ActivationID, "a seat per product")
	require.Equal(t, 1, onPro.SeatsUsed)

	// The other spelling of each product finds the same seat.
	aiByID := seat
	aiByID.Product = ai.ProductID
	paReactivate(t, e, aiByID, onAI)
	proBySlug := seat
	proBySlug.Product = "rankmath-pro"
	paReactivate(t, e, proBySlug, onPro)

	c, _ := paCheck(t, e, bySlug)
	require.Equal(t, ai.ID, c.License.ID)
	require.Equal(t, "content-ai", c.License.Product)
	require.True(t, c.IsActivated)
	require.Equal(t, onAI.ActivationID, c.Activation.ID)
	c, _ = paCheck(t, e, byID)
	require.Equal(t, pro.ID, c.License.ID)
	require.Equal(t, onPro.ActivationID, c.Activation.ID)

	d := paDeactivate(t, e, aiByID)
	require.Equal(t, ai.ID, d.LicenseID)
	require.Equal(t, "content-ai", d.Product)
	require.Equal(t, 0, d.SeatsUsed)
	_, listed := paSeats(t, e, rmKey, ai.ID)
	require.Empty(t, listed)
	_, listed = paSeats(t, e, rmKey, pro.ID)
	require.Equal(t, []paListed{onPro.listed()}, listed, "the other product's seat is untouched")
	expectError(t, e, paDeactivateCall(t, bySlug), http.StatusNotFound, "activation_not_found")
}

func TestProductAPISeatLimit(t *testing.T) {
	t.Parallel()
	e := start(t)
	key, lic := paProvision(t, e, "full@example.com", 2)
	seat := paSeat{LicenseKey: key.Key}
	one := paActivate(t, e, seat.with("one.example.com", ""))
	two := paActivate(t, e, seat.with("two.example.com", ""))
	require.Equal(t, 2, two.SeatsUsed)
	require.Equal(t, 0, two.SeatsRemaining)

	expectError(t, e, paActivateCall(t, seat.with("three.example.com", "")), http.StatusConflict, "no_seats_available")
	expectError(t, e, paActivateCall(t, seat.with("three", "machine_id")), http.StatusConflict, "no_seats_available")
	// A site that holds a seat still activates on a full license.
	a := paReactivate(t, e, seat.with("https://www.one.example.com/", ""), one)
	require.Equal(t, 2, a.SeatsUsed)
	require.Equal(t, 0, a.SeatsRemaining)

	c, _ := paCheck(t, e, seat.with("three.example.com", ""))
	require.True(t, c.IsValid, "a full license is still valid")
	require.False(t, c.IsActivated)
	require.Equal(t, 0, c.License.SeatsRemaining)

	paDeactivate(t, e, seat.with("one.example.com", ""))
	three := paActivate(t, e, seat.with("three.example.com", ""))
	require.Equal(t, 2, three.SeatsUsed)
	require.Equal(t, 0, three.SeatsRemaining)
	expectError(t, e, paActivateCall(t, seat.with("one.example.com", "")), http.StatusConflict, "no_seats_available")

	got, listed := paSeats(t, e, rmKey, lic.ID)
	require.Equal(t, 2, got.SeatsUsed)
	require.ElementsMatch(t, []paListed{two.listed(), three.listed()}, listed)
}

func TestProductAPISuspended(t *testing.T) {
	t.Parallel()
	e := start(t)
	key, lic := paProvision(t, e, "susp@example.com", 3)
	seat := paSeat{LicenseKey: key.Key}
	held := paActivate(t, e, seat.with("held.example.com", ""))
	paActivate(t, e, seat.with("other.example.com", ""))
	expectOK(t, e.post(t, actionPath(lic.ID, "suspend"), rmKey, map[string]string{"reason": "chargeback"}), http.StatusOK, nil)

	expectError(t, e, paActivateCall(t, seat.with("new.example.com", "")), http.StatusForbidden, "license_suspended")
	expectError(t, e, paActivateCall(t, seat.with("held.example.com", "")), http.StatusForbidden, "license_suspended")

	c, r := paCheck(t, e, seat.with("held.example.com", ""))
	require.False(t, c.IsValid)
	require.Equal(t, "license_suspended", *c.Reason)
	require.Equal(t, "suspended", c.License.Status)
	require.True(t, c.IsActivated, "the seat is still held")
	require.Equal(t, held.ActivationID, c.Activation.ID)
	require.NotContains(t, string(r.body), "chargeback", "the brand's reason is not for products")

	d := paDeactivate(t, e, seat.with("held.example.com", ""))
	require.Equal(t, 1, d.SeatsUsed)
	require.Equal(t, 2, d.SeatsRemaining)
	expectError(t, e, paDeactivateCall(t, seat.with("held.example.com", "")), http.StatusNotFound, "activation_not_found")

	expectOK(t, e.post(t, actionPath(lic.ID, "resume"), rmKey, nil), http.StatusOK, nil)
	a := paActivate(t, e, seat.with("new.example.com", ""))
	require.Equal(t, 2, a.SeatsUsed)
	c, _ = paCheck(t, e, seat.with("new.example.com", ""))
	require.True(t, c.IsValid)
	require.Equal(t, "valid", c.License.Status)
}

func TestProductAPICancelled(t *testing.T) {
	t.Parallel()
	e := start(t)
	key, lic := paProvision(t, e, "cancel@example.com", 3)
	seat := paSeat{LicenseKey: key.Key}
	held := paActivate(t, e, seat.with("held.example.com", ""))
	expectOK(t, e.post(t, actionPath(lic.ID, "cancel"), rmKey, map[string]string{"reason": "refund"}), http.StatusOK, nil)

	expectError(t, e, paActivateCall(t, seat.with("new.example.com", "")), http.StatusForbidden, "license_cancelled")
	expectError(t, e, paActivateCall(t, seat.with("held.example.com", "")), http.StatusForbidden, "license_cancelled")

	c, _ := paCheck(t, e, seat.with("held.example.com", ""))
	require.False(t, c.IsValid)
	require.Equal(t, "license_cancelled", *c.Reason)
	require.Equal(t, "cancelled", c.License.Status)
	require.True(t, c.IsActivated)
	require.Equal(t, held.ActivationID, c.Activation.ID)

	d := paDeactivate(t, e, seat.with("held.example.com", ""))
	require.Equal(t, 0, d.SeatsUsed)
	_, listed := paSeats(t, e, rmKey, lic.ID)
	require.Empty(t, listed)
	expectError(t, e, paActivateCall(t, seat.with("held.example.com", "")), http.StatusForbidden, "license_cancelled")
}

func TestProductAPIExpired(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Now().UTC()}
	e := start(t, func(o *devserver.Options) { o.Now = c.Now })
	expiry := c.Now().Add(time.Hour).Truncate(time.Second)
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: "late@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: expiry.Format(time.RFC3339), MaxSeats: ptr(3)})
	key, lic := p.LicenseKey, p.Licenses[0]
	seat := paSeat{LicenseKey: key.Key}
	held := paActivate(t, e, seat.with("held.example.com", ""))
	require.True(t, c.Now().Truncate(time.Second).Equal(mustParseTime(t, held.ActivatedAt)), "activated_at %s is not the service's now", held.ActivatedAt)

	c.advance(2 * time.Hour)
	expectError(t, e, paActivateCall(t, seat.with("new.example.com", "")), http.StatusForbidden, "license_expired")
	expectError(t, e, paActivateCall(t, seat.with("held.example.com", "")), http.StatusForbidden, "license_expired")

	chk, _ := paCheck(t, e, seat.with("held.example.com", ""))
	require.False(t, chk.IsValid)
	require.Equal(t, "license_expired", *chk.Reason)
	require.Equal(t, "expired", chk.License.Status)
	require.True(t, expiry.Equal(mustParseTime(t, *chk.License.ExpiresAt)))
	require.True(t, chk.IsActivated)
	require.Equal(t, held.ActivationID, chk.Activation.ID)

	d := paDeactivate(t, e, seat.with("held.example.com", ""))
	require.Equal(t, 0, d.SeatsUsed)
	require.Equal(t, 3, d.SeatsRemaining)
	_, listed := paSeats(t, e, rmKey, lic.ID)
	require.Empty(t, listed)

	// Renewed, it takes seats again.
	expectOK(t, e.post(t, actionPath(lic.ID, "renew"), rmKey, map[string]string{"expiration_date": c.Now().Add(24 * time.Hour).Format(time.RFC3339)}), http.StatusOK, nil)
	a := paActivate(t, e, seat.with("new.example.com", ""))
	require.Equal(t, 1, a.SeatsUsed)
	chk, _ = paCheck(t, e, seat.with("new.example.com", ""))
	require.True(t, chk.IsValid)
	require.Equal(t, "valid", chk.License.Status)
}

func TestProductAPIFreeSeat(t *testing.T) {
	t.Parallel()
	e := start(t)
	key, lic := paProvision(t, e, "free@example.com", 2)
	seat := paSeat{LicenseKey: key.Key}
	a := paActivate(t, e, seat.with("a.example.com", ""))
	b := paActivate(t, e, seat.with("b.example.com", ""))
	otherKey, otherLic := paProvision(t, e, "free@example.com", 1)
	foreign := paActivate(t, e, paSeat{LicenseKey: otherKey.Key, InstanceIdentifier: "a.example.com"})
	del := func(licenseID, activationID, apiKey string) call {
		return call{method: http.MethodDelete, path: paFreeSeatPath(licenseID, activationID), apiKey: apiKey}
	}

	t.Run("errors", func(t *testing.T) {
		for _, id := range []string{
			"act_aaaaaaaaaaaaaaaaaaaa",
			"not-an-activation",
			strings.ToUpper(a.ActivationID),
			foreign.ActivationID, // a seat of another license
			lic.ID,
		} {
			expectError(t, e, del(lic.ID, id, rmKey), http.StatusNotFound, "activation_not_found")
		}
		unknown := expectError(t, e, del("lic_aaaaaaaaaaaaaaaaaaaa", a.ActivationID, rmKey), http.StatusNotFound, "license_not_found")
		theirs := expectError(t, e, del(lic.ID, a.ActivationID, wprKey), http.StatusNotFound, "license_not_found")
		require.Equal(t, string(unknown.raw), string(theirs.raw), "another brand's license must read as an unknown one")
		expectError(t, e, del(lic.ID, a.ActivationID, ""), http.StatusUnauthorized, "unauthorized")
		expectError(t, e, del(lic.ID, a.ActivationID, "local-rankmath-key-9999"), http.StatusUnauthorized, "unauthorized")
	})

	var l licenseDetailJSON
	r := e.do(t, del(lic.ID, a.ActivationID, rmKey))
	m := expectOK(t, r, http.StatusOK, &l)
	requireFields(t, m, "id", "product_id", "status", "seat_limit", "seats_used", "seats_remaining", "expires_at", "license_key", "activations")
	require.Equal(t, lic.ID, l.ID)
	require.Equal(t, 1, l.SeatsUsed)
	require.Equal(t, 1, l.SeatsRemaining)
	var freed struct {
		Activations []paListed `json:"activations"`
	}
	require.NoError(t, json.Unmarshal(r.body, &freed))
	require.Equal(t, []paListed{b.listed()}, freed.Activations)
	_, after := e.licenseOf(t, rmKey, lic.ID)
	require.JSONEq(t, string(r.body), string(after.body), "the answer is the license as a later read shows it")

	c, _ := paCheck(t, e, seat.with("a.example.com", ""))
	require.False(t, c.IsActivated)
	require.Equal(t, 1, c.License.SeatsUsed)
	expectError(t, e, paDeactivateCall(t, seat.with("a.example.com", "")), http.StatusNotFound, "activation_not_found")
	expectError(t, e, del(lic.ID, a.ActivationID, rmKey), http.StatusNotFound, "activation_not_found")

	// The freed seat can be taken again.
	next := paActivate(t, e, seat.with("c.example.com", ""))
	require.Equal(t, 2, next.SeatsUsed)

	// The other license's seat was never touched.
	_, listed := paSeats(t, e, rmKey, otherLic.ID)
	require.Equal(t, []paListed{foreign.listed()}, listed)
}

func TestProductAPIConcurrentActivations(t *testing.T) {
	t.Parallel()
	e := start(t)

	t.Run("different sites race for the last seats", func(t *testing.T) {
		const sites, seats = 30, 5
		key, lic := paProvision(t, e, "race@example.com", seats)
		calls := make([]call, sites)
		for i := range calls {
			body := jsonOf(t, paSeat{LicenseKey: key.Key, InstanceIdentifier: fmt.Sprintf("https://site-%02d.example.com/", i)})
			calls[i] = call{method: http.MethodPost, path: paActivatePath, body: body}
		}
		replies := e.all(t, calls)

		var won []paListed
		refused := 0
		for i, r := range replies {
			switch r.status {
			case http.StatusCreated:
				a := paRequireActivation(t, r, http.StatusCreated)
				require.Equal(t, fmt.Sprintf("site-%02d.example.com", i), a.InstanceIdentifier)
				require.Equal(t, lic.ID, a.LicenseID)
				require.LessOrEqual(t, a.SeatsUsed, seats)
				won = append(won, a.listed())
			case http.StatusConflict:
				checkError(t, r, http.StatusConflict, "no_seats_available")
				refused++
			default:
				t.Fatalf("site %d: want 201 or 409 no_seats_available, got %s", i, r)
			}
		}
		require.Len(t, won, seats, "exactly %d activations succeed", seats)
		require.Equal(t, sites-seats, refused)

		got, listed := paSeats(t, e, rmKey, lic.ID)
		require.Equal(t, seats, got.SeatsUsed)
		require.Equal(t, 0, got.SeatsRemaining)
		require.ElementsMatch(t, won, listed)
	})

	t.Run("the same site races itself", func(t *testing.T) {
		const n = 10
		key, lic := paProvision(t, e, "race-same@example.com", 5)
		body := jsonOf(t, paSeat{LicenseKey: key.Key, InstanceIdentifier: "https://same.example.com"})
		calls := make([]call, n)
		for i := range calls {
			calls[i] = call{method: http.MethodPost, path: paActivatePath, body: body}
		}
		replies := e.all(t, calls)

		created := 0
		ids := map[string]bool{}
		for i, r := range replies {
			require.Contains(t, []int{http.StatusCreated, http.StatusOK}, r.status, "reply %d: %s", i, r)
			if r.status == http.StatusCreated {
				created++
			}
			a := paRequireActivation(t, r, r.status)
			require.Equal(t, 1, a.SeatsUsed)
			ids[a.ActivationID] = true
		}
		require.Equal(t, 1, created, "exactly one request takes the seat")
		require.Len(t, ids, 1, "every answer names the same activation")

		got, listed := paSeats(t, e, rmKey, lic.ID)
		require.Equal(t, 1, got.SeatsUsed)
		require.Len(t, listed, 1)
		require.True(t, ids[listed[0].ID])
	})
}

func TestProductAPIServiceUnavailable(t *testing.T) {
	t.Parallel()
	e := start(t)
	key, lic := paProvision(t, e, "down@example.com", 2)
	seat := paSeat{LicenseKey: key.Key}
	paActivate(t, e, seat.with("held.example.com", ""))
	_, before := e.licenseOf(t, rmKey, lic.ID)

	calls := []call{
		paActivateCall(t, seat.with("new.example.com", "")),
		paCheckCall(seat.with("held.example.com", "")),
		paDeactivateCall(t, seat.with("held.example.com", "")),
	}
	e.unchanged(t, func() {
		e.srv.Engine.EmulateFailure(miniserver.FailureConditionInternalServerError)
		defer e.srv.Engine.EmulateFailure(miniserver.FailureConditionNone)
		for _, c := range calls {
			r := e.do(t, c)
			checkError(t, r, http.StatusServiceUnavailable, "service_unavailable")
			require.NotEmpty(t, r.header.Get("Retry-After"), "%s %s", c.method, c.path)
			require.Equal(t, "no-store", r.header.Get("Cache-Control"))
		}
	})
	_, after := e.licenseOf(t, rmKey, lic.ID)
	require.Equal(t, string(before.body), string(after.body))

	// Back to normal.
	paActivate(t, e, seat.with("new.example.com", ""))
	paDeactivate(t, e, seat.with("held.example.com", ""))
}

// paWithoutToken is a check answer without its license token, whose issue
// time moves every second: the rest of the answer is what must be equal.
func paWithoutToken(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	require.NotEmpty(t, m["license_token"], "the answer carries a license token")
	delete(m, "license_token")
	return m
}
