package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/licensing"
)

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name, body string
		code       licensing.Code
		field      string
	}{
		{"ok", `{"customer_email":"a@b.co","products":["x"],"max_seats":2}`, "", ""},
		{"empty body is an empty object", ``, "", ""},
		{"null fields", `{"customer_email":null,"max_seats":null}`, "", ""},
		{"malformed", `{"customer_email":`, licensing.CodeInvalidJSON, ""},
		{"not an object", `[1,2]`, licensing.CodeInvalidJSON, ""},
		{"a string", `"hello"`, licensing.CodeInvalidJSON, ""},
		{"null", ` null `, licensing.CodeInvalidJSON, ""},
		{"trailing data", `{} {}`, licensing.CodeInvalidJSON, ""},
		{"trailing garbage", `{}x`, licensing.CodeInvalidJSON, ""},
		{"invalid utf-8", "{\"customer_email\":\"\xff\"}", licensing.CodeInvalidJSON, ""},
		{"unknown field", `{"customer_email":"a@b.co","seats":3}`, licensing.CodeValidation, "seats"},
		{"field name in another case", `{"CUSTOMER_EMAIL":"a@b.co"}`, licensing.CodeValidation, "CUSTOMER_EMAIL"},
		{"string for int", `{"max_seats":"3"}`, licensing.CodeValidation, "max_seats"},
		{"float for int", `{"max_seats":1.5}`, licensing.CodeValidation, "max_seats"},
		{"huge int", `{"max_seats":1e30}`, licensing.CodeValidation, "max_seats"},
		{"string for list", `{"products":"x"}`, licensing.CodeValidation, "products"},
		{"number in list", `{"products":[1]}`, licensing.CodeValidation, "products"},
		{"number for string", `{"customer_email":5}`, licensing.CodeValidation, "customer_email"},
		{"a key twice", `{"customer_email":"a@b.co","customer_email":"c@d.co"}`, licensing.CodeInvalidJSON, ""},
		{"a key twice, once escaped", `{"max_seats":1,"max_\u0073eats":2}`, licensing.CodeInvalidJSON, ""},
		{"a key twice with values of other types", `{"max_seats":1,"max_seats":"x"}`, licensing.CodeInvalidJSON, ""},
		{"an unknown key twice", `{"x":1,"x":1}`, licensing.CodeInvalidJSON, ""},
		{"a key twice in a nested object", `{"products":["x"],"customer_email":"a@b.co","x":{"a":1,"a":2}}`, licensing.CodeInvalidJSON, ""},
		{"the same key in two objects is fine", `{"x":{"a":1},"y":{"a":1}}`, licensing.CodeValidation, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst provisionRequest
			err := DecodeStrict([]byte(tt.body), &dst)
			if tt.code == "" {
				require.NoError(t, err)
				return
			}
			var e *licensing.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.code, e.Code)
			assert.Equal(t, tt.field, e.Field)
			assert.NotEmpty(t, e.Message)
		})
	}
}

func TestDuplicateKey(t *testing.T) {
	for body, want := range map[string]string{
		`{"a":1,"a":2}`:                       "a",
		`{"a":1,"b":{"c":[{"d":1,"d":1}]}}`:   "d",
		`{"a":{"a":{"a":1}},"b":1,"b":1}`:     "b",
		`[{"k":1},{"k":1,"k":2}]`:             "k",
		`{"\u00e9":1,"é":2}`:                  "é",
		`{"a":"a","b":["a","a"],"c":{"a":1}}`: "",
		`{"a":[{"x":1},{"x":2}],"x":{"x":1}}`: "",
		`{"a":1,"a"`:                          "a", // found before the syntax error
		`{"a":1,`:                             "",
		`nonsense`:                            "",
		``:                                    "",
	} {
		got, dup := DuplicateKey([]byte(body))
		assert.Equal(t, want != "", dup, body)
		assert.Equal(t, want, got, body)
	}
	var dst provisionRequest
	err := DecodeStrict([]byte(`{"customer_email":"a@b.co","customer_email":"a@b.co"}`), &dst)
	var e *licensing.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, licensing.CodeInvalidJSON, e.Code)
	assert.Equal(t, `the body names the key "customer_email" twice in one object`, e.Message)
	err = DecodeStrict([]byte(`{"\u202e`+strings.Repeat("x", 100)+`":1,"\u202e`+strings.Repeat("x", 100)+`":1}`), &dst)
	require.ErrorAs(t, err, &e)
	assert.NotContains(t, e.Message, "\u202e", "a key is quoted and escaped in the message")
	assert.Less(t, len(e.Message), 150, "and clipped")
}

