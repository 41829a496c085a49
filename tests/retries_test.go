package tests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	miniserver "github.com/truora/minidyn/server"

	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/dev/localdb"
	"github.com/clsvc/license-service/internal/dev/stack"
	"github.com/clsvc/license-service/internal/licensing"
)

// Safe retries: every brand mutation takes an Idempotency-Key. Against an
// engine that commits a write and then answers 500 to each of the SDK's
// attempts (the service answers 503), a retry with the same key replays
// the change's answer instead of making it again.

// rtCommitThenFail makes the mutations' transactions commit and then fail,
// runs fn (the request that meets it) and puts the engine right again.
func rtCommitThenFail(t *testing.T, e *env, fn func()) {
	t.Helper()
	e.srv.Engine.EmulateCommitThenFailure("TransactWriteItems")
	defer e.srv.Engine.EmulateFailure(miniserver.FailureConditionNone)
	fn()
}

// rtWith is c with an Idempotency-Key.
func rtWith(c call, key string) call {
	h := map[string]string{}
	for k, v := range c.header {
		h[k] = v
	}
	h["Idempotency-Key"] = key
	c.header = h
	return c
}

// rtReplayed requires a replayed answer: status, the Idempotent-Replayed
// header, and (when want is not nil) the same body.
func rtReplayed(t *testing.T, r reply, status int, want []byte) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.Equal(t, "true", r.header.Get("Idempotent-Replayed"), "a replay says so")
	if want != nil {
		require.JSONEq(t, string(want), string(r.body), "a replay answers as the first request did")
	}
}

// rtInProgress requires 409 request_in_progress with a Retry-After.
func rtInProgress(t *testing.T, r reply) {
	t.Helper()
	checkError(t, r, http.StatusConflict, "request_in_progress")
	require.NotEmpty(t, r.header.Get("Retry-After"), "request_in_progress says when to retry")
}

func rtKeysOf(t *testing.T, e *env, email string) int {
	t.Helper()
	var c customerJSON
	expectOK(t, e.get(t, emailQuery(email), rmKey), http.StatusOK, &c)
	return len(c.LicenseKeys)
}

func rtEventsOf(t *testing.T, e *env, licenseID string) int {
	t.Helper()
	var h struct {
		Events []map[string]any `json:"events"`
	}
	expectOK(t, e.get(t, actionPath(licenseID, "events")+"?limit=100", rmKey), http.StatusOK, &h)
	return len(h.Events)
}

func TestRetryProvisionAfterCommitThenFail(t *testing.T) {
	t.Parallel()
	e := start(t)
	body := func(email string, products ...string) call {
		return call{method: http.MethodPost, path: pathProvision, apiKey: rmKey,
			body: jsonOf(t, provisionReq{CustomerEmail: email, Products: products, MaxSeats: ptr(2)})}
	}

	// Without a key a retry cannot tell that the first attempt committed:
	// the customer ends up with two license keys.
	rtCommitThenFail(t, e, func() { fltUnavailable(t, "", e.do(t, body("nokey@example.com", "rankmath-pro"))) })
	expectOK(t, e.do(t, body("nokey@example.com", "rankmath-pro")), http.StatusCreated, nil)
	require.Equal(t, 2, rtKeysOf(t, e, "nokey@example.com"), "a retry without a key provisions again")

	// With a key the retry replays the committed provisioning: one key.
	// The products' order, and slug or id, do not change the request.
	rtCommitThenFail(t, e, func() {
		fltUnavailable(t, "", e.do(t, rtWith(body("keyed@example.com", "rankmath-pro", "content-ai"), "prov-1")))
	})
	first := e.do(t, rtWith(body("keyed@example.com", "rankmath-pro", "content-ai"), "prov-1"))
	rtReplayed(t, first, http.StatusCreated, nil)
	var p provisionedJSON
	expectOK(t, first, http.StatusCreated, &p)
	ids := map[string]string{}
	for _, l := range p.Licenses {
		ids[l.ProductSlug] = l.ProductID
	}
	e.unchanged(t, func() {
		rtReplayed(t, e.do(t, rtWith(body("keyed@example.com", "content-ai", ids["rankmath-pro"]), "prov-1")), http.StatusCreated, first.body)
	})
	require.Equal(t, 1, rtKeysOf(t, e, "keyed@example.com"))
}

// rtLicense provisions a license of rankmath-pro that expires in 30 days.
func rtLicense(t *testing.T, e *env, email string) (licenseID, key string) {
	t.Helper()
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: email, Products: []string{"rankmath-pro"}, MaxSeats: ptr(3), ExpirationDate: futureDate(30 * 24 * time.Hour)})
	return p.Licenses[0].ID, p.LicenseKey.Key
}

