package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/stack"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/relay"
	"github.com/clsvc/license-service/internal/relay/relaytest"
	"github.com/clsvc/license-service/internal/schedule"
	"github.com/clsvc/license-service/internal/webhook"
	"github.com/clsvc/license-service/internal/webhookqueue"
)

// The sample events under events/ (one per function of template.yaml, named
// after its USE_CASE) are what `sam local invoke -e` and the Lambda console
// are fed. These tests keep them in step with the template and run each
// through its handler against fresh demo data.

// Demo data the sample events name (see internal/demo).
const (
	evDemoKey        = "RM-DEMA-2222-3333-4444"
	evRankMathPro    = "lic_demorankmathpro22222"
	evContentAI      = "lic_democontentai2222222"
	evDemoActivation = "act_demosite222222222222"
)

// evAuthorizer is the use case of the brand routes' REQUEST authorizer,
// whose event is not a proxy request.
const evAuthorizer = "authorize-brand"

// evPending names functions whose sample event may be committed before the
// template declares them. Once declared, they are held to every rule.
var evPending = map[string]bool{evAuthorizer: true}

// evCase is what one sample event must do against fresh demo data.
type evCase struct {
	// status is the expected answer of a proxy event.
	status int
	// before are use cases whose sample events run first, each answering 200.
	before []string
	// check looks further into a proxy answer.
	check func(t *testing.T, resp events.APIGatewayProxyResponse)
	// run replaces the proxy flow, for events of another shape.
	run func(t *testing.T, e *env, file string)
	// setup puts data the event names in place first (what a brand would
	// have made before: a webhook endpoint and its deliveries).
	setup func(t *testing.T, e *env)
}

// evCases must have an entry for every USE_CASE of template.yaml.
var evCases = map[string]evCase{
	"health":            {status: http.StatusOK},
	"create-product":    {status: http.StatusCreated, check: evCreatedProduct},
	"list-products":     {status: http.StatusOK, check: evListedProducts},
	"provision-license": {status: http.StatusCreated, check: evProvisioned},
	"list-licenses":     {status: http.StatusOK, check: evListedDemoKey},
	"get-license":       {status: http.StatusOK, check: evLicense(evRankMathPro, "valid", 1)},
	"renew-license":     {status: http.StatusOK, check: evRenewed},
	"suspend-license":   {status: http.StatusOK, check: evLicense(evRankMathPro, "suspended", 1)},
	"resume-license":    {status: http.StatusOK, before: []string{"suspend-license"}, check: evLicense(evRankMathPro, "valid", 1)},
	"cancel-license":    {status: http.StatusOK, check: evLicense(evContentAI, "cancelled", 0)},
	"free-seat":         {status: http.StatusOK, check: evLicense(evRankMathPro, "valid", 0)},
	"activate-license":  {status: http.StatusCreated, check: evActivated},
	"check-license":     {status: http.StatusOK, check: evChecked},
	"deactivate-seat":   {status: http.StatusOK, check: evDeactivated},
	evAuthorizer:        {run: evRunAuthorizer},
	"publish-events":    {run: evRunRelay},
	"license-events":    {status: http.StatusOK, check: evHistory},
	"product-keys":      {status: http.StatusOK, check: evJWKS},
	"openapi":           {status: http.StatusOK, check: evOpenAPI},
	"edd":               {status: http.StatusOK, check: evEDD},
	"reclaim-seats":     {run: evRunReclaim},
	"notify-expiries":   {run: evRunExpiries},
	"create-release":    {status: http.StatusCreated, check: evCreatedRelease},
	"list-releases":     {status: http.StatusOK, check: evListedReleases},
	"publish-release":   {run: evRunPublish},
	"yank-release":      {status: http.StatusOK, check: evReleaseIs(demo.ReleaseVersion, "yanked")},
	"product-updates":   {status: http.StatusOK, check: evUpdates},

	"create-webhook":          {status: http.StatusCreated, check: evCreatedWebhook},
	"list-webhooks":           {status: http.StatusOK, setup: whSeed, check: evBodyHas(`"id":"` + whTestID + `"`)},
	"delete-webhook":          {status: http.StatusOK, setup: whSeed, check: evBodyHas(`"deleted":true`)},
	"rotate-webhook-secret":   {status: http.StatusOK, setup: whSeed, check: evBodyHas(`"secret":"whsec_`)},
	"list-webhook-deliveries": {status: http.StatusOK, setup: whSeed, check: evBodyHas(`"id":"` + whTestDelivery() + `"`)},
	"retry-webhook-delivery":  {status: http.StatusOK, setup: whSeed, check: evBodyHas(`"status":"delivered"`)},
	"deliver-webhooks":        {run: evRunDeliver},
}

