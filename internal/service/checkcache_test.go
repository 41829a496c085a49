package service_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/apigw"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/service"
)

// checkQuery is a check request of the demo seat.
func checkQuery(key string) events.APIGatewayProxyRequest {
	return events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet, Path: "/api/v1/product/licenses/check",
		QueryStringParameters: map[string]string{"license_key": key, "instance_identifier": demo.DemoSite, "product": "rankmath-pro"}}
}

// CHECK_CACHE_MAX_AGE sets how long an edge cache may serve a check answer:
// the service wired from the environment answers checks with that max-age
// (a 304 too), and errors are never cached.
func TestCheckMaxAgeFromEnvironment(t *testing.T) {
	eng := dynamotest.Start(t)
	t.Setenv("DYNAMODB_ENDPOINT", eng.URL)
	t.Setenv("TABLE_NAME", eng.Table)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("SIGNING_KEY_SECRET_ID", "")
	t.Setenv("CHECK_CACHE_MAX_AGE", "17")
	c := service.ConfigFromEnv()
	require.Equal(t, 17*time.Second, c.CheckMaxAge)

	ctx := context.Background()
	s, err := service.New(ctx, c, nil, nil)
	require.NoError(t, err)
	require.NoError(t, demo.Seed(ctx, s.App.Ops()))

	resp, err := s.API.CheckLicense(ctx, checkQuery(demo.RankMathKey))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
	assert.Equal(t, "public, max-age=17", resp.Headers["Cache-Control"])
	require.NotEmpty(t, resp.Headers["ETag"])

	cond := checkQuery(demo.RankMathKey)
	cond.Headers = map[string]string{"If-None-Match": resp.Headers["ETag"]}
	resp, err = s.API.CheckLicense(ctx, cond)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotModified, resp.StatusCode, resp.Body)
	assert.Equal(t, "public, max-age=17", resp.Headers["Cache-Control"])

	for _, refused := range []struct {
		key    string
		status int
	}{{"RM-2345-6789-ABCD-EFGH", http.StatusNotFound}, {"not-a-key", http.StatusBadRequest}} {
		resp, err = s.API.CheckLicense(ctx, checkQuery(refused.key))
		require.NoError(t, err)
		require.Equal(t, refused.status, resp.StatusCode, resp.Body)
		assert.Equal(t, "no-store", resp.Headers["Cache-Control"], "an error is never cached")
	}
}

// Without a usable CHECK_CACHE_MAX_AGE the default max-age holds.
func TestCheckMaxAgeDefault(t *testing.T) {
	for _, v := range []string{"", "0", "-5", "abc", "1.5", " 17"} {
		t.Setenv("CHECK_CACHE_MAX_AGE", v)
		c := service.ConfigFromEnv()
		assert.Zero(t, c.CheckMaxAge, "%q", v)
	}

	eng := dynamotest.Start(t)
	ctx := context.Background()
	s, err := service.New(ctx, service.Config{DynamoDBEndpoint: eng.URL, TableName: eng.Table, Region: "us-east-1"}, nil, nil)
	require.NoError(t, err)
	require.NoError(t, demo.Seed(ctx, s.App.Ops()))
	resp, err := s.API.CheckLicense(ctx, checkQuery(demo.RankMathKey))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
	assert.Equal(t, "public, max-age=60", resp.Headers["Cache-Control"])
	assert.Equal(t, 60*time.Second, apigw.DefaultCheckMaxAge)
}
