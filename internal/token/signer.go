package token

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Algorithm is the JWS "alg" of every token and key.
const Algorithm = "EdDSA"

// Key is one signing key of a keyring, named by its kid.
type Key struct {
	KID     string
	Private ed25519.PrivateKey
}

// Public returns the key's public half.
func (k Key) Public() ed25519.PublicKey {
	return k.Private.Public().(ed25519.PublicKey)
}

// Signer signs tokens with the first key of its keyring and publishes the
// public keys of the whole ring. It is safe for concurrent use.
type Signer struct {
	keys   []Key
	header string // base64url of the active key's protected header
	jwks   []byte
}

// jwk is one public key of a JWKS document (RFC 7517, RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// NewSigner returns a Signer over an ordered keyring: the first key signs,
// every key is published. It refuses an empty ring, an empty or repeated kid
// and a private key that is not a whole Ed25519 key (64 bytes, its public
// half matching its seed).
func NewSigner(keys ...Key) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("token: empty keyring")
	}
	s := &Signer{keys: make([]Key, len(keys))}
	set := jwkSet{Keys: make([]jwk, len(keys))}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, err
		}
		if seen[k.KID] {
			return nil, fmt.Errorf("token: kid %q appears twice in the keyring", k.KID)
		}
		seen[k.KID] = true
		s.keys[i] = Key{KID: k.KID, Private: bytes.Clone(k.Private)}
		set.Keys[i] = jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public()), Kid: k.KID, Use: "sig", Alg: Algorithm}
	}
	h, err := json.Marshal(header{Alg: Algorithm, Kid: s.keys[0].KID, Typ: "JWT"})
	if err != nil {
		return nil, err
	}
	s.header = base64.RawURLEncoding.EncodeToString(h)
	if s.jwks, err = json.Marshal(set); err != nil {
		return nil, err
	}
	return s, nil
}

func checkKey(k Key) error {
	if k.KID == "" {
		return errors.New("token: key without kid")
	}
	if len(k.Private) != ed25519.PrivateKeySize {
		return fmt.Errorf("token: key %q: private key is %d bytes, want %d", k.KID, len(k.Private), ed25519.PrivateKeySize)
	}
	if !bytes.Equal(ed25519.NewKeyFromSeed(k.Private.Seed()), k.Private) {
		return fmt.Errorf("token: key %q: public half does not match the seed", k.KID)
	}
	return nil
}

// KID returns the kid of the signing key.
func (s *Signer) KID() string { return s.keys[0].KID }

// KIDs returns the kids of the ring, signing key first.
func (s *Signer) KIDs() []string {
	out := make([]string, len(s.keys))
	for i, k := range s.keys {
		out[i] = k.KID
	}
	return out
}

// JWKS returns the JWKS document of the ring's public keys, signing key
// first: {"keys":[{"kty":"OKP","crv":"Ed25519","x":..,"kid":..,"use":"sig","alg":"EdDSA"},..]}.
// The caller owns the returned slice.
func (s *Signer) JWKS() []byte { return bytes.Clone(s.jwks) }

// Sign returns the compact JWS of c signed by the ring's first key:
// base64url(header).base64url(payload).base64url(signature), header
// {"alg":"EdDSA","kid":..,"typ":"JWT"}. An empty Issuer is set to Issuer.
// It refuses claims that no verifier would accept: no license id, product
// or brand, an unknown status, an expires_at that is not RFC 3339, no iat,
// or a valid_until or recheck_after before iat.
func (s *Signer) Sign(c Claims) (string, error) {
	if c.Issuer == "" {
		c.Issuer = Issuer
	}
	if err := c.check(); err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signingInput := s.header + "." + base64.RawURLEncoding.EncodeToString(p)
	sig := ed25519.Sign(s.keys[0].Private, []byte(signingInput))
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// check tells what makes claims unfit to sign or to trust.
func (c Claims) check() error {
	switch {
	case c.Issuer != Issuer:
		return fmt.Errorf("%w: iss is %q, want %q", ErrClaims, c.Issuer, Issuer)
	case c.LicenseID == "":
		return fmt.Errorf("%w: no lid", ErrClaims)
	case c.Product == "":
		return fmt.Errorf("%w: no product", ErrClaims)
	case c.Brand == "":
		return fmt.Errorf("%w: no brand", ErrClaims)
	case c.Instance == "":
		return fmt.Errorf("%w: no instance", ErrClaims)
	case c.ActivationID == "":
		return fmt.Errorf("%w: no activation_id", ErrClaims)
	case !knownStatus(c.Status):
		return fmt.Errorf("%w: unknown status %q", ErrClaims, c.Status)
	case c.IssuedAt <= 0:
		return fmt.Errorf("%w: no iat", ErrClaims)
	case c.ValidUntil < c.IssuedAt:
		return fmt.Errorf("%w: valid_until before iat", ErrClaims)
	case c.RecheckAfter < c.IssuedAt:
		return fmt.Errorf("%w: recheck_after before iat", ErrClaims)
	case c.Expiry != c.ValidUntil:
		return fmt.Errorf("%w: exp is not valid_until", ErrClaims)
	}
	if c.ExpiresAt != nil {
		if _, err := time.Parse(time.RFC3339, *c.ExpiresAt); err != nil {
			return fmt.Errorf("%w: expires_at is not RFC 3339", ErrClaims)
		}
	}
	return nil
}
