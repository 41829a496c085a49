package apigw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/apigw"
	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/demo"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/token"
)

// stackFixture is the full handler stack (API → use cases → DynamoDB store)
// on the embedded engine, with a round-trip counter on the SDK client.
type stackFixture struct {
	eng     *dynamotest.Engine
	api     *apigw.API
	counter *dynamotest.Counter
	key     string // a license key of rankmath-pro with many seats
}

func newStack(tb testing.TB, seats int) *stackFixture {
	tb.Helper()
	counter := dynamotest.NewCounter()
	eng := dynamotest.Start(tb, counter.Option())
	a := app.New(eng.Store, nil)
	require.NoError(tb, demo.Seed(context.Background(), a.Ops()))
	// Signed like in AWS: answers carry a license token.
	keys, err := token.LocalKeyring()
	require.NoError(tb, err)
	signer, err := token.NewSigner(keys...)
	require.NoError(tb, err)
	f := &stackFixture{eng: eng, api: apigw.New(a, nil, apigw.Options{Signer: signer}), counter: counter}
	f.key = f.provision(tb, seats)
	return f
}

func (f *stackFixture) provision(tb testing.TB, seats int) string {
	tb.Helper()
	resp, err := f.api.ProvisionLicense(context.Background(), events.APIGatewayProxyRequest{
		HTTPMethod: "POST", Headers: map[string]string{"X-API-Key": demo.Brands[0].APIKey},
		Body: fmt.Sprintf(`{"customer_email":"bench@example.com","products":["rankmath-pro"],"max_seats":%d}`, seats),
	})
	require.NoError(tb, err)
	require.Equal(tb, 201, resp.StatusCode, resp.Body)
	var out struct {
		LicenseKey struct{ Key string } `json:"license_key"`
	}
	require.NoError(tb, json.Unmarshal([]byte(resp.Body), &out))
	return out.LicenseKey.Key
}

func seatBody(key, site string) string {
	return fmt.Sprintf(`{"license_key":%q,"instance_identifier":%q,"product":"rankmath-pro"}`, key, site)
}

func checkRequest(key, site string) events.APIGatewayProxyRequest {
	return events.APIGatewayProxyRequest{HTTPMethod: "GET", QueryStringParameters: map[string]string{
		"license_key": key, "instance_identifier": site, "product": "rankmath-pro",
	}}
}

// The DynamoDB round trips of each product request: the cost model.
func TestRoundTripsPerRequest(t *testing.T) {
	f := newStack(t, 5)
	ctx := context.Background()
	steps := []struct {
		name   string
		call   func() (events.APIGatewayProxyResponse, error)
		status int
		ops    map[string]int
	}{
		{"activate, new seat, the brand's token settings not cached yet", func() (events.APIGatewayProxyResponse, error) {
			return f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "a.example.com")})
		}, 201, map[string]int{"Query": 1, "TransactWriteItems": 1, "GetItem": 1}},
		{"activate, new seat", func() (events.APIGatewayProxyResponse, error) {
			return f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "c.example.com")})
		}, 201, map[string]int{"Query": 1, "TransactWriteItems": 1}},
		{"check", func() (events.APIGatewayProxyResponse, error) {
			return f.api.CheckLicense(ctx, checkRequest(f.key, "a.example.com"))
		}, 200, map[string]int{"Query": 1}},
		{"check without product (one product)", func() (events.APIGatewayProxyResponse, error) {
			return f.api.CheckLicense(ctx, events.APIGatewayProxyRequest{QueryStringParameters: map[string]string{"license_key": f.key}})
		}, 200, map[string]int{"Query": 1}},
		{"activate, same site again", func() (events.APIGatewayProxyResponse, error) {
			return f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "https://www.a.example.com/")})
		}, 200, map[string]int{"Query": 1}},
		{"activate without product", func() (events.APIGatewayProxyResponse, error) {
			return f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: fmt.Sprintf(`{"license_key":%q,"instance_identifier":"b.example.com"}`, f.key)})
		}, 201, map[string]int{"Query": 1, "TransactWriteItems": 1}},
		{"deactivate", func() (events.APIGatewayProxyResponse, error) {
			return f.api.DeactivateSeat(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "a.example.com")})
		}, 200, map[string]int{"Query": 1, "TransactWriteItems": 1}},
		{"deactivate, no such seat", func() (events.APIGatewayProxyResponse, error) {
			return f.api.DeactivateSeat(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "a.example.com")})
		}, 404, map[string]int{"Query": 1}},
		{"check, bad key (no I/O)", func() (events.APIGatewayProxyResponse, error) {
			return f.api.CheckLicense(ctx, checkRequest("nope", "a.example.com"))
		}, 400, map[string]int{}},
	}
	for _, s := range steps {
		f.counter.Reset()
		resp, err := s.call()
		require.NoError(t, err)
		require.Equal(t, s.status, resp.StatusCode, "%s: %s", s.name, resp.Body)
		require.Equal(t, s.ops, f.counter.ByOperation(), s.name)
	}
	// The counts above include signing: a check of a seat carries its token.
	resp, err := f.api.CheckLicense(ctx, checkRequest(f.key, "c.example.com"))
	require.NoError(t, err)
	require.Contains(t, resp.Body, `"license_token":"ey`)
}