// evDir is the events/ directory at the module root.
func evDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(filepath.Dir(templatePath(t)), "events")
}

func evFile(t *testing.T, useCase string) string {
	t.Helper()
	return filepath.Join(evDir(t), useCase+".json")
}

func evTemplate(t *testing.T) *stack.Template {
	t.Helper()
	tpl, err := stack.Load(templatePath(t))
	require.NoError(t, err)
	require.NotEmpty(t, tpl.Functions, "the template declares no function")
	return tpl
}

// evFunctions maps each USE_CASE of the template to its function.
func evFunctions(t *testing.T) map[string]stack.Function {
	t.Helper()
	fns := map[string]stack.Function{}
	for _, f := range evTemplate(t).Functions {
		_, dup := fns[f.UseCase]
		require.False(t, dup, "USE_CASE %q is declared twice", f.UseCase)
		fns[f.UseCase] = f
	}
	return fns
}

// evDecode strictly decodes a sample event, so that a misspelt field fails
// rather than reads as empty.
func evDecode(t *testing.T, file string, dst any) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(dst), "decode %s", file)
	require.False(t, dec.More(), "%s holds more than one JSON value", file)
}

func TestEventFilesMatchTemplate(t *testing.T) {
	t.Parallel()
	fns := evFunctions(t)

	for _, uc := range slices.Sorted(maps.Keys(fns)) {
		f := fns[uc]
		_, err := os.Stat(evFile(t, uc))
		require.NoError(t, err, "function %s (USE_CASE %s) has no sample event events/%s.json", f.LogicalID, uc, uc)
		_, ok := evCases[uc]
		require.True(t, ok, "function %s (USE_CASE %s) has no entry in evCases", f.LogicalID, uc)
	}

	files, err := filepath.Glob(filepath.Join(evDir(t), "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no sample events")
	for _, file := range files {
		uc := strings.TrimSuffix(filepath.Base(file), ".json")
		if _, ok := fns[uc]; !ok {
			if evPending[uc] {
				t.Logf("events/%s.json: template.yaml does not declare USE_CASE %s yet", uc, uc)
				continue
			}
			require.Failf(t, "sample event without a function", "events/%s.json: no function of template.yaml has USE_CASE %s", uc, uc)
		}
		_, ok := evCases[uc]
		require.True(t, ok, "events/%s.json has no entry in evCases", uc)
	}
	for uc := range evCases {
		_, err := os.Stat(evFile(t, uc))
		require.NoError(t, err, "evCases names %s but events/%s.json is missing", uc, uc)
	}
}

// TestEventShapes checks that every proxy event is what API Gateway would
// send for one of its function's routes on the dev stage.
func TestEventShapes(t *testing.T) {
	t.Parallel()
	fns := evFunctions(t)
	for _, uc := range slices.Sorted(maps.Keys(fns)) {
		f := fns[uc]
		if len(f.Routes) == 0 {
			continue // not behind a route: the authorizer
		}
		t.Run(uc, func(t *testing.T) {
			var req events.APIGatewayProxyRequest
			evDecode(t, evFile(t, uc), &req)
			served := slices.ContainsFunc(f.Routes, func(r stack.Route) bool {
				return r.Path == req.Resource && (r.Method == req.HTTPMethod || r.Method == "ANY")
			})
			require.True(t, served, "%s %s is not a route of %s: %+v", req.HTTPMethod, req.Resource, f.LogicalID, f.Routes)
			rc := req.RequestContext
			require.Equal(t, req.Resource, rc.ResourcePath)
			require.Equal(t, req.HTTPMethod, rc.HTTPMethod)
			require.Equal(t, "dev", rc.Stage)
			require.Equal(t, "/dev"+req.Path, rc.Path)
			require.Equal(t, "123456789012", rc.AccountID)
			require.NotEmpty(t, rc.APIID)
			require.NotEmpty(t, rc.RequestID)
			require.NotEmpty(t, rc.Identity.SourceIP)
			require.NotEmpty(t, rc.Identity.UserAgent)
			require.Nil(t, req.StageVariables)
			require.False(t, req.IsBase64Encoded)
			require.Equal(t, evPath(req.Resource, req.PathParameters), req.Path, "path parameters do not fill the resource path")
			require.Len(t, req.MultiValueHeaders, len(req.Headers))
			for k, v := range req.Headers {
				require.Equal(t, []string{v}, req.MultiValueHeaders[k], "multiValueHeaders[%s]", k)
			}
			require.Len(t, req.MultiValueQueryStringParameters, len(req.QueryStringParameters))
			for k, v := range req.QueryStringParameters {
				require.Equal(t, []string{v}, req.MultiValueQueryStringParameters[k], "multiValueQueryStringParameters[%s]", k)
			}
			if f.Routes[0].ApiKeyRequired || strings.HasPrefix(req.Resource, "/api/v1/brand/") {
				require.Equal(t, rmKey, req.Headers["X-API-Key"], "a brand event carries the demo brand's key")
			}
		})
	}
	t.Run(evAuthorizer, func(t *testing.T) {
		var req events.APIGatewayCustomAuthorizerRequestTypeRequest
		evDecode(t, evFile(t, evAuthorizer), &req)
		require.Equal(t, "REQUEST", req.Type)
		var route *stack.Route
		for _, f := range fns {
			for i, r := range f.Routes {
				if r.Path == req.Resource && r.Method == req.HTTPMethod {
					route = &f.Routes[i]
				}
			}
		}
		require.NotNil(t, route, "%s %s is no route of the template", req.HTTPMethod, req.Resource)
		require.True(t, route.ApiKeyRequired, "%s %s is not a brand route", req.HTTPMethod, req.Resource)
		require.Equal(t, req.Resource, req.RequestContext.ResourcePath)
		require.Equal(t, req.HTTPMethod, req.RequestContext.HTTPMethod)
		require.Equal(t, "dev", req.RequestContext.Stage)
		require.Equal(t, "/dev"+req.Path, req.RequestContext.Path)
		require.Equal(t, "arn:aws:execute-api:us-east-1:123456789012:"+req.RequestContext.APIID+"/dev/"+req.HTTPMethod+req.Path, req.MethodArn)
		require.Equal(t, rmKey, req.Headers["X-API-Key"])
		require.Equal(t, []string{rmKey}, req.MultiValueHeaders["X-API-Key"])
	})
}

// evPath fills the {params} of a resource path.
func evPath(resource string, params map[string]string) string {
	for k, v := range params {
		resource = strings.Replace(resource, "{"+k+"}", v, 1)
	}
	return resource
}

// TestEventsAgainstDemoData runs every sample event through its handler,
// each against a fresh local service with the demo data.
func TestEventsAgainstDemoData(t *testing.T) {
	t.Parallel()
	fns := evFunctions(t)
	all := maps.Clone(fns)
	for uc := range evCases {
		all[uc] = stack.Function{}
	}
	for _, uc := range slices.Sorted(maps.Keys(all)) {
		t.Run(uc, func(t *testing.T) {
			t.Parallel()
			c, ok := evCases[uc]
			require.True(t, ok, "USE_CASE %s of template.yaml has no entry in evCases", uc)
			_, declared := fns[uc]
			require.True(t, declared || evPending[uc], "evCases names %s, which template.yaml does not declare", uc)
			e := start(t)
			if c.run != nil {
				c.run(t, e, evFile(t, uc))
				return
			}
			if c.setup != nil {
				c.setup(t, e)
			}
			for _, prev := range c.before {
				resp := evInvoke(t, e, prev)
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s first: %s", prev, resp.Body)
			}
			resp := evInvoke(t, e, uc)
			require.Equal(t, c.status, resp.StatusCode, "body: %s", resp.Body)
			require.Equal(t, "application/json", resp.Headers["Content-Type"])
			require.True(t, json.Valid([]byte(resp.Body)), "body: %s", resp.Body)
			if c.check != nil {
				c.check(t, resp)
			}
		})
	}
}

// TestEventResumeNeedsSuspend pins what events/README.md says: on fresh demo
// data the license is valid, so resume-license alone is refused.
func TestEventResumeNeedsSuspend(t *testing.T) {
	t.Parallel()
	e := start(t)
	resp := evInvoke(t, e, "resume-license")
	checkError(t, reply{status: resp.StatusCode, header: evHeader(resp), body: []byte(resp.Body)}, http.StatusConflict, "invalid_transition")
}

func evHeader(resp events.APIGatewayProxyResponse) http.Header {
	h := http.Header{}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	return h
}

// evInvoke runs the sample event of a proxy use case through its handler.
func evInvoke(t *testing.T, e *env, useCase string) events.APIGatewayProxyResponse {
	t.Helper()
	h := e.srv.Service.API.Handlers()[useCase]
	require.NotNil(t, h, "no handler for use case %s", useCase)
	var req events.APIGatewayProxyRequest
	evDecode(t, evFile(t, useCase), &req)
	resp, err := h(context.Background(), req)
	require.NoError(t, err, "%s", useCase)
	return resp
}

func evBody(t *testing.T, resp events.APIGatewayProxyResponse, dst any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(resp.Body), dst), "body: %s", resp.Body)
}