// FuzzDuplicateKey holds DuplicateKey to an independent count: a JSON text
// repeats a key in some object exactly when it has more name separators
// (colons outside strings) than its decoding re-encoded (where encoding/json
// kept one member per key). DecodeStrict refuses every such text with
// invalid_json.
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `[{"a":1},{"a":1}]`, `{"a":"x:y","b":"a"}`, `{"\u0061":1,"a":2}`,
		`{"a":[1,{"c":2,"d":{"c":3}}]}`, `{}`, `[]`, `"a"`, `{"a":1,`, `{"a":"\"","a":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		key, dup := DuplicateKey(b)
		if !dup && key != "" {
			t.Fatalf("DuplicateKey(%q) = %q, false", b, key)
		}
		if !json.Valid(b) {
			return
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("a valid text does not decode: %v", err)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if want := nameSeparators(b) > nameSeparators(again); dup != want {
			t.Fatalf("DuplicateKey(%s) = %q, %v; the count says %v", b, key, dup, want)
		}
		if dup && bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
			var dst struct{}
			if code := licensing.ErrorCode(DecodeStrict(b, &dst)); code != licensing.CodeInvalidJSON {
				t.Fatalf("DecodeStrict(%s): %s, not invalid_json", b, code)
			}
		}
	})
}

// nameSeparators counts the colons of a JSON text outside its strings.
func nameSeparators(b []byte) int {
	n, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == ':':
			n++
		}
	}
	return n
}

func TestBodyLimitsAndBase64(t *testing.T) {
	var dst createProductRequest
	req := events.APIGatewayProxyRequest{Body: base64.StdEncoding.EncodeToString([]byte(`{"slug":"a","name":"A"}`)), IsBase64Encoded: true}
	require.NoError(t, decodeJSON(req, &dst))
	assert.Equal(t, createProductRequest{Slug: "a", Name: "A"}, dst)

	req = events.APIGatewayProxyRequest{Body: "%%%", IsBase64Encoded: true}
	assert.Equal(t, licensing.CodeInvalidJSON, licensing.ErrorCode(decodeJSON(req, &dst)))

	big := `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	assert.Equal(t, licensing.CodePayloadTooLarge, licensing.ErrorCode(decodeJSON(events.APIGatewayProxyRequest{Body: big}, &dst)))
	req = events.APIGatewayProxyRequest{Body: base64.StdEncoding.EncodeToString([]byte(big)), IsBase64Encoded: true}
	assert.Equal(t, licensing.CodePayloadTooLarge, licensing.ErrorCode(decodeJSON(req, &dst)))
}

func TestHeaderIsCaseInsensitive(t *testing.T) {
	req := events.APIGatewayProxyRequest{Headers: map[string]string{"x-api-key": "k1"}}
	assert.Equal(t, "k1", header(req, "X-API-Key"))
	req = events.APIGatewayProxyRequest{MultiValueHeaders: map[string][]string{"X-Api-Key": {"a", "b"}}}
	assert.Equal(t, "b", header(req, "X-API-Key"))
	assert.Equal(t, "", header(events.APIGatewayProxyRequest{}, "X-API-Key"))
}

func TestEveryCodeHasAStatus(t *testing.T) {
	codes := []licensing.Code{
		licensing.CodeValidation, licensing.CodeInvalidJSON, licensing.CodeUnauthorized, licensing.CodeLicenseSuspended,
		licensing.CodeLicenseCancelled, licensing.CodeLicenseExpired, licensing.CodeLicenseNotFound, licensing.CodeProductNotFound,
		licensing.CodeActivationNotFound, licensing.CodeBrandNotFound, licensing.CodeAPIKeyNotFound, licensing.CodeNoSeatsAvailable,
		licensing.CodeInvalidTransition, licensing.CodeAlreadyExists, licensing.CodeRequestInProgress, licensing.CodePayloadTooLarge,
		licensing.CodeIdempotencyKeyReused, licensing.CodeRateLimited, licensing.CodeServiceUnavailable, licensing.CodeInternal,
		licensing.CodeReleaseNotFound, licensing.CodePackageMissing, licensing.CodePackageMismatch, licensing.CodeDownloadExpired,
		licensing.CodeReleasesUnavailable, licensing.CodeWebhookNotFound, licensing.CodeDeliveryNotFound, licensing.CodeWebhookLimit,
		licensing.CodeRotationInProgress,
	}
	want := map[licensing.Code]int{
		licensing.CodeValidation: 400, licensing.CodeInvalidJSON: 400, licensing.CodeUnauthorized: 401,
		licensing.CodeLicenseSuspended: 403, licensing.CodeLicenseCancelled: 403, licensing.CodeLicenseExpired: 403,
		licensing.CodeLicenseNotFound: 404, licensing.CodeProductNotFound: 404, licensing.CodeActivationNotFound: 404,
		licensing.CodeNoSeatsAvailable: 409, licensing.CodeInvalidTransition: 409, licensing.CodeAlreadyExists: 409,
		licensing.CodeRequestInProgress: 409, licensing.CodePayloadTooLarge: 413, licensing.CodeIdempotencyKeyReused: 422,
		licensing.CodeRateLimited: 429, licensing.CodeServiceUnavailable: 503, licensing.CodeInternal: 500,
		licensing.CodeReleaseNotFound: 404, licensing.CodePackageMissing: 409, licensing.CodePackageMismatch: 409,
		licensing.CodeDownloadExpired: 403, licensing.CodeReleasesUnavailable: 503,
		licensing.CodeWebhookNotFound: 404, licensing.CodeDeliveryNotFound: 404, licensing.CodeWebhookLimit: 409,
		licensing.CodeRotationInProgress: 409,
	}
	for _, c := range codes {
		_, ok := statusOf[c]
		assert.True(t, ok, "code %s has a status", c)
		if w, ok := want[c]; ok {
			assert.Equal(t, w, StatusOf(c), c)
		}
	}
	assert.Len(t, statusOf, len(codes))
}

