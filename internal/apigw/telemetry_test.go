package apigw_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/apigw"
	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/telemetry"
)

func jsonLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		out = append(out, m)
	}
	return out
}

// One log line per request with its DynamoDB round trips, and EMF metrics
// for the business signals with few-valued dimensions.
func TestRequestLogsAndMetrics(t *testing.T) {
	f := newStack(t, 1)
	var logs, metrics bytes.Buffer
	api := apigw.New(app.New(f.eng.Store, nil), slog.New(slog.NewJSONHandler(&logs, nil)), apigw.Options{Metrics: telemetry.NewMetrics(&metrics)})
	ctx := context.Background()

	resp, err := api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "a.example.com")})
	require.NoError(t, err)
	require.Equal(t, 201, resp.StatusCode)
	resp, err = api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "b.example.com")})
	require.NoError(t, err)
	require.Equal(t, 409, resp.StatusCode)
	resp, err = api.CheckLicense(ctx, checkRequest(f.key, "a.example.com"))
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	resp, err = api.SuspendLicense(ctx, events.APIGatewayProxyRequest{
		Headers:        map[string]string{"X-API-Key": demo.Brands[0].APIKey},
		PathParameters: map[string]string{"id": licenseIDOf(t, api, f.key)},
	})
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	resp, err = api.CheckLicense(ctx, checkRequest(f.key, "a.example.com"))
	require.NoError(t, err)

	var requests []map[string]any
	for _, l := range jsonLines(t, &logs) {
		if l["msg"] == "request" {
			requests = append(requests, l)
		}
	}
	require.GreaterOrEqual(t, len(requests), 5)
	for _, l := range requests {
		for _, k := range []string{"request_id", "use_case", "brand", "status", "outcome", "latency_ms", "dynamodb_round_trips"} {
			assert.Contains(t, l, k)
		}
		assert.NotContains(t, l, "license_key")
	}
	assert.Equal(t, 2.0, requests[0]["dynamodb_round_trips"], "activate: read and transaction")
	assert.Equal(t, "rankmath", requests[0]["brand"])
	assert.Equal(t, "no_seats_available", requests[1]["outcome"])
	assert.Equal(t, 1.0, requests[2]["dynamodb_round_trips"], "check: one Query")
	assert.Equal(t, "valid", requests[2]["outcome"])
	last := requests[len(requests)-1]
	assert.Equal(t, "license_suspended", last["outcome"], "checks log why a license is not valid")
	assert.NotContains(t, logs.String(), f.key, "no license key in the logs")
	assert.NotContains(t, logs.String(), demo.Brands[0].APIKey, "no API key in the logs")

	seen := map[string][]string{}
	for _, l := range jsonLines(t, &metrics) {
		aws := l["_aws"].(map[string]any)
		cw := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
		dims := []string{}
		for _, d := range cw["Dimensions"].([]any)[0].([]any) {
			dims = append(dims, d.(string)+"="+l[d.(string)].(string))
		}
		for _, m := range cw["Metrics"].([]any) {
			name := m.(map[string]any)["Name"].(string)
			seen[name] = append(seen[name], dims...)
		}
	}
	assert.Contains(t, seen["Activations"], "Brand=rankmath")
	assert.Contains(t, seen, "SeatLimitRejections")
	assert.Contains(t, seen["Checks"], "Outcome=valid")
	assert.Contains(t, seen["Checks"], "Outcome=license_suspended")
	assert.Contains(t, seen["LifecycleChanges"], "Action=suspend")
	assert.Contains(t, seen["Requests"], "UseCase=activate-license")
	for name, dims := range seen {
		for _, d := range dims {
			assert.NotContains(t, d, "lic_", "%s: no ids as dimensions", name)
			assert.NotContains(t, d, "RM-", "%s: no keys as dimensions", name)
		}
	}
}

