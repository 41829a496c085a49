package tests

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/devserver"
	miniserver "github.com/truora/minidyn/server"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	e := start(t)
	var got struct {
		Status string `json:"status"`
	}
	e.unchanged(t, func() {
		expectOK(t, e.get(t, pathHealth, ""), http.StatusOK, &got)
	})
	require.Equal(t, "ok", got.Status)
}

func TestRouting(t *testing.T) {
	t.Parallel()
	e := start(t)
	for _, c := range []call{
		{method: http.MethodGet, path: "/api/v1/nope"},
		{method: http.MethodGet, path: "/api/v2/health"},
		{method: http.MethodGet, path: "/api/v1/brand/licenses/lic_aaaaaaaaaaaaaaaaaaaa/explode", apiKey: rmKey},
		{method: http.MethodPost, path: "/", apiKey: rmKey, body: []byte(`{}`)},
	} {
		t.Run("404 "+c.method+" "+c.path, func(t *testing.T) {
			expectError(t, e, c, http.StatusNotFound, "route_not_found")
		})
	}
	for _, c := range []call{
		{method: http.MethodPut, path: pathHealth},
		{method: http.MethodDelete, path: pathProducts, apiKey: rmKey},
		{method: http.MethodPatch, path: licensePath("lic_aaaaaaaaaaaaaaaaaaaa"), apiKey: rmKey, body: []byte(`{}`)},
		{method: http.MethodGet, path: actionPath("lic_aaaaaaaaaaaaaaaaaaaa", "suspend"), apiKey: rmKey},
	} {
		t.Run("405 "+c.method+" "+c.path, func(t *testing.T) {
			var r reply
			e.unchanged(t, func() { r = e.do(t, c) })
			checkError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
			require.NotEmpty(t, r.header.Get("Allow"))
			require.NotContains(t, r.header.Get("Allow"), c.method)
		})
	}
}

func TestProducts(t *testing.T) {
	t.Parallel()
	e := start(t)

	var list struct {
		Products []productJSON `json:"products"`
	}
	m := expectOK(t, e.get(t, pathProducts, rmKey), http.StatusOK, &list)
	requireFields(t, m, "products")
	var slugs []string
	for _, p := range list.Products {
		require.Regexp(t, `^prd_[a-z2-7]{20}$`, p.ID)
		require.NotEmpty(t, p.Name)
		slugs = append(slugs, p.Slug)
	}
	require.ElementsMatch(t, []string{"rankmath-pro", "content-ai"}, slugs)

	var created productJSON
	m = expectOK(t, e.post(t, pathProducts, rmKey, map[string]string{"name": "Rank Math Agency", "slug": "rankmath-agency"}), http.StatusCreated, &created)
	requireFields(t, m, "id", "slug", "name")
	require.Regexp(t, `^prd_[a-z2-7]{20}$`, created.ID)
	require.Equal(t, "rankmath-agency", created.Slug)
	require.Equal(t, "Rank Math Agency", created.Name)

	list.Products = nil
	expectOK(t, e.get(t, pathProducts, rmKey), http.StatusOK, &list)
	require.Len(t, list.Products, 3)
	require.Contains(t, list.Products, created)

	t.Run("duplicate slug", func(t *testing.T) {
		expectError(t, e, call{method: http.MethodPost, path: pathProducts, apiKey: rmKey,
			body: []byte(`{"name":"Another","slug":"rankmath-agency"}`)}, http.StatusConflict, "already_exists")
		expectError(t, e, call{method: http.MethodPost, path: pathProducts, apiKey: rmKey,
			body: []byte(`{"name":"Seeded","slug":"rankmath-pro"}`)}, http.StatusConflict, "already_exists")
	})

	t.Run("tenant scoped", func(t *testing.T) {
		var other struct {
			Products []productJSON `json:"products"`
		}
		expectOK(t, e.get(t, pathProducts, wprKey), http.StatusOK, &other)
		require.Len(t, other.Products, 1)
		require.Equal(t, "wp-rocket", other.Products[0].Slug)
		// The same slug in another brand is another product.
		var p productJSON
		expectOK(t, e.post(t, pathProducts, wprKey, map[string]string{"name": "Agency", "slug": "rankmath-agency"}), http.StatusCreated, &p)
		require.NotEqual(t, created.ID, p.ID)
	})

	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct{ name, body, field string }{
			{"missing slug", `{"name":"X"}`, "slug"},
			{"bad slug", `{"name":"X","slug":"Bad Slug!"}`, "slug"},
			{"slug too long", `{"name":"X","slug":"` + strings.Repeat("a", 65) + `"}`, "slug"},
			{"missing name", `{"slug":"fine-slug"}`, "name"},
			{"name too long", `{"slug":"fine-slug","name":"` + strings.Repeat("n", 101) + `"}`, "name"},
			{"name of wrong type", `{"slug":"fine-slug","name":5}`, "name"},
			{"unknown field", `{"slug":"fine-slug","name":"X","price":5}`, "price"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				expectInvalid(t, e, call{method: http.MethodPost, path: pathProducts, apiKey: rmKey, body: []byte(tc.body)}, tc.field)
			})
		}
	})
}

