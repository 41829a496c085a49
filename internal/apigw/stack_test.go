package apigw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/apigw"
	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dev/demo"
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

// cost is what one request cost in DynamoDB: round trips by operation (from
// the SDK client's HTTP calls) and the capacity units summed from the
// ConsumedCapacity of every call (from the request's log line).
type cost struct {
	ops      map[string]int
	rcu, wcu float64
}

// The DynamoDB round trips and capacity of each product request — the cost
// model — on keys with 1, 100 and 2,000 seats taken: they must not grow
// with the seats, since a product request reads the items it needs by key.
func TestRoundTripsPerRequest(t *testing.T) {
	var costs []map[string]cost
	for _, taken := range []int{1, 100, 2000} {
		costs = append(costs, roundTrips(t, taken))
	}
	for i := 1; i < len(costs); i++ {
		require.Equal(t, costs[0], costs[i], "the cost of every request is the same on a key with more seats")
	}
}

func roundTrips(t *testing.T, taken int) map[string]cost {
	t.Helper()
	counter := dynamotest.NewCounter()
	eng := dynamotest.Start(t, counter.Option())
	a := app.New(eng.Store, nil)
	require.NoError(t, demo.Seed(context.Background(), a.Ops()))
	keys, err := token.LocalKeyring()
	require.NoError(t, err)
	signer, err := token.NewSigner(keys...)
	require.NoError(t, err)
	var logs bytes.Buffer
	f := &stackFixture{eng: eng, api: apigw.New(a, slog.New(slog.NewJSONHandler(&logs, nil)), apigw.Options{Signer: signer}), counter: counter}
	f.key = f.provision(t, taken+10)
	eng.SeedSeats(t, f.key, "rankmath-pro", taken-1)
	ctx := context.Background()
	// The first site takes its seat through the API: the brand's token
	// settings are read once (then cached for a minute).
	resp, err := f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "a.example.com")})
	require.NoError(t, err)
	require.Equal(t, 201, resp.StatusCode, resp.Body)

	steps := []struct {
		name   string
		call   func() (events.APIGatewayProxyResponse, error)
		status int
		ops    map[string]int
		rcu    float64
		wcu    float64
	}{
		// A strongly consistent read of 3 items (key, license, site) at
		// 1 RCU each, then the transaction: the license's update and the
		// activation's and event's puts, 2 WCU each (each under 1 KB).
		{"activate, new seat", func() (events.APIGatewayProxyResponse, error) {
			return f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "c.example.com")})
		}, 201, map[string]int{"BatchGetItem": 1, "TransactWriteItems": 1}, 3, 6},
		// An eventually consistent read of 3 items: 0.5 RCU each.
		{"check", func() (events.APIGatewayProxyResponse, error) {
			return f.api.CheckLicense(ctx, checkRequest(f.key, "a.example.com"))
		}, 200, map[string]int{"BatchGetItem": 1}, 1.5, 0},
		{"check of a site without a seat", func() (events.APIGatewayProxyResponse, error) {
			return f.api.CheckLicense(ctx, checkRequest(f.key, "nowhere.example.com"))
		}, 200, map[string]int{"BatchGetItem": 1}, 1.5, 0},
		// Without a product the key's licenses are read first (not its
		// seats): one Query of the key and its license, then the site.
		{"check without product (one product)", func() (events.APIGatewayProxyResponse, error) {
			return f.api.CheckLicense(ctx, events.APIGatewayProxyRequest{QueryStringParameters: map[string]string{"license_key": f.key, "instance_identifier": "a.example.com"}})
		}, 200, map[string]int{"Query": 1, "BatchGetItem": 1}, 1, 0},
		{"activate, same site again", func() (events.APIGatewayProxyResponse, error) {
			return f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "https://www.a.example.com/")})
		}, 200, map[string]int{"BatchGetItem": 1}, 3, 0},
		{"activate without product", func() (events.APIGatewayProxyResponse, error) {
			return f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: fmt.Sprintf(`{"license_key":%q,"instance_identifier":"b.example.com"}`, f.key)})
		}, 201, map[string]int{"Query": 1, "BatchGetItem": 1, "TransactWriteItems": 1}, 2, 6},
		// A site move reads the previous site's seat too (4 items); its
		// transaction deletes one seat, puts the other and the event, and
		// moves the license's version on (a like-for-like move changes no
		// count, but every change of the license is a new version).
		{"activate, site move", func() (events.APIGatewayProxyResponse, error) {
			return f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: fmt.Sprintf(`{"license_key":%q,"instance_identifier":"moved.example.com","previous_instance_identifier":"b.example.com","product":"rankmath-pro"}`, f.key)})
		}, 201, map[string]int{"BatchGetItem": 1, "TransactWriteItems": 1}, 4, 8},
		{"deactivate", func() (events.APIGatewayProxyResponse, error) {
			return f.api.DeactivateSeat(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "a.example.com")})
		}, 200, map[string]int{"BatchGetItem": 1, "TransactWriteItems": 1}, 3, 6},
		{"deactivate, no such seat", func() (events.APIGatewayProxyResponse, error) {
			return f.api.DeactivateSeat(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "a.example.com")})
		}, 404, map[string]int{"BatchGetItem": 1}, 3, 0},
		{"check, bad key (no I/O)", func() (events.APIGatewayProxyResponse, error) {
			return f.api.CheckLicense(ctx, checkRequest("nope", "a.example.com"))
		}, 400, map[string]int{}, 0, 0},
	}
	out := map[string]cost{}
	for _, s := range steps {
		f.counter.Reset()
		logs.Reset()
		resp, err := s.call()
		require.NoError(t, err)
		require.Equal(t, s.status, resp.StatusCode, "%s (%d seats): %s", s.name, taken, resp.Body)
		lines := logLines(t, &logs)
		require.NotEmpty(t, lines, s.name)
		last := lines[len(lines)-1]
		c := cost{ops: f.counter.ByOperation(), rcu: last["dynamodb_rcu"].(float64), wcu: last["dynamodb_wcu"].(float64)}
		require.Equal(t, s.ops, c.ops, "%s (%d seats)", s.name, taken)
		require.Equal(t, s.rcu, c.rcu, "%s (%d seats): read units", s.name, taken)
		require.Equal(t, s.wcu, c.wcu, "%s (%d seats): write units", s.name, taken)
		t.Logf("%-40s %d seats: %v rcu=%v wcu=%v", s.name, taken, c.ops, c.rcu, c.wcu)
		out[s.name] = c
	}
	return out
}

// logLines are the request log lines written to b.
func logLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n")) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m), string(line))
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func TestRoundTripsSignedCheck(t *testing.T) {
	f := newStack(t, 5)
	ctx := context.Background()
	_, err := f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "c.example.com")})
	require.NoError(t, err)
	// The counts above include signing: a check of a seat carries its token.
	resp, err := f.api.CheckLicense(ctx, checkRequest(f.key, "c.example.com"))
	require.NoError(t, err)
	require.Contains(t, resp.Body, `"license_token":"ey`)
}
