package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Why Verify refuses a token; test with errors.Is.
var (
	ErrMalformed   = errors.New("token: malformed")
	ErrAlgorithm   = errors.New("token: algorithm not EdDSA")
	ErrUnknownKey  = errors.New("token: unknown kid")
	ErrBadKey      = errors.New("token: unusable key")
	ErrSignature   = errors.New("token: bad signature")
	ErrClaims      = errors.New("token: invalid claims")
	ErrNotYetValid = errors.New("token: issued in the future")
	ErrExpired     = errors.New("token: past valid_until")
)

// ClockSkew is how far in the future Verify lets a token's iat be, for a
// product whose clock runs behind the service's.
const ClockSkew = 5 * time.Minute

// MaxTokenSize bounds what Verify reads.
const MaxTokenSize = 8 << 10

var b64 = base64.RawURLEncoding.Strict()

// Verify checks a token's form and signature offline, against a JWKS
// document, but not what it is for: a product calls VerifyFor, which also
// binds the token to its license, product and site and requires a license in
// good standing. The header must be exactly {"alg":"EdDSA","kid":..,
// "typ":"JWT"} with a kid that the JWKS holds as an Ed25519 signing key, the
// signature must verify over "header.payload", and the claims must be
// exactly the names of Claims, each once, and whole (iss license-service,
// lid, product, brand, a known status, iat, valid_until and recheck_after
// not before iat) with iat no later than now + ClockSkew. Names are compared
// exactly (case-sensitive); an unknown or repeated name is refused.
//
// A token whose valid_until has passed at now fails with ErrExpired and its
// claims (it was genuine); every other failure returns zero Claims.
func Verify(token string, jwks []byte, now time.Time) (Claims, error) {
	if len(token) > MaxTokenSize {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenSize)
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || h64 == "" || p64 == "" || s64 == "" || strings.Contains(s64, ".") {
		return Claims{}, fmt.Errorf("%w: not three dot-separated parts", ErrMalformed)
	}
	hb, err := b64.DecodeString(h64)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	var h header
	if json.Unmarshal(hb, &h) != nil {
		return Claims{}, fmt.Errorf("%w: header is not a JSON object of strings", ErrMalformed)
	}
	if h.Alg != Algorithm {
		return Claims{}, fmt.Errorf("%w: alg %q", ErrAlgorithm, h.Alg)
	}
	// Exactly alg, kid and typ: no crit, jku, x5u or any other parameter,
	// no name twice, no "ALG" that encoding/json would take for alg.
	if err := exactObject("header", hb, headerNames, ErrMalformed); err != nil {
		return Claims{}, err
	}
	if h.Typ != "JWT" {
		return Claims{}, fmt.Errorf("%w: typ %q", ErrMalformed, h.Typ)
	}
	if h.Kid == "" {
		return Claims{}, fmt.Errorf("%w: no kid", ErrUnknownKey)
	}
	pub, err := publicKey(jwks, h.Kid)
	if err != nil {
		return Claims{}, err
	}
	sig, err := b64.DecodeString(s64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Claims{}, fmt.Errorf("%w: not a %d-byte base64url signature", ErrSignature, ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, []byte(h64+"."+p64), sig) {
		return Claims{}, ErrSignature
	}
	pb, err := b64.DecodeString(p64)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	if err := exactObject("payload", pb, claimNames, ErrClaims); err != nil {
		return Claims{}, err
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: payload is not a claims object", ErrMalformed)
	}
	if err := c.check(); err != nil {
		return Claims{}, err
	}
	if c.IssuedAt > now.Add(ClockSkew).Unix() {
		return Claims{}, ErrNotYetValid
	}
	if now.Unix() > c.ValidUntil {
		return c, ErrExpired
	}
	return c, nil
}

// publicKey finds kid in a JWKS document; it must be there once, as an
// Ed25519 key for EdDSA signatures.
func publicKey(jwks []byte, kid string) (ed25519.PublicKey, error) {
	var set jwkSet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("%w: JWKS is not a key set", ErrBadKey)
	}
	var found *jwk
	for i := range set.Keys {
		if set.Keys[i].Kid != kid {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: kid %q appears twice in the JWKS", ErrBadKey, kid)
		}
		found = &set.Keys[i]
	}
	switch {
	case found == nil:
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	case found.Kty != "OKP" || found.Crv != "Ed25519":
		return nil, fmt.Errorf("%w: kid %q is %s/%s, not OKP/Ed25519", ErrBadKey, kid, found.Kty, found.Crv)
	case found.Alg != "" && found.Alg != Algorithm:
		return nil, fmt.Errorf("%w: kid %q is for alg %q", ErrBadKey, kid, found.Alg)
	case found.Use != "" && found.Use != "sig":
		return nil, fmt.Errorf("%w: kid %q is for use %q", ErrBadKey, kid, found.Use)
	}
	x, err := b64.DecodeString(found.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: kid %q: x is not a %d-byte base64url key", ErrBadKey, kid, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}