func TestProvision(t *testing.T) {
	t.Parallel()
	e := start(t)
	expiry := time.Now().UTC().Add(365 * 24 * time.Hour).Truncate(time.Second)

	var p provisionedJSON
	r := e.post(t, pathProvision, rmKey, provisionReq{
		CustomerEmail:  "Alice@Example.COM",
		Products:       []string{"rankmath-pro", "content-ai"},
		ExpirationDate: expiry.In(time.FixedZone("CEST", 2*3600)).Format(time.RFC3339),
		MaxSeats:       ptr(3),
	})
	m := expectOK(t, r, http.StatusCreated, &p)
	require.Empty(t, r.header.Get("Idempotent-Replayed"))
	requireFields(t, m, "license_key", "licenses")
	requireFields(t, m["license_key"].(map[string]any), "id", "key", "customer_email", "created_at")
	require.Regexp(t, `^lk_[a-z2-7]{20}$`, p.LicenseKey.ID)
	require.Regexp(t, keyPattern("RM"), p.LicenseKey.Key)
	require.Equal(t, "alice@example.com", p.LicenseKey.CustomerEmail)
	created := mustParseTime(t, p.LicenseKey.CreatedAt)
	require.WithinDuration(t, time.Now(), created, time.Minute)

	var products struct {
		Products []productJSON `json:"products"`
	}
	expectOK(t, e.get(t, pathProducts, rmKey), http.StatusOK, &products)
	productID := map[string]string{}
	for _, pr := range products.Products {
		productID[pr.Slug] = pr.ID
	}
	require.Len(t, p.Licenses, 2)
	for i, l := range p.Licenses {
		requireFields(t, m["licenses"].([]any)[i].(map[string]any), "id", "product_id", "status", "seat_limit", "expires_at", "seats_used", "seats_remaining")
		require.Regexp(t, `^lic_[a-z2-7]{20}$`, l.ID)
		require.Equal(t, productID[l.ProductSlug], l.ProductID)
		require.Equal(t, "valid", l.Status)
		require.Equal(t, 3, l.SeatLimit)
		require.Equal(t, 0, l.SeatsUsed)
		require.Equal(t, 3, l.SeatsRemaining)
		require.NotNil(t, l.ExpiresAt)
		require.True(t, expiry.Equal(mustParseTime(t, *l.ExpiresAt)), "expires_at %s, want %s", *l.ExpiresAt, expiry)
	}
	require.ElementsMatch(t, []string{"rankmath-pro", "content-ai"}, []string{p.Licenses[0].ProductSlug, p.Licenses[1].ProductSlug})
	require.NotEqual(t, p.Licenses[0].ID, p.Licenses[1].ID)

	t.Run("get", func(t *testing.T) {
		l, r := e.licenseOf(t, rmKey, p.Licenses[0].ID)
		m := expectOK(t, r, http.StatusOK, nil)
		requireFields(t, m, "id", "product_id", "status", "seat_limit", "seats_used", "seats_remaining", "expires_at", "license_key", "activations")
		require.Equal(t, p.Licenses[0], l.licenseJSON)
		require.Equal(t, p.LicenseKey, l.LicenseKey)
		require.NotNil(t, l.Activations, "activations must be an array, not null")
		require.Empty(t, l.Activations)
	})

	t.Run("list by email", func(t *testing.T) {
		var c customerJSON
		m := expectOK(t, e.get(t, emailQuery("ALICE@example.com"), rmKey), http.StatusOK, &c)
		requireFields(t, m, "customer_email", "license_keys")
		require.Equal(t, "alice@example.com", c.CustomerEmail)
		require.Len(t, c.LicenseKeys, 1)
		k := c.LicenseKeys[0]
		requireFields(t, m["license_keys"].([]any)[0].(map[string]any), "id", "key", "created_at", "licenses")
		require.Equal(t, p.LicenseKey.ID, k.ID)
		require.Equal(t, p.LicenseKey.Key, k.Key)
		require.Equal(t, p.LicenseKey.CreatedAt, k.CreatedAt)
		require.ElementsMatch(t, p.Licenses, k.Licenses)
	})

	t.Run("by product id, perpetual, default seats", func(t *testing.T) {
		q := e.provision(t, rmKey, provisionReq{CustomerEmail: "bob@example.com", Products: []string{productID["content-ai"]}})
		require.Regexp(t, keyPattern("RM"), q.LicenseKey.Key)
		require.NotEqual(t, p.LicenseKey.Key, q.LicenseKey.Key)
		l := q.Licenses[0]
		require.Equal(t, "content-ai", l.ProductSlug)
		require.Equal(t, productID["content-ai"], l.ProductID)
		require.Nil(t, l.ExpiresAt, "no expiration_date is a perpetual license")
		require.Equal(t, 1, l.SeatLimit)
		require.Equal(t, 1, l.SeatsRemaining)
	})

	t.Run("seat limits at the bounds", func(t *testing.T) {
		for _, n := range []int{1, 10000} {
			q := e.provision(t, rmKey, provisionReq{CustomerEmail: "carol@example.com", Products: []string{"rankmath-pro"}, MaxSeats: ptr(n)})
			require.Equal(t, n, q.Licenses[0].SeatLimit)
			require.Equal(t, n, q.Licenses[0].SeatsRemaining)
		}
	})

	t.Run("other brand's prefix", func(t *testing.T) {
		q := e.provision(t, wprKey, provisionReq{CustomerEmail: "alice@example.com", Products: []string{"wp-rocket"}})
		require.Regexp(t, keyPattern("WPR"), q.LicenseKey.Key)
	})
}

