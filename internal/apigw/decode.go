package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/licensing"
)

// MaxBodyBytes bounds a request body; API Gateway itself allows 10 MB.
const MaxBodyBytes = 16 << 10

// MaxReleaseBodyBytes bounds the body of a release's creation, whose
// changelog may hold licensing.MaxChangelogBytes of Markdown, which JSON
// escaping can grow up to six-fold (\u00XX).
const MaxReleaseBodyBytes = MaxBodyBytes + 6*licensing.MaxChangelogBytes

// body returns the raw request body, decoding base64 when API Gateway sent it so.
func body(req events.APIGatewayProxyRequest) ([]byte, error) { return bodyUpTo(req, MaxBodyBytes) }

// bodyUpTo is body for a route that takes up to limit bytes.
func bodyUpTo(req events.APIGatewayProxyRequest, limit int) ([]byte, error) {
	if len(req.Body) > 2*limit {
		return nil, tooLarge(limit)
	}
	b := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if b, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, licensing.Errorf(licensing.CodeInvalidJSON, "the body is not valid base64")
		}
	}
	if len(b) > limit {
		return nil, tooLarge(limit)
	}
	return b, nil
}

func tooLarge(limit int) error {
	return licensing.Errorf(licensing.CodePayloadTooLarge, "the request body is larger than %d bytes", limit)
}

// decodeJSON strictly decodes a JSON object body into dst: valid UTF-8, one
// object, no key twice in an object (at any depth), no unknown fields, each
// field of its declared type. An empty body reads as {}.
func decodeJSON(req events.APIGatewayProxyRequest, dst any) error {
	return decodeJSONUpTo(req, dst, MaxBodyBytes)
}

// decodeJSONUpTo is decodeJSON for a route that takes up to limit bytes.
func decodeJSONUpTo(req events.APIGatewayProxyRequest, dst any, limit int) error {
	b, err := bodyUpTo(req, limit)
	if err != nil {
		return err
	}
	return DecodeStrict(b, dst)
}

// DecodeStrict is decodeJSON on raw bytes; exported for fuzzing.
func DecodeStrict(b []byte, dst any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	if !utf8.Valid(b) {
		return licensing.Errorf(licensing.CodeInvalidJSON, "the body is not valid UTF-8")
	}
	// encoding/json reads null (and nothing else) into a struct without
	// complaint; the API takes only objects.
	if bytes.TrimSpace(b)[0] != '{' {
		return licensing.Errorf(licensing.CodeInvalidJSON, "the body must be a JSON object")
	}
	// encoding/json keeps the last of repeated keys; the API refuses them
	// rather than guess which one the client meant.
	top, key, dup := objectKeys(b)
	if dup {
		return licensing.Errorf(licensing.CodeInvalidJSON, "the body names the key %s twice in one object", quoteClipped(key, 64))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return licensing.Errorf(licensing.CodeInvalidJSON, "the body must hold exactly one JSON object")
	}
	return exactFieldNames(top, dst)
}

// DuplicateKey reports the first key that an object of the JSON text b
// holds twice, at any depth, compared once unescaped ("a" and "\u0061" are
// one key). Text that is not JSON reports none: its syntax error is the
// decoder's to report.
func DuplicateKey(b []byte) (string, bool) {
	_, key, dup := objectKeys(b)
	return key, dup
}

// objectKeys walks the JSON text b once: it reports the first key an object
// holds twice (as DuplicateKey) and, when there is none, the keys of the
// outermost object, unescaped, for exactFieldNames.
func objectKeys(b []byte) (top []string, dupKey string, dup bool) {
	type frame struct {
		object  bool
		wantKey bool // an object's next string is a key
		keys    map[string]struct{}
	}
	var stack []frame
	// valueDone marks the end of a value: in an object, a key comes next.
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return top, "", false // io.EOF, or a syntax error
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{object: true, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default: // '}' or ']'
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				obj := &stack[n-1]
				if _, seen := obj.keys[v]; seen {
					return nil, v, true
				}
				if obj.keys == nil {
					obj.keys = map[string]struct{}{}
				}
				obj.keys[v] = struct{}{}
				obj.wantKey = false
				if n == 1 {
					top = append(top, v)
				}
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// quoteClipped quotes s for a message, clipped to n bytes on a rune
// boundary.
func quoteClipped(s string, n int) string {
	if len(s) <= n {
		return strconv.Quote(s)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "…"
}

// exactFieldNames refuses field names (the body's outermost keys, from
// objectKeys) that differ from the contract's only in case: encoding/json
// matches them case-insensitively, the API does not.
func exactFieldNames(names []string, dst any) error {
	known := jsonNames(reflect.TypeOf(dst))
	for _, name := range names {
		if !known[name] {
			return licensing.Invalid(name, "is not a known field")
		}
	}
	return nil
}

var namesByType sync.Map // reflect.Type → map[string]bool

// jsonNames is the set of JSON field names of a struct (or pointer to one).
func jsonNames(t reflect.Type) map[string]bool {
	if v, ok := namesByType.Load(t); ok {
		return v.(map[string]bool)
	}
	st := t
	for st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	names := map[string]bool{}
	if st.Kind() == reflect.Struct {
		for f := range st.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				maps.Copy(names, jsonNames(f.Type)) // promoted fields of an embedded struct
				continue
			}
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			names[name] = true
		}
	}
	namesByType.Store(t, names)
	return names
}

func jsonError(err error) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return licensing.Errorf(licensing.CodeInvalidJSON, "the body must be a JSON object")
		}
		// Requests are flat; a field of an embedded struct reads "Outer.field".
		field := te.Field[strings.LastIndexByte(te.Field, '.')+1:]
		return licensing.Invalid(field, "must be %s", jsonKind(te.Type.Kind().String()))
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name := strings.Trim(f, `"`)
		return licensing.Invalid(name, "is not a known field")
	}
	return licensing.Errorf(licensing.CodeInvalidJSON, "the body is not valid JSON: %s", describeSyntax(err))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64", "ptr":
		return "an integer"
	case "slice":
		return "an array"
	case "bool":
		return "true or false"
	default:
		return "of another type"
	}
}

func describeSyntax(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return "malformed"
}

// header reads a header case-insensitively, as HTTP headers are.
func header(req events.APIGatewayProxyRequest, name string) string {
	return headerIn(req.Headers, req.MultiValueHeaders, name)
}

// headerIn is header over the header maps of any API Gateway event.
func headerIn(single map[string]string, multi map[string][]string, name string) string {
	for k, v := range single {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range multi {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[len(v)-1]
		}
	}
	return ""
}