func TestRetryLifecycleAfterCommitThenFail(t *testing.T) {
	t.Parallel()
	e := start(t)
	cases := []struct {
		action string
		body   string
		setup  func(id string)
		status string
	}{
		{"suspend", `{"reason":"chargeback"}`, nil, "suspended"},
		{"resume", `{"reason":"paid"}`, func(id string) {
			expectOK(t, e.post(t, actionPath(id, "suspend"), rmKey, `{}`), http.StatusOK, nil)
		}, "valid"},
		{"cancel", `{"reason":"refund"}`, nil, "cancelled"},
		{"renew", `{"expiration_date":"` + futureDate(400*24*time.Hour) + `"}`, nil, "valid"},
	}
	for i, c := range cases {
		id, _ := rtLicense(t, e, c.action+"@example.com")
		if c.setup != nil {
			c.setup(id)
		}
		req := call{method: http.MethodPost, path: actionPath(id, c.action), apiKey: rmKey, body: []byte(c.body)}
		events := rtEventsOf(t, e, id)
		if i == 0 {
			// Without a key, the retry of a committed suspension is refused
			// as a transition the license cannot make.
			other, _ := rtLicense(t, e, "nokey-suspend@example.com")
			plain := call{method: http.MethodPost, path: actionPath(other, "suspend"), apiKey: rmKey, body: []byte(c.body)}
			rtCommitThenFail(t, e, func() { fltUnavailable(t, "", e.do(t, plain)) })
			checkError(t, e.do(t, plain), http.StatusConflict, "invalid_transition")
		}
		rtCommitThenFail(t, e, func() { fltUnavailable(t, "", e.do(t, rtWith(req, c.action+"-1"))) })
		got := e.do(t, rtWith(req, c.action+"-1"))
		rtReplayed(t, got, http.StatusOK, nil)
		var l licenseDetailJSON
		expectOK(t, got, http.StatusOK, &l)
		require.Equal(t, c.status, l.Status, c.action)
		e.unchanged(t, func() { rtReplayed(t, e.do(t, rtWith(req, c.action+"-1")), http.StatusOK, got.body) })
		require.Equal(t, events+1, rtEventsOf(t, e, id), "%s: made once", c.action)
	}
}

func TestRetrySeatFreeAfterCommitThenFail(t *testing.T) {
	t.Parallel()
	e := start(t)
	free := func(activation string) call {
		return call{method: http.MethodDelete, path: licensePath(demo.RankMathProLicense) + "/activations/" + activation, apiKey: rmKey}
	}
	// Another seat, freed without a key: the retry finds it gone.
	var act struct {
		ActivationID string `json:"activation_id"`
	}
	expectOK(t, e.post(t, "/api/v1/product/licenses/activate", "", map[string]string{
		"license_key": demo.RankMathKey, "instance_identifier": "retry.example.com", "product": "rankmath-pro"}), http.StatusCreated, &act)
	rtCommitThenFail(t, e, func() { fltUnavailable(t, "", e.do(t, free(act.ActivationID))) })
	checkError(t, e.do(t, free(act.ActivationID)), http.StatusNotFound, "activation_not_found")

	// With a key, the retry replays: 200 and the license as the free left it.
	rtCommitThenFail(t, e, func() { fltUnavailable(t, "", e.do(t, rtWith(free(demo.DemoActivation), "free-1"))) })
	got := e.do(t, rtWith(free(demo.DemoActivation), "free-1"))
	rtReplayed(t, got, http.StatusOK, nil)
	var l licenseDetailJSON
	expectOK(t, got, http.StatusOK, &l)
	require.Equal(t, 0, l.SeatsUsed)
	e.unchanged(t, func() { rtReplayed(t, e.do(t, rtWith(free(demo.DemoActivation), "free-1")), http.StatusOK, got.body) })
}

// TestRetryOtherMutationsAfterCommitThenFail: product, release and webhook
// routes replay a committed change too.
func TestRetryOtherMutationsAfterCommitThenFail(t *testing.T) {
	t.Parallel()
	table := fltRoutes()
	for _, key := range []string{
		"POST /api/v1/brand/products",
		"POST /api/v1/brand/products/{product}/releases",
		"POST /api/v1/brand/products/{product}/releases/{version}/yank",
		"POST /api/v1/brand/products/{product}/releases/{version}/publish",
		"POST " + pathWebhooks,
		"POST " + pathWebhooks + "/{webhook}/rotate-secret",
		"DELETE " + pathWebhooks + "/{webhook}",
		"POST " + pathWebhooks + "/{webhook}/deliveries/{delivery}/retry",
	} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			e := start(t)
			rt := table[key].prepare(t, e)
			method, path, _ := strings.Cut(key, " ")
			c := rtWith(rt.call(t, rtRoute(method, path)), "once-1")
			before := e.snapshot(t)
			rtCommitThenFail(t, e, func() { fltUnavailable(t, key, e.do(t, c)) })
			require.NotEqual(t, lines(before), lines(e.snapshot(t)), "the engine committed the change")
			got := e.do(t, c)
			rtReplayed(t, got, rt.ok, nil)
			e.unchanged(t, func() { rtReplayed(t, e.do(t, c), rt.ok, got.body) })
		})
	}
}