func TestProvisionValidation(t *testing.T) {
	t.Parallel()
	e := start(t)
	for _, tc := range []struct {
		name, body, field string
		header            map[string]string
	}{
		{name: "missing customer_email", body: `{"products":["rankmath-pro"]}`, field: "customer_email"},
		{name: "blank customer_email", body: `{"customer_email":"  ","products":["rankmath-pro"]}`, field: "customer_email"},
		{name: "bad email", body: `{"customer_email":"not-an-email","products":["rankmath-pro"]}`, field: "customer_email"},
		{name: "email with a display name", body: `{"customer_email":"Alice <alice@example.com>","products":["rankmath-pro"]}`, field: "customer_email"},
		{name: "email without a domain dot", body: `{"customer_email":"alice@localhost","products":["rankmath-pro"]}`, field: "customer_email"},
		{name: "email of wrong type", body: `{"customer_email":["a@example.com"],"products":["rankmath-pro"]}`, field: "customer_email"},
		{name: "missing products", body: `{"customer_email":"a@example.com"}`, field: "products"},
		{name: "empty products", body: `{"customer_email":"a@example.com","products":[]}`, field: "products"},
		{name: "products not an array", body: `{"customer_email":"a@example.com","products":"rankmath-pro"}`, field: "products"},
		{name: "blank product", body: `{"customer_email":"a@example.com","products":[" "]}`, field: "products[0]"},
		{name: "product twice", body: `{"customer_email":"a@example.com","products":["rankmath-pro","rankmath-pro"]}`, field: "products[1]"},
		{name: "max_seats 0", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"max_seats":0}`, field: "max_seats"},
		{name: "max_seats negative", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"max_seats":-1}`, field: "max_seats"},
		{name: "max_seats 10001", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"max_seats":10001}`, field: "max_seats"},
		{name: "max_seats as a string", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"max_seats":"3"}`, field: "max_seats"},
		{name: "max_seats fractional", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"max_seats":1.5}`, field: "max_seats"},
		{name: "expiration date without time", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"expiration_date":"2031-01-31"}`, field: "expiration_date"},
		{name: "expiration date not a date", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"expiration_date":"next year"}`, field: "expiration_date"},
		{name: "expiration date in the past", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"expiration_date":"2020-01-01T00:00:00Z"}`, field: "expiration_date"},
		{name: "unknown field", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"seats":2}`, field: "seats"},
		{name: "idempotency key with a space", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"idempotency_key":"a b"}`, field: "idempotency_key"},
		{name: "idempotency key too long", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"idempotency_key":"` + strings.Repeat("k", 129) + `"}`, field: "idempotency_key"},
		{name: "idempotency key differs from header", body: `{"customer_email":"a@example.com","products":["rankmath-pro"],"idempotency_key":"one"}`, field: "idempotency_key", header: map[string]string{"Idempotency-Key": "two"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectInvalid(t, e, call{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: []byte(tc.body), header: tc.header}, tc.field)
		})
	}
}

// postRoutes are the brand routes that take a JSON body, each with a body it accepts.
func postRoutes(licenseID string) []struct{ name, path, body string } {
	return []struct{ name, path, body string }{
		{"create product", pathProducts, `{"name":"P","slug":"p-one"}`},
		{"provision", pathProvision, `{"customer_email":"a@example.com","products":["rankmath-pro"]}`},
		{"renew", actionPath(licenseID, "renew"), `{"expiration_date":"` + futureDate(400*24*time.Hour) + `"}`},
		{"suspend", actionPath(licenseID, "suspend"), `{"reason":"r"}`},
		{"resume", actionPath(licenseID, "resume"), `{"reason":"r"}`},
		{"cancel", actionPath(licenseID, "cancel"), `{"reason":"r"}`},
	}
}

func TestInvalidJSON(t *testing.T) {
	t.Parallel()
	e := start(t)
	lic := e.provision(t, rmKey, provisionReq{CustomerEmail: "a@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour)}).Licenses[0]
	_, before := e.licenseOf(t, rmKey, lic.ID)

	bad := []struct{ name, body string }{
		{"malformed", `{"reason":`},
		{"unquoted key", `{reason:"x"}`},
		{"single quotes", `{'reason':'x'}`},
		{"trailing comma", `{"reason":"x",}`},
		{"array", `[{"reason":"x"}]`},
		{"string", `"reason"`},
		{"number", `42`},
		{"boolean", `true`},
		{"trailing garbage", `{} x`},
		{"two objects", `{}{}`},
		{"invalid UTF-8", "{\"reason\":\"\xff\xfe\"}"},
	}
	for _, route := range postRoutes(lic.ID) {
		for _, b := range bad {
			t.Run(route.name+"/"+b.name, func(t *testing.T) {
				expectError(t, e, call{method: http.MethodPost, path: route.path, apiKey: rmKey, body: []byte(b.body)}, http.StatusBadRequest, "invalid_json")
			})
		}
	}
	_, after := e.licenseOf(t, rmKey, lic.ID)
	require.Equal(t, string(before.body), string(after.body))
}

// TestNullBody sends the JSON literal null, which is valid JSON but not an
// object, to every route that takes a body.
func TestNullBody(t *testing.T) {
	t.Parallel()
	e := start(t)
	lic := e.provision(t, rmKey, provisionReq{CustomerEmail: "a@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour)}).Licenses[0]
	for _, route := range postRoutes(lic.ID) {
		t.Run(route.name, func(t *testing.T) {
			expectError(t, e, call{method: http.MethodPost, path: route.path, apiKey: rmKey, body: []byte(`null`)}, http.StatusBadRequest, "invalid_json")
		})
	}
}

func TestUnknownFieldsAndReason(t *testing.T) {
	t.Parallel()
	e := start(t)
	lic := e.provision(t, rmKey, provisionReq{CustomerEmail: "a@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour)}).Licenses[0]

	for _, route := range postRoutes(lic.ID) {
		t.Run("unknown field/"+route.name, func(t *testing.T) {
			body := strings.TrimSuffix(route.body, "}") + `,"surprise":true}`
			expectInvalid(t, e, call{method: http.MethodPost, path: route.path, apiKey: rmKey, body: []byte(body)}, "surprise")
		})
	}
	for _, action := range []string{"suspend", "resume", "cancel"} {
		t.Run("reason too long/"+action, func(t *testing.T) {
			body := jsonOf(t, map[string]string{"reason": strings.Repeat("é", 501)})
			expectInvalid(t, e, call{method: http.MethodPost, path: actionPath(lic.ID, action), apiKey: rmKey, body: body}, "reason")
		})
		t.Run("reason of wrong type/"+action, func(t *testing.T) {
			expectInvalid(t, e, call{method: http.MethodPost, path: actionPath(lic.ID, action), apiKey: rmKey, body: []byte(`{"reason":7}`)}, "reason")
		})
	}
	t.Run("reason of 500 characters is accepted", func(t *testing.T) {
		reason := strings.Repeat("é", 500)
		var l licenseDetailJSON
		expectOK(t, e.post(t, actionPath(lic.ID, "suspend"), rmKey, map[string]string{"reason": reason}), http.StatusOK, &l)
		require.Equal(t, "suspended", l.Status)
		require.Equal(t, reason, l.StatusReason)
	})
}

func TestPayloadTooLarge(t *testing.T) {
	t.Parallel()
	e := start(t)
	lic := e.provision(t, rmKey, provisionReq{CustomerEmail: "a@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour)}).Licenses[0]
	for _, route := range postRoutes(lic.ID) {
		t.Run(route.name, func(t *testing.T) {
			// A well-formed body of the route, padded to 20 KiB.
			body := strings.TrimSuffix(route.body, "}") + `,"padding":"` + strings.Repeat("x", 20<<10) + `"}`
			expectError(t, e, call{method: http.MethodPost, path: route.path, apiKey: rmKey, body: []byte(body)}, http.StatusRequestEntityTooLarge, "payload_too_large")
		})
	}
}

// brandRoutes are all brand routes with a request each would accept.
func brandRoutes(t *testing.T, licenseID string) []call {
	t.Helper()
	var out []call
	for _, r := range postRoutes(licenseID) {
		out = append(out, call{method: http.MethodPost, path: r.path, body: []byte(r.body)})
	}
	return append(out,
		call{method: http.MethodGet, path: pathProducts},
		call{method: http.MethodGet, path: emailQuery("a@example.com")},
		call{method: http.MethodGet, path: licensePath(licenseID)},
	)
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	e := start(t)
	lic := e.provision(t, rmKey, provisionReq{CustomerEmail: "a@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour)}).Licenses[0]

	ctx := context.Background()
	ops := e.srv.Service.App.Ops()
	plain, key, err := ops.CreateAPIKey(ctx, "rankmath")
	require.NoError(t, err)
	// The new key works, next to the seeded one.
	expectOK(t, e.get(t, pathProducts, plain), http.StatusOK, nil)
	_, viaNew := e.licenseOf(t, plain, lic.ID)
	_, viaSeeded := e.licenseOf(t, rmKey, lic.ID)
	require.Equal(t, string(viaSeeded.body), string(viaNew.body))
	require.NoError(t, ops.RevokeAPIKey(ctx, "rankmath", key.ID))

	keys := []struct{ name, key string }{
		{"missing", ""},
		{"blank", "   "},
		{"unknown", "local-rankmath-key-9999"},
		{"other case", strings.ToUpper(rmKey)},
		{"too long", strings.Repeat("k", 500)},
		{"revoked", plain},
	}
	for _, c := range brandRoutes(t, lic.ID) {
		for _, k := range keys {
			t.Run(k.name+"/"+c.method+" "+c.path, func(t *testing.T) {
				req := c
				if k.key != "" {
					req.header = map[string]string{"X-API-Key": k.key}
				}
				expectError(t, e, req, http.StatusUnauthorized, "unauthorized")
			})
		}
	}
	// The seeded key is untouched by the revocation.
	expectOK(t, e.get(t, pathProducts, rmKey), http.StatusOK, nil)
	t.Run("revoking twice", func(t *testing.T) {
		require.Error(t, ops.RevokeAPIKey(ctx, "rankmath", key.ID))
	})
}

func TestProductNotFound(t *testing.T) {
	t.Parallel()
	e := start(t)
	var other struct {
		Products []productJSON `json:"products"`
	}
	expectOK(t, e.get(t, pathProducts, wprKey), http.StatusOK, &other)
	require.Len(t, other.Products, 1)

	for _, tc := range []struct{ name, product string }{
		{"unknown slug", "no-such-plugin"},
		{"unknown id", "prd_aaaaaaaaaaaaaaaaaaaa"},
		{"other brand's slug", "wp-rocket"},
		{"other brand's id", other.Products[0].ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := jsonOf(t, provisionReq{CustomerEmail: "a@example.com", Products: []string{"rankmath-pro", tc.product}})
			got := expectError(t, e, call{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: body}, http.StatusNotFound, "product_not_found")
			require.Contains(t, got.Message, tc.product)
		})
	}
	var c customerJSON
	expectOK(t, e.get(t, emailQuery("a@example.com"), rmKey), http.StatusOK, &c)
	require.Empty(t, c.LicenseKeys)

	t.Run("a failed idempotent request frees its key", func(t *testing.T) {
		body := jsonOf(t, provisionReq{CustomerEmail: "a@example.com", Products: []string{"no-such-plugin"}, IdempotencyKey: "order-77"})
		expectError(t, e, call{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: body}, http.StatusNotFound, "product_not_found")
		r := e.post(t, pathProvision, rmKey, provisionReq{CustomerEmail: "a@example.com", Products: []string{"rankmath-pro"}, IdempotencyKey: "order-77"})
		expectOK(t, r, http.StatusCreated, nil)
		require.Empty(t, r.header.Get("Idempotent-Replayed"))
	})
}

func TestLicenseNotFound(t *testing.T) {
	t.Parallel()
	e := start(t)
	mine := e.provision(t, rmKey, provisionReq{CustomerEmail: "a@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour)})
	theirs := e.provision(t, wprKey, provisionReq{CustomerEmail: "a@example.com", Products: []string{"wp-rocket"}, ExpirationDate: futureDate(30 * 24 * time.Hour)})
	_, mineBefore := e.licenseOf(t, rmKey, mine.Licenses[0].ID)
	_, theirsBefore := e.licenseOf(t, wprKey, theirs.Licenses[0].ID)

	ids := []struct{ name, id string }{
		{"unknown", "lic_aaaaaaaaaaaaaaaaaaaa"},
		{"malformed", "not-a-license"},
		{"upper case", strings.ToUpper(mine.Licenses[0].ID)},
		{"a license key id", mine.LicenseKey.ID},
		{"a license key", mine.LicenseKey.Key},
		{"other brand's", theirs.Licenses[0].ID},
	}
	routes := []struct {
		name   string
		method string
		path   func(id string) string
		body   string
	}{
		{"get", http.MethodGet, licensePath, ""},
		{"renew", http.MethodPost, func(id string) string { return actionPath(id, "renew") }, `{"expiration_date":"` + futureDate(400*24*time.Hour) + `"}`},
		{"suspend", http.MethodPost, func(id string) string { return actionPath(id, "suspend") }, `{"reason":"x"}`},
		{"resume", http.MethodPost, func(id string) string { return actionPath(id, "resume") }, `{}`},
		{"cancel", http.MethodPost, func(id string) string { return actionPath(id, "cancel") }, ``},
	}
	for _, route := range routes {
		t.Run(route.name, func(t *testing.T) {
			var first apiError
			for i, id := range ids {
				c := call{method: route.method, path: route.path(id.id), apiKey: rmKey}
				if route.body != "" {
					c.body = []byte(route.body)
				}
				got := expectError(t, e, c, http.StatusNotFound, "license_not_found")
				if i == 0 {
					first = got
					continue
				}
				require.Equal(t, string(first.raw), string(got.raw), "%s id: the answer differs from an unknown id's", id.name)
			}
		})
	}
	_, mineAfter := e.licenseOf(t, rmKey, mine.Licenses[0].ID)
	_, theirsAfter := e.licenseOf(t, wprKey, theirs.Licenses[0].ID)
	require.Equal(t, string(mineBefore.body), string(mineAfter.body))
	require.Equal(t, string(theirsBefore.body), string(theirsAfter.body))
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := start(t)
	exp := time.Now().UTC().Add(30 * 24 * time.Hour).Truncate(time.Second)
	p := e.provision(t, rmKey, provisionReq{
		CustomerEmail: "life@example.com", Products: []string{"rankmath-pro", "content-ai"},
		ExpirationDate: exp.Format(time.RFC3339), MaxSeats: ptr(2),
	})
	lic, sibling := p.Licenses[0], p.Licenses[1]
	_, siblingBefore := e.licenseOf(t, rmKey, sibling.ID)

	change := func(t *testing.T, action string, body any) licenseDetailJSON {
		t.Helper()
		var l licenseDetailJSON
		m := expectOK(t, e.post(t, actionPath(lic.ID, action), rmKey, body), http.StatusOK, &l)
		requireFields(t, m, "id", "product_id", "status", "seat_limit", "seats_used", "seats_remaining", "expires_at", "license_key", "activations")
		require.Equal(t, lic.ID, l.ID)
		require.Equal(t, lic.ProductID, l.ProductID)
		require.Equal(t, 2, l.SeatLimit)
		require.Equal(t, p.LicenseKey, l.LicenseKey)
		// What the change answers is what a later read shows.
		got, _ := e.licenseOf(t, rmKey, lic.ID)
		assert.Equal(t, l.licenseJSON, got.licenseJSON, "the answer to %s differs from a later GET of the license", action)
		return l
	}

	l := change(t, "suspend", map[string]string{"reason": "payment failed"})
	require.Equal(t, "suspended", l.Status)
	require.Equal(t, "payment failed", l.StatusReason)

	l = change(t, "resume", nil)
	require.Equal(t, "valid", l.Status)

	later := exp.Add(365 * 24 * time.Hour)
	l = change(t, "renew", map[string]string{"expiration_date": later.Format(time.RFC3339)})
	require.Equal(t, "valid", l.Status)
	require.NotNil(t, l.ExpiresAt)
	require.True(t, later.Equal(mustParseTime(t, *l.ExpiresAt)), "expires_at %s, want %s", *l.ExpiresAt, later)

	l = change(t, "cancel", map[string]string{"reason": "refund"})
	require.Equal(t, "cancelled", l.Status)
	require.Equal(t, "refund", l.StatusReason)

	got, _ := e.licenseOf(t, rmKey, lic.ID)
	require.Equal(t, "cancelled", got.Status)
	require.True(t, later.Equal(mustParseTime(t, *got.ExpiresAt)))

	var c customerJSON
	expectOK(t, e.get(t, emailQuery("life@example.com"), rmKey), http.StatusOK, &c)
	require.Len(t, c.LicenseKeys, 1)
	statuses := map[string]string{}
	for _, x := range c.LicenseKeys[0].Licenses {
		statuses[x.ID] = x.Status
	}
	require.Equal(t, map[string]string{lic.ID: "cancelled", sibling.ID: "valid"}, statuses)

	// The key's other license was never touched.
	_, siblingAfter := e.licenseOf(t, rmKey, sibling.ID)
	require.Equal(t, string(siblingBefore.body), string(siblingAfter.body))
}

func TestInvalidTransitions(t *testing.T) {
	t.Parallel()
	e := start(t)
	dated := func() licenseJSON {
		return e.provision(t, rmKey, provisionReq{CustomerEmail: "t@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour)}).Licenses[0]
	}
	act := func(t *testing.T, id, action, body string) {
		t.Helper()
		expectOK(t, e.post(t, actionPath(id, action), rmKey, body), http.StatusOK, nil)
	}
	renewBody := `{"expiration_date":"` + futureDate(400*24*time.Hour) + `"}`
	conflict := func(t *testing.T, id, action, body string) {
		t.Helper()
		expectError(t, e, call{method: http.MethodPost, path: actionPath(id, action), apiKey: rmKey, body: []byte(body)}, http.StatusConflict, "invalid_transition")
	}

	valid := dated()
	t.Run("resume a valid license", func(t *testing.T) { conflict(t, valid.ID, "resume", `{}`) })

	suspended := dated()
	act(t, suspended.ID, "suspend", `{}`)
	t.Run("suspend a suspended license", func(t *testing.T) { conflict(t, suspended.ID, "suspend", `{}`) })

	cancelled := dated()
	act(t, cancelled.ID, "cancel", `{}`)
	t.Run("suspend a cancelled license", func(t *testing.T) { conflict(t, cancelled.ID, "suspend", `{}`) })
	t.Run("resume a cancelled license", func(t *testing.T) { conflict(t, cancelled.ID, "resume", `{}`) })
	t.Run("cancel twice", func(t *testing.T) { conflict(t, cancelled.ID, "cancel", `{"reason":"again"}`) })
	t.Run("renew a cancelled license", func(t *testing.T) { conflict(t, cancelled.ID, "renew", renewBody) })

	cancelledSuspended := dated()
	act(t, cancelledSuspended.ID, "suspend", `{}`)
	act(t, cancelledSuspended.ID, "cancel", `{}`)
	t.Run("resume a cancelled, once suspended license", func(t *testing.T) { conflict(t, cancelledSuspended.ID, "resume", `{}`) })

	perpetual := e.provision(t, rmKey, provisionReq{CustomerEmail: "t@example.com", Products: []string{"content-ai"}}).Licenses[0]
	t.Run("renew a perpetual license", func(t *testing.T) { conflict(t, perpetual.ID, "renew", renewBody) })

	got, _ := e.licenseOf(t, rmKey, valid.ID)
	require.Equal(t, "valid", got.Status)
	got, _ = e.licenseOf(t, rmKey, suspended.ID)
	require.Equal(t, "suspended", got.Status)
	got, _ = e.licenseOf(t, rmKey, cancelled.ID)
	require.Equal(t, "cancelled", got.Status)
	got, _ = e.licenseOf(t, rmKey, perpetual.ID)
	require.Nil(t, got.ExpiresAt)
}

func TestRenew(t *testing.T) {
	t.Parallel()
	e := start(t)
	exp := time.Now().UTC().Add(30 * 24 * time.Hour).Truncate(time.Second)
	lic := e.provision(t, rmKey, provisionReq{CustomerEmail: "r@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: exp.Format(time.RFC3339)}).Licenses[0]
	renew := func(body string) call {
		return call{method: http.MethodPost, path: actionPath(lic.ID, "renew"), apiKey: rmKey, body: []byte(body)}
	}

	for _, tc := range []struct{ name, body string }{
		{"missing expiration_date", `{}`},
		{"empty body", ``},
		{"blank expiration_date", `{"expiration_date":" "}`},
		{"bad format", `{"expiration_date":"31/12/2031"}`},
		{"date only", `{"expiration_date":"2031-12-31"}`},
		{"in the past", `{"expiration_date":"2020-01-01T00:00:00Z"}`},
		{"earlier than the current expiry", `{"expiration_date":"` + exp.Add(-24*time.Hour).Format(time.RFC3339) + `"}`},
		{"same as the current expiry", `{"expiration_date":"` + exp.Format(time.RFC3339) + `"}`},
		{"wrong type", `{"expiration_date":20310101}`},
		{"reason is not a renew field", `{"expiration_date":"` + exp.Add(time.Hour).Format(time.RFC3339) + `","reason":"x"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			field := "expiration_date"
			if strings.Contains(tc.body, "reason") {
				field = "reason"
			}
			expectInvalid(t, e, renew(tc.body), field)
		})
	}

	// A suspended license may be renewed and stays suspended.
	expectOK(t, e.post(t, actionPath(lic.ID, "suspend"), rmKey, `{"reason":"late payment"}`), http.StatusOK, nil)
	later := exp.Add(90 * 24 * time.Hour)
	var l licenseDetailJSON
	expectOK(t, e.do(t, renew(`{"expiration_date":"`+later.Format(time.RFC3339)+`"}`)), http.StatusOK, &l)
	require.Equal(t, "suspended", l.Status)
	require.True(t, later.Equal(mustParseTime(t, *l.ExpiresAt)))

	// Renewing moves the expiry again, with any offset.
	latest := later.Add(24 * time.Hour)
	expectOK(t, e.do(t, renew(`{"expiration_date":"`+latest.In(time.FixedZone("", -5*3600)).Format(time.RFC3339)+`"}`)), http.StatusOK, &l)
	require.True(t, latest.Equal(mustParseTime(t, *l.ExpiresAt)))
	got, _ := e.licenseOf(t, rmKey, lic.ID)
	require.True(t, latest.Equal(mustParseTime(t, *got.ExpiresAt)))

	var c customerJSON
	expectOK(t, e.get(t, emailQuery("r@example.com"), rmKey), http.StatusOK, &c)
	require.True(t, latest.Equal(mustParseTime(t, *c.LicenseKeys[0].Licenses[0].ExpiresAt)))
}

