package tests

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"
	miniserver "github.com/truora/minidyn/server"

	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/dev/locals3"
	"github.com/clsvc/license-service/internal/dev/stack"
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
	// queryOf, when set, makes the query after setup, from what the
	// service handed out (a download link of get_version).
	queryOf func(t *testing.T, e *env) string
	// actions are further valid requests of the same route (the EDD
	// endpoint's get_version and package_download), each a case of its own.
	actions map[string]fltRoute
	// s3 marks routes that call S3 (publish reads the uploaded package
	// back): while S3 fails they answer 503 and change nothing. Every other
	// route at most presigns URLs, which needs no S3 call, and works on.
	s3 bool
}

// fltRoutes holds a valid request for every route, keyed "METHOD path" as
// template.yaml declares them.
func fltRoutes() map[string]fltRoute {
	license := map[string]string{"id": demo.RankMathProLicense}
	seat := func(site string) string {
		return `{"license_key":"` + demo.RankMathKey + `","instance_identifier":"` + site + `","product":"rankmath-pro"}`
	}
	product := map[string]string{"product": "rankmath-pro"}
	release := func(version string) map[string]string {
		return map[string]string{"product": "rankmath-pro", "version": version}
	}
	createRelease, err := json.Marshal(relBody(isoRelease, "stable", isoPackage))
	if err != nil {
		panic(err)
	}
	getVersion := fltGetVersion()
	webhook := map[string]string{"webhook": whTestID}
	table := map[string]fltRoute{
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
		"GET /api/v1/openapi.json":                 {ok: http.StatusOK, static: true},
		"GET /api/v1/product/edd": {ok: http.StatusOK,
			query: "edd_action=check_license&license=" + demo.RankMathKey + "&item_name=Rank+Math+Pro&url=" + demo.DemoSite},
		"POST /api/v1/product/edd": {ok: http.StatusOK, form: true,
			body: "edd_action=activate_license&license=" + demo.RankMathKey + "&item_name=Rank+Math+Pro&url=fault.example.com"},
		"GET /api/v1/product/licenses/check": {ok: http.StatusOK,
			query: "license_key=" + demo.RankMathKey + "&instance_identifier=" + demo.DemoSite + "&product=rankmath-pro"},
		"POST /api/v1/brand/products/{product}/releases": {brand: true, ok: http.StatusCreated, params: product,
			body: string(createRelease)},
		"GET /api/v1/brand/products/{product}/releases": {brand: true, ok: http.StatusOK, params: product},
		"POST /api/v1/brand/products/{product}/releases/{version}/publish": {brand: true, ok: http.StatusOK, s3: true,
			params: release(isoRelease),
			// Created and uploaded: only the publish is left to do.
			setup: func(t *testing.T, e *env) { isoPendingRelease(t, e, true) }},
		"POST /api/v1/brand/products/{product}/releases/{version}/yank": {brand: true, ok: http.StatusOK,
			params: release(demo.ReleaseVersion)},
		// The demo seat on rankmath-pro: a package is offered.
		"GET /api/v1/product/updates": {ok: http.StatusOK,
			query: "license_key=" + demo.RankMathKey + "&instance_identifier=" + demo.DemoSite + "&product=rankmath-pro&version=0.9.0"},
		// rankmath's seeded endpoint and delivery (whSeed); a retry posts
		// to a receiver on this machine.
		"POST " + pathWebhooks:                              {brand: true, ok: http.StatusCreated, body: `{"url":"http://127.0.0.1:9/hook","event_types":["*"]}`},
		"GET " + pathWebhooks:                               {brand: true, ok: http.StatusOK, setup: whSeed},
		"DELETE " + pathWebhooks + "/{webhook}":             {brand: true, ok: http.StatusOK, setup: whSeed, params: webhook},
		"POST " + pathWebhooks + "/{webhook}/rotate-secret": {brand: true, ok: http.StatusOK, setup: whSeed, params: webhook, body: `{}`},
		"GET " + pathWebhooks + "/{webhook}/deliveries":     {brand: true, ok: http.StatusOK, setup: whSeed, params: webhook},
		"POST " + pathWebhooks + "/{webhook}/deliveries/{delivery}/retry": {brand: true, ok: http.StatusOK, setup: whSeed, body: `{}`,
			params: map[string]string{"webhook": whTestID, "delivery": whTestDelivery()}},
	}
	// The EDD endpoint's update actions: get_version answers 200 for any
	// license, so only a 503 tells the updater that the service failed,
	// rather than that its license is unknown; package_download must not
	// call a failure an expired link either.
	edd := table["GET /api/v1/product/edd"]
	edd.actions = map[string]fltRoute{
		"get_version":      {ok: http.StatusOK, query: getVersion.Encode()},
		"package_download": {ok: http.StatusFound, queryOf: fltDownloadQuery},
	}
	table["GET /api/v1/product/edd"] = edd
	edd = table["POST /api/v1/product/edd"]
	edd.actions = map[string]fltRoute{"get_version": {ok: http.StatusOK, form: true, body: getVersion.Encode()}}
	table["POST /api/v1/product/edd"] = edd
	return table
}

