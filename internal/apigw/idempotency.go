package apigw

import (
	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

// idempotencyBody is the optional idempotency_key field of a brand
// mutation's JSON body; request structs embed it.
type idempotencyBody struct {
	IdempotencyKey string `json:"idempotency_key"`
}

// idempotencyKey is a brand mutation's idempotency key: the Idempotency-Key
// header or the body's idempotency_key (in, empty for a route without a
// body); when both are sent they must agree. "" is none.
func idempotencyKey(req events.APIGatewayProxyRequest, in idempotencyBody) (string, error) {
	key, err := app.ParseIdempotencyKey(header(req, "Idempotency-Key"))
	if err != nil {
		return "", err
	}
	body, err := app.ParseIdempotencyKey(in.IdempotencyKey)
	if err != nil {
		return "", err
	}
	if body == "" {
		return key, nil
	}
	if key != "" && key != body {
		return "", licensing.Invalid("idempotency_key", "differs from the Idempotency-Key header")
	}
	return body, nil
}

// replayedIf marks the answer of a replayed idempotent request.
func (r result) replayedIf(replayed bool) result {
	if !replayed {
		return r
	}
	if r.headers == nil {
		r.headers = map[string]string{}
	}
	r.headers["Idempotent-Replayed"] = "true"
	return r
}