// clock is a settable clock for the service under test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestExpiredLicense(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Now().UTC()}
	e := start(t, func(o *devserver.Options) { o.Now = c.Now })
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: "late@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: c.Now().Add(time.Hour).Format(time.RFC3339)})
	id := p.Licenses[0].ID
	require.Equal(t, "valid", p.Licenses[0].Status)

	c.advance(2 * time.Hour)
	got, _ := e.licenseOf(t, rmKey, id)
	require.Equal(t, "expired", got.Status, "a valid license past its expiry reads as expired")
	var listed customerJSON
	expectOK(t, e.get(t, emailQuery("late@example.com"), rmKey), http.StatusOK, &listed)
	require.Equal(t, "expired", listed.LicenseKeys[0].Licenses[0].Status)

	expectError(t, e, call{method: http.MethodPost, path: actionPath(id, "suspend"), apiKey: rmKey, body: []byte(`{}`)}, http.StatusConflict, "invalid_transition")
	expectError(t, e, call{method: http.MethodPost, path: actionPath(id, "resume"), apiKey: rmKey, body: []byte(`{}`)}, http.StatusConflict, "invalid_transition")
	// A renewal date that is in the future but not after "now" of the service is refused.
	expectInvalid(t, e, call{method: http.MethodPost, path: actionPath(id, "renew"), apiKey: rmKey, body: []byte(`{"expiration_date":"` + c.Now().Add(-time.Minute).Format(time.RFC3339) + `"}`)}, "expiration_date")

	var renewed licenseDetailJSON
	expectOK(t, e.post(t, actionPath(id, "renew"), rmKey, map[string]string{"expiration_date": c.Now().Add(24 * time.Hour).Format(time.RFC3339)}), http.StatusOK, &renewed)
	require.Equal(t, "valid", renewed.Status, "renewing an expired license makes it valid again")

	c.advance(48 * time.Hour)
	var cancelled licenseDetailJSON
	expectOK(t, e.post(t, actionPath(id, "cancel"), rmKey, map[string]string{"reason": "lapsed"}), http.StatusOK, &cancelled)
	require.Equal(t, "cancelled", cancelled.Status, "an expired license can be cancelled")
}

