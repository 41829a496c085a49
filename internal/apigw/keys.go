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
// less: DefaultKeysMaxAge). While the source has no signer (its secret could
// not be read yet) it answers 503 service_unavailable, uncached.
func KeysHandler(src token.Source, maxAge time.Duration) Handler {
	if maxAge <= 0 {
		maxAge = DefaultKeysMaxAge
	}
	cacheControl := "public, max-age=" + strconv.Itoa(int(maxAge/time.Second))
	return func(ctx context.Context, _ events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		var s *token.Signer
		if src != nil {
			s = src.Current(ctx)
		}
		if s == nil {
			return errorResponse(licensing.Unavailable(errors.New("no token signer: the signing key secret could not be read"))), nil
		}
		return events.APIGatewayProxyResponse{
			StatusCode: http.StatusOK,
			Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": cacheControl},
			Body:       string(s.JWKS()),
		}, nil
	}
}