func evCreatedProduct(t *testing.T, resp events.APIGatewayProxyResponse) {
	var p productJSON
	evBody(t, resp, &p)
	require.Equal(t, "rankmath-agency", p.Slug)
	require.NotEmpty(t, p.ID)
}

func evListedProducts(t *testing.T, resp events.APIGatewayProxyResponse) {
	var out struct {
		Products []productJSON `json:"products"`
	}
	evBody(t, resp, &out)
	var slugs []string
	for _, p := range out.Products {
		slugs = append(slugs, p.Slug)
	}
	require.ElementsMatch(t, []string{"rankmath-pro", "content-ai"}, slugs)
}

func evProvisioned(t *testing.T, resp events.APIGatewayProxyResponse) {
	var p provisionedJSON
	evBody(t, resp, &p)
	require.Equal(t, "new@example.com", p.LicenseKey.CustomerEmail)
	require.Regexp(t, keyPattern("RM"), p.LicenseKey.Key)
	require.Len(t, p.Licenses, 2)
	var slugs []string
	for _, l := range p.Licenses {
		slugs = append(slugs, l.ProductSlug)
		require.Equal(t, 2, l.SeatLimit)
		require.NotNil(t, l.ExpiresAt)
		require.True(t, mustParseTime(t, *l.ExpiresAt).Equal(mustParseTime(t, "2030-06-30T00:00:00Z")), "expires_at %s", *l.ExpiresAt)
	}
	require.ElementsMatch(t, []string{"rankmath-pro", "content-ai"}, slugs)
}

