package token_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/token"
)

var issuedAt = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// rfc8032Seed and rfc8032Public are RFC 8032 section 7.1, test 1.
const (
	rfc8032Seed   = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfc8032Public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)

func fixedKey(t *testing.T, kid string) token.Key {
	t.Helper()
	seed, err := hex.DecodeString(rfc8032Seed)
	require.NoError(t, err)
	return token.Key{KID: kid, Private: ed25519.NewKeyFromSeed(seed)}
}

func newKey(t *testing.T, kid string) token.Key {
	t.Helper()
	k, err := token.GenerateKey(kid)
	require.NoError(t, err)
	return k
}

func newSigner(t *testing.T, keys ...token.Key) *token.Signer {
	t.Helper()
	s, err := token.NewSigner(keys...)
	require.NoError(t, err)
	return s
}

func sampleClaims() token.Claims {
	exp := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	return token.NewClaims(token.License{
		Brand: "acme", ID: "lic_01", Product: "rankmath-pro", Instance: "example.com", Activation: "act_01",
		Status: token.StatusValid, ExpiresAt: &exp,
	}, issuedAt, 0, 0)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

// forge signs any header and payload with priv, as a hostile or buggy
// issuer holding a real key could.
func forge(priv ed25519.PrivateKey, header, payload string) string {
	in := b64([]byte(header)) + "." + b64([]byte(payload))
	return in + "." + b64(ed25519.Sign(priv, []byte(in)))
}

func claimsJSON(t *testing.T, edit func(m map[string]any)) string {
	t.Helper()
	b, err := json.Marshal(sampleClaims())
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	if edit != nil {
		edit(m)
	}
	b, err = json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

func TestNewClaims(t *testing.T) {
	c := sampleClaims()
	exp := "2027-01-31T00:00:00Z"
	iat := issuedAt.Unix()
	assert.Equal(t, token.Claims{
		Issuer: "license-service", Brand: "acme", LicenseID: "lic_01", Product: "rankmath-pro", Instance: "example.com",
		ActivationID: "act_01", Status: "valid", ExpiresAt: &exp, IssuedAt: iat, ValidUntil: iat + 7*24*3600,
		RecheckAfter: iat + 60, Expiry: iat + 7*24*3600,
	}, c)

	perpetual := token.NewClaims(token.License{Brand: "acme", ID: "lic_02", Product: "p", Instance: "shop.example",
		Activation: "act_02", Status: token.StatusSuspended}, issuedAt, 48*time.Hour, 300*time.Second)
	assert.Equal(t, iat+48*3600, perpetual.ValidUntil)
	assert.Equal(t, iat+300, perpetual.RecheckAfter)
	b, err := json.Marshal(perpetual)
	require.NoError(t, err)
	assert.JSONEq(t, `{"iss":"license-service","brand":"acme","lid":"lic_02","product":"p","instance":"shop.example",
		"activation_id":"act_02","status":"suspended","expires_at":null,"iat":`+jsonInt(iat)+`,
		"valid_until":`+jsonInt(iat+48*3600)+`,"recheck_after":`+jsonInt(iat+300)+`,"exp":`+jsonInt(iat+48*3600)+`}`, string(b))
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := newSigner(t, fixedKey(t, "2026-03"))
	c := sampleClaims()
	tok, err := s.Sign(c)
	require.NoError(t, err)

	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	assert.Equal(t, `{"alg":"EdDSA","kid":"2026-03","typ":"JWT"}`, string(unb64(t, parts[0])))
	assert.Len(t, unb64(t, parts[2]), ed25519.SignatureSize)
	assert.NotContains(t, tok, "=")

	got, err := token.Verify(tok, s.JWKS(), issuedAt)
	require.NoError(t, err)
	assert.Equal(t, c, got)
	assert.True(t, got.Entitled(issuedAt))

	// Ed25519 is deterministic: the same claims give the same token.
	again, err := s.Sign(c)
	require.NoError(t, err)
	assert.Equal(t, tok, again)

	// An empty issuer is filled in.
	c.Issuer = ""
	tok, err = s.Sign(c)
	require.NoError(t, err)
	got, err = token.Verify(tok, s.JWKS(), issuedAt)
	require.NoError(t, err)
	assert.Equal(t, token.Issuer, got.Issuer)
}

func TestVerifyRefuses(t *testing.T) {
	key := fixedKey(t, "k1")
	s := newSigner(t, key)
	jwks := s.JWKS()
	good, err := s.Sign(sampleClaims())
	require.NoError(t, err)
	parts := strings.Split(good, ".")
	goodHeader := `{"alg":"EdDSA","kid":"k1","typ":"JWT"}`

	tamperedPayload := b64([]byte(claimsJSON(t, func(m map[string]any) { m["status"] = "valid"; m["valid_until"] = 4102444800 })))
	sig := unb64(t, parts[2])
	flipped := append([]byte(nil), sig...)
	flipped[10] ^= 0x01
	other := newSigner(t, newKey(t, "k2"))
	byOther, err := other.Sign(sampleClaims())
	require.NoError(t, err)
	// A token signed by another key but claiming kid k1.
	impostor := forge(newKey(t, "k1").Private, goodHeader, claimsJSON(t, nil))

	shortX := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + b64(make([]byte, 31)) + `","kid":"k1","use":"sig","alg":"EdDSA"}]}`
	rsa := `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"k1"}]}`
	xOf := b64(key.Public())
	twice := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + xOf + `","kid":"k1"},{"kty":"OKP","crv":"Ed25519","x":"` + xOf + `","kid":"k1"}]}`
	encKey := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + xOf + `","kid":"k1","use":"enc"}]}`

	tests := []struct {
		name  string
		token string
		jwks  string
		want  error
	}{
		{"tampered claim", parts[0] + "." + tamperedPayload + "." + parts[2], "", token.ErrSignature},
		{"tampered signature", parts[0] + "." + parts[1] + "." + b64(flipped), "", token.ErrSignature},
		{"truncated signature", parts[0] + "." + parts[1] + "." + b64(sig[:63]), "", token.ErrSignature},
		{"signature not base64url", parts[0] + "." + parts[1] + "." + strings.ReplaceAll(parts[2], parts[2][:1], "+"), "", token.ErrSignature},
		{"signed by another key, same kid", impostor, "", token.ErrSignature},
		{"unknown kid", byOther, "", token.ErrUnknownKey},
		{"no kid", forge(key.Private, `{"alg":"EdDSA","typ":"JWT"}`, claimsJSON(t, nil)), "", token.ErrMalformed},
		{"empty kid", forge(key.Private, `{"alg":"EdDSA","kid":"","typ":"JWT"}`, claimsJSON(t, nil)), "", token.ErrUnknownKey},
		{"alg none, unsigned", b64([]byte(`{"alg":"none","kid":"k1"}`)) + "." + parts[1] + ".", "", token.ErrMalformed},
		{"alg none, signed", forge(key.Private, `{"alg":"none","kid":"k1","typ":"JWT"}`, claimsJSON(t, nil)), "", token.ErrAlgorithm},
		{"alg HS256", forge(key.Private, `{"alg":"HS256","kid":"k1","typ":"JWT"}`, claimsJSON(t, nil)), "", token.ErrAlgorithm},
		{"alg Ed25519 spelling", forge(key.Private, `{"alg":"ed25519","kid":"k1"}`, claimsJSON(t, nil)), "", token.ErrAlgorithm},
		{"crit header", forge(key.Private, `{"alg":"EdDSA","kid":"k1","crit":["exp"],"exp":1}`, claimsJSON(t, nil)), "", token.ErrMalformed},
		{"typ not JWT", forge(key.Private, `{"alg":"EdDSA","kid":"k1","typ":"JOSE+JSON"}`, claimsJSON(t, nil)), "", token.ErrMalformed},
		{"header not JSON", forge(key.Private, `alg=EdDSA`, claimsJSON(t, nil)), "", token.ErrMalformed},
		{"payload not JSON", forge(key.Private, goodHeader, `[1,2]`), "", token.ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], "", token.ErrMalformed},
		{"four parts", good + "." + parts[2], "", token.ErrMalformed},
		{"empty", "", "", token.ErrMalformed},
		{"padded header", parts[0] + "=." + parts[1] + "." + parts[2], "", token.ErrMalformed},
		{"too long", strings.Repeat("a", token.MaxTokenSize+1), "", token.ErrMalformed},
		{"wrong key length in JWKS", good, shortX, token.ErrBadKey},
		{"not an Ed25519 key", good, rsa, token.ErrBadKey},
		{"kid twice in JWKS", good, twice, token.ErrBadKey},
		{"encryption key", good, encKey, token.ErrBadKey},
		{"JWKS not JSON", good, `keys`, token.ErrBadKey},
		{"other issuer", forge(key.Private, goodHeader, claimsJSON(t, func(m map[string]any) { m["iss"] = "someone" })), "", token.ErrClaims},
		{"no lid", forge(key.Private, goodHeader, claimsJSON(t, func(m map[string]any) { delete(m, "lid") })), "", token.ErrClaims},
		{"empty lid", forge(key.Private, goodHeader, claimsJSON(t, func(m map[string]any) { m["lid"] = "" })), "", token.ErrClaims},
		{"unknown status", forge(key.Private, goodHeader, claimsJSON(t, func(m map[string]any) { m["status"] = "premium" })), "", token.ErrClaims},
		{"valid_until before iat", forge(key.Private, goodHeader, claimsJSON(t, func(m map[string]any) { m["valid_until"] = 1 })), "", token.ErrClaims},
		{"iat not a number", forge(key.Private, goodHeader, claimsJSON(t, func(m map[string]any) { m["iat"] = "now" })), "", token.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := jwks
			if tc.jwks != "" {
				set = []byte(tc.jwks)
			}
			c, err := token.Verify(tc.token, set, issuedAt)
			require.ErrorIs(t, err, tc.want)
			assert.Zero(t, c)
		})
	}
}

