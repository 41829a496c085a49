package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/dev/stack"
)

// recorder is a fake Handler that remembers the event it received and
// answers with a fixed response or error.
type recorder struct {
	calls int
	got   events.APIGatewayProxyRequest
	resp  events.APIGatewayProxyResponse
	err   error
}

func (rec *recorder) handle(_ context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	rec.calls++
	rec.got = req
	return rec.resp, rec.err
}

// fn builds a function serving routes given as "METHOD /path".
func fn(useCase string, routes ...string) stack.Function {
	f := stack.Function{LogicalID: useCase + "Function", UseCase: useCase}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		f.Routes = append(f.Routes, stack.Route{EventName: useCase + method, Method: method, Path: path})
	}
	return f
}

// newAPI builds the emulator over functions, with one recorder per use case
// answering 200 "ok".
func newAPI(t *testing.T, opts Options, functions ...stack.Function) (http.Handler, map[string]*recorder) {
	t.Helper()
	recs := make(map[string]*recorder)
	handlers := make(map[string]Handler)
	for _, f := range functions {
		rec := &recorder{resp: events.APIGatewayProxyResponse{StatusCode: 200, Body: "ok"}}
		recs[f.UseCase], handlers[f.UseCase] = rec, rec.handle
	}
	h, err := New(functions, handlers, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h, recs
}

func serve(h http.Handler, method, target string, body io.Reader) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, body))
	return w
}

func TestRouting(t *testing.T) {
	h, recs := newAPI(t, Options{},
		fn("get", "GET /licenses/{id}"),
		fn("current", "GET /licenses/current"),
		fn("seat", "DELETE /licenses/{id}/seats/{seat}"),
		fn("proxy", "ANY /files/{path+}"),
		fn("root", "GET /"),
	)
	tests := []struct {
		method, target string
		useCase        string
		resource       string
		params         map[string]string
	}{
		{"GET", "/licenses/abc", "get", "/licenses/{id}", map[string]string{"id": "abc"}},
		{"GET", "/licenses/a%20b%2Fc", "get", "/licenses/{id}", map[string]string{"id": "a b/c"}},
		{"GET", "/licenses/abc/", "get", "/licenses/{id}", map[string]string{"id": "abc"}},
		{"GET", "/licenses/current", "current", "/licenses/current", nil},
		{"DELETE", "/licenses/L1/seats/S%3A2", "seat", "/licenses/{id}/seats/{seat}", map[string]string{"id": "L1", "seat": "S:2"}},
		{"PATCH", "/files/a/b/c.txt", "proxy", "/files/{path+}", map[string]string{"path": "a/b/c.txt"}},
		{"GET", "/", "root", "/", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			for _, rec := range recs {
				rec.calls = 0
			}
			w := serve(h, tt.method, tt.target, nil)
			if w.Code != 200 {
				t.Fatalf("status = %d, body %s", w.Code, w.Body)
			}
			rec := recs[tt.useCase]
			if rec.calls != 1 {
				t.Fatalf("use case %s called %d times", tt.useCase, rec.calls)
			}
			if rec.got.Resource != tt.resource || rec.got.RequestContext.ResourcePath != tt.resource {
				t.Errorf("Resource = %q, ResourcePath = %q, want %q", rec.got.Resource, rec.got.RequestContext.ResourcePath, tt.resource)
			}
			if !reflect.DeepEqual(rec.got.PathParameters, tt.params) {
				t.Errorf("PathParameters = %#v, want %#v", rec.got.PathParameters, tt.params)
			}
			if rec.got.HTTPMethod != tt.method {
				t.Errorf("HTTPMethod = %q, want %q", rec.got.HTTPMethod, tt.method)
			}
		})
	}
}