// fltDownloadQuery asks get_version for the demo seat's download link and
// returns its query (edd_action=package_download&id=…).
func fltDownloadQuery(t *testing.T, e *env) string {
	t.Helper()
	r := e.get(t, pathEDD+"?"+fltGetVersion().Encode(), "")
	var a struct {
		DownloadLink string `json:"download_link"`
	}
	expectOK(t, r, http.StatusOK, &a)
	require.NotEmpty(t, a.DownloadLink, "no download link for the demo seat: %s", r.body)
	u, err := url.Parse(a.DownloadLink)
	require.NoError(t, err)
	require.Equal(t, "package_download", u.Query().Get("edd_action"), "download link %s", a.DownloadLink)
	return u.RawQuery
}

// fltGetVersion is EDD_SL_Plugin_Updater's get_version for the demo seat.
func fltGetVersion() url.Values {
	return url.Values{"edd_action": {"get_version"}, "license": {demo.RankMathKey}, "item_name": {"Rank Math Pro"},
		"url": {"https://" + demo.DemoSite}, "version": {"0.9.0"}}
}

// cases are the route's requests: its own (named "") and its actions.
func (rt fltRoute) cases() map[string]fltRoute {
	out := map[string]fltRoute{"": rt}
	for name, a := range rt.actions {
		out[name] = a
	}
	return out
}

// fltCaseName names a case's subtest: the route, then the action, if any.
func fltCaseName(key, action string) string {
	if action == "" {
		return key
	}
	return key + "/" + action
}

// prepare runs setup and queryOf: the request is valid now.
func (rt fltRoute) prepare(t *testing.T, e *env) fltRoute {
	t.Helper()
	if rt.setup != nil {
		rt.setup(t, e)
	}
	if rt.queryOf != nil {
		rt.query = rt.queryOf(t, e)
	}
	return rt
}

// fltNoRedirect keeps a redirect (package_download's 302) as the answer.
func fltNoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

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
	if rt.form {
		c.header = map[string]string{"Content-Type": rt.contentType()}
	}
	return c
}

// contentType is the media type of the route's body.
func (rt fltRoute) contentType() string {
	if rt.form {
		return "application/x-www-form-urlencoded"
	}
	return "application/json"
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
		Headers:        map[string]string{"Content-Type": rt.contentType()},
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
	if strings.HasPrefix(key, "GET /api/v1/product/") {
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
		for action, rt := range rt.cases() {
			for _, m := range modes {
				t.Run(fltCaseName(key, action)+"/"+m.name, func(t *testing.T) {
					t.Parallel()
					fltEngineDown(t, key, r, rt, m.fail, m.fix)
				})
			}
		}
	}
}

