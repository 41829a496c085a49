// Package licensing holds the domain of the license service: brands, products,
// license keys, licenses and their lifecycle, the value objects that validate
// what comes from outside, and the typed errors every layer speaks. It has no
// AWS imports and does no I/O.
package licensing

import (
	"errors"
	"fmt"
)

// Code is a machine-readable error code, part of the public API contract.
type Code string

// The error codes of the API contract. Adapters map them to transport statuses
// in one place (see internal/apigw).
const (
	CodeValidation           Code = "validation_error"
	CodeInvalidJSON          Code = "invalid_json"
	CodeUnauthorized         Code = "unauthorized"
	CodeLicenseSuspended     Code = "license_suspended"
	CodeLicenseCancelled     Code = "license_cancelled"
	CodeLicenseExpired       Code = "license_expired"
	CodeLicenseNotFound      Code = "license_not_found"
	CodeProductNotFound      Code = "product_not_found"
	CodeActivationNotFound   Code = "activation_not_found"
	CodeBrandNotFound        Code = "brand_not_found"
	CodeAPIKeyNotFound       Code = "api_key_not_found"
	CodeNoSeatsAvailable     Code = "no_seats_available"
	CodeInvalidTransition    Code = "invalid_transition"
	CodeAlreadyExists        Code = "already_exists"
	CodeRequestInProgress    Code = "request_in_progress"
	CodePayloadTooLarge      Code = "payload_too_large"
	CodeIdempotencyKeyReused Code = "idempotency_key_reused"
	CodeRateLimited          Code = "rate_limited"
	CodeServiceUnavailable   Code = "service_unavailable"
	CodeInternal             Code = "internal_error"
)

// Error is a domain error: a code for machines, a message safe to show to a
// client, optionally the request field at fault, and the cause (never shown).
type Error struct {
	Code    Code
	Message string
	Field   string
	Err     error
}

func (e *Error) Error() string {
	msg := string(e.Code) + ": " + e.Message
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid builds a validation error naming the field at fault and why.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeValidation, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// Unavailable wraps a cause (throttling, a timeout, an outage of a dependency)
// as a service_unavailable error; the cause is kept for logs only.
func Unavailable(cause error) *Error {
	return &Error{Code: CodeServiceUnavailable, Message: "the service is temporarily unavailable, retry later", Err: cause}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal for any other non-nil error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return CodeInternal
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code Code) bool { return err != nil && ErrorCode(err) == code }
