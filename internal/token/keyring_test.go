package token_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/token"
)

func TestParseKeyring(t *testing.T) {
	seed, err := hex.DecodeString(rfc8032Seed)
	require.NoError(t, err)
	second := make([]byte, ed25519.SeedSize)
	for i := range second {
		second[i] = byte(i)
	}
	raw := `{"keys":[{"kid":"2026-11","seed":"` + base64.StdEncoding.EncodeToString(seed) + `"},` +
		`{"kid":"2026-05","seed":"` + base64.RawURLEncoding.EncodeToString(second) + `","created":"2026-05-01"}]}`
	keys, err := token.ParseKeyring(raw)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	assert.Equal(t, "2026-11", keys[0].KID)
	assert.Equal(t, "2026-05", keys[1].KID)
	pub, err := hex.DecodeString(rfc8032Public)
	require.NoError(t, err)
	assert.Equal(t, ed25519.PublicKey(pub), keys[0].Public())
	assert.Equal(t, ed25519.NewKeyFromSeed(second), keys[1].Private)

	s, err := token.NewSigner(keys...)
	require.NoError(t, err)
	assert.Equal(t, "2026-11", s.KID(), "the first key of the document signs")
}

func TestEncodeKeyringRoundTrip(t *testing.T) {
	a, b := newKey(t, "a"), newKey(t, "b")
	raw, err := token.EncodeKeyring(a, b)
	require.NoError(t, err)
	assert.Contains(t, raw, base64.StdEncoding.EncodeToString(a.Private.Seed()))
	keys, err := token.ParseKeyring(raw)
	require.NoError(t, err)
	assert.Equal(t, []token.Key{a, b}, keys)

	_, err = token.EncodeKeyring(token.Key{KID: "short", Private: a.Private.Seed()})
	assert.Error(t, err)
}

func TestParseKeyringRefuses(t *testing.T) {
	seed := base64.StdEncoding.EncodeToString(make([]byte, 32))
	short := base64.StdEncoding.EncodeToString([]byte("0123456789012345678901234567890")) // 31 bytes
	long := base64.StdEncoding.EncodeToString(make([]byte, 64))
	tests := map[string]string{
		"not JSON":        `keys: []`,
		"no keys":         `{"keys":[]}`,
		"no keys field":   `{}`,
		"no kid":          `{"keys":[{"seed":"` + seed + `"}]}`,
		"kid twice":       `{"keys":[{"kid":"a","seed":"` + seed + `"},{"kid":"a","seed":"` + seed + `"}]}`,
		"short seed":      `{"keys":[{"kid":"a","seed":"` + short + `"}]}`,
		"private key":     `{"keys":[{"kid":"a","seed":"` + long + `"}]}`,
		"seed not base64": `{"keys":[{"kid":"a","seed":"not*base64!"}]}`,
		"no seed":         `{"keys":[{"kid":"a"}]}`,
	}
	for name, raw := range tests {
		_, err := token.ParseKeyring(raw)
		require.Error(t, err, name)
		assert.NotContains(t, err.Error(), short, name)
		assert.NotContains(t, err.Error(), long, name)
		assert.NotContains(t, err.Error(), "not*base64", name)
	}
}

func TestGenerateKey(t *testing.T) {
	a, b := newKey(t, "a"), newKey(t, "b")
	assert.Len(t, a.Private, ed25519.PrivateKeySize)
	assert.NotEqual(t, a.Private, b.Private)
	_, err := token.NewSigner(a, b)
	require.NoError(t, err)
	_, err = token.GenerateKey("")
	assert.Error(t, err)
}

func TestLocalKeyring(t *testing.T) {
	before := time.Now().UTC().Format(time.DateOnly)
	keys, err := token.LocalKeyring()
	require.NoError(t, err)
	after := time.Now().UTC().Format(time.DateOnly)
	require.Len(t, keys, 1)
	assert.True(t, keys[0].KID == "local-"+before || keys[0].KID == "local-"+after, keys[0].KID)
	assert.True(t, strings.HasPrefix(keys[0].KID, "local-"))

	s, err := token.NewSigner(keys...)
	require.NoError(t, err)
	tok, err := s.Sign(sampleClaims())
	require.NoError(t, err)
	_, err = token.Verify(tok, s.JWKS(), issuedAt)
	require.NoError(t, err)
}