func evListedDemoKey(t *testing.T, resp events.APIGatewayProxyResponse) {
	var c customerJSON
	evBody(t, resp, &c)
	require.Equal(t, "demo@example.com", c.CustomerEmail)
	var keys []string
	for _, k := range c.LicenseKeys {
		keys = append(keys, k.Key)
	}
	require.Contains(t, keys, evDemoKey)
}

// evLicense checks a license detail answer.
func evLicense(id, status string, seatsUsed int) func(*testing.T, events.APIGatewayProxyResponse) {
	return func(t *testing.T, resp events.APIGatewayProxyResponse) {
		var l licenseDetailJSON
		evBody(t, resp, &l)
		require.Equal(t, id, l.ID)
		require.Equal(t, status, l.Status)
		require.Equal(t, seatsUsed, l.SeatsUsed)
		require.Equal(t, evDemoKey, l.LicenseKey.Key)
	}
}

func evRenewed(t *testing.T, resp events.APIGatewayProxyResponse) {
	evLicense(evRankMathPro, "valid", 1)(t, resp)
	var l licenseDetailJSON
	evBody(t, resp, &l)
	require.NotNil(t, l.ExpiresAt)
	require.True(t, mustParseTime(t, *l.ExpiresAt).Equal(mustParseTime(t, "2031-12-31T23:59:59Z")), "expires_at %s", *l.ExpiresAt)
}

func evActivated(t *testing.T, resp events.APIGatewayProxyResponse) {
	var a struct {
		ActivationID       string `json:"activation_id"`
		LicenseID          string `json:"license_id"`
		Product            string `json:"product"`
		InstanceIdentifier string `json:"instance_identifier"`
		SeatsUsed          int    `json:"seats_used"`
	}
	evBody(t, resp, &a)
	require.Equal(t, evRankMathPro, a.LicenseID)
	require.Equal(t, "rankmath-pro", a.Product)
	require.Equal(t, "new-site.example.com", a.InstanceIdentifier)
	require.Equal(t, 2, a.SeatsUsed)
	require.NotEqual(t, evDemoActivation, a.ActivationID)
}

