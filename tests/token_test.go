package tests

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clsvc/license-service/internal/token"
)

// The license token must be checkable by a product with nothing but a JWKS
// document and an Ed25519 implementation. offlineVerify is such a product's
// verifier, written here from the token's contract alone (compact JWS,
// "alg":"EdDSA", kid naming an OKP/Ed25519 key of the JWKS): it shares no
// code with the service's own verifier, which internal/token only uses to
// make a token and a JWKS.

type offlineHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

type offlineJWKS struct {
	Keys []struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
	} `json:"keys"`
}

type offlineClaims struct {
	Iss          string  `json:"iss"`
	Brand        string  `json:"brand"`
	Lid          string  `json:"lid"`
	Product      string  `json:"product"`
	Instance     *string `json:"instance"`
	ActivationID string  `json:"activation_id"`
	Status       string  `json:"status"`
	ExpiresAt    *string `json:"expires_at"`
	Iat          int64   `json:"iat"`
	ValidUntil   int64   `json:"valid_until"`
	RecheckAfter int64   `json:"recheck_after"`
	Exp          int64   `json:"exp"`
}

// offlineVerify returns the claims of a token that verifies against jwks, or
// why it refuses it (ok false).
func offlineVerify(tok string, jwks []byte) (c offlineClaims, why string, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return offlineClaims{}, "not a compact JWS", false
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return offlineClaims{}, "header: " + err.Error(), false
	}
	var h offlineHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return offlineClaims{}, "header: " + err.Error(), false
	}
	if h.Alg != "EdDSA" {
		return offlineClaims{}, "alg " + h.Alg, false
	}
	var set offlineJWKS
	if err := json.Unmarshal(jwks, &set); err != nil {
		return offlineClaims{}, "jwks: " + err.Error(), false
	}
	var pub ed25519.PublicKey
	for _, k := range set.Keys {
		if k.Kid != h.Kid {
			continue
		}
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" {
			return offlineClaims{}, "kid " + h.Kid + " is not an EdDSA signing key", false
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return offlineClaims{}, "kid " + h.Kid + ": bad x", false
		}
		pub = x
	}
	if pub == nil {
		return offlineClaims{}, "unknown kid " + h.Kid, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return offlineClaims{}, "signature: " + err.Error(), false
	}
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		return offlineClaims{}, "bad signature", false
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return offlineClaims{}, "payload: " + err.Error(), false
	}
	if err := json.Unmarshal(pb, &c); err != nil {
		return offlineClaims{}, "payload: " + err.Error(), false
	}
	return c, "", true
}

// tokenFixture signs one token for a license expiring at the end of 2027,
// with a ring of two keys (the newer signing).
func tokenFixture(t *testing.T) (signer *token.Signer, good string, now time.Time) {
	t.Helper()
	newer, err := token.GenerateKey("2026-07")
	if err != nil {
		t.Fatal(err)
	}
	older, err := token.GenerateKey("2026-01")
	if err != nil {
		t.Fatal(err)
	}
	if signer, err = token.NewSigner(newer, older); err != nil {
		t.Fatal(err)
	}
	now = time.Date(2026, 7, 14, 9, 30, 0, 0, time.UTC)
	exp := time.Date(2027, 12, 31, 23, 59, 59, 0, time.UTC)
	c := token.NewClaims(token.License{Brand: "acme", ID: "lic_01J", Product: "rankmath-pro", Instance: "example.com",
		Activation: "act_01J", Status: token.StatusValid, ExpiresAt: &exp}, now, 72*time.Hour, 60*time.Second)
	if good, err = signer.Sign(c); err != nil {
		t.Fatal(err)
	}
	return signer, good, now
}