func TestCrossBrand(t *testing.T) {
	t.Parallel()
	e := start(t)
	a := e.provision(t, rmKey, provisionReq{CustomerEmail: "shared@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour)})
	id := a.Licenses[0].ID
	_, before := e.licenseOf(t, rmKey, id)
	unknown := checkError(t, e.get(t, licensePath("lic_aaaaaaaaaaaaaaaaaaaa"), wprKey), http.StatusNotFound, "license_not_found")

	for _, c := range []call{
		{method: http.MethodGet, path: licensePath(id)},
		{method: http.MethodPost, path: actionPath(id, "suspend"), body: []byte(`{"reason":"hijack"}`)},
		{method: http.MethodPost, path: actionPath(id, "resume"), body: []byte(`{}`)},
		{method: http.MethodPost, path: actionPath(id, "renew"), body: []byte(`{"expiration_date":"` + futureDate(400*24*time.Hour) + `"}`)},
		{method: http.MethodPost, path: actionPath(id, "cancel"), body: []byte(`{"reason":"hijack"}`)},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			c.apiKey = wprKey
			got := expectError(t, e, c, http.StatusNotFound, "license_not_found")
			require.Equal(t, string(unknown.raw), string(got.raw), "another brand's license must read as an unknown one")
		})
	}
	_, after := e.licenseOf(t, rmKey, id)
	require.Equal(t, string(before.body), string(after.body), "brand A's license changed")

	t.Run("list by email", func(t *testing.T) {
		var c customerJSON
		expectOK(t, e.get(t, emailQuery("shared@example.com"), wprKey), http.StatusOK, &c)
		require.Empty(t, c.LicenseKeys)

		b := e.provision(t, wprKey, provisionReq{CustomerEmail: "shared@example.com", Products: []string{"wp-rocket"}})
		expectOK(t, e.get(t, emailQuery("shared@example.com"), wprKey), http.StatusOK, &c)
		require.Len(t, c.LicenseKeys, 1)
		require.Equal(t, b.LicenseKey.Key, c.LicenseKeys[0].Key)

		c = customerJSON{}
		expectOK(t, e.get(t, emailQuery("shared@example.com"), rmKey), http.StatusOK, &c)
		require.Len(t, c.LicenseKeys, 1)
		require.Equal(t, a.LicenseKey.Key, c.LicenseKeys[0].Key)
	})

	t.Run("idempotency keys are per brand", func(t *testing.T) {
		body := provisionReq{CustomerEmail: "idem@example.com", Products: []string{"rankmath-pro"}, IdempotencyKey: "order-1"}
		first := e.provision(t, rmKey, body)
		body.Products = []string{"wp-rocket"}
		r := e.post(t, pathProvision, wprKey, body)
		var second provisionedJSON
		expectOK(t, r, http.StatusCreated, &second)
		require.Empty(t, r.header.Get("Idempotent-Replayed"))
		require.NotEqual(t, first.LicenseKey.Key, second.LicenseKey.Key)
	})
}