// fltEngineDown sends one valid request while DynamoDB fails, then again
// once it works.
func fltEngineDown(t *testing.T, key string, r stack.FunctionRoute, rt fltRoute, fail, fix func(e *env)) {
	e := start(t)
	e.client.CheckRedirect = fltNoRedirect
	rt = rt.prepare(t, e)
	c := rt.call(t, r)
	before := e.snapshot(t)
	got := func() reply {
		fail(e)
		defer fix(e)
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
		for action, rt := range rt.cases() {
			t.Run(fltCaseName(key, action), func(t *testing.T) {
				t.Parallel()
				e := start(t)
				rt := rt.prepare(t, e)
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
}

// The release bucket failing: the embedded S3 server behind a switch.

// fltS3Mode is how S3 fails.
type fltS3Mode int32

const (
	fltS3Up      fltS3Mode = iota
	fltS3Error             // every call answers 500 InternalError, as S3 does in an outage
	fltS3Dropped           // every connection is closed unanswered, as when the server stops
)

// fltS3 is the release bucket's S3 endpoint: the embedded S3 server, or a
// failure.
type fltS3 struct {
	s3     *locals3.Server
	mode   atomic.Int32
	failed atomic.Int64 // S3 calls made while failing
}

func (f *fltS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch fltS3Mode(f.mode.Load()) {
	case fltS3Error:
		f.failed.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>`+
			`<Message>We encountered an internal error. Please try again.</Message></Error>`)
	case fltS3Dropped:
		f.failed.Add(1)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
	default:
		f.s3.ServeHTTP(w, r)
	}
}

func (f *fltS3) fail(m fltS3Mode) { f.mode.Store(int32(m)) }

// fltStartS3 starts the service with its release bucket behind a switch.
func fltStartS3(t *testing.T) (*env, *fltS3) {
	t.Helper()
	s3, err := locals3.New(devserver.DefaultReleaseBucket)
	require.NoError(t, err)
	f := &fltS3{s3: s3}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	e := start(t, func(o *devserver.Options) { o.Config.S3Endpoint = srv.URL })
	return e, f
}

// TestFaultS3Down: while S3 fails, a route that calls it (publish reads the
// package back) answers 503 and publishes nothing; every other route,
// including those that hand out presigned URLs (create-release, the update
// checks, get_version), makes no S3 call and answers as usual.
func TestFaultS3Down(t *testing.T) {
	t.Parallel()
	table := fltRoutes()
	modes := []struct {
		name string
		mode fltS3Mode
	}{{"error", fltS3Error}, {"dropped", fltS3Dropped}}
	var s3Routes []string
	for _, r := range fltTemplateRoutes(t) {
		key := fltKey(r)
		rt, ok := table[key]
		if !ok {
			t.Errorf("route %s has no entry (see TestFaultTableCoversEveryRoute)", key)
			continue
		}
		for action, rt := range rt.cases() {
			if rt.s3 {
				s3Routes = append(s3Routes, fltCaseName(key, action))
			}
			for i, m := range modes {
				if !rt.s3 && i > 0 {
					continue // no S3 call: how S3 fails does not matter
				}
				t.Run(fltCaseName(key, action)+"/"+m.name, func(t *testing.T) {
					t.Parallel()
					e, s3 := fltStartS3(t)
					e.client.CheckRedirect = fltNoRedirect
					rt := rt.prepare(t, e)
					c := rt.call(t, r)
					before := e.snapshot(t)
					got := func() reply {
						s3.fail(m.mode)
						defer s3.fail(fltS3Up)
						return e.do(t, c)
					}()
					if !rt.s3 {
						require.Equal(t, rt.ok, got.status, "%s %s needs no S3 call: %s", c.method, c.path, got.body)
						require.Zero(t, s3.failed.Load(), "%s %s called S3: mark it s3 in fltRoutes", c.method, c.path)
						return
					}
					require.Positive(t, s3.failed.Load(), "%s %s made no S3 call: it is not an s3 route", c.method, c.path)
					require.Equal(t, lines(before), lines(e.snapshot(t)), "the failed request changed the table")
					fltUnavailable(t, key, got)

					// S3 is back: the same request works.
					again := e.do(t, c)
					require.Equal(t, rt.ok, again.status, "%s %s after recovery: %s", c.method, c.path, again.body)
				})
			}
		}
	}
	require.Equal(t, []string{"POST /api/v1/brand/products/{product}/releases/{version}/publish"}, s3Routes,
		"the routes that call S3")
}
