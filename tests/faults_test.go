package tests

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"
	miniserver "github.com/truora/minidyn/server"

	"github.com/clsvc/license-service/internal/demo"
	"github.com/clsvc/license-service/internal/stack"
)

// Faults: every route of template.yaml while DynamoDB fails (the whole
// engine, or only the table) and with a Lambda deadline already past.

const fltHealthRoute = "GET " + pathHealth

// fltRoute is a valid request for one route against the demo data.
type fltRoute struct {
	params map[string]string // path parameters
	query  string            // raw query, without "?"
	body   string            // empty: none
	brand  bool              // sends rankmath's API key
	ok     int               // the answer while DynamoDB works
	// static routes read nothing from DynamoDB (the JWKS): they answer ok
	// while it fails.
	static bool
	// form routes take form bodies (the EDD endpoint), not JSON.
	form bool
	// setup puts the demo data in a state where the request is valid.
	setup func(t *testing.T, e *env)
}

// fltRoutes holds a valid request for every route, keyed "METHOD path" as
// template.yaml declares them.
func fltRoutes() map[string]fltRoute {
	license := map[string]string{"id": demo.RankMathProLicense}
	seat := func(site string) string {
		return `{"license_key":"` + demo.RankMathKey + `","instance_identifier":"` + site + `","product":"rankmath-pro"}`
	}
	return map[string]fltRoute{
		fltHealthRoute:                {ok: http.StatusOK},
		"POST /api/v1/brand/products": {brand: true, ok: http.StatusCreated, body: `{"slug":"fault-product","name":"Fault Product"}`},
		"GET /api/v1/brand/products":  {brand: true, ok: http.StatusOK},
		"POST /api/v1/brand/licenses/provision": {brand: true, ok: http.StatusCreated,
			body: `{"customer_email":"fault@example.com","products":["rankmath-pro","content-ai"],"max_seats":2,"idempotency_key":"fault-1"}`},
		"GET /api/v1/brand/licenses":      {brand: true, ok: http.StatusOK, query: "email=" + url.QueryEscape(demo.DemoCustomer)},
		"GET /api/v1/brand/licenses/{id}": {brand: true, ok: http.StatusOK, params: license},
		"POST /api/v1/brand/licenses/{id}/renew": {brand: true, ok: http.StatusOK, params: license,
			body: `{"expiration_date":"` + isoRenewTo() + `"}`},
		"POST /api/v1/brand/licenses/{id}/suspend": {brand: true, ok: http.StatusOK, params: license, body: `{"reason":"fault"}`},
		"POST /api/v1/brand/licenses/{id}/resume": {brand: true, ok: http.StatusOK, params: license, body: `{"reason":"fault over"}`,
			setup: func(t *testing.T, e *env) {
				expectOK(t, e.post(t, actionPath(demo.RankMathProLicense, "suspend"), rmKey, `{}`), http.StatusOK, nil)
			}},
		"POST /api/v1/brand/licenses/{id}/cancel": {brand: true, ok: http.StatusOK, params: license, body: `{"reason":"fault"}`},
		"GET /api/v1/brand/licenses/{id}/events":  {brand: true, ok: http.StatusOK, params: license, query: "limit=10"},
		"DELETE /api/v1/brand/licenses/{id}/activations/{activation_id}": {brand: true, ok: http.StatusOK,
			params: map[string]string{"id": demo.RankMathProLicense, "activation_id": demo.DemoActivation}},
		"POST /api/v1/product/licenses/activate":   {ok: http.StatusCreated, body: seat("fault.example.com")},
		"POST /api/v1/product/licenses/deactivate": {ok: http.StatusOK, body: seat(demo.DemoSite)},
		"GET /api/v1/product/keys":                 {ok: http.StatusOK, static: true},
		"GET /api/v1/product/edd": {ok: http.StatusOK,
			query: "edd_action=check_license&license=" + demo.RankMathKey + "&item_name=Rank+Math+Pro&url=" + demo.DemoSite},
		"POST /api/v1/product/edd": {ok: http.StatusOK, form: true,
			body: "edd_action=activate_license&license=" + demo.RankMathKey + "&item_name=Rank+Math+Pro&url=fault.example.com"},
		"GET /api/v1/product/licenses/check": {ok: http.StatusOK,
			query: "license_key=" + demo.RankMathKey + "&instance_identifier=" + demo.DemoSite + "&product=rankmath-pro"},
	}
}

// fltTemplateRoutes returns every route of template.yaml.
func fltTemplateRoutes(t *testing.T) []stack.FunctionRoute {
	t.Helper()
	tpl, err := stack.Load(templatePath(t))
	require.NoError(t, err)
	routes := tpl.Routes()
	require.NotEmpty(t, routes)
	return routes
}

func fltKey(r stack.FunctionRoute) string { return r.Method + " " + r.Path }

