// Package tests drives the whole license service end to end: a local server
// (the embedded DynamoDB-compatible engine, the table of template.yaml, the
// demo data and every route of template.yaml) is started per test and spoken
// to over real HTTP, as a brand's back office would.
package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/service"
)

// The demo brands' local API keys (see internal/demo).
const (
	rmKey  = "local-rankmath-key-0001"
	wprKey = "local-wp-rocket-key-0001"
)

// Paths of the API.
const (
	pathHealth    = "/api/v1/health"
	pathProducts  = "/api/v1/brand/products"
	pathProvision = "/api/v1/brand/licenses/provision"
	pathLicenses  = "/api/v1/brand/licenses"
)

func licensePath(id string) string        { return pathLicenses + "/" + id }
func actionPath(id, action string) string { return pathLicenses + "/" + id + "/" + action }
func emailQuery(email string) string      { return pathLicenses + "?email=" + url.QueryEscape(email) }
func ptr[T any](v T) *T                   { return &v }
func lines(ss []string) string            { return strings.Join(ss, "\n") }

// futureDate is an RFC 3339 timestamp d from now, to the second.
func futureDate(d time.Duration) string {
	return time.Now().UTC().Add(d).Truncate(time.Second).Format(time.RFC3339)
}

func hasJSONContentType(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func mustParseTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err, "timestamp %q is not RFC 3339", s)
	return ts
}

// env is one running local service and an HTTP client for it.
type env struct {
	srv    *devserver.Server
	client *http.Client
}

// start runs a fresh local service (own engine, own table, demo data) for
// the test and stops it when the test ends.
func start(t *testing.T, opts ...func(*devserver.Options)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := devserver.Options{
		Template:   templatePath(t),
		APIAddr:    "127.0.0.1:0",
		DynamoAddr: "127.0.0.1:0",
		Config:     service.Config{TableName: "licenses"},
		Seed:       true,
		// Every request and answer is held to api/openapi.yaml.
		Wrap: func(h http.Handler) http.Handler { return contractChecker.Wrap(h, t.Errorf) },
	}
	for _, opt := range opts {
		opt(&o)
	}
	srv, err := devserver.Start(ctx, o)
	require.NoError(t, err, "start the local service")
	// A transport of its own: closing its idle connections at the end must
	// not break the connections of the other tests in flight (the default
	// transport is shared).
	e := &env{srv: srv, client: &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	t.Cleanup(func() {
		e.client.CloseIdleConnections()
		srv.Close()
	})
	return e
}

// templatePath finds template.yaml at the module root above the working directory.
func templatePath(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "template.yaml")
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the working directory")
		dir = parent
	}
}

// call is one HTTP request to the API.
type call struct {
	method string
	path   string // with the query, if any
	apiKey string // X-API-Key; empty sends none
	body   []byte // nil sends none
	header map[string]string
}

// reply is an HTTP answer, fully read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string { return http.StatusText(r.status) + " " + string(r.body) }

// jsonOf encodes v as a request body; []byte and string are sent as they are.
func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	switch b := v.(type) {
	case nil:
		return nil
	case []byte:
		return b
	case string:
		return []byte(b)
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// do sends c and reads the whole answer.
func (e *env) do(t *testing.T, c call) reply {
	t.Helper()
	r, err := e.try(c)
	require.NoError(t, err, "%s %s", c.method, c.path)
	return r
}

// try is do without a test, for use from other goroutines.
// all sends the calls at once: one goroutine each, released together by one
// gate, so they race as closely as the machine allows. It returns the
// replies in the order of the calls; every call must have got one.
func (e *env) all(t *testing.T, calls []call) []reply {
	t.Helper()
	replies := make([]reply, len(calls))
	errs := make([]error, len(calls))
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			<-gate
			replies[i], errs[i] = e.try(c)
		})
	}
	close(gate)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "call %d", i)
	}
	return replies
}