func TestVerifyTime(t *testing.T) {
	s := newSigner(t, newKey(t, "k1"))
	c := sampleClaims()
	tok, err := s.Sign(c)
	require.NoError(t, err)
	validUntil := time.Unix(c.ValidUntil, 0)

	got, err := token.Verify(tok, s.JWKS(), validUntil)
	require.NoError(t, err, "still good at valid_until")
	assert.True(t, got.Entitled(validUntil))

	got, err = token.Verify(tok, s.JWKS(), validUntil.Add(time.Second))
	require.ErrorIs(t, err, token.ErrExpired)
	assert.Equal(t, c, got, "an expired token's claims are still handed back")
	assert.False(t, got.Entitled(validUntil.Add(time.Second)))

	_, err = token.Verify(tok, s.JWKS(), issuedAt.Add(-token.ClockSkew+time.Second))
	require.NoError(t, err, "a clock a little behind is tolerated")
	_, err = token.Verify(tok, s.JWKS(), issuedAt.Add(-token.ClockSkew-2*time.Second))
	require.ErrorIs(t, err, token.ErrNotYetValid)
}

func TestEntitled(t *testing.T) {
	exp := time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)
	l := token.License{Brand: "acme", ID: "lic", Product: "p", Status: token.StatusValid, ExpiresAt: &exp}
	c := token.NewClaims(l, issuedAt, 0, 0)
	assert.True(t, c.Entitled(issuedAt))
	assert.True(t, c.Entitled(exp.Add(-time.Second)))
	assert.False(t, c.Entitled(exp), "the license expired inside the grace window")

	l.ExpiresAt = nil
	c = token.NewClaims(l, issuedAt, 0, 0)
	assert.True(t, c.Entitled(issuedAt.Add(7*24*time.Hour-time.Second)))
	assert.False(t, c.Entitled(issuedAt.Add(7*24*time.Hour+time.Second)))

	for _, st := range []string{token.StatusSuspended, token.StatusCancelled, token.StatusExpired} {
		l.Status = st
		assert.False(t, token.NewClaims(l, issuedAt, 0, 0).Entitled(issuedAt), st)
	}
}