func evChecked(t *testing.T, resp events.APIGatewayProxyResponse) {
	var c struct {
		IsValid     bool `json:"is_valid"`
		IsActivated bool `json:"is_activated"`
		License     struct {
			ID string `json:"id"`
		} `json:"license"`
		Activation *struct {
			ID string `json:"id"`
		} `json:"activation"`
	}
	evBody(t, resp, &c)
	require.True(t, c.IsValid, "body: %s", resp.Body)
	require.True(t, c.IsActivated, "body: %s", resp.Body)
	require.Equal(t, evRankMathPro, c.License.ID)
	require.NotNil(t, c.Activation)
	require.Equal(t, evDemoActivation, c.Activation.ID)
}

func evDeactivated(t *testing.T, resp events.APIGatewayProxyResponse) {
	var d struct {
		Status             string `json:"status"`
		LicenseID          string `json:"license_id"`
		InstanceIdentifier string `json:"instance_identifier"`
		SeatsUsed          int    `json:"seats_used"`
	}
	evBody(t, resp, &d)
	require.Equal(t, "deactivated", d.Status)
	require.Equal(t, evRankMathPro, d.LicenseID)
	require.Equal(t, "demo.example.com", d.InstanceIdentifier)
	require.Equal(t, 0, d.SeatsUsed)
}

// evRunAuthorizer runs the REQUEST authorizer event: the demo key is allowed
// with its brand in the context and as the usage identifier; an unknown key
// gets the error API Gateway turns into 401.
func evRunAuthorizer(t *testing.T, e *env, file string) {
	var req events.APIGatewayCustomAuthorizerRequestTypeRequest
	evDecode(t, file, &req)
	require.Equal(t, "REQUEST", req.Type)
	key := req.Headers["X-API-Key"]
	require.Equal(t, rmKey, key)
	api := e.srv.Service.API

	resp, err := api.AuthorizeBrand(context.Background(), req)
	require.NoError(t, err)
	require.NotEmpty(t, resp.PolicyDocument.Statement)
	allowed := false
	for _, s := range resp.PolicyDocument.Statement {
		require.Equal(t, "Allow", s.Effect, "statement %+v", s)
		if slices.Contains(s.Action, "execute-api:Invoke") && slices.ContainsFunc(s.Resource, func(r string) bool { return evARNCovers(r, req.MethodArn) }) {
			allowed = true
		}
	}
	require.True(t, allowed, "no statement allows %s: %+v", req.MethodArn, resp.PolicyDocument)
	require.Equal(t, "rankmath", resp.Context["brand"])
	require.Equal(t, key, resp.UsageIdentifierKey)

	unknown := req
	unknown.Headers = maps.Clone(req.Headers)
	unknown.MultiValueHeaders = maps.Clone(req.MultiValueHeaders)
	for k := range unknown.Headers {
		if strings.EqualFold(k, "X-API-Key") {
			unknown.Headers[k] = "local-unknown-key-9999"
		}
	}
	for k := range unknown.MultiValueHeaders {
		if strings.EqualFold(k, "X-API-Key") {
			unknown.MultiValueHeaders[k] = []string{"local-unknown-key-9999"}
		}
	}
	resp, err = api.AuthorizeBrand(context.Background(), unknown)
	require.EqualError(t, err, "Unauthorized")
	require.Empty(t, resp.PolicyDocument.Statement, "no policy for an unknown key")
	require.Empty(t, resp.UsageIdentifierKey)
}

// evARNCovers reports whether an IAM resource ARN (with * wildcards) matches arn.
func evARNCovers(pattern, arn string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == arn
	}
	if !strings.HasPrefix(arn, parts[0]) {
		return false
	}
	rest := arn[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return strings.HasSuffix(rest, parts[len(parts)-1])
}

// evRunRelay hands the sample stream event to the relay, publishing to a
// loopback endpoint that speaks EventBridge's PutEvents, with the real SDK
// client: the outbox item becomes exactly one entry on the bus.
func evRunRelay(t *testing.T, _ *env, file string) {
	var stream events.DynamoDBEvent
	evDecode(t, file, &stream)
	bus := relaytest.NewBus(t, nil)
	client, err := relay.NewEventBridgeClient(context.Background(), relay.ClientConfig{Endpoint: bus.URL, Region: "us-east-1", MaxAttempts: 1})
	require.NoError(t, err)
	resp, err := relay.New(client, "license-events", nil, nil).Handle(context.Background(), stream)
	require.NoError(t, err)
	assert.Empty(t, resp.BatchItemFailures)
	got := bus.Delivered()
	require.Len(t, got, 1)
	assert.Equal(t, "license-service", got[0].Source)
	assert.Equal(t, "LicenseSuspended", got[0].DetailType)
	assert.Equal(t, "license-events", got[0].EventBusName)
	detail := got[0].DetailMap(t)
	assert.Equal(t, "rankmath", detail["brand"])
	assert.Equal(t, evRankMathPro, detail["license_id"])
}