// rtRoute is a template route by method and path.
func rtRoute(method, path string) stack.FunctionRoute {
	return stack.FunctionRoute{Route: stack.Route{Method: method, Path: path}}
}

// rtOther is, for each brand mutation, another request under the same key:
// another body where the route takes fields, else another resource of the
// same route (a seat, a release, an endpoint, a delivery).
func rtOther(t *testing.T, key string, c call) call {
	t.Helper()
	other := map[string]string{
		"POST /api/v1/brand/products":                    `{"slug":"other-product","name":"Other"}`,
		"POST /api/v1/brand/licenses/provision":          `{"customer_email":"other@example.com","products":["rankmath-pro"]}`,
		"POST /api/v1/brand/licenses/{id}/renew":         `{"expiration_date":"` + futureDate(500*24*time.Hour) + `"}`,
		"POST /api/v1/brand/licenses/{id}/suspend":       `{"reason":"other"}`,
		"POST /api/v1/brand/licenses/{id}/resume":        `{"reason":"other"}`,
		"POST /api/v1/brand/licenses/{id}/cancel":        `{"reason":"other"}`,
		"POST /api/v1/brand/products/{product}/releases": string(jsonOf(t, relBody("7.7.7", "stable", isoPackage))),
		"POST " + pathWebhooks:                           `{"url":"http://127.0.0.1:9/other","event_types":["*"]}`,
	}
	if b, ok := other[key]; ok {
		c.body = []byte(b)
		return c
	}
	switch key {
	case "DELETE /api/v1/brand/licenses/{id}/activations/{activation_id}":
		c.path = licensePath(demo.RankMathProLicense) + "/activations/act_otherseat22222222222"
		return c
	case "POST /api/v1/brand/products/{product}/releases/{version}/publish", "POST /api/v1/brand/products/{product}/releases/{version}/yank":
		// Another product's release.
		action := c.path[strings.LastIndexByte(c.path, '/'):]
		c.path = pathProducts + "/content-ai/releases/" + demo.ReleaseVersion + action
		return c
	case "POST " + pathWebhooks + "/{webhook}/deliveries/{delivery}/retry":
		c.path = pathWebhooks + "/" + whTestID + "/deliveries/" + licensing.DeliveryID(whTestAt.Add(time.Second), whTestEvent) + "/retry"
		return c
	case "DELETE " + pathWebhooks + "/{webhook}", "POST " + pathWebhooks + "/{webhook}/rotate-secret":
		c.path = strings.Replace(c.path, whTestID, "wh_otherwebhook22222222", 1)
		return c
	}
	// A brand route that changes something and takes no key would land here.
	t.Fatalf("%s: no other request under the same key: add one to rtOther", key)
	return c
}

// rtWithoutKey is the route's body without its idempotency_key, if any.
func rtWithoutKey(t *testing.T, rt fltRoute) string {
	t.Helper()
	if rt.form || !strings.Contains(rt.body, "idempotency_key") {
		return rt.body
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(rt.body), &m))
	delete(m, "idempotency_key")
	return string(jsonOf(t, m))
}

// TestIdempotencyOnEveryBrandMutation: every brand route that changes
// something replays the same request under the same key, refuses another
// request under it (422), and answers 409 request_in_progress with a
// Retry-After while an attempt holds it.
func TestIdempotencyOnEveryBrandMutation(t *testing.T) {
	t.Parallel()
	table := fltRoutes()
	n := 0
	for _, r := range fltTemplateRoutes(t) {
		key := fltKey(r)
		rt := table[key]
		if !rt.brand || r.Method == http.MethodGet {
			continue
		}
		n++
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			e := start(t)
			rt := rt.prepare(t, e)
			rt.body = rtWithoutKey(t, rt)
			c := rtWith(rt.call(t, r), "same-1")
			first := e.do(t, c)
			require.Equal(t, rt.ok, first.status, "body: %s", first.body)
			require.Empty(t, first.header.Get("Idempotent-Replayed"))
			e.unchanged(t, func() { rtReplayed(t, e.do(t, c), rt.ok, first.body) })

			// The key in the body works as the header does.
			if len(c.body) > 0 && !rt.form {
				var m map[string]any
				require.NoError(t, json.Unmarshal(c.body, &m))
				m["idempotency_key"] = "same-1"
				inBody := rt.call(t, r)
				inBody.body = jsonOf(t, m)
				e.unchanged(t, func() { rtReplayed(t, e.do(t, inBody), rt.ok, first.body) })
				// Both, disagreeing: refused.
				expectInvalid(t, e, rtWith(inBody, "same-2"), "idempotency_key")
			}

			expectError(t, e, rtOther(t, key, c), http.StatusUnprocessableEntity, "idempotency_key_reused")
			expectInvalid(t, e, rtWith(c, "not a key"), "idempotency_key")

			// An attempt whose claim committed but was never answered (nor
			// released) holds the key until its lock runs out.
			e2 := start(t)
			rt2 := table[key].prepare(t, e2)
			rt2.body = rtWithoutKey(t, rt2)
			c2 := rtWith(rt2.call(t, r), "held-1")
			func() {
				e2.srv.Engine.EmulateCommitThenFailure("PutItem")
				defer e2.srv.Engine.EmulateFailure(miniserver.FailureConditionNone)
				fltUnavailable(t, key, e2.do(t, c2))
			}()
			e2.unchanged(t, func() { rtInProgress(t, e2.do(t, c2)) })
		})
	}
	require.Positive(t, n)
}