func TestRotation(t *testing.T) {
	old := newKey(t, "2026-01")
	next := newKey(t, "2026-07")
	before := newSigner(t, old)
	after := newSigner(t, next, old)
	assert.Equal(t, "2026-07", after.KID())
	assert.Equal(t, []string{"2026-07", "2026-01"}, after.KIDs())

	byOld, err := before.Sign(sampleClaims())
	require.NoError(t, err)
	byNew, err := after.Sign(sampleClaims())
	require.NoError(t, err)
	assert.Equal(t, `{"alg":"EdDSA","kid":"2026-07","typ":"JWT"}`, string(unb64(t, strings.Split(byNew, ".")[0])), "the newest key signs")

	for name, tok := range map[string]string{"old": byOld, "new": byNew} {
		c, err := token.Verify(tok, after.JWKS(), issuedAt)
		require.NoError(t, err, name)
		assert.Equal(t, sampleClaims(), c, name)
	}
	_, err = token.Verify(byNew, before.JWKS(), issuedAt)
	require.ErrorIs(t, err, token.ErrUnknownKey, "a product holding only the old JWKS does not know the new key")

	retired := newSigner(t, next)
	_, err = token.Verify(byOld, retired.JWKS(), issuedAt)
	require.ErrorIs(t, err, token.ErrUnknownKey, "a key dropped from the ring no longer verifies")
}