// evHistory: the demo license's history, newest first: its seat, then its provisioning.
func evHistory(t *testing.T, resp events.APIGatewayProxyResponse) {
	var h struct {
		LicenseID string `json:"license_id"`
		Events    []struct {
			EventType string         `json:"event_type"`
			Detail    map[string]any `json:"detail"`
		} `json:"events"`
		NextCursor *string `json:"next_cursor"`
	}
	evBody(t, resp, &h)
	assert.Equal(t, evRankMathPro, h.LicenseID)
	require.Len(t, h.Events, 2)
	assert.Equal(t, "LicenseActivated", h.Events[0].EventType)
	assert.Equal(t, "LicenseProvisioned", h.Events[1].EventType)
	assert.Equal(t, evDemoActivation, h.Events[0].Detail["activation_id"])
	assert.Nil(t, h.NextCursor)
}

// evOpenAPI: the OpenAPI document, cacheable.
func evOpenAPI(t *testing.T, resp events.APIGatewayProxyResponse) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	evBody(t, resp, &doc)
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	assert.Contains(t, doc.Paths, "/api/v1/openapi.json")
	assert.Equal(t, "public, max-age=300", resp.Headers["Cache-Control"])
	assert.Regexp(t, `^"[0-9a-f]{32}"$`, resp.Headers["ETag"])
}

// evJWKS: the signing keys as a JWKS document of Ed25519 keys.
func evJWKS(t *testing.T, resp events.APIGatewayProxyResponse) {
	var doc struct {
		Keys []struct {
			Kty, Crv, X, Kid, Alg string
		} `json:"keys"`
	}
	evBody(t, resp, &doc)
	require.NotEmpty(t, doc.Keys)
	assert.Equal(t, "OKP", doc.Keys[0].Kty)
	assert.Equal(t, "Ed25519", doc.Keys[0].Crv)
	assert.Equal(t, "EdDSA", doc.Keys[0].Alg)
	assert.NotEmpty(t, doc.Keys[0].Kid)
	assert.NotEmpty(t, doc.Keys[0].X)
}

// evEDD: an EDD check_license of the demo site: valid, no customer data.
func evEDD(t *testing.T, resp events.APIGatewayProxyResponse) {
	var b map[string]any
	evBody(t, resp, &b)
	assert.Equal(t, true, b["success"])
	assert.Equal(t, "valid", b["license"])
	assert.Equal(t, "", b["customer_email"])
	assert.NotContains(t, resp.Body, "demo@example.com")
}

// evRunReclaim: with rankmath freeing seats unseen for 30 days, the demo
// seat last seen long ago is reclaimed by the scheduled event, with a
// SeatReclaimed event; a second run frees nothing.
func evRunReclaim(t *testing.T, e *env, file string) {
	ctx := context.Background()
	var ev events.CloudWatchEvent
	evDecode(t, file, &ev)
	require.NoError(t, e.srv.Service.App.Ops().ConfigureBrand(ctx, "rankmath", licensing.BrandSettings{StaleAfterDays: 30}))
	db := e.srv.Service.Store.Client()
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String("licenses"),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "KEY#" + demo.RankMathKey},
			"sk": &types.AttributeValueMemberS{Value: "ACT#rankmath-pro#url#" + demo.DemoSite},
		},
		UpdateExpression:          aws.String("SET last_seen_at = :old"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":old": &types.AttributeValueMemberS{Value: "2026-01-01T00:00:00Z"}},
	})
	require.NoError(t, err)
	handler := schedule.Reclaim(e.srv.Service.App, nil)
	res, err := handler(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Seats)
	var lic licenseDetailJSON
	expectOK(t, e.get(t, licensePath(evRankMathPro), rmKey), http.StatusOK, &lic)
	assert.Equal(t, 0, lic.SeatsUsed)
	var h struct {
		Events []struct {
			EventType string `json:"event_type"`
		} `json:"events"`
	}
	expectOK(t, e.get(t, licensePath(evRankMathPro)+"/events?limit=1", rmKey), http.StatusOK, &h)
	require.Len(t, h.Events, 1)
	assert.Equal(t, "SeatReclaimed", h.Events[0].EventType)
	res, err = handler(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, 0, res.Seats)
}

