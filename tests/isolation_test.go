package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/stack"
)

// The tenant isolation matrix: every brand route of template.yaml is tried
// against rankmath's demo data with rankmath's own key, another brand's key,
// a revoked key, malformed keys and no key. Only the own key may see or
// change rankmath's data.

// isoTarget names the resources an id-addressed route points at.
type isoTarget struct {
	license, activation string
	// product is a product id or slug, release a version of it.
	product, release string
	// webhook is an endpoint id, delivery one of its deliveries.
	webhook, delivery string
}

// isoRelease is the version of rankmath-pro that the release routes' setups
// create (the demo data has 1.0.0 of every product).
const isoRelease = "1.1.0"

var (
	// isoRankMath is rankmath's demo license and the seat it holds, and
	// rankmath-pro's release isoRelease; isoRun fills in the product's id,
	// which is random on every run.
	isoRankMath = isoTarget{license: demo.RankMathProLicense, activation: demo.DemoActivation, release: isoRelease,
		webhook: whTestID, delivery: whTestDelivery()}
	// isoUnknown is well-formed ids that nobody has.
	isoUnknown = isoTarget{license: "lic_isounknown2222222222", activation: "act_isounknown2222222222",
		product: "prd_isounknown2222222222", release: "9.9.9",
		webhook: "wh_isounknown2222222222", delivery: "dlv_0000000000000001_isounknown2222222222"}
)

// isoCaller is the brand a request is built for; create routes send the
// caller's own product.
type isoCaller struct {
	brand   string
	product string
}

var (
	isoOwner = isoCaller{brand: "rankmath", product: "rankmath-pro"}
	isoOther = isoCaller{brand: "wp-rocket", product: "wp-rocket"}
)

// isoRoute says how to aim one brand route at rankmath's data.
type isoRoute struct {
	// request builds the request (without an API key) that caller sends
	// at the target's resources.
	request func(tg isoTarget, c isoCaller) call
	// own is the documented success status of rankmath's own key.
	own int
	// byID marks routes that address one rankmath resource by id: another
	// brand gets exactly the unknown-id 404. The other routes (list,
	// create) answer another brand with success (other) on its own data.
	byID  bool
	other int
	// fresh marks routes whose own answer shows nothing of rankmath's
	// existing data (a new product); every other own answer must, which
	// shows that the leak detector sees rankmath's data.
	fresh bool
	// setup prepares rankmath's data with its own key before any attempt,
	// so that the own key's request is valid; it returns further rankmath
	// identifiers that must not leak.
	setup func(t *testing.T, e *env) []string
}

// isoRenewTo is a new expiry later than the demo licenses' (end of 2030) and
// than now.
func isoRenewTo() string {
	base := time.Date(2030, 12, 31, 23, 59, 59, 0, time.UTC)
	if now := time.Now().UTC(); now.After(base) {
		base = now
	}
	return base.AddDate(1, 0, 0).Truncate(time.Second).Format(time.RFC3339)
}

