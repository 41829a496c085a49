package apigw

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/licensing"
)

// Authorizer context keys: what the brand authorizer hands the brand functions.
const (
	ctxBrand    = "brand"
	ctxPrefix   = "key_prefix"
	ctxAPIKeyID = "api_key_id"
)

// ErrUnauthorized is what a Lambda authorizer returns for API Gateway to
// answer 401: API Gateway matches this exact message.
var ErrUnauthorized = errors.New("Unauthorized")

// AuthorizeBrand is the API Gateway REQUEST authorizer of the brand routes:
// it resolves X-API-Key to its brand by the key's hash, allows the whole API
// stage (so that API Gateway may cache the answer per key) and passes the
// brand in the authorizer context. The usage plan (throttle, quota) meters
// the same key: API Gateway reads it from X-API-Key, its default key source,
// and the key is also returned as usageIdentifierKey so that the API may
// switch to ApiKeySourceType AUTHORIZER without a code change. Unknown or
// revoked keys get 401; a DynamoDB outage is an error (API Gateway answers
// 5xx, never allow).
func (h *API) AuthorizeBrand(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	start := time.Now()
	key := headerIn(req.Headers, req.MultiValueHeaders, "X-API-Key")
	t, err := h.app.Authenticate(ctx, key)
	outcome := "allow"
	if err != nil {
		outcome = string(licensing.ErrorCode(err))
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "authorize",
		slog.String("request_id", req.RequestContext.RequestID), slog.String("use_case", "authorize-brand"),
		slog.String("brand", t.Brand), slog.String("outcome", outcome), slog.Int64("latency_ms", time.Since(start).Milliseconds()))
	switch {
	case licensing.IsCode(err, licensing.CodeUnauthorized):
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	case err != nil:
		return events.APIGatewayCustomAuthorizerResponse{}, err
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: "brand:" + t.Brand,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{stageWildcard(req.MethodArn)},
			}},
		},
		Context:            map[string]any{ctxBrand: t.Brand, ctxPrefix: t.KeyPrefix, ctxAPIKeyID: t.APIKeyID},
		UsageIdentifierKey: key,
	}, nil
}

// stageWildcard turns arn:…:api/stage/METHOD/path into arn:…:api/stage/*/*,
// so that a cached answer allows every route of the stage.
func stageWildcard(methodARN string) string {
	parts := strings.SplitN(methodARN, "/", 3)
	if len(parts) < 2 {
		return methodARN
	}
	return parts[0] + "/" + parts[1] + "/*/*"
}

// tenantFromAuthorizer reads the tenant the brand authorizer resolved, when
// API Gateway ran it (in AWS); the local API has no authorizer.
func tenantFromAuthorizer(req events.APIGatewayProxyRequest) (licensing.Tenant, bool) {
	a := req.RequestContext.Authorizer
	brand, _ := a[ctxBrand].(string)
	if brand == "" {
		return licensing.Tenant{}, false
	}
	prefix, _ := a[ctxPrefix].(string)
	id, _ := a[ctxAPIKeyID].(string)
	return licensing.Tenant{Brand: brand, KeyPrefix: prefix, APIKeyID: id}, true
}
