// Package webhook holds what delivering domain events to brands' HTTPS
// endpoints needs, signed as the Standard Webhooks specification says: the
// endpoint secrets, the signature headers, the refusal of endpoints that
// reach private networks (SSRF) and the retry schedule. It has no AWS or
// HTTP-client code: the delivery function uses it.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every endpoint secret: "whsec_" and the base64 of the
// signing key.
const SecretPrefix = "whsec_"

// The headers of a signed request.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a receiver lets a request's timestamp be from
// its own clock, either way, before it refuses it (a replay).
const DefaultTolerance = 5 * time.Minute

// NewSecret is a fresh endpoint secret: 32 random bytes.
func NewSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ErrSecret is a secret that is not "whsec_" and base64.
var ErrSecret = errors.New("webhook secret: not whsec_ followed by base64")

func signingKey(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, ErrSecret
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) == 0 {
		return nil, ErrSecret
	}
	return key, nil
}

// signature is "v1," and the base64 HMAC-SHA256, under the secret's key, of
// "<id>.<timestamp>.<body>".
func signature(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, ts)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Sign answers the headers of a request of body with message id (the
// event's id: stable across retries) at time at, signed with every secret
// given (during a rotation, the new and the old one), space-separated.
func Sign(secrets []string, id string, at time.Time, body []byte) (http.Header, error) {
	if len(secrets) == 0 {
		return nil, ErrSecret
	}
	ts := at.Unix()
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		key, err := signingKey(s)
		if err != nil {
			return nil, err
		}
		sigs[i] = signature(key, id, ts, body)
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
	return h, nil
}

// Verification failures.
var (
	ErrMissingHeaders = errors.New("webhook: a signature header is missing")
	ErrTimestamp      = errors.New("webhook: the timestamp is not within the tolerance")
	ErrSignature      = errors.New("webhook: no signature matches")
)

// Verify checks a received request as a receiver would: the timestamp
// within tolerance of now, and one of its v1 signatures made with secret.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	key, err := signingKey(secret)
	if err != nil {
		return err
	}
	want := signature(key, id, ts, body)
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return ErrSignature
}
