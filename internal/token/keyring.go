package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// keyringDoc is the stored form of a keyring: the secret's JSON document,
// {"keys":[{"kid":"2026-11","seed":"<base64 of a 32-byte Ed25519 seed>"},...]},
// the first key signing.
type keyringDoc struct {
	Keys []storedKey `json:"keys"`
}

type storedKey struct {
	KID  string `json:"kid"`
	Seed string `json:"seed"`
}

// ParseKeyring reads a keyring from its JSON document,
// {"keys":[{"kid":"2026-11","seed":"<base64 32-byte seed>"},...]}, in order
// (the first key signs). A seed is standard base64 (padded or not; the URL
// alphabet is taken too). It refuses an empty ring, an empty or repeated kid
// and a seed that is not 32 bytes; its errors never show key material.
func ParseKeyring(raw string) ([]Key, error) {
	var doc keyringDoc
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		return nil, errors.New("token: keyring is not a JSON document {\"keys\":[...]}")
	}
	if len(doc.Keys) == 0 {
		return nil, errors.New("token: keyring has no keys")
	}
	keys := make([]Key, len(doc.Keys))
	seen := make(map[string]bool, len(doc.Keys))
	for i, sk := range doc.Keys {
		if sk.KID == "" {
			return nil, fmt.Errorf("token: keyring key %d has no kid", i)
		}
		if seen[sk.KID] {
			return nil, fmt.Errorf("token: kid %q appears twice in the keyring", sk.KID)
		}
		seen[sk.KID] = true
		seed, ok := decodeSeed(sk.Seed)
		if !ok {
			return nil, fmt.Errorf("token: keyring key %q: seed is not base64 of %d bytes", sk.KID, ed25519.SeedSize)
		}
		keys[i] = Key{KID: sk.KID, Private: ed25519.NewKeyFromSeed(seed)}
	}
	return keys, nil
}

func decodeSeed(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			return b, len(b) == ed25519.SeedSize
		}
	}
	return nil, false
}

// EncodeKeyring writes keys as the JSON document that ParseKeyring reads
// (seeds in padded standard base64): what to store in the secret.
func EncodeKeyring(keys ...Key) (string, error) {
	doc := keyringDoc{Keys: make([]storedKey, len(keys))}
	for i, k := range keys {
		if err := checkKey(k); err != nil {
			return "", err
		}
		doc.Keys[i] = storedKey{KID: k.KID, Seed: base64.StdEncoding.EncodeToString(k.Private.Seed())}
	}
	b, err := json.Marshal(doc)
	return string(b), err
}

// GenerateKey returns a new random key named kid.
func GenerateKey(kid string) (Key, error) {
	if kid == "" {
		return Key{}, errors.New("token: key without kid")
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return Key{}, err
	}
	return Key{KID: kid, Private: ed25519.NewKeyFromSeed(seed)}, nil
}

// LocalKeyring returns a keyring of one key made now, kid "local-YYYY-MM-DD"
// (UTC), for a local server: its tokens verify only against the JWKS of the
// same run.
func LocalKeyring() ([]Key, error) {
	k, err := GenerateKey("local-" + time.Now().UTC().Format(time.DateOnly))
	if err != nil {
		return nil, err
	}
	return []Key{k}, nil
}
