package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
)

// ErrSeal is why Open refuses a sealed value.
var ErrSeal = errors.New("token: not a value this service sealed")

// MaxSealed bounds what Open reads.
const MaxSealed = 2 << 10

// Seal signs payload for the service to read back later (a download link):
// base64url(payload).base64url(signature), the signature made by the ring's
// first key over purpose, a NUL and the payload, so that a value sealed for
// one purpose never opens for another. It is signed, not encrypted.
func (s *Signer) Seal(purpose string, payload []byte) string {
	p := base64.RawURLEncoding.EncodeToString(payload)
	sig := ed25519.Sign(s.keys[0].Private, sealInput(purpose, payload))
	return p + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// Open returns the payload of a value Seal made for purpose with any key of
// the ring (a rotated-out key still opens what it sealed).
func (s *Signer) Open(purpose, sealed string) ([]byte, error) {
	if len(sealed) > MaxSealed {
		return nil, ErrSeal
	}
	p64, s64, ok := strings.Cut(sealed, ".")
	if !ok {
		return nil, ErrSeal
	}
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return nil, ErrSeal
	}
	sig, err := b64.DecodeString(s64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, ErrSeal
	}
	for _, k := range s.keys {
		if ed25519.Verify(k.Public(), sealInput(purpose, payload), sig) {
			return payload, nil
		}
	}
	return nil, ErrSeal
}

func sealInput(purpose string, payload []byte) []byte {
	return append([]byte("license-service/"+purpose+"\x00"), payload...)
}