func TestTokenVerifiesOffline(t *testing.T) {
	signer, good, now := tokenFixture(t)
	c, why, ok := offlineVerify(good, signer.JWKS())
	if !ok {
		t.Fatalf("a good token is refused: %s", why)
	}
	iat := now.Unix()
	if c.Iss != "license-service" || c.Brand != "acme" || c.Lid != "lic_01J" || c.Product != "rankmath-pro" || c.Status != "valid" {
		t.Errorf("claims = %+v", c)
	}
	if c.Instance == nil || *c.Instance != "example.com" || c.ActivationID != "act_01J" {
		t.Errorf("instance = %v, activation_id = %q", c.Instance, c.ActivationID)
	}
	if c.ExpiresAt == nil || *c.ExpiresAt != "2027-12-31T23:59:59Z" {
		t.Errorf("expires_at = %v", c.ExpiresAt)
	}
	if c.Iat != iat || c.ValidUntil != iat+72*3600 || c.RecheckAfter != iat+60 || c.Exp != c.ValidUntil {
		t.Errorf("iat %d valid_until %d recheck_after %d exp %d; issued at %d", c.Iat, c.ValidUntil, c.RecheckAfter, c.Exp, iat)
	}
}

func TestTokenOfflineRefusesTampering(t *testing.T) {
	signer, good, _ := tokenFixture(t)
	jwks := signer.JWKS()
	parts := strings.Split(good, ".")

	// A claim altered: the product pretends its license is valid for longer.
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(pb, &claims); err != nil {
		t.Fatal(err)
	}
	claims["valid_until"] = 4102444800
	altered, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	claimTampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(altered) + "." + parts[2]

	// The signature altered by one bit.
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[0] ^= 0x80
	sigTampered := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

	// A kid the JWKS does not hold, from another service's key.
	stranger, err := token.GenerateKey("2099-01")
	if err != nil {
		t.Fatal(err)
	}
	strangerSigner, err := token.NewSigner(stranger)
	if err != nil {
		t.Fatal(err)
	}
	unknownKid, err := strangerSigner.Sign(token.NewClaims(token.License{Brand: "acme", ID: "lic_01J", Product: "rankmath-pro",
		Instance: "example.com", Activation: "act_01J", Status: token.StatusValid}, time.Unix(1, 0), 4102444800*time.Second, time.Second))
	if err != nil {
		t.Fatal(err)
	}

	// The header rewritten to "alg":"none" with no signature.
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"2026-07","typ":"JWT"}`))
	algNone := noneHeader + "." + parts[1] + "."

	for _, tc := range []struct{ name, token, why string }{
		{"claim altered", claimTampered, "bad signature"},
		{"signature altered", sigTampered, "bad signature"},
		{"unknown kid", unknownKid, "unknown kid 2099-01"},
		{"alg none", algNone, "alg none"},
	} {
		c, why, ok := offlineVerify(tc.token, jwks)
		if ok {
			t.Errorf("%s: accepted, claims %+v", tc.name, c)
		} else if why != tc.why {
			t.Errorf("%s: refused for %q, want %q", tc.name, why, tc.why)
		}
	}
}

func TestTokenOfflineAfterRotation(t *testing.T) {
	older, err := token.GenerateKey("2026-01")
	if err != nil {
		t.Fatal(err)
	}
	before, err := token.NewSigner(older)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := before.Sign(token.NewClaims(token.License{Brand: "acme", ID: "lic_01J", Product: "rankmath-pro",
		Instance: "example.com", Activation: "act_01J", Status: token.StatusValid}, time.Unix(1_780_000_000, 0), 7*24*time.Hour, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	newer, err := token.GenerateKey("2026-07")
	if err != nil {
		t.Fatal(err)
	}
	after, err := token.NewSigner(newer, older)
	if err != nil {
		t.Fatal(err)
	}
	if _, why, ok := offlineVerify(tok, after.JWKS()); !ok {
		t.Fatalf("a token of the older key is refused after rotation: %s", why)
	}
	retired, err := token.NewSigner(newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := offlineVerify(tok, retired.JWKS()); ok {
		t.Fatal("a token of a retired key is accepted")
	}
}