// evRelease is a release as the release routes render it.
type evRelease struct {
	Product       string `json:"product"`
	Version       string `json:"version"`
	Channel       string `json:"channel"`
	Status        string `json:"status"`
	PackageSHA256 string `json:"package_sha256"`
	PackageSize   int64  `json:"package_size"`
}

// evReleaseIs checks an answer of a change of a release.
func evReleaseIs(version, status string) func(*testing.T, events.APIGatewayProxyResponse) {
	return func(t *testing.T, resp events.APIGatewayProxyResponse) {
		var out struct {
			Release evRelease `json:"release"`
		}
		evBody(t, resp, &out)
		assert.Equal(t, "rankmath-pro", out.Release.Product)
		assert.Equal(t, version, out.Release.Version)
		assert.Equal(t, status, out.Release.Status)
	}
}

// evCreatedRelease: 1.1.0 of rankmath-pro waits for its package, the demo
// package (whose size and SHA-256 the event declares), which its presigned
// PUT takes.
func evCreatedRelease(t *testing.T, resp events.APIGatewayProxyResponse) {
	var out struct {
		Release evRelease `json:"release"`
		Upload  struct {
			URL     string            `json:"url"`
			Method  string            `json:"method"`
			Headers map[string]string `json:"headers"`
		} `json:"upload"`
	}
	evBody(t, resp, &out)
	pkg := demo.Package("rankmath-pro")
	sum := sha256.Sum256(pkg)
	assert.Equal(t, evRelease{Product: "rankmath-pro", Version: "1.1.0", Channel: "stable", Status: "pending_upload",
		PackageSHA256: hex.EncodeToString(sum[:]), PackageSize: int64(len(pkg))}, out.Release)
	assert.Equal(t, http.MethodPut, out.Upload.Method)
	assert.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), out.Upload.Headers["x-amz-checksum-sha256"], "the upload is bound to the declared SHA-256")
	require.NoError(t, demo.Upload(context.Background(), nil, app.Presigned{URL: out.Upload.URL, Method: out.Upload.Method, Headers: out.Upload.Headers}, pkg))
}

// evListedReleases: the demo release of rankmath-pro, published.
func evListedReleases(t *testing.T, resp events.APIGatewayProxyResponse) {
	var out struct {
		Product  productJSON `json:"product"`
		Releases []evRelease `json:"releases"`
	}
	evBody(t, resp, &out)
	assert.Equal(t, "rankmath-pro", out.Product.Slug)
	require.Len(t, out.Releases, 1)
	assert.Equal(t, demo.ReleaseVersion, out.Releases[0].Version)
	assert.Equal(t, "published", out.Releases[0].Status)
}

// evRunPublish: on fresh demo data there is no 1.1.0 to publish (404);
// once create-release.json has made it, publishing waits for the package
// (409 package_missing), and once the demo package is PUT to the upload
// URL it is published.
func evRunPublish(t *testing.T, e *env, _ string) {
	resp := evInvoke(t, e, "publish-release")
	checkError(t, reply{status: resp.StatusCode, header: evHeader(resp), body: []byte(resp.Body)}, http.StatusNotFound, "release_not_found")

	created := evInvoke(t, e, "create-release")
	require.Equal(t, http.StatusCreated, created.StatusCode, created.Body)
	resp = evInvoke(t, e, "publish-release")
	checkError(t, reply{status: resp.StatusCode, header: evHeader(resp), body: []byte(resp.Body)}, http.StatusConflict, "package_missing")

	evCreatedRelease(t, created) // uploads the demo package
	resp = evInvoke(t, e, "publish-release")
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
	evReleaseIs("1.1.0", "published")(t, resp)
}

