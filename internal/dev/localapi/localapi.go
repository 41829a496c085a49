// Package localapi serves the API routes of the SAM template over plain HTTP,
// emulating an API Gateway REST API with Lambda proxy integration the way
// `sam local start-api` does, but calling the Go handlers in-process.
//
// What is emulated: resource path matching (literal segments beat {param},
// which beats {greedy+}; method ANY), the proxy request event, the proxy
// response mapping, API Gateway's 10 MiB payload limit and its 502 answer to
// a failing function. What is not: API keys (ApiKeyRequired is ignored, as
// sam local does), authorizers, stage variables and request validation.
package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/dev/stack"
	"github.com/clsvc/license-service/internal/telemetry"
)

// Handler is a Lambda function handler for API Gateway proxy events.
type Handler func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// Defaults applied by New to zero Options fields.
const (
	DefaultStage        = "local"
	DefaultMaxBodyBytes = 10 << 20 // API Gateway's payload limit
)

// Options configures the emulated API.
type Options struct {
	// Stage is the stage name put in the request context; default "local".
	Stage string
	// MaxBodyBytes is the largest accepted request body; a larger one is
	// answered with 413. Zero or negative means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives one Info line per request and the handlers' errors.
	// Nil discards them.
	Logger *slog.Logger
}

// resource is one template path with the handlers of its methods.
type resource struct {
	path    string // as written in the template, e.g. /licenses/{id}
	pattern pattern
	methods map[string]endpoint // keyed by upper-case method or "ANY"
}

// endpoint is the function serving one method of a resource.
type endpoint struct {
	useCase string
	handler Handler
}

// server is the http.Handler returned by New.
type server struct {
	resources []*resource
	stage     string
	maxBody   int64
	log       *slog.Logger
}

// New builds an http.Handler serving every route of functions. handlers is
// keyed by Function.UseCase. New fails, naming the use case, when a function
// with routes has no handler; it also rejects malformed paths and routes that
// are declared twice.
func New(functions []stack.Function, handlers map[string]Handler, opts Options) (http.Handler, error) {
	s := &server{stage: opts.Stage, maxBody: opts.MaxBodyBytes, log: opts.Logger}
	if s.stage == "" {
		s.stage = DefaultStage
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}

	byPath := make(map[string]*resource)  // template path → resource
	byShape := make(map[string]*resource) // catches /a/{x} next to /a/{y}
	for _, f := range functions {
		for _, r := range f.Routes {
			h := handlers[f.UseCase]
			if h == nil {
				return nil, fmt.Errorf("localapi: no handler for use case %q (function %s, %s %s)",
					f.UseCase, f.LogicalID, r.Method, r.Path)
			}
			p, err := parsePattern(r.Path)
			if err != nil {
				return nil, fmt.Errorf("localapi: function %s: %w", f.LogicalID, err)
			}
			res := byPath[r.Path]
			if res == nil {
				if other := byShape[p.shape()]; other != nil {
					return nil, fmt.Errorf("localapi: function %s: path %s conflicts with %s", f.LogicalID, r.Path, other.path)
				}
				res = &resource{path: r.Path, pattern: p, methods: make(map[string]endpoint)}
				byPath[r.Path], byShape[p.shape()] = res, res
				s.resources = append(s.resources, res)
			}
			method := strings.ToUpper(r.Method)
			if prev, dup := res.methods[method]; dup {
				return nil, fmt.Errorf("localapi: function %s: route %s %s already served by use case %q",
					f.LogicalID, method, r.Path, prev.useCase)
			}
			res.methods[method] = endpoint{useCase: f.UseCase, handler: h}
		}
	}
	return s, nil
}

// ServeHTTP serves one request and logs it.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := s.serve(w, r)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("path", telemetry.LogPath(r.URL.Path)),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
	)
}

// serve routes the request, invokes the handler and writes the response. It
// returns the status code written.
func (s *server) serve(w http.ResponseWriter, r *http.Request) int {
	parts, err := splitPath(r.URL.EscapedPath())
	idx, params := -1, map[string]string(nil)
	if err == nil {
		idx, params = best(s.resources, parts)
	}
	if idx < 0 {
		return writeError(w, http.StatusNotFound, "route_not_found",
			fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	}
	res := s.resources[idx]

	ep, ok := res.methods[r.Method]
	if !ok {
		ep, ok = res.methods["ANY"]
	}
	if !ok {
		w.Header().Set("Allow", strings.Join(slices.Sorted(maps.Keys(res.methods)), ", "))
		return writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("method %s not allowed for %s", r.Method, res.path))
	}

	body, err := s.readBody(r)
	if errors.Is(err, errTooLarge) {
		return writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("request body exceeds %d bytes", s.maxBody))
	}
	if err != nil {
		return writeError(w, http.StatusBadRequest, "bad_request", "cannot read request body")
	}

	req := s.buildRequest(r, res.path, params, body)
	resp, err := invoke(r.Context(), ep.handler, req)
	if err == nil {
		var status int
		if status, err = writeResponse(w, resp); err == nil {
			return status
		}
	}
	s.log.LogAttrs(r.Context(), slog.LevelError, "handler failed",
		slog.String("use_case", ep.useCase),
		slog.String("request_id", req.RequestContext.RequestID),
		slog.Any("error", err),
	)
	return writeJSON(w, http.StatusBadGateway, map[string]string{"message": "Internal server error"})
}

// errTooLarge reports a request body over the size limit.
var errTooLarge = errors.New("request body too large")

// readBody reads the request body, refusing one larger than s.maxBody after
// reading at most one byte past the limit.
func (s *server) readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > s.maxBody {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > s.maxBody {
		return nil, errTooLarge
	}
	return body, nil
}

// invoke calls h, turning a panic into an error as the Lambda runtime would.
func invoke(ctx context.Context, h Handler, req events.APIGatewayProxyRequest) (resp events.APIGatewayProxyResponse, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panicked: %v", v)
		}
	}()
	return h(ctx, req)
}

// writeError writes the JSON error body used for requests that never reach a
// handler, and returns status.
func writeError(w http.ResponseWriter, status int, code, message string) int {
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	return writeJSON(w, status, struct {
		Error detail `json:"error"`
	}{detail{code, message}})
}

// writeJSON writes v as a JSON response and returns status.
func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Encoding these fixed shapes cannot fail; a write error means the
	// client went away, and there is nobody left to tell.
	_ = json.NewEncoder(w).Encode(v)
	return status
}