func licenseIDOf(t *testing.T, api *apigw.API, key string) string {
	t.Helper()
	resp, err := api.CheckLicense(context.Background(), checkRequest(key, ""))
	require.NoError(t, err)
	var c struct {
		License struct{ ID string } `json:"license"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &c))
	return c.License.ID
}

// Work is bounded: a request whose deadline has passed answers 503 rather
// than waiting on DynamoDB.
func TestDeadlinePassedIsUnavailable(t *testing.T) {
	f := newStack(t, 1)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	resp, err := f.api.CheckLicense(ctx, checkRequest(f.key, "a.example.com"))
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode, resp.Body)
	assert.Equal(t, "1", resp.Headers["Retry-After"])
	assert.Contains(t, resp.Body, "service_unavailable")
}

// The brand authorizer's line and the EDD endpoint's request lines carry
// the use case and outcome, never the API key or the license key they read
// (from a header, a form body, a query string, in any case).
func TestAuthorizerAndEDDLogsKeepSecretsOut(t *testing.T) {
	f := newStack(t, 1)
	var logs bytes.Buffer
	api := apigw.New(app.New(f.eng.Store, nil), slog.New(slog.NewJSONHandler(&logs, nil)), apigw.Options{})
	ctx := context.Background()
	const wrongAPIKey = "wrong-api-key-0123456789abcdef"

	for _, key := range []string{demo.Brands[0].APIKey, wrongAPIKey} {
		_, _ = api.AuthorizeBrand(ctx, events.APIGatewayCustomAuthorizerRequestTypeRequest{
			MethodArn: "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/api/v1/brand/products",
			Headers:   map[string]string{"x-api-key": key},
		})
	}
	lower := strings.ToLower(f.key)
	for _, req := range []events.APIGatewayProxyRequest{
		{HTTPMethod: "POST", Path: "/api/v1/product/edd", Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			Body: "edd_action=activate_license&item_id=rankmath-pro&url=edd.example.com&license=" + f.key},
		{HTTPMethod: "GET", Path: "/api/v1/product/edd", QueryStringParameters: map[string]string{
			"edd_action": "check_license", "license": lower, "item_id": "rankmath-pro", "url": "edd.example.com"}},
		{HTTPMethod: "POST", Path: "/api/v1/product/edd", IsBase64Encoded: true,
			Body: base64.StdEncoding.EncodeToString([]byte("edd_action=deactivate_license&item_id=rankmath-pro&url=edd.example.com&license=" + lower))},
	} {
		resp, err := api.EDD(ctx, req)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, resp.Body)
	}

	var outcomes []string
	for _, l := range jsonLines(t, &logs) {
		switch l["msg"] {
		case "authorize":
			assert.Equal(t, "authorize-brand", l["use_case"])
			outcomes = append(outcomes, l["outcome"].(string))
		case "request":
			assert.Equal(t, "edd", l["use_case"])
			assert.Equal(t, "rankmath", l["brand"])
			outcomes = append(outcomes, l["outcome"].(string))
		}
	}
	assert.Equal(t, []string{"allow", "unauthorized", "valid", "valid", "deactivated"}, outcomes)
	out := strings.ToLower(logs.String())
	for _, secret := range []string{f.key, demo.Brands[0].APIKey, wrongAPIKey} {
		assert.NotContains(t, out, strings.ToLower(secret), "the logs hold a secret")
	}
}

// A license key in a request's path (support pasted a key where an id
// goes) is logged masked, and a long path is cut.
func TestRequestLogMasksKeysInPaths(t *testing.T) {
	f := newStack(t, 1)
	var logs bytes.Buffer
	api := apigw.New(app.New(f.eng.Store, nil), slog.New(slog.NewJSONHandler(&logs, nil)), apigw.Options{})
	ctx := context.Background()
	resp, err := api.GetLicense(ctx, events.APIGatewayProxyRequest{
		HTTPMethod: "GET", Path: "/api/v1/brand/licenses/" + strings.ToLower(f.key),
		Headers:        map[string]string{"X-API-Key": demo.Brands[0].APIKey},
		PathParameters: map[string]string{"id": strings.ToLower(f.key)},
	})
	require.NoError(t, err)
	require.Equal(t, 404, resp.StatusCode, resp.Body)
	long := "/api/v1/product/licenses/check/" + strings.Repeat("x", 1000)
	_, err = api.CheckLicense(ctx, events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: long})
	require.NoError(t, err)

	var paths []string
	for _, l := range jsonLines(t, &logs) {
		if l["msg"] == "request" {
			paths = append(paths, l["path"].(string))
		}
	}
	require.Len(t, paths, 2)
	masked := strings.ToLower(f.key[:strings.IndexByte(f.key, '-')]) + "-****-****-****-" + strings.ToLower(f.key[len(f.key)-4:])
	assert.Equal(t, "/api/v1/brand/licenses/"+masked, paths[0])
	assert.NotContains(t, strings.ToUpper(logs.String()), strings.ToUpper(f.key), "no license key in the logs, in any case")
	assert.LessOrEqual(t, len(paths[1]), telemetry.MaxLogPath)
	assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(paths[1], "…")))
}