func TestListByEmail(t *testing.T) {
	t.Parallel()
	e := start(t)
	p1 := e.provision(t, rmKey, provisionReq{CustomerEmail: "list@example.com", Products: []string{"rankmath-pro"}})
	p2 := e.provision(t, rmKey, provisionReq{CustomerEmail: "list@example.com", Products: []string{"rankmath-pro", "content-ai"}, MaxSeats: ptr(5)})
	e.provision(t, rmKey, provisionReq{CustomerEmail: "someone-else@example.com", Products: []string{"rankmath-pro"}})

	var c customerJSON
	m := expectOK(t, e.get(t, emailQuery("list@example.com"), rmKey), http.StatusOK, &c)
	requireFields(t, m, "customer_email", "license_keys")
	require.Equal(t, "list@example.com", c.CustomerEmail)
	require.Len(t, c.LicenseKeys, 2)
	byKey := map[string][]licenseJSON{}
	for _, k := range c.LicenseKeys {
		byKey[k.Key] = k.Licenses
		mustParseTime(t, k.CreatedAt)
	}
	require.ElementsMatch(t, p1.Licenses, byKey[p1.LicenseKey.Key])
	require.ElementsMatch(t, p2.Licenses, byKey[p2.LicenseKey.Key])
	for _, l := range byKey[p2.LicenseKey.Key] {
		require.Equal(t, 5, l.SeatLimit)
		require.Equal(t, 0, l.SeatsUsed)
		require.Equal(t, 5, l.SeatsRemaining)
	}

	t.Run("unknown customer", func(t *testing.T) {
		var c customerJSON
		m := expectOK(t, e.get(t, emailQuery("nobody@example.com"), rmKey), http.StatusOK, &c)
		require.NotNil(t, m["license_keys"], "license_keys must be an empty array, not null")
		require.Empty(t, c.LicenseKeys)
	})

	for _, tc := range []struct{ name, path string }{
		{"no query", pathLicenses},
		{"empty email", pathLicenses + "?email="},
		{"other parameter", pathLicenses + "?customer_email=list%40example.com"},
		{"invalid email", emailQuery("not-an-email")},
		{"email with spaces", emailQuery("list @example.com")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectInvalid(t, e, call{method: http.MethodGet, path: tc.path, apiKey: rmKey}, "email")
		})
	}
}