func TestErrorResponsesRevealNoInternals(t *testing.T) {
	secret := errors.New("dynamodb: table arn:aws:dynamodb:eu-west-1:123456789012:table/licenses exploded")
	resp := errorResponse(fmt.Errorf("provision: %w", secret))
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.JSONEq(t, `{"error":{"code":"internal_error","message":"internal error"}}`, resp.Body)

	resp = errorResponse(fmt.Errorf("query: %w", licensing.Unavailable(secret)))
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Headers["Retry-After"])
	assert.NotContains(t, resp.Body, "arn:aws")
	var body errorBody
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &body))
	assert.Equal(t, licensing.CodeServiceUnavailable, body.Error.Code)

	resp = errorResponse(licensing.Invalid("max_seats", "must be between 1 and 10000"))
	assert.JSONEq(t, `{"error":{"code":"validation_error","message":"max_seats: must be between 1 and 10000","field":"max_seats"}}`, resp.Body)
	assert.Equal(t, "application/json", resp.Headers["Content-Type"])
	assert.Equal(t, "no-store", resp.Headers["Cache-Control"])
}

// fuzzDecoder checks a request decoder never panics and fails only with the
// two client-error codes.
func fuzzDecoder[T any](f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var dst T
		err := DecodeStrict(b, &dst)
		if err == nil {
			return
		}
		var e *licensing.Error
		if !errors.As(err, &e) || (e.Code != licensing.CodeInvalidJSON && e.Code != licensing.CodeValidation) {
			t.Fatalf("decoder failed with %v", err)
		}
		if e.Message == "" {
			t.Fatal("an error without a message")
		}
	})
}

func FuzzDecodeProvision(f *testing.F) {
	fuzzDecoder[provisionRequest](f,
		`{"customer_email":"a@b.co","products":["rankmath-pro"],"expiration_date":"2027-01-01T00:00:00Z","max_seats":3,"idempotency_key":"o-1"}`,
		`{"products":[null, "x"]}`, `{"max_seats":-1}`, `{"max_seats":99999999999999999999}`, `[]`, `{`, "\xff", `{"a":1}`)
}

func FuzzDecodeCreateProduct(f *testing.F) {
	fuzzDecoder[createProductRequest](f, `{"name":"Rank Math Pro","slug":"rankmath-pro"}`, `{"name":1}`, `{"slug":"x","slug":"y"}`, ``)
}

func FuzzDecodeRenew(f *testing.F) {
	fuzzDecoder[renewRequest](f, `{"expiration_date":"2027-01-01T00:00:00Z"}`, `{"expiration_date":true}`, `null`)
}

func FuzzDecodeReason(f *testing.F) {
	fuzzDecoder[reasonRequest](f, `{"reason":"chargeback"}`, `{"reason":"\u0000"}`, `{}`, `   `)
}

func FuzzDecodeSeat(f *testing.F) {
	fuzzDecoder[seatRequest](f,
		`{"license_key":"RM-ABCD-EFGH-JKLM-NPQR","instance_identifier":"https://www.example.com/","instance_type":"url","product":"rankmath-pro"}`,
		`{"license_key":1}`, `{"instance_identifier":"\u0000"}`, `{"product":null}`)
}

// activateFields are the exact JSON names of the activate body.
var activateFields = map[string]bool{
	"license_key": true, "instance_identifier": true, "instance_type": true, "product": true, "previous_instance_identifier": true,
}