// evUpdates: the demo site runs 0.9.0 and holds a seat: 1.0.0 is offered
// with a presigned download of the demo package, in a private answer.
func evUpdates(t *testing.T, resp events.APIGatewayProxyResponse) {
	var out struct {
		Product         string  `json:"product"`
		Channel         string  `json:"channel"`
		CurrentVersion  *string `json:"current_version"`
		UpdateAvailable bool    `json:"update_available"`
		Latest          *struct {
			Version string `json:"version"`
		} `json:"latest"`
		Package *struct {
			URL    string `json:"url"`
			SHA256 string `json:"sha256"`
			Size   int64  `json:"size"`
		} `json:"package"`
	}
	evBody(t, resp, &out)
	assert.Equal(t, "rankmath-pro", out.Product)
	assert.Equal(t, "stable", out.Channel)
	require.NotNil(t, out.CurrentVersion)
	assert.Equal(t, "0.9.0", *out.CurrentVersion)
	assert.True(t, out.UpdateAvailable)
	require.NotNil(t, out.Latest, resp.Body)
	assert.Equal(t, demo.ReleaseVersion, out.Latest.Version)
	require.NotNil(t, out.Package, resp.Body)
	pkg := demo.Package("rankmath-pro")
	sum := sha256.Sum256(pkg)
	assert.Equal(t, hex.EncodeToString(sum[:]), out.Package.SHA256)
	assert.Equal(t, int64(len(pkg)), out.Package.Size)
	assert.Equal(t, "private, no-store", resp.Headers["Cache-Control"])
	dl, err := http.Get(out.Package.URL)
	require.NoError(t, err)
	defer dl.Body.Close()
	body, err := io.ReadAll(dl.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, dl.StatusCode, "%s", body)
	assert.Equal(t, pkg, body, "the presigned URL serves the demo package")
}

// The expiry job on the demo data (whose licenses expire in years) sends
// nothing; a license provisioned to expire in 5 days gets its 7-day
// reminder, once.
func evRunExpiries(t *testing.T, e *env, file string) {
	ctx := context.Background()
	var ev events.CloudWatchEvent
	evDecode(t, file, &ev)
	handler := schedule.Expiries(e.srv.Service.App, nil)
	res, err := handler(ctx, ev)
	require.NoError(t, err)
	assert.Zero(t, res.ExpiringSoon+res.Expired, "nothing expires soon in the demo data")

	exp := time.Now().Add(5 * 24 * time.Hour).UTC().Format(time.RFC3339)
	_, _, err = e.srv.Service.App.Provision(ctx, licensing.Tenant{Brand: "rankmath", KeyPrefix: "RM"},
		app.ProvisionInput{CustomerEmail: "expiring@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: exp}, "")
	require.NoError(t, err)
	res, err = handler(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, 1, res.ExpiringSoon)
	res, err = handler(ctx, ev)
	require.NoError(t, err)
	assert.Zero(t, res.ExpiringSoon, "a re-run sends nothing again")
}

// evBodyHas checks that the answer contains a piece of JSON.
func evBodyHas(fragment string) func(t *testing.T, resp events.APIGatewayProxyResponse) {
	return func(t *testing.T, resp events.APIGatewayProxyResponse) {
		assert.Contains(t, resp.Body, fragment)
	}
}

func evCreatedWebhook(t *testing.T, resp events.APIGatewayProxyResponse) {
	var w whEndpointJSON
	evBody(t, resp, &w)
	assert.True(t, licensing.ValidID(licensing.KindWebhook, w.ID), w.ID)
	assert.Equal(t, "https://203.0.113.50/hooks/licenses", w.URL)
	assert.Equal(t, "enabled", w.Status)
	assert.Regexp(t, `^whsec_`, w.Secret)
	assert.Equal(t, "no-store", resp.Headers["Cache-Control"], "the secret is not cached")
}

// evRunDeliver hands the SQS sample (an EventBridge event in its body) to
// the delivery function's handler, with a brand endpoint subscribed to
// everything: it receives the event once, under the event's id.
func evRunDeliver(t *testing.T, e *env, file string) {
	var batch events.SQSEvent
	evDecode(t, file, &batch)
	require.Len(t, batch.Records, 1)
	recv := newWHReceiver(t, 0, func(int, whReceived) int { return http.StatusOK })
	// An endpoint from before the sample event (an endpoint gets no event
	// from before its creation).
	secret, err := webhook.NewSecret()
	require.NoError(t, err)
	require.NoError(t, e.srv.Service.Store.CreateWebhook(context.Background(), licensing.WebhookEndpoint{ID: licensing.NewID(licensing.KindWebhook),
		Brand: "rankmath", URL: recv.srv.URL, EventTypes: []string{"*"}, Secret: secret, Status: licensing.WebhookEnabled,
		CreatedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Version: 1}, nil))
	h := webhookqueue.New(e.srv.Service.App, nil, "", nil, nil) // a delivery that works changes no visibility
	resp, err := h.Handle(context.Background(), batch)
	require.NoError(t, err)
	assert.Empty(t, resp.BatchItemFailures)
	got := recv.requests()
	require.Len(t, got, 1)
	assert.Equal(t, "evt_sampleevent222222222", got[0].id)
	assert.Contains(t, string(got[0].body), `"event_type":"LicenseSuspended"`)
}