func TestRequestEvent(t *testing.T) {
	h, recs := newAPI(t, Options{Stage: "dev"}, fn("create", "POST /licenses/{id}"))
	r := httptest.NewRequest("POST", "/licenses/L1?tag=a&tag=b&limit=10", strings.NewReader(`{"seats":3}`))
	r.Header.Add("x-api-key", "k1")
	r.Header.Add("Accept", "text/plain")
	r.Header.Add("Accept", "application/json")
	r.Header.Set("User-Agent", "test-agent")
	r.RemoteAddr = "192.0.2.7:4321"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("status = %d", w.Code)
	}
	got := recs["create"].got

	if got.Path != "/licenses/L1" || got.Body != `{"seats":3}` || got.IsBase64Encoded {
		t.Errorf("Path = %q, Body = %q, IsBase64Encoded = %v", got.Path, got.Body, got.IsBase64Encoded)
	}
	wantHeaders := map[string]string{
		"X-Api-Key": "k1", "Accept": "application/json", "User-Agent": "test-agent", "Host": "example.com",
		"X-Forwarded-Proto": "http", // as API Gateway says https
	}
	if !reflect.DeepEqual(got.Headers, wantHeaders) {
		t.Errorf("Headers = %v, want %v", got.Headers, wantHeaders)
	}
	if want := []string{"text/plain", "application/json"}; !reflect.DeepEqual(got.MultiValueHeaders["Accept"], want) {
		t.Errorf("MultiValueHeaders[Accept] = %v, want %v", got.MultiValueHeaders["Accept"], want)
	}
	if want := map[string]string{"tag": "b", "limit": "10"}; !reflect.DeepEqual(got.QueryStringParameters, want) {
		t.Errorf("QueryStringParameters = %v, want %v", got.QueryStringParameters, want)
	}
	if want := map[string][]string{"tag": {"a", "b"}, "limit": {"10"}}; !reflect.DeepEqual(got.MultiValueQueryStringParameters, want) {
		t.Errorf("MultiValueQueryStringParameters = %v, want %v", got.MultiValueQueryStringParameters, want)
	}
	if got.StageVariables != nil {
		t.Errorf("StageVariables = %v, want nil", got.StageVariables)
	}

	rc := got.RequestContext
	if rc.Stage != "dev" || rc.Path != "/dev/licenses/L1" || rc.HTTPMethod != "POST" {
		t.Errorf("RequestContext stage/path/method = %q %q %q", rc.Stage, rc.Path, rc.HTTPMethod)
	}
	if rc.Identity.SourceIP != "192.0.2.7" || rc.Identity.UserAgent != "test-agent" {
		t.Errorf("Identity = %+v", rc.Identity)
	}
	if len(rc.RequestID) != 36 || strings.Count(rc.RequestID, "-") != 4 {
		t.Errorf("RequestID = %q, want a UUID", rc.RequestID)
	}
	if rc.RequestTimeEpoch <= 0 {
		t.Errorf("RequestTimeEpoch = %d", rc.RequestTimeEpoch)
	}

	// A second request gets a fresh ID; no query string gives nil maps.
	first := rc.RequestID
	serve(h, "POST", "/licenses/L2", nil)
	got = recs["create"].got
	if got.RequestContext.RequestID == first {
		t.Error("request IDs repeat")
	}
	if got.QueryStringParameters != nil || got.MultiValueQueryStringParameters != nil {
		t.Errorf("query maps = %v %v, want nil", got.QueryStringParameters, got.MultiValueQueryStringParameters)
	}
	if got.RequestContext.Stage != "dev" {
		t.Errorf("Stage = %q", got.RequestContext.Stage)
	}
}

func TestDefaultStage(t *testing.T) {
	h, recs := newAPI(t, Options{}, fn("x", "GET /x"))
	serve(h, "GET", "/x", nil)
	if rc := recs["x"].got.RequestContext; rc.Stage != "local" || rc.Path != "/local/x" {
		t.Errorf("Stage = %q, Path = %q", rc.Stage, rc.Path)
	}
}

func TestBinaryRequestBody(t *testing.T) {
	h, recs := newAPI(t, Options{}, fn("upload", "PUT /blob"))
	serve(h, "PUT", "/blob", bytes.NewReader([]byte{0xff, 0x00, 0xfe}))
	got := recs["upload"].got
	if !got.IsBase64Encoded || got.Body != "/wD+" {
		t.Errorf("Body = %q, IsBase64Encoded = %v; want base64 /wD+", got.Body, got.IsBase64Encoded)
	}
}

// errorBody decodes the {"error":{...}} body of a routing error.
func errorBody(t *testing.T, w *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	return body.Error.Code, body.Error.Message
}

func TestRoutingErrors(t *testing.T) {
	h, recs := newAPI(t, Options{MaxBodyBytes: 8},
		fn("get", "GET /licenses/{id}"),
		fn("del", "DELETE /licenses/{id}"),
		fn("post", "POST /upload"),
	)

	t.Run("404", func(t *testing.T) {
		for _, target := range []string{"/nope", "/licenses", "/licenses/a/b", "/licenses//"} {
			w := serve(h, "GET", target, nil)
			if w.Code != 404 {
				t.Errorf("GET %s: status = %d, want 404", target, w.Code)
				continue
			}
			code, msg := errorBody(t, w)
			if code != "route_not_found" || msg != "no route for GET "+target {
				t.Errorf("GET %s: error = %q %q", target, code, msg)
			}
		}
	})

	t.Run("405", func(t *testing.T) {
		w := serve(h, "PUT", "/licenses/1", nil)
		if w.Code != 405 {
			t.Fatalf("status = %d, want 405", w.Code)
		}
		if allow := w.Header().Get("Allow"); allow != "DELETE, GET" {
			t.Errorf("Allow = %q, want %q", allow, "DELETE, GET")
		}
		if code, _ := errorBody(t, w); code != "method_not_allowed" {
			t.Errorf("code = %q", code)
		}
	})

	t.Run("413", func(t *testing.T) {
		w := serve(h, "POST", "/upload", strings.NewReader("123456789"))
		if w.Code != 413 {
			t.Fatalf("status = %d, want 413", w.Code)
		}
		if code, _ := errorBody(t, w); code != "payload_too_large" {
			t.Errorf("code = %q", code)
		}
		// Without a Content-Length the body is read up to the limit.
		r := httptest.NewRequest("POST", "/upload", io.MultiReader(strings.NewReader("12345"), strings.NewReader("6789")))
		r.ContentLength = -1
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 413 {
			t.Errorf("chunked: status = %d, want 413", w.Code)
		}
		if recs["post"].calls != 0 {
			t.Errorf("handler called %d times", recs["post"].calls)
		}
		// Exactly at the limit is fine.
		if w := serve(h, "POST", "/upload", strings.NewReader("12345678")); w.Code != 200 {
			t.Errorf("at limit: status = %d, want 200", w.Code)
		}
	})
}