// FuzzDecodeActivate decodes the activate body (a seat and the site it may
// replace) as the handler does, plain and base64-encoded. Beyond never
// panicking and failing only with the client-error codes, an accepted body
// is within the size limit, names only the contract's fields in their exact
// case, decodes to exactly its values, and is a fixed point: its re-encoding
// decodes to the same request. A field name in another case is refused.
func FuzzDecodeActivate(f *testing.F) {
	for _, s := range []struct {
		body string
		b64  bool
	}{
		{`{"license_key":"RM-ABCD-EFGH-JKLM-NPQR","instance_identifier":"https://new.example.com","previous_instance_identifier":"https://www.old.example.com/"}`, false},
		{`{"license_key":"RM-ABCD-EFGH-JKLM-NPQR","instance_identifier":"h1","instance_type":"hostname","product":"rankmath-pro","previous_instance_identifier":"h0"}`, true},
		{`{"previous_instance_identifier":null}`, false},
		{`{"previous_instance_identifier":1}`, false},
		{`{"Previous_Instance_Identifier":"x"}`, false},
		{`{"previous_instance_identifier":"a","previous_instance_identifier":"b"}`, false},
		{`{"seatRequest":{}}`, false},
		{`{"license_key":"\u0000\ud800"}`, false},
		{``, true},
		{`!!`, true},
		{`{"product":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, false},
	} {
		f.Add([]byte(s.body), s.b64)
	}
	f.Fuzz(func(t *testing.T, b []byte, b64 bool) {
		req := events.APIGatewayProxyRequest{Body: string(b)}
		if b64 {
			req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString(b), true
		}
		var in activateRequest
		err := decodeJSON(req, &in)
		if err != nil {
			var e *licensing.Error
			if !errors.As(err, &e) || e.Message == "" ||
				(e.Code != licensing.CodeInvalidJSON && e.Code != licensing.CodeValidation && e.Code != licensing.CodePayloadTooLarge) {
				t.Fatalf("decoder failed with %#v", err)
			}
			if e.Code == licensing.CodePayloadTooLarge && len(b) <= MaxBodyBytes {
				t.Fatalf("a body of %d bytes is refused as too large", len(b))
			}
			return
		}
		if len(b) > MaxBodyBytes {
			t.Fatalf("a body of %d bytes is accepted", len(b))
		}
		// Base64 or not, the same bytes decode the same.
		var plain activateRequest
		if err := DecodeStrict(b, &plain); err != nil || plain != in {
			t.Fatalf("base64 %v: %+v, plain: %+v (%v)", b64, in, plain, err)
		}

		var raw map[string]json.RawMessage
		if len(strings.TrimSpace(string(b))) > 0 {
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatalf("accepted a body that is not an object: %v", err)
			}
		}
		want := map[string]string{}
		for name, v := range raw {
			if !activateFields[name] {
				t.Fatalf("accepted the field %q", name)
			}
			var s *string
			if err := json.Unmarshal(v, &s); err != nil {
				t.Fatalf("accepted %s: %s", name, v)
			}
			if s != nil {
				want[name] = *s
			}
		}
		got := map[string]string{
			"license_key": in.LicenseKey, "instance_identifier": in.InstanceIdentifier, "instance_type": in.InstanceType,
			"product": in.Product, "previous_instance_identifier": in.PreviousInstanceIdentifier,
		}
		for name, v := range got {
			if want[name] != v {
				t.Fatalf("%s decoded as %q, the body says %q", name, v, want[name])
			}
		}
		seat := in.input()
		if seat.LicenseKey != in.LicenseKey || seat.InstanceIdentifier != in.InstanceIdentifier || seat.InstanceType != in.InstanceType || seat.Product != in.Product {
			t.Fatalf("the seat input %+v is not the request %+v", seat, in)
		}

		// A fixed point: the request re-encoded decodes to itself.
		again, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var back activateRequest
		if err := DecodeStrict(again, &back); err != nil || back != in {
			t.Fatalf("re-encoded %s decodes to %+v (%v), not %+v", again, back, err, in)
		}

		// Any of its fields in another case is refused, naming the field.
		for name := range raw {
			renamed := map[string]json.RawMessage{}
			for k, v := range raw {
				renamed[k] = v
			}
			upper := strings.ToUpper(name)
			delete(renamed, name)
			renamed[upper] = raw[name]
			body, err := json.Marshal(renamed)
			if err != nil {
				t.Fatal(err)
			}
			var x activateRequest
			err = DecodeStrict(body, &x)
			var e *licensing.Error
			if !errors.As(err, &e) || e.Code != licensing.CodeValidation || e.Field != upper {
				t.Fatalf("%s accepted or refused otherwise: %v", body, err)
			}
			break
		}
	})
}