// isoRoutes is the matrix, keyed "METHOD path" as template.yaml declares the
// routes. Every brand route must have an entry.
func isoRoutes() map[string]isoRoute {
	post := func(path, body string) call {
		return call{method: http.MethodPost, path: path, body: []byte(body)}
	}
	get := func(path string) call { return call{method: http.MethodGet, path: path} }
	// The webhook routes aim at rankmath's seeded endpoint and delivery.
	seeded := func(t *testing.T, e *env) []string {
		whSeed(t, e)
		return []string{whTestID, whTestDelivery()}
	}
	hook := func(tg isoTarget) string { return pathWebhooks + "/" + tg.webhook }
	return map[string]isoRoute{
		"POST " + pathWebhooks: {
			own: http.StatusCreated, other: http.StatusCreated, fresh: true,
			request: func(isoTarget, isoCaller) call {
				return post(pathWebhooks, `{"url":"http://127.0.0.1:9/hook","event_types":["LicenseRenewed"]}`)
			},
		},
		"GET " + pathWebhooks: {
			own: http.StatusOK, other: http.StatusOK, setup: seeded,
			request: func(isoTarget, isoCaller) call { return get(pathWebhooks) },
		},
		"DELETE " + pathWebhooks + "/{webhook}": {
			own: http.StatusOK, byID: true, setup: seeded,
			request: func(tg isoTarget, _ isoCaller) call { return call{method: http.MethodDelete, path: hook(tg)} },
		},
		"POST " + pathWebhooks + "/{webhook}/rotate-secret": {
			own: http.StatusOK, byID: true, setup: seeded,
			request: func(tg isoTarget, _ isoCaller) call { return post(hook(tg)+"/rotate-secret", `{}`) },
		},
		"GET " + pathWebhooks + "/{webhook}/deliveries": {
			own: http.StatusOK, byID: true, setup: seeded,
			request: func(tg isoTarget, _ isoCaller) call { return get(hook(tg) + "/deliveries") },
		},
		"POST " + pathWebhooks + "/{webhook}/deliveries/{delivery}/retry": {
			own: http.StatusOK, byID: true, setup: seeded,
			request: func(tg isoTarget, _ isoCaller) call { return post(hook(tg)+"/deliveries/"+tg.delivery+"/retry", `{}`) },
		},
		"POST /api/v1/brand/products": {
			own: http.StatusCreated, other: http.StatusCreated, fresh: true,
			request: func(isoTarget, isoCaller) call {
				return post(pathProducts, `{"slug":"iso-product","name":"Iso Product"}`)
			},
		},
		"GET /api/v1/brand/products": {
			own: http.StatusOK, other: http.StatusOK,
			request: func(isoTarget, isoCaller) call { return get(pathProducts) },
		},
		"POST /api/v1/brand/licenses/provision": {
			own: http.StatusCreated, other: http.StatusCreated,
			// rankmath has used the idempotency key already: another brand
			// using the same key must get its own fresh answer, never
			// rankmath's replay.
			setup: func(t *testing.T, e *env) []string {
				var p provisionedJSON
				expectOK(t, e.post(t, pathProvision, rmKey, isoProvisionBody(isoOwner)), http.StatusCreated, &p)
				ids := []string{p.LicenseKey.ID, p.LicenseKey.Key}
				for _, l := range p.Licenses {
					ids = append(ids, l.ID)
				}
				return ids
			},
			request: func(_ isoTarget, c isoCaller) call { return post(pathProvision, isoProvisionBody(c)) },
		},
		"GET /api/v1/brand/licenses": {
			// Both brands have the customer demo@example.com.
			own: http.StatusOK, other: http.StatusOK,
			request: func(isoTarget, isoCaller) call { return get(emailQuery(demo.DemoCustomer)) },
		},
		"GET /api/v1/brand/licenses/{id}": {
			own: http.StatusOK, byID: true,
			request: func(tg isoTarget, _ isoCaller) call { return get(licensePath(tg.license)) },
		},
		"POST /api/v1/brand/licenses/{id}/renew": {
			own: http.StatusOK, byID: true,
			request: func(tg isoTarget, _ isoCaller) call {
				return post(actionPath(tg.license, "renew"), `{"expiration_date":"`+isoRenewTo()+`"}`)
			},
		},
		"POST /api/v1/brand/licenses/{id}/suspend": {
			own: http.StatusOK, byID: true,
			request: func(tg isoTarget, _ isoCaller) call {
				return post(actionPath(tg.license, "suspend"), `{"reason":"isolation"}`)
			},
		},
		"POST /api/v1/brand/licenses/{id}/resume": {
			own: http.StatusOK, byID: true,
			setup: func(t *testing.T, e *env) []string {
				expectOK(t, e.post(t, actionPath(demo.RankMathProLicense, "suspend"), rmKey, `{"reason":"setup"}`), http.StatusOK, nil)
				return nil
			},
			request: func(tg isoTarget, _ isoCaller) call { return post(actionPath(tg.license, "resume"), `{}`) },
		},
		"POST /api/v1/brand/licenses/{id}/cancel": {
			own: http.StatusOK, byID: true,
			request: func(tg isoTarget, _ isoCaller) call {
				return post(actionPath(tg.license, "cancel"), `{"reason":"isolation"}`)
			},
		},
		"GET /api/v1/brand/licenses/{id}/events": {
			own: http.StatusOK, byID: true,
			request: func(tg isoTarget, _ isoCaller) call { return get(actionPath(tg.license, "events") + "?limit=10") },
		},
		"DELETE /api/v1/brand/licenses/{id}/activations/{activation_id}": {
			own: http.StatusOK, byID: true,
			request: func(tg isoTarget, _ isoCaller) call {
				return call{method: http.MethodDelete, path: licensePath(tg.license) + "/activations/" + tg.activation}
			},
		},
		// The release routes address one of rankmath's products: another
		// brand naming it (by id or slug) gets the unknown product's 404,
		// whether it creates, lists, publishes or yanks.
		"POST /api/v1/brand/products/{product}/releases": {
			own: http.StatusCreated, byID: true,
			request: func(tg isoTarget, _ isoCaller) call {
				b, _ := json.Marshal(relBody(tg.release, "stable", isoPackage))
				return post(relPath(tg.product), string(b))
			},
		},
		"GET /api/v1/brand/products/{product}/releases": {
			own: http.StatusOK, byID: true,
			setup:   func(t *testing.T, e *env) []string { return isoPendingRelease(t, e, false) },
			request: func(tg isoTarget, _ isoCaller) call { return get(relPath(tg.product)) },
		},
		"POST /api/v1/brand/products/{product}/releases/{version}/publish": {
			// The package is uploaded: only the key stands between the
			// request and a published release.
			own: http.StatusOK, byID: true,
			setup: func(t *testing.T, e *env) []string { return isoPendingRelease(t, e, true) },
			request: func(tg isoTarget, _ isoCaller) call {
				return post(relActionPath(tg.product, tg.release, "publish"), `{}`)
			},
		},
		"POST /api/v1/brand/products/{product}/releases/{version}/yank": {
			own: http.StatusOK, byID: true,
			setup: func(t *testing.T, e *env) []string {
				ids := isoPendingRelease(t, e, true)
				e.relPublish(t, rmKey, "rankmath-pro", isoRelease)
				return ids
			},
			request: func(tg isoTarget, _ isoCaller) call {
				return post(relActionPath(tg.product, tg.release, "yank"), `{}`)
			},
		},
	}
}

