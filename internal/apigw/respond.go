// Package apigw adapts the use cases to API Gateway REST (proxy integration):
// it decodes requests, authenticates brands, renders JSON and maps domain
// errors to HTTP statuses in one table.
package apigw

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/licensing"
)

// statusOf is the one place where error codes meet HTTP statuses.
var statusOf = map[licensing.Code]int{
	licensing.CodeValidation:           http.StatusBadRequest,
	licensing.CodeInvalidJSON:          http.StatusBadRequest,
	licensing.CodeUnauthorized:         http.StatusUnauthorized,
	licensing.CodeLicenseSuspended:     http.StatusForbidden,
	licensing.CodeLicenseCancelled:     http.StatusForbidden,
	licensing.CodeLicenseExpired:       http.StatusForbidden,
	licensing.CodeLicenseNotFound:      http.StatusNotFound,
	licensing.CodeProductNotFound:      http.StatusNotFound,
	licensing.CodeActivationNotFound:   http.StatusNotFound,
	licensing.CodeBrandNotFound:        http.StatusNotFound,
	licensing.CodeAPIKeyNotFound:       http.StatusNotFound,
	licensing.CodeNoSeatsAvailable:     http.StatusConflict,
	licensing.CodeInvalidTransition:    http.StatusConflict,
	licensing.CodeAlreadyExists:        http.StatusConflict,
	licensing.CodeRequestInProgress:    http.StatusConflict,
	licensing.CodePayloadTooLarge:      http.StatusRequestEntityTooLarge,
	licensing.CodeIdempotencyKeyReused: http.StatusUnprocessableEntity,
	licensing.CodeRateLimited:          http.StatusTooManyRequests,
	licensing.CodeServiceUnavailable:   http.StatusServiceUnavailable,
	licensing.CodeInternal:             http.StatusInternalServerError,
	licensing.CodeReleaseNotFound:      http.StatusNotFound,
	licensing.CodePackageMissing:       http.StatusConflict,
	licensing.CodePackageMismatch:      http.StatusConflict,
	licensing.CodeDownloadExpired:      http.StatusForbidden,
	licensing.CodeReleasesUnavailable:  http.StatusServiceUnavailable,
	licensing.CodeWebhookNotFound:      http.StatusNotFound,
	licensing.CodeDeliveryNotFound:     http.StatusNotFound,
	licensing.CodeWebhookLimit:         http.StatusConflict,
	licensing.CodeRotationInProgress:   http.StatusConflict,
}

// StatusOf returns the HTTP status for an error code (500 when unknown).
func StatusOf(code licensing.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// retryAfterSeconds is what a 503 or 409 request_in_progress tells clients to wait.
const retryAfterSeconds = 1

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    licensing.Code `json:"code"`
	Message string         `json:"message"`
	Field   string         `json:"field,omitempty"`
}

// errorResponse renders err for a client: a domain error's code and message,
// and for anything else a generic 500 that reveals nothing of the cause.
func errorResponse(err error) events.APIGatewayProxyResponse {
	d := errorDetail{Code: licensing.CodeInternal, Message: "internal error"}
	if e, ok := errors.AsType[*licensing.Error](err); ok {
		d = errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}
	}
	status := StatusOf(d.Code)
	resp := jsonResponse(status, errorBody{Error: d})
	resp.Headers["Cache-Control"] = "no-store"
	if status == http.StatusServiceUnavailable || d.Code == licensing.CodeRequestInProgress {
		resp.Headers["Retry-After"] = strconv.Itoa(retryAfterSeconds)
	}
	return resp
}

// jsonResponse renders body as JSON without HTML escaping: presigned URLs
// keep their "&" (not "\u0026"), so that a shell script can cut them out.
func jsonResponse(status int, body any) events.APIGatewayProxyResponse {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(body)
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err != nil { // only plain DTOs are rendered; this is a programming error
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal_error","message":"internal error"}}`)
	}
	return events.APIGatewayProxyResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(b),
	}
}