func TestIdempotentProvision(t *testing.T) {
	t.Parallel()
	e := start(t)
	body := provisionReq{CustomerEmail: "idem@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour), MaxSeats: ptr(2)}

	t.Run("key in the body", func(t *testing.T) {
		in := body
		in.IdempotencyKey = "order-1001"
		first := e.post(t, pathProvision, rmKey, in)
		expectOK(t, first, http.StatusCreated, nil)
		require.Empty(t, first.header.Get("Idempotent-Replayed"))

		var again reply
		e.unchanged(t, func() { again = e.post(t, pathProvision, rmKey, in) })
		expectOK(t, again, http.StatusCreated, nil)
		require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
		require.Equal(t, string(first.body), string(again.body))

		// The same request with the key in the header, and spelled alike.
		in.IdempotencyKey = ""
		in.CustomerEmail = "IDEM@example.com"
		var viaHeader reply
		e.unchanged(t, func() {
			viaHeader = e.do(t, call{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: jsonOf(t, in), header: map[string]string{"Idempotency-Key": "order-1001"}})
		})
		expectOK(t, viaHeader, http.StatusCreated, nil)
		require.Equal(t, "true", viaHeader.header.Get("Idempotent-Replayed"))
		require.Equal(t, string(first.body), string(viaHeader.body))

		for _, tc := range []struct {
			name   string
			change func(*provisionReq)
		}{
			{"other email", func(r *provisionReq) { r.CustomerEmail = "other@example.com" }},
			{"other products", func(r *provisionReq) { r.Products = []string{"content-ai"} }},
			{"more products", func(r *provisionReq) { r.Products = []string{"rankmath-pro", "content-ai"} }},
			{"other seats", func(r *provisionReq) { r.MaxSeats = ptr(3) }},
			{"default seats", func(r *provisionReq) { r.MaxSeats = nil }},
			{"perpetual", func(r *provisionReq) { r.ExpirationDate = "" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				in := body
				in.IdempotencyKey = "order-1001"
				tc.change(&in)
				expectError(t, e, call{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: jsonOf(t, in)}, http.StatusUnprocessableEntity, "idempotency_key_reused")
			})
		}

		var c customerJSON
		expectOK(t, e.get(t, emailQuery("idem@example.com"), rmKey), http.StatusOK, &c)
		require.Len(t, c.LicenseKeys, 1)
	})

	t.Run("key in the header", func(t *testing.T) {
		c := call{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: jsonOf(t, body), header: map[string]string{"Idempotency-Key": "order-2002"}}
		first := e.do(t, c)
		var p provisionedJSON
		expectOK(t, first, http.StatusCreated, &p)
		var again reply
		e.unchanged(t, func() { again = e.do(t, c) })
		expectOK(t, again, http.StatusCreated, nil)
		require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
		require.Equal(t, string(first.body), string(again.body))

		other := body
		other.CustomerEmail = "else@example.com"
		c.body = jsonOf(t, other)
		expectError(t, e, c, http.StatusUnprocessableEntity, "idempotency_key_reused")

		// The replayed key is the one stored.
		l, _ := e.licenseOf(t, rmKey, p.Licenses[0].ID)
		require.Equal(t, p.LicenseKey.Key, l.LicenseKey.Key)
	})

	t.Run("no key, no replay", func(t *testing.T) {
		a := e.provision(t, rmKey, body)
		b := e.provision(t, rmKey, body)
		require.NotEqual(t, a.LicenseKey.Key, b.LicenseKey.Key)
	})
}

func TestConcurrentIdempotentProvision(t *testing.T) {
	t.Parallel()
	e := start(t)
	const n = 20
	body := jsonOf(t, provisionReq{CustomerEmail: "race@example.com", Products: []string{"rankmath-pro", "content-ai"}, IdempotencyKey: "race-1"})

	calls := make([]call, n)
	for i := range calls {
		calls[i] = call{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: body}
	}
	replies := e.all(t, calls)

	var created []string
	inProgress := 0
	for i, r := range replies {
		switch r.status {
		case http.StatusCreated:
			require.True(t, hasJSONContentType(r.header))
			created = append(created, string(r.body))
		case http.StatusConflict:
			checkError(t, r, http.StatusConflict, "request_in_progress")
			inProgress++
		default:
			t.Fatalf("reply %d: want 201 or 409 request_in_progress, got %s", i, r)
		}
	}
	t.Logf("%d created or replayed, %d in progress", len(created), inProgress)
	require.NotEmpty(t, created)
	for _, b := range created[1:] {
		require.Equal(t, created[0], b, "201 bodies differ")
	}

	var c customerJSON
	expectOK(t, e.get(t, emailQuery("race@example.com"), rmKey), http.StatusOK, &c)
	require.Len(t, c.LicenseKeys, 1, "exactly one license key")
	require.Len(t, c.LicenseKeys[0].Licenses, 2)
	require.Contains(t, created[0], c.LicenseKeys[0].Key)

	// Once settled, the request replays the same answer.
	var again reply
	e.unchanged(t, func() {
		again = e.do(t, call{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: body})
	})
	expectOK(t, again, http.StatusCreated, nil)
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	require.Equal(t, created[0], string(again.body))
}

func TestServiceUnavailable(t *testing.T) {
	t.Parallel()
	e := start(t)
	lic := e.provision(t, rmKey, provisionReq{CustomerEmail: "down@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour)}).Licenses[0]
	_, before := e.licenseOf(t, rmKey, lic.ID)

	calls := []call{
		{method: http.MethodGet, path: pathProducts, apiKey: rmKey},
		{method: http.MethodPost, path: pathProducts, apiKey: rmKey, body: []byte(`{"name":"New","slug":"new-one"}`)},
		{method: http.MethodPost, path: pathProvision, apiKey: rmKey, body: []byte(`{"customer_email":"down@example.com","products":["rankmath-pro"],"idempotency_key":"down-1"}`)},
		{method: http.MethodGet, path: emailQuery("down@example.com"), apiKey: rmKey},
		{method: http.MethodGet, path: licensePath(lic.ID), apiKey: rmKey},
		{method: http.MethodPost, path: actionPath(lic.ID, "suspend"), apiKey: rmKey, body: []byte(`{"reason":"x"}`)},
		{method: http.MethodPost, path: actionPath(lic.ID, "renew"), apiKey: rmKey, body: []byte(`{"expiration_date":"` + futureDate(400*24*time.Hour) + `"}`)},
	}
	e.unchanged(t, func() {
		e.srv.Engine.EmulateFailure(miniserver.FailureConditionInternalServerError)
		defer e.srv.Engine.EmulateFailure(miniserver.FailureConditionNone)
		for _, c := range calls {
			r := e.do(t, c)
			checkError(t, r, http.StatusServiceUnavailable, "service_unavailable")
			ra := r.header.Get("Retry-After")
			secs, err := strconv.Atoi(ra)
			require.NoError(t, err, "%s %s: Retry-After %q", c.method, c.path, ra)
			require.Positive(t, secs)
		}
		// Health tells the outage apart.
		h := e.get(t, pathHealth, "")
		require.Equal(t, http.StatusServiceUnavailable, h.status, "%s", h)
		require.JSONEq(t, `{"status":"degraded","dynamodb":"unreachable"}`, string(h.body))
	})

	// Back to normal: every request works, the idempotency key included.
	_, after := e.licenseOf(t, rmKey, lic.ID)
	require.Equal(t, string(before.body), string(after.body))
	for _, c := range calls {
		r := e.do(t, c)
		require.Less(t, r.status, 300, "%s %s after recovery: %s", c.method, c.path, r)
		require.Empty(t, r.header.Get("Idempotent-Replayed"))
	}
	got, _ := e.licenseOf(t, rmKey, lic.ID)
	require.Equal(t, "suspended", got.Status)
	var products struct {
		Products []productJSON `json:"products"`
	}
	expectOK(t, e.get(t, pathProducts, rmKey), http.StatusOK, &products)
	require.True(t, slices.ContainsFunc(products.Products, func(p productJSON) bool { return p.Slug == "new-one" }))
}