// isoPackage is the package of the release routes' rankmath release.
var isoPackage = relPackage("isolation-"+isoRelease, 1500)

// isoPendingRelease creates rankmath-pro's release isoRelease with
// rankmath's own key, and uploads its package through the presigned URL if
// upload; it returns what identifies the release (its package's digest and
// its object key) so that no other answer may show them.
func isoPendingRelease(t *testing.T, e *env, upload bool) []string {
	t.Helper()
	c := e.relCreate(t, rmKey, "rankmath-pro", relBody(isoRelease, "stable", isoPackage))
	if upload {
		status, msg := relPut(t, c.Upload, isoPackage)
		require.Equal(t, http.StatusOK, status, "upload: %s", msg)
	}
	u, err := url.Parse(c.Upload.URL)
	require.NoError(t, err)
	return []string{relSum(isoPackage), u.Path}
}

func isoProvisionBody(c isoCaller) string {
	return `{"customer_email":"` + demo.DemoCustomer + `","products":["` + c.product + `"],"idempotency_key":"iso-shared-key"}`
}

// isoBrandRoutes returns the "METHOD path" of every route of template.yaml
// that requires an API key.
func isoBrandRoutes(t *testing.T) []string {
	t.Helper()
	tpl, err := stack.Load(templatePath(t))
	require.NoError(t, err)
	var out []string
	for _, r := range tpl.Routes() {
		if r.ApiKeyRequired {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	require.NotEmpty(t, out, "template.yaml declares no brand routes")
	return out
}

func TestIsolationMatrixCoversEveryBrandRoute(t *testing.T) {
	t.Parallel()
	brand := isoBrandRoutes(t)
	table := isoRoutes()
	for _, r := range brand {
		if _, ok := table[r]; !ok {
			t.Errorf("brand route %s of template.yaml has no entry in isoRoutes: add how to aim it at rankmath's data", r)
		}
	}
	for r := range table {
		if !slices.Contains(brand, r) {
			t.Errorf("isoRoutes has an entry for %s, which is not a brand route of template.yaml", r)
		}
	}
}

// isoLeaks finds identifiers of one brand in answers meant for others.
type isoLeaks struct {
	words []string       // matched case-insensitively
	key   *regexp.Regexp // the brand's license keys
}

func (l isoLeaks) in(body []byte) []string {
	lower := strings.ToLower(string(body))
	var found []string
	for _, w := range l.words {
		if w != "" && strings.Contains(lower, strings.ToLower(w)) {
			found = append(found, w)
		}
	}
	if m := l.key.Find(body); m != nil {
		found = append(found, string(m))
	}
	return found
}

// isoBrandLeaks lists what identifies brand's data: its slug, names, demo
// ids, product ids and slugs, and license keys with its prefix.
func isoBrandLeaks(t *testing.T, e *env, brand string, extra ...string) isoLeaks {
	t.Helper()
	l := isoLeaks{words: append([]string{brand}, extra...)}
	for _, b := range demo.Brands {
		if b.Slug != brand {
			continue
		}
		l.words = append(l.words, b.Name)
		l.key = regexp.MustCompile(`(?i)\b` + b.Prefix + `-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b`)
		for _, p := range b.Products {
			l.words = append(l.words, p.Slug, p.Name)
		}
	}
	require.NotNil(t, l.key, "no demo brand %q", brand)
	switch brand {
	case "rankmath":
		l.words = append(l.words, demo.RankMathKey, demo.RankMathProLicense, demo.ContentAILicense, demo.DemoActivation, "lk_demorankmath")
	case "wp-rocket":
		l.words = append(l.words, demo.WPRocketKey, demo.WPRocketLicense, "lk_demowprocket")
	}
	products, err := e.srv.Service.App.Ops().ListProducts(context.Background(), brand)
	require.NoError(t, err)
	for _, p := range products {
		l.words = append(l.words, p.ID)
	}
	return l
}

// isoRankMathItems keeps the table items of rankmath.
func isoRankMathItems(items []string) []string {
	var out []string
	for _, it := range items {
		if strings.Contains(it, "rankmath") || strings.Contains(it, "RM-DEMA") {
			out = append(out, it)
		}
	}
	return out
}

// isoRevokedKey issues a rankmath API key, shows it works, and revokes it.
func isoRevokedKey(t *testing.T, e *env) string {
	t.Helper()
	ctx := context.Background()
	ops := e.srv.Service.App.Ops()
	plain, k, err := ops.CreateAPIKey(ctx, "rankmath")
	require.NoError(t, err)
	expectOK(t, e.get(t, pathProducts, plain), http.StatusOK, nil)
	require.NoError(t, ops.RevokeAPIKey(ctx, "rankmath", k.ID))
	return plain
}

// isoMalformedKeys are API keys that must never authenticate.
func isoMalformedKeys() map[string]string {
	hash := sha256.Sum256([]byte(rmKey)) // what the table stores
	return map[string]string{
		"one char":         "x",
		"500 chars":        strings.Repeat("k", 500),
		"non-ASCII":        "clé-ключ-🔑-0001",
		"upper-case own":   strings.ToUpper(rmKey),
		"own key + 1 char": rmKey + "2",
		"own key - 1 char": rmKey[:len(rmKey)-1],
		"own key's hash":   hex.EncodeToString(hash[:]),
	}
}

func TestIsolation(t *testing.T) {
	t.Parallel()
	table := isoRoutes()
	for _, name := range isoBrandRoutes(t) {
		rt, ok := table[name]
		if !ok {
			t.Errorf("brand route %s has no isolation entry (see TestIsolationMatrixCoversEveryBrandRoute)", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			isoRun(t, rt)
		})
	}
}

// isoAttempt is one request that must not reach rankmath's data.
type isoAttempt struct {
	name   string
	apiKey string
	target isoTarget
	// status and code of the refusal; status 0 for a collection route's
	// success on the caller's own data.
	status int
	code   string
}

func isoRun(t *testing.T, rt isoRoute) {
	e := start(t)
	revoked := isoRevokedKey(t, e)
	var extra []string
	if rt.setup != nil {
		extra = rt.setup(t, e)
	}
	rmLeaks := isoBrandLeaks(t, e, "rankmath", extra...)
	wprLeaks := isoBrandLeaks(t, e, "wp-rocket")
	// rankmath's product by id (random on every run), and by slug.
	own := isoRankMath
	own.product = e.productIDs(t, rmKey)["rankmath-pro"]
	require.NotEmpty(t, own.product)
	ownBySlug := own
	ownBySlug.product = "rankmath-pro"

	var attempts []isoAttempt
	attempts = append(attempts, isoAttempt{name: "another brand's key", apiKey: wprKey, target: own})
	if rt.request(ownBySlug, isoOther).path != rt.request(own, isoOther).path {
		attempts = append(attempts, isoAttempt{name: "another brand's key, the product by slug", apiKey: wprKey, target: ownBySlug})
	}
	attempts = append(attempts, isoAttempt{name: "revoked key", apiKey: revoked, target: own, status: http.StatusUnauthorized, code: "unauthorized"})
	for kname, key := range isoMalformedKeys() {
		attempts = append(attempts, isoAttempt{name: "malformed key: " + kname, apiKey: key, target: own, status: http.StatusUnauthorized, code: "unauthorized"})
	}
	attempts = append(attempts, isoAttempt{name: "no key", target: own, status: http.StatusUnauthorized, code: "unauthorized"})

	// What an unknown id answers another brand: a rankmath id must answer
	// exactly the same.
	var unknown reply
	if rt.byID {
		c := rt.request(isoUnknown, isoOther)
		c.apiKey = wprKey
		e.unchanged(t, func() { unknown = e.do(t, c) })
		checkError(t, unknown, http.StatusNotFound, isoCodeOf(t, unknown))
	}

	for _, a := range attempts {
		caller := isoOwner
		if a.apiKey == wprKey {
			caller = isoOther
		}
		c := rt.request(a.target, caller)
		c.apiKey = a.apiKey
		before := e.snapshot(t)
		r := e.do(t, c)
		after := e.snapshot(t)
		what := fmt.Sprintf("%s: %s %s", a.name, c.method, c.path)

		require.Equal(t, lines(isoRankMathItems(before)), lines(isoRankMathItems(after)), "%s changed rankmath's data", what)
		require.Empty(t, rmLeaks.in(r.body), "%s: the answer shows rankmath's data: %s", what, r.body)
		require.Empty(t, rmLeaks.in([]byte(fmt.Sprint(r.header))), "%s: the headers show rankmath's data", what)
		switch {
		case a.status != 0:
			checkError(t, r, a.status, a.code)
			require.Equal(t, lines(before), lines(after), "%s: a refused request changed the table", what)
		case rt.byID:
			require.Equal(t, http.StatusNotFound, r.status, "%s: body %s", what, r.body)
			require.Equal(t, string(unknown.body), string(r.body), "%s: another brand's id must answer exactly like an unknown id", what)
			require.Equal(t, isoHeaders(unknown.header), isoHeaders(r.header), "%s: headers differ from an unknown id's", what)
			require.Equal(t, lines(before), lines(after), "%s: a refused request changed the table", what)
		default:
			require.Equal(t, rt.other, r.status, "%s: another brand works on its own data: %s", what, r.body)
			require.True(t, hasJSONContentType(r.header), "%s: Content-Type %q", what, r.header.Get("Content-Type"))
			require.Empty(t, r.header.Get("Idempotent-Replayed"), "%s: replayed an answer of another brand: %s", what, r.body)
		}
	}

	// Last, the owner: the same request works, so the refusals above were
	// about the key and nothing else.
	c := rt.request(own, isoOwner)
	c.apiKey = rmKey
	r := e.do(t, c)
	require.Equal(t, rt.own, r.status, "own key: %s %s: %s", c.method, c.path, r.body)
	require.True(t, hasJSONContentType(r.header), "own key: Content-Type %q", r.header.Get("Content-Type"))
	require.Empty(t, wprLeaks.in(r.body), "own key: the answer shows wp-rocket's data: %s", r.body)
	if !rt.fresh {
		require.NotEmpty(t, rmLeaks.in(r.body), "own key: the answer shows none of rankmath's data: %s", r.body)
	}
}

// isoCodeOf reads the error code of an error answer.
func isoCodeOf(t *testing.T, r reply) string {
	t.Helper()
	m := expectOK(t, r, r.status, nil)
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	require.NotEmpty(t, code, "no error code in %s", r.body)
	return code
}

// isoHeaders are the headers of an answer that must not depend on whose id
// was asked for: all but the date and per-request ids.
func isoHeaders(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range []string{"Date", "X-Request-Id", "X-Amzn-Requestid", "X-Amzn-Trace-Id", "Apigw-Requestid"} {
		out.Del(k)
	}
	return out
}

// TestIsolationCrossReferences mixes one brand's ids into another's
// requests: another brand's seat on one's own license, another brand's
// products on one's own license key.
func TestIsolationCrossReferences(t *testing.T) {
	t.Parallel()
	e := start(t)
	rmLeaks := isoBrandLeaks(t, e, "rankmath")
	rmProducts, err := e.srv.Service.App.Ops().ListProducts(context.Background(), "rankmath")
	require.NoError(t, err)
	require.NotEmpty(t, rmProducts)

	t.Run("free rankmath's seat through wp-rocket's license", func(t *testing.T) {
		path := licensePath(demo.WPRocketLicense) + "/activations/"
		unknown := expectError(t, e, call{method: http.MethodDelete, path: path + isoUnknown.activation, apiKey: wprKey}, http.StatusNotFound, "activation_not_found")
		got := expectError(t, e, call{method: http.MethodDelete, path: path + demo.DemoActivation, apiKey: wprKey}, http.StatusNotFound, "activation_not_found")
		require.Equal(t, string(unknown.raw), string(got.raw))
	})

	type seatCase struct {
		name, key, product string
	}
	var cases []seatCase
	for _, p := range rmProducts {
		cases = append(cases,
			seatCase{"wp-rocket's key with rankmath's product slug " + p.Slug, demo.WPRocketKey, p.Slug},
			seatCase{"wp-rocket's key with rankmath's product id " + p.Slug, demo.WPRocketKey, p.ID})
	}
	wprProducts, err := e.srv.Service.App.Ops().ListProducts(context.Background(), "wp-rocket")
	require.NoError(t, err)
	for _, p := range wprProducts {
		cases = append(cases,
			seatCase{"rankmath's key with wp-rocket's product slug", demo.RankMathKey, p.Slug},
			seatCase{"rankmath's key with wp-rocket's product id", demo.RankMathKey, p.ID})
	}
	for _, sc := range cases {
		t.Run(sc.name, func(t *testing.T) {
			seat := fmt.Sprintf(`{"license_key":%q,"instance_identifier":"cross.example.com","product":%q}`, sc.key, sc.product)
			for _, path := range []string{"/api/v1/product/licenses/activate", "/api/v1/product/licenses/deactivate"} {
				got := expectError(t, e, call{method: http.MethodPost, path: path, body: []byte(seat)}, http.StatusNotFound, "product_not_found")
				if sc.key == demo.WPRocketKey {
					// The product asked for may be echoed; nothing else of rankmath.
					rest := strings.ReplaceAll(string(got.raw), sc.product, "")
					require.Empty(t, rmLeaks.in([]byte(rest)), "answer: %s", got.raw)
				}
			}
			check := "/api/v1/product/licenses/check?license_key=" + sc.key + "&product=" + sc.product
			expectError(t, e, call{method: http.MethodGet, path: check}, http.StatusNotFound, "product_not_found")
		})
	}
}