func (e *env) try(c call) (reply, error) {
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, e.srv.APIURL+c.path, body)
	if err != nil {
		return reply{}, err
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.apiKey != "" {
		req.Header.Set("X-API-Key", c.apiKey)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (e *env) get(t *testing.T, path, apiKey string) reply {
	t.Helper()
	return e.do(t, call{method: http.MethodGet, path: path, apiKey: apiKey})
}

func (e *env) post(t *testing.T, path, apiKey string, body any) reply {
	t.Helper()
	return e.do(t, call{method: http.MethodPost, path: path, apiKey: apiKey, body: jsonOf(t, body)})
}

// expectOK requires the status and a JSON answer, and decodes it into dst
// (when not nil) and into a generic map, which it returns for checks of
// field presence.
func expectOK(t *testing.T, r reply, status int, dst any) map[string]any {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.True(t, hasJSONContentType(r.header), "Content-Type %q", r.header.Get("Content-Type"))
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	if dst != nil {
		require.NoError(t, json.Unmarshal(r.body, dst), "body: %s", r.body)
	}
	return m
}

// requireFields requires that m holds every named field (null counts).
func requireFields(t *testing.T, m map[string]any, fields ...string) {
	t.Helper()
	for _, f := range fields {
		_, ok := m[f]
		require.True(t, ok, "field %q missing in %v", f, m)
	}
}

// snapshot returns every item of the table as sorted JSON lines.
func (e *env) snapshot(t *testing.T) []string {
	t.Helper()
	db := e.srv.Service.Store.Client()
	table := e.srv.Service.Store.Table()
	var out []string
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: &table, ConsistentRead: ptr(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err, "scan the table")
		for _, it := range page.Items {
			var m map[string]any
			require.NoError(t, attributevalue.UnmarshalMap(it, &m))
			b, err := json.Marshal(m)
			require.NoError(t, err)
			out = append(out, string(b))
		}
	}
	sort.Strings(out)
	return out
}

// unchanged runs fn and requires the table to hold exactly the same items afterwards.
func (e *env) unchanged(t *testing.T, fn func()) {
	t.Helper()
	before := e.snapshot(t)
	fn()
	after := e.snapshot(t)
	require.Equal(t, lines(before), lines(after), "the request changed the table")
}

// apiError is a decoded error answer.
type apiError struct {
	Code    string
	Message string
	Field   string
	raw     []byte
}

// internalWords must never appear in a message shown to clients.
var internalWords = regexp.MustCompile(`(?i)dynamodb|goroutine|panic|\.go:\d|operation error|minidyn|transact|conditionalcheck`)

// checkError requires r to be the contract's error answer: the status, a JSON
// content type and {"error": {"code", "message"}} with a non-empty,
// client-safe message.
func checkError(t *testing.T, r reply, status int, code string) apiError {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.True(t, hasJSONContentType(r.header), "Content-Type %q of %s", r.header.Get("Content-Type"), r.body)
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(r.body, &top), "error body is not a JSON object: %s", r.body)
	raw, ok := top["error"]
	require.True(t, ok, "no \"error\" in %s", r.body)
	var d struct {
		Code    *string `json:"code"`
		Message *string `json:"message"`
		Field   string  `json:"field"`
	}
	require.NoError(t, json.Unmarshal(raw, &d), "error body %s", r.body)
	require.NotNil(t, d.Code, "no error.code in %s", r.body)
	require.NotNil(t, d.Message, "no error.message in %s", r.body)
	require.Equal(t, code, *d.Code, "body: %s", r.body)
	require.NotEmpty(t, strings.TrimSpace(*d.Message), "empty error.message in %s", r.body)
	require.NotRegexp(t, internalWords, *d.Message, "message leaks internals")
	return apiError{Code: *d.Code, Message: *d.Message, Field: d.Field, raw: r.body}
}

// expectError sends c, requires the error answer and that the table is unchanged.
func expectError(t *testing.T, e *env, c call, status int, code string) apiError {
	t.Helper()
	var got apiError
	e.unchanged(t, func() {
		got = checkError(t, e.do(t, c), status, code)
	})
	return got
}

// expectInvalid is expectError for a 400 validation_error that names field.
func expectInvalid(t *testing.T, e *env, c call, field string) apiError {
	t.Helper()
	got := expectError(t, e, c, http.StatusBadRequest, "validation_error")
	require.Contains(t, got.Message, field, "the message does not name the field")
	if got.Field != "" {
		require.Equal(t, field, got.Field)
	}
	return got
}

// The JSON shapes of the contract, as far as the tests read them.

type productJSON struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

type keyJSON struct {
	ID            string `json:"id"`
	Key           string `json:"key"`
	CustomerEmail string `json:"customer_email"`
	CreatedAt     string `json:"created_at"`
}

type licenseJSON struct {
	ID             string  `json:"id"`
	ProductID      string  `json:"product_id"`
	ProductSlug    string  `json:"product_slug"`
	Status         string  `json:"status"`
	StatusReason   string  `json:"status_reason"`
	SeatLimit      int     `json:"seat_limit"`
	SeatsUsed      int     `json:"seats_used"`
	SeatsRemaining int     `json:"seats_remaining"`
	ExpiresAt      *string `json:"expires_at"`
}

type licenseDetailJSON struct {
	licenseJSON
	LicenseKey  keyJSON          `json:"license_key"`
	Activations []map[string]any `json:"activations"`
}

type provisionedJSON struct {
	LicenseKey keyJSON       `json:"license_key"`
	Licenses   []licenseJSON `json:"licenses"`
}

type customerJSON struct {
	CustomerEmail string `json:"customer_email"`
	LicenseKeys   []struct {
		ID        string        `json:"id"`
		Key       string        `json:"key"`
		CreatedAt string        `json:"created_at"`
		Licenses  []licenseJSON `json:"licenses"`
	} `json:"license_keys"`
}

// provisionReq is a provisioning request body.
type provisionReq struct {
	CustomerEmail  string   `json:"customer_email,omitempty"`
	Products       []string `json:"products,omitempty"`
	ExpirationDate string   `json:"expiration_date,omitempty"`
	MaxSeats       *int     `json:"max_seats,omitempty"`
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
}

// provision provisions a license key and requires success.
func (e *env) provision(t *testing.T, apiKey string, in provisionReq) provisionedJSON {
	t.Helper()
	var p provisionedJSON
	expectOK(t, e.post(t, pathProvision, apiKey, in), http.StatusCreated, &p)
	require.Len(t, p.Licenses, len(in.Products))
	return p
}

// licenseOf reads a license by id with apiKey and requires success.
func (e *env) licenseOf(t *testing.T, apiKey, id string) (licenseDetailJSON, reply) {
	t.Helper()
	var l licenseDetailJSON
	r := e.get(t, licensePath(id), apiKey)
	expectOK(t, r, http.StatusOK, &l)
	return l, r
}

// keyPattern is the contract's license key format with the brand's prefix.
func keyPattern(prefix string) *regexp.Regexp {
	const g = `[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{4}`
	return regexp.MustCompile(`^` + prefix + `-` + g + `-` + g + `-` + g + `-` + g + `$`)
}
