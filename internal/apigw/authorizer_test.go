package apigw_test

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	miniserver "github.com/truora/minidyn/server"

	"github.com/clsvc/license-service/internal/dev/demo"
)

func authorizerRequest(key string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	return events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:      "REQUEST",
		MethodArn: "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/GET/api/v1/brand/products",
		Headers:   map[string]string{"x-api-key": key},
	}
}

func TestAuthorizeBrand(t *testing.T) {
	f := newStack(t, 1)
	ctx := context.Background()

	f.counter.Reset()
	resp, err := f.api.AuthorizeBrand(ctx, authorizerRequest(demo.Brands[0].APIKey))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"GetItem": 1}, f.counter.ByOperation(), "one read per (uncached) authorization")
	assert.Equal(t, "brand:rankmath", resp.PrincipalID)
	assert.Equal(t, demo.Brands[0].APIKey, resp.UsageIdentifierKey, "the usage plan meters the brand's own key")
	assert.Equal(t, "rankmath", resp.Context["brand"])
	assert.Equal(t, "RM", resp.Context["key_prefix"])
	require.Len(t, resp.PolicyDocument.Statement, 1)
	st := resp.PolicyDocument.Statement[0]
	assert.Equal(t, "Allow", st.Effect)
	assert.Equal(t, []string{"arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/*/*"}, st.Resource,
		"the whole stage, so that a cached answer serves every brand route")

	for _, key := range []string{"", "not-a-key", demo.Brands[0].APIKey + "x"} {
		_, err := f.api.AuthorizeBrand(ctx, authorizerRequest(key))
		require.Error(t, err)
		assert.Equal(t, "Unauthorized", err.Error(), "API Gateway answers 401 for exactly this error")
	}

	// An outage is an error, never an Allow.
	f.eng.Server.EmulateFailure(miniserver.FailureConditionInternalServerError)
	defer f.eng.Server.EmulateFailure(miniserver.FailureConditionNone)
	resp, err = f.api.AuthorizeBrand(ctx, authorizerRequest(demo.Brands[0].APIKey))
	require.Error(t, err)
	assert.NotEqual(t, "Unauthorized", err.Error())
	assert.Empty(t, resp.PolicyDocument.Statement)
}

// Behind the authorizer the brand comes from its context: no second lookup,
// and no X-API-Key needed on the proxied request.
func TestBrandRoutesTrustTheAuthorizerContext(t *testing.T) {
	f := newStack(t, 1)
	ctx := context.Background()
	req := events.APIGatewayProxyRequest{HTTPMethod: "GET"}
	req.RequestContext.Authorizer = map[string]any{"brand": "wp-rocket", "key_prefix": "WPR", "api_key_id": "key_x"}
	f.counter.Reset()
	resp, err := f.api.ListProducts(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, resp.Body, `"slug":"wp-rocket"`)
	assert.NotContains(t, resp.Body, "rankmath")
	assert.Equal(t, map[string]int{"Query": 1}, f.counter.ByOperation())

	// Without it (the local API) the key is resolved here, and required.
	resp, err = f.api.ListProducts(ctx, events.APIGatewayProxyRequest{HTTPMethod: "GET"})
	require.NoError(t, err)
	assert.Equal(t, 401, resp.StatusCode)
}
