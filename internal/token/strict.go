package token

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// headerNames are the names of a token's protected header, exactly: no other,
// none twice, none missing.
var headerNames = []string{"alg", "kid", "typ"}

// claimNames are the names of a token's claims, exactly (Claims' JSON names).
var claimNames = []string{"iss", "brand", "lid", "product", "instance", "activation_id", "status",
	"expires_at", "iat", "valid_until", "recheck_after", "exp"}

// exactObject checks that b is one JSON object whose member names are exactly
// names, each once, compared byte for byte after JSON unescaping (encoding/json
// alone would match "LID" to lid, keep the last of two "lid" and ignore
// names it does not know).
//
// A b that is not one JSON object fails with ErrMalformed; a name unknown,
// repeated or missing fails with bad.
func exactObject(what string, b []byte, names []string, bad error) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, what)
	}
	seen := make(map[string]bool, len(names))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, what)
		}
		name, _ := tok.(string)
		switch {
		case seen[name]:
			return fmt.Errorf("%w: %s names %q twice", bad, what, name)
		case !slices.Contains(names, name):
			return fmt.Errorf("%w: %s has an unknown name %q", bad, what, name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, what)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, what)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: %s has data after its object", ErrMalformed, what)
	}
	for _, n := range names {
		if !seen[n] {
			return fmt.Errorf("%w: %s has no %q", bad, what, n)
		}
	}
	return nil
}