func TestHandlerFailures(t *testing.T) {
	tests := []struct {
		name    string
		handler Handler
	}{
		{"error", func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200}, errors.New("boom")
		}},
		{"panic", func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			panic("boom")
		}},
		{"zero status", func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{Body: "boom"}, nil
		}},
		{"bad base64", func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: "boom!", IsBase64Encoded: true}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			h, err := New([]stack.Function{fn("x", "GET /x")}, map[string]Handler{"x": tt.handler}, Options{Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			w := serve(h, "GET", "/x", nil)
			if w.Code != 502 {
				t.Fatalf("status = %d, want 502", w.Code)
			}
			if body := strings.TrimSpace(w.Body.String()); body != `{"message":"Internal server error"}` {
				t.Errorf("body = %s", body)
			}
			if !strings.Contains(logs.String(), `level=ERROR msg="handler failed" use_case=x`) {
				t.Errorf("error not logged: %s", logs.String())
			}
		})
	}
}

func TestResponseWriting(t *testing.T) {
	h, recs := newAPI(t, Options{}, fn("x", "GET /x"))

	recs["x"].resp = events.APIGatewayProxyResponse{
		StatusCode:        201,
		Headers:           map[string]string{"Content-Type": "text/plain", "Set-Cookie": "a=1", "Content-Length": "999"},
		MultiValueHeaders: map[string][]string{"Set-Cookie": {"a=1", "b=2"}, "X-Multi": {"1", "2"}},
		Body:              "created",
	}
	w := serve(h, "GET", "/x", nil)
	if w.Code != 201 || w.Body.String() != "created" {
		t.Errorf("got %d %q, want 201 created", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/plain" {
		t.Errorf("Content-Type = %q", ct)
	}
	if got := w.Header().Values("Set-Cookie"); !reflect.DeepEqual(got, []string{"a=1", "b=2"}) {
		t.Errorf("Set-Cookie = %v", got)
	}
	if got := w.Header().Values("X-Multi"); !reflect.DeepEqual(got, []string{"1", "2"}) {
		t.Errorf("X-Multi = %v", got)
	}
	if got := w.Header().Get("Content-Length"); got != "" {
		t.Errorf("handler's Content-Length passed through: %q", got)
	}

	recs["x"].resp = events.APIGatewayProxyResponse{StatusCode: 200, Body: "/wD+", IsBase64Encoded: true}
	w = serve(h, "GET", "/x", nil)
	if !bytes.Equal(w.Body.Bytes(), []byte{0xff, 0x00, 0xfe}) {
		t.Errorf("body = %x, want decoded ff00fe", w.Body.Bytes())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("default Content-Type = %q, want application/json", ct)
	}
}

func TestRequestLog(t *testing.T) {
	var logs bytes.Buffer
	h, err := New([]stack.Function{fn("x", "GET /x")}, map[string]Handler{
		"x": func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 204}, nil
		},
	}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	serve(h, "GET", "/x", nil)
	serve(h, "GET", "/y", nil)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", len(lines), logs.String())
	}
	for i, want := range []string{"method=GET path=/x status=204 duration=", "method=GET path=/y status=404 duration="} {
		if !strings.Contains(lines[i], "level=INFO msg=request "+want) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	ok := func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{}, nil
	}
	tests := []struct {
		name      string
		functions []stack.Function
		wantSub   string
	}{
		{"missing handler", []stack.Function{fn("x", "GET /x"), fn("orphan", "GET /y")}, `no handler for use case "orphan"`},
		{"duplicate route", []stack.Function{fn("x", "GET /x"), fn("y", "get /x")}, "route GET /x already served"},
		{"conflicting params", []stack.Function{fn("x", "GET /a/{id}"), fn("y", "POST /a/{name}")}, "path /a/{name} conflicts with /a/{id}"},
		{"greedy not last", []stack.Function{fn("x", "GET /a/{p+}/b")}, "must be last"},
		{"partial param", []stack.Function{fn("x", "GET /a/v{n}")}, "whole segment"},
		{"relative path", []stack.Function{fn("x", "GET a")}, "does not start with /"},
		{"empty param", []stack.Function{fn("x", "GET /a/{}")}, "invalid parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.functions, map[string]Handler{"x": ok, "y": ok}, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantSub) {
				t.Errorf("New error = %v, want it to contain %q", err, tt.wantSub)
			}
		})
	}

	// Functions without routes need no handler.
	if _, err := New([]stack.Function{{LogicalID: "Worker", UseCase: "worker"}}, nil, Options{}); err != nil {
		t.Errorf("New with a route-less function: %v", err)
	}
}