// fltPath fills the template path's parameters.
func fltPath(t *testing.T, tpl string, params map[string]string) string {
	t.Helper()
	p := tpl
	for k, v := range params {
		p = strings.ReplaceAll(p, "{"+k+"}", url.PathEscape(v))
	}
	require.NotContains(t, p, "{", "path %s lacks parameters", tpl)
	return p
}

// call is the route's request over HTTP.
func (rt fltRoute) call(t *testing.T, r stack.FunctionRoute) call {
	t.Helper()
	c := call{method: r.Method, path: fltPath(t, r.Path, rt.params)}
	if rt.query != "" {
		c.path += "?" + rt.query
	}
	if rt.brand {
		c.apiKey = rmKey
	}
	if rt.body != "" {
		c.body = []byte(rt.body)
	}
	return c
}

// event is the route's request as the API Gateway proxy event its function
// receives.
func (rt fltRoute) event(t *testing.T, r stack.FunctionRoute) events.APIGatewayProxyRequest {
	t.Helper()
	q, err := url.ParseQuery(rt.query)
	require.NoError(t, err)
	req := events.APIGatewayProxyRequest{
		Resource:       r.Path,
		Path:           fltPath(t, r.Path, rt.params),
		HTTPMethod:     r.Method,
		Headers:        map[string]string{"Content-Type": "application/json"},
		PathParameters: rt.params,
		Body:           rt.body,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: "fault-deadline", Stage: "local", HTTPMethod: r.Method, ResourcePath: r.Path,
		},
	}
	if rt.brand {
		req.Headers["X-API-Key"] = rmKey
	}
	if len(q) > 0 {
		req.QueryStringParameters = map[string]string{}
		req.MultiValueQueryStringParameters = map[string][]string{}
		for k, vs := range q {
			req.QueryStringParameters[k] = vs[len(vs)-1]
			req.MultiValueQueryStringParameters[k] = vs
		}
	}
	return req
}

func TestFaultTableCoversEveryRoute(t *testing.T) {
	t.Parallel()
	table := fltRoutes()
	var keys []string
	for _, r := range fltTemplateRoutes(t) {
		keys = append(keys, fltKey(r))
		if _, ok := table[fltKey(r)]; !ok {
			t.Errorf("route %s of template.yaml has no entry in fltRoutes: add a valid request for it", fltKey(r))
		}
	}
	for k := range table {
		if !slices.Contains(keys, k) {
			t.Errorf("fltRoutes has an entry for %s, which is not a route of template.yaml", k)
		}
	}
}

// fltInternal must appear nowhere in an answer given while DynamoDB fails.
var fltInternal = regexp.MustCompile(`(?i)dynamodb|minidyn|arn:|emulated|smithy|internalservererror|\baws\b|127\.0\.0\.1|localhost|deadline|context|goroutine|\.go:\d`)

// fltHealthInternal must not appear in health's answer.
var fltHealthInternal = regexp.MustCompile(`(?i)minidyn|arn:|emulated|smithy|internalservererror|operation error|127\.0\.0\.1|localhost|deadline|goroutine|\.go:\d`)

// fltUnavailable requires the contract's 503: service_unavailable in the
// JSON error shape, a Retry-After, and no internal details.
func fltUnavailable(t *testing.T, key string, r reply) {
	t.Helper()
	checkError(t, r, http.StatusServiceUnavailable, "service_unavailable")
	require.NotRegexp(t, fltInternal, string(r.body), "the answer leaks internals")
	ra := r.header.Get("Retry-After")
	require.NotEmpty(t, ra, "no Retry-After: %s", r.body)
	if secs, err := strconv.Atoi(ra); err == nil {
		require.Positive(t, secs, "Retry-After %q", ra)
	} else {
		_, err := http.ParseTime(ra)
		require.NoError(t, err, "Retry-After %q is neither seconds nor an HTTP date", ra)
	}
	if key == "GET /api/v1/product/licenses/check" {
		// An edge cache must not keep serving the outage.
		require.Contains(t, r.header.Get("Cache-Control"), "no-store")
	}
}

// fltHealth requires health's answer: 503 {"status":"degraded"} while
// DynamoDB is unreachable, 200 {"status":"ok"} otherwise.
func fltHealth(t *testing.T, r reply, down bool) {
	t.Helper()
	var got struct {
		Status string `json:"status"`
	}
	if !down {
		expectOK(t, r, http.StatusOK, &got)
		require.Equal(t, "ok", got.Status)
		return
	}
	expectOK(t, r, http.StatusServiceUnavailable, &got)
	require.Equal(t, "degraded", got.Status, "body: %s", r.body)
	// Health may name what is down, but not the error's details.
	require.NotRegexp(t, fltHealthInternal, string(r.body), "the answer leaks internals")
}

