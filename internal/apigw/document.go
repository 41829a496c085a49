package apigw

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/api"
)

// DocumentMaxAge is how long a client or cache may keep the OpenAPI document.
const DocumentMaxAge = 5 * time.Minute

// OpenAPI is GET /api/v1/openapi.json: the service's contract (api/openapi.yaml)
// as JSON, from the binary, cacheable for DocumentMaxAge, with an ETag that
// If-None-Match turns into a 304.
func (h *API) OpenAPI(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.public("openapi", func(context.Context, events.APIGatewayProxyRequest) (result, error) {
		doc := api.JSON
		etag := etagOf(doc)
		headers := map[string]string{
			"Cache-Control": "public, max-age=" + strconv.Itoa(int(DocumentMaxAge/time.Second)),
			"ETag":          etag,
		}
		body := string(doc)
		if matchesETag(header(req, "If-None-Match"), etag) {
			body = ""
			return result{status: http.StatusNotModified, raw: &body, headers: headers}, nil
		}
		return result{status: http.StatusOK, raw: &body, headers: headers}, nil
	})(ctx, req)
}