// rtHold is a DynamoDB endpoint in front of an engine that holds the
// service's next TransactWriteItems until the service gives up on it.
type rtHold struct {
	engine *localdb.Engine
	proxy  *httputil.ReverseProxy
	armed  atomic.Bool
	commit bool        // commit the held write as soon as the service gave up
	held   chan []byte // the held write's body, once the service gave up
	// holding: a write is held; with commit, the service's DeleteItem (its
	// release of the key) waits for applied, so that the write commits first.
	holding atomic.Bool
	applied chan struct{}
}

func (h *rtHold) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if h.commit && h.holding.Load() && strings.HasSuffix(target, ".DeleteItem") {
		<-h.applied
	}
	if !strings.HasSuffix(target, ".TransactWriteItems") || !h.armed.CompareAndSwap(true, false) {
		h.proxy.ServeHTTP(w, r)
		return
	}
	h.holding.Store(true)
	body, _ := io.ReadAll(r.Body)
	<-r.Context().Done() // the service's deadline passed: it answers 503
	if h.commit {
		h.apply(body)
		close(h.applied)
	}
	h.held <- body
}

// apply sends a write to the engine as it was made.
func (h *rtHold) apply(body []byte) int {
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.TransactWriteItems")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	rec := httptest.NewRecorder()
	h.engine.ServeHTTP(rec, req)
	return rec.Code
}

// TestRetryOfSlowSuspension: a suspension that answered 503 at its deadline
// while its transaction was still on its way. Whether the transaction then
// commits before the key is released (the retry replays) or after (it is
// refused: the retry makes the change), the change is made once and the
// retry never meets invalid_transition.
func TestRetryOfSlowSuspension(t *testing.T) {
	t.Parallel()
	for _, commitFirst := range []bool{true, false} {
		name := map[bool]string{true: "committed before the release", false: "arrives after the release"}[commitFirst]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			engine := localdb.New()
			backend := httptest.NewServer(engine)
			t.Cleanup(backend.Close)
			u, err := url.Parse(backend.URL)
			require.NoError(t, err)
			hold := &rtHold{engine: engine, proxy: httputil.NewSingleHostReverseProxy(u), commit: commitFirst, held: make(chan []byte, 1), applied: make(chan struct{})}
			front := httptest.NewServer(hold)
			t.Cleanup(front.Close)
			e := start(t, func(o *devserver.Options) { o.Config.DynamoDBEndpoint = front.URL })

			id, _ := rtLicense(t, e, "slow@example.com")
			events := rtEventsOf(t, e, id)
			req := rtWith(call{method: http.MethodPost, path: actionPath(id, "suspend"), apiKey: rmKey, body: []byte(`{"reason":"slow"}`)}, "slow-1")
			hold.armed.Store(true)
			fltUnavailable(t, "", e.do(t, req))
			late := <-hold.held
			if !commitFirst {
				// The write lands after the service released the key: its
				// claim is gone, so it is refused and changes nothing.
				e.unchanged(t, func() { require.Equal(t, http.StatusBadRequest, hold.apply(late), "refused") })
			}
			got := e.do(t, req)
			require.Equal(t, http.StatusOK, got.status, "body: %s", got.body)
			require.Equal(t, map[bool]string{true: "true", false: ""}[commitFirst], got.header.Get("Idempotent-Replayed"))
			var l licenseDetailJSON
			expectOK(t, got, http.StatusOK, &l)
			require.Equal(t, "suspended", l.Status)
			require.Equal(t, events+1, rtEventsOf(t, e, id), "suspended once")
		})
	}
}