func TestFaultEngineDown(t *testing.T) {
	t.Parallel()
	table := fltRoutes()
	modes := []struct {
		name      string
		fail, fix func(e *env)
	}{
		{"global",
			func(e *env) { e.srv.Engine.EmulateFailure(miniserver.FailureConditionInternalServerError) },
			func(e *env) { e.srv.Engine.EmulateFailure(miniserver.FailureConditionNone) }},
		{"table",
			func(e *env) {
				e.srv.Engine.EmulateFailureForTable(e.srv.Service.Store.Table(), miniserver.FailureConditionInternalServerError)
			},
			func(e *env) {
				e.srv.Engine.EmulateFailureForTable(e.srv.Service.Store.Table(), miniserver.FailureConditionNone)
			}},
	}
	for _, r := range fltTemplateRoutes(t) {
		key := fltKey(r)
		rt, ok := table[key]
		if !ok {
			t.Errorf("route %s has no entry (see TestFaultTableCoversEveryRoute)", key)
			continue
		}
		for _, m := range modes {
			t.Run(key+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				e := start(t)
				if rt.setup != nil {
					rt.setup(t, e)
				}
				c := rt.call(t, r)
				before := e.snapshot(t)
				got := func() reply {
					m.fail(e)
					defer m.fix(e)
					return e.do(t, c)
				}()
				require.Equal(t, lines(before), lines(e.snapshot(t)), "the failed request changed the table")
				switch {
				case key == fltHealthRoute:
					fltHealth(t, got, true)
				case rt.static:
					require.Equal(t, rt.ok, got.status, "a static answer does not need DynamoDB: %s", got.body)
				default:
					fltUnavailable(t, key, got)
				}

				// DynamoDB is back: the same request works, as if the
				// failed one had never been made.
				again := e.do(t, c)
				if key == fltHealthRoute {
					fltHealth(t, again, false)
					return
				}
				require.Equal(t, rt.ok, again.status, "%s %s after recovery: %s", c.method, c.path, again.body)
				require.True(t, hasJSONContentType(again.header) || again.status == http.StatusNoContent)
				require.Empty(t, again.header.Get("Idempotent-Replayed"), "the failed request recorded an answer")
			})
		}
	}
}

// fltReply turns a Lambda proxy response into a reply.
func fltReply(resp events.APIGatewayProxyResponse) reply {
	h := http.Header{}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return reply{status: resp.StatusCode, header: h, body: []byte(resp.Body)}
}

// fltPastDeadline calls a handler in-process with a Lambda context whose
// deadline has already passed; it must answer at once.
func fltPastDeadline(t *testing.T, h func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error), req events.APIGatewayProxyRequest) reply {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	type answer struct {
		resp events.APIGatewayProxyResponse
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := h(ctx, req)
		done <- answer{resp, err}
	}()
	select {
	case a := <-done:
		require.NoError(t, a.err, "a handler answers errors as HTTP responses")
		return fltReply(a.resp)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s %s: no answer 20s after the deadline had passed", req.HTTPMethod, req.Path)
		return reply{}
	}
}

func TestFaultDeadlinePassedCheck(t *testing.T) {
	t.Parallel()
	e := start(t)
	key := "GET /api/v1/product/licenses/check"
	r := stack.FunctionRoute{Route: stack.Route{Method: http.MethodGet, Path: "/api/v1/product/licenses/check"}}
	req := fltRoutes()[key].event(t, r)
	var got reply
	e.unchanged(t, func() {
		got = fltPastDeadline(t, e.srv.Service.API.CheckLicense, req)
	})
	fltUnavailable(t, key, got)

	// With time left the same request is answered.
	resp, err := e.srv.Service.API.CheckLicense(context.Background(), req)
	require.NoError(t, err)
	expectOK(t, fltReply(resp), http.StatusOK, nil)
}

func TestFaultDeadlinePassedEveryRoute(t *testing.T) {
	t.Parallel()
	table := fltRoutes()
	for _, r := range fltTemplateRoutes(t) {
		key := fltKey(r)
		rt, ok := table[key]
		if !ok {
			t.Errorf("route %s has no entry (see TestFaultTableCoversEveryRoute)", key)
			continue
		}
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			e := start(t)
			if rt.setup != nil {
				rt.setup(t, e)
			}
			h := e.srv.Service.API.Handlers()[r.UseCase]
			require.NotNil(t, h, "no handler for use case %q", r.UseCase)
			var got reply
			e.unchanged(t, func() { got = fltPastDeadline(t, h, rt.event(t, r)) })
			if key == fltHealthRoute {
				fltHealth(t, got, true)
				return
			}
			if rt.static {
				require.Equal(t, rt.ok, got.status)
				return
			}
			fltUnavailable(t, key, got)
		})
	}
}