func TestJWKS(t *testing.T) {
	fixed := fixedKey(t, "rfc8032")
	second := newKey(t, "second")
	s := newSigner(t, fixed, second)

	var doc map[string][]map[string]string
	require.NoError(t, json.Unmarshal(s.JWKS(), &doc))
	require.Len(t, doc, 1)
	keys := doc["keys"]
	require.Len(t, keys, 2)
	pub, err := hex.DecodeString(rfc8032Public)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(pub), "kid": "rfc8032", "use": "sig", "alg": "EdDSA"}, keys[0])
	assert.Equal(t, map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(second.Public()), "kid": "second", "use": "sig", "alg": "EdDSA"}, keys[1])
	for _, k := range keys {
		assert.Len(t, unb64(t, k["x"]), ed25519.PublicKeySize)
		assert.NotContains(t, k, "d", "no private part is published")
	}

	// The caller owns what JWKS returns.
	j := s.JWKS()
	j[0] = 'x'
	assert.Equal(t, byte('{'), s.JWKS()[0])
}

func TestNewSignerRefuses(t *testing.T) {
	k := newKey(t, "k")
	mismatched := append(ed25519.PrivateKey(nil), k.Private...)
	mismatched[40] ^= 0xff
	tests := map[string][]token.Key{
		"empty ring":          nil,
		"no kid":              {{Private: k.Private}},
		"kid twice":           {k, {KID: "k", Private: newKey(t, "x").Private}},
		"seed only":           {{KID: "k", Private: k.Private.Seed()}},
		"public half altered": {{KID: "k", Private: mismatched}},
		"no key":              {{KID: "k"}},
	}
	for name, keys := range tests {
		_, err := token.NewSigner(keys...)
		assert.Error(t, err, name)
	}
}

func TestSignerCopiesKeys(t *testing.T) {
	k := fixedKey(t, "k")
	s := newSigner(t, k)
	want, err := s.Sign(sampleClaims())
	require.NoError(t, err)
	for i := range k.Private {
		k.Private[i] = 0
	}
	got, err := s.Sign(sampleClaims())
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestSignRefuses(t *testing.T) {
	s := newSigner(t, newKey(t, "k"))
	bad := "31/01/2027"
	tests := map[string]func(c *token.Claims){
		"no lid":                     func(c *token.Claims) { c.LicenseID = "" },
		"no product":                 func(c *token.Claims) { c.Product = "" },
		"no brand":                   func(c *token.Claims) { c.Brand = "" },
		"no instance":                func(c *token.Claims) { c.Instance = "" },
		"no activation_id":           func(c *token.Claims) { c.ActivationID = "" },
		"exp not valid_until":        func(c *token.Claims) { c.Expiry = c.ValidUntil + 1 },
		"unknown status":             func(c *token.Claims) { c.Status = "active" },
		"no iat":                     func(c *token.Claims) { c.IssuedAt = 0 },
		"valid_until before iat":     func(c *token.Claims) { c.ValidUntil = c.IssuedAt - 1 },
		"recheck_after before iat":   func(c *token.Claims) { c.RecheckAfter = c.IssuedAt - 1 },
		"expires_at not RFC 3339":    func(c *token.Claims) { c.ExpiresAt = &bad },
		"issuer not license-service": func(c *token.Claims) { c.Issuer = "other" },
	}
	for name, edit := range tests {
		c := sampleClaims()
		edit(&c)
		_, err := s.Sign(c)
		require.ErrorIs(t, err, token.ErrClaims, name)
	}
}

func TestSignConcurrently(t *testing.T) {
	s := newSigner(t, newKey(t, "k"))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c := sampleClaims()
			c.Instance = strings.Repeat("i", i+1)
			tok, err := s.Sign(c)
			if assert.NoError(t, err) {
				got, err := token.Verify(tok, s.JWKS(), issuedAt)
				assert.NoError(t, err)
				assert.Equal(t, c, got)
			}
		})
	}
	wg.Wait()
}
