package apigw

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/token"
)

// DefaultKeysMaxAge is the default Cache-Control max-age of the JWKS answer.
const DefaultKeysMaxAge = 5 * time.Minute

// KeysHandler is GET /api/v1/product/keys: the public keys that verify the
// license tokens of check and activate, as a JWKS document (signing key
// first, older keys of the ring after it), cacheable for maxAge (zero or
// less: DefaultKeysMaxAge). Without a signer (its secret could not be read
// at start) it answers 503 service_unavailable, uncached.
func KeysHandler(s *token.Signer, maxAge time.Duration) Handler {
	if s == nil {
		return func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return errorResponse(licensing.Unavailable(errors.New("no token signer: the signing key secret could not be read"))), nil
		}
	}
	if maxAge <= 0 {
		maxAge = DefaultKeysMaxAge
	}
	body := string(s.JWKS())
	cacheControl := "public, max-age=" + strconv.Itoa(int(maxAge/time.Second))
	return func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{
			StatusCode: http.StatusOK,
			Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": cacheControl},
			Body:       body,
		}, nil
	}
}
