// Package contract holds the service to its OpenAPI document (api/openapi.yaml):
// a Checker wraps the local API's handler, validates every request and
// answer against the document with kin-openapi's openapi3filter, and counts
// which documented answers the tests produced, so that a test suite can fail
// on anything undocumented and list what it never exercised.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Answer is one documented answer of an operation: its status and, for an
// error answer, one of the error codes the document lists for that status.
type Answer struct {
	Method string // e.g. POST
	Path   string // the document's path, e.g. /api/v1/brand/licenses/{id}
	Status int
	Code   string // the error code; empty for an answer without one
}

func (a Answer) String() string {
	s := a.Method + " " + a.Path + " " + strconv.Itoa(a.Status)
	if a.Code != "" {
		s += " " + a.Code
	}
	return s
}

// Unrouted answers are what a path or method the document lacks must get
// (the gateway's, and the local API's, answers to an unknown route).
var unrouted = map[int]string{http.StatusNotFound: "route_not_found", http.StatusMethodNotAllowed: "method_not_allowed"}

// Checker validates traffic against one document. It is safe for
// concurrent use.
type Checker struct {
	doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[Answer]bool
}

// Load reads and validates the OpenAPI document at path.
func Load(path string) (*Checker, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("%s is not a valid OpenAPI document: %w", path, err)
	}
	// Requests are matched by path alone: the servers of the document (the
	// local and the deployed URL) are not where the tests' servers listen.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", path, err)
	}
	return &Checker{doc: doc, router: router, seen: map[Answer]bool{}}, nil
}

// Wrap returns h checked: each request and its answer are validated after h
// has answered, and every breach of the contract is given to report (the
// client still gets h's answer unchanged).
func (c *Checker) Wrap(h http.Handler, report func(format string, args ...any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			report("contract: read the request body of %s %s: %v", r.Method, r.URL, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r.Clone(r.Context()))
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())

		r.Body = io.NopCloser(bytes.NewReader(body))
		for _, breach := range c.Check(r, rec.Code, rec.Header(), rec.Body.Bytes()) {
			report("contract: %s %s → %d: %s", r.Method, r.URL.RequestURI(), rec.Code, breach)
		}
	})
}

// Check validates one request (whose body must be unread) and its answer,
// counts the answer as exercised, and returns the breaches of the contract.
func (c *Checker) Check(r *http.Request, status int, header http.Header, body []byte) []string {
	ctx := context.Background()
	code := errorCode(body)
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		if want, ok := unrouted[status]; ok && code == want {
			return nil
		}
		return []string{fmt.Sprintf("the route is not in the document (%v), yet it answered %d %s", err, status, code)}
	}
	op := route.Operation
	a := Answer{Method: route.Method, Path: route.Path, Status: status, Code: code}
	documented := c.documented(op, status)
	var breaches []string
	switch {
	case documented == nil:
		breaches = append(breaches, fmt.Sprintf("status %d is not documented for %s %s", status, route.Method, route.Path))
	case code != "" && len(documented) > 0 && !slices.Contains(documented, code):
		breaches = append(breaches, fmt.Sprintf("error code %q is not documented for %d (documented: %s)", code, status, strings.Join(documented, ", ")))
	case len(documented) == 0:
		a.Code = "" // a documented answer without an error code enum
	}

	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr == nil {
		reqErr = unknownQuery(r, op)
	}
	if reqErr != nil && status < 400 {
		breaches = append(breaches, fmt.Sprintf("the service accepted a request the document refuses: %s", oneLine(reqErr)))
	}
	if documented != nil {
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: status, Header: header,
			Body: io.NopCloser(bytes.NewReader(body)), Options: in.Options,
		}
		out.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			breaches = append(breaches, "the answer breaks the document: "+oneLine(err))
		}
	}
	if len(breaches) == 0 {
		c.mu.Lock()
		c.seen[a] = true
		c.mu.Unlock()
	}
	return breaches
}

// documented returns the error codes the document lists for op's answer
// with this status: nil when the status is not documented, empty when it is
// but lists no codes.
func (c *Checker) documented(op *openapi3.Operation, status int) []string {
	if op.Responses == nil {
		return nil
	}
	ref := op.Responses.Status(status)
	if ref == nil || ref.Value == nil {
		return nil
	}
	codes := []string{}
	for _, mt := range ref.Value.Content {
		if mt.Schema != nil {
			codes = append(codes, codeEnum(mt.Schema.Value)...)
		}
	}
	return codes
}

// codeEnum finds the enum of error.code in a schema (through allOf).
func codeEnum(s *openapi3.Schema) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, sub := range s.AllOf {
		if sub.Value == nil || sub.Ref != "" {
			continue // the shared Error schema's enum is every code
		}
		if e := sub.Value.Properties["error"]; e != nil && e.Value != nil {
			if cd := e.Value.Properties["code"]; cd != nil && cd.Value != nil {
				for _, v := range cd.Value.Enum {
					if str, ok := v.(string); ok {
						out = append(out, str)
					}
				}
			}
		}
	}
	return out
}

// unknownQuery refuses a query parameter the operation does not document.
func unknownQuery(r *http.Request, op *openapi3.Operation) error {
	known := map[string]bool{}
	for _, p := range op.Parameters {
		if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
			known[p.Value.Name] = true
		}
	}
	var unknown []string
	for name := range r.URL.Query() {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("query parameters not in the document: %s", strings.Join(unknown, ", "))
}

// errorCode is error.code of a JSON error answer ("" for any other body).
func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

func oneLine(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		parts := make([]string, 0, len(me))
		for _, e := range me {
			parts = append(parts, oneLine(e))
		}
		return strings.Join(parts, "; ")
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Documented lists every answer the document has: each operation's every
// status and, for error answers, every code of the status's enum.
func (c *Checker) Documented() []Answer {
	var out []Answer
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status := range op.Responses.Map() {
				n, err := strconv.Atoi(status)
				if err != nil {
					continue // "default" and ranges are not used by this document
				}
				codes := c.documented(op, n)
				if len(codes) == 0 {
					out = append(out, Answer{Method: method, Path: path, Status: n})
				}
				for _, code := range codes {
					out = append(out, Answer{Method: method, Path: path, Status: n, Code: code})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b Answer) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Untested lists the documented answers that no checked request produced.
func (c *Checker) Untested() []Answer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Answer
	for _, a := range c.Documented() {
		if !c.seen[a] {
			out = append(out, a)
		}
	}
	return out
}

// Operations lists the document's operations as "METHOD path".
func (c *Checker) Operations() []string {
	var out []string
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}
