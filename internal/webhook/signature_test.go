package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/webhook"
)

// specVerify is a receiver written from the text of the Standard Webhooks
// specification alone (standard library only), not from the package: the
// signed content is the message id, a full stop, the timestamp (integer
// seconds), a full stop and the raw body; the signature is the base64 of
// its HMAC-SHA256 under the secret's key (the base64 after "whsec_"),
// prefixed "v1,"; the header holds several, space-delimited; a timestamp
// too far from now is refused.
func specVerify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) bool {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > tolerance {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	expected := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Split(sigs, " ") {
		version, sig, ok := strings.Cut(s, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), []byte(expected)) {
			return true
		}
	}
	return false
}

func TestSignIsVerifiedByTheSpec(t *testing.T) {
	secret, err := webhook.NewSecret()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(secret, "whsec_"))
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	assert.Len(t, key, 32)

	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"event_id":"evt_1","event_type":"LicenseActivated","sequence":2}`)
	h, err := webhook.Sign([]string{secret}, "evt_1", at, body)
	require.NoError(t, err)
	assert.Equal(t, "evt_1", h.Get("webhook-id"))
	assert.Equal(t, strconv.FormatInt(at.Unix(), 10), h.Get("webhook-timestamp"))
	assert.True(t, strings.HasPrefix(h.Get("webhook-signature"), "v1,"))

	assert.True(t, specVerify(secret, h, body, at, 5*time.Minute))
	assert.True(t, specVerify(secret, h, body, at.Add(4*time.Minute), 5*time.Minute), "within the tolerance")
	assert.False(t, specVerify(secret, h, body, at.Add(6*time.Minute), 5*time.Minute), "a replay, too late")
	assert.False(t, specVerify(secret, h, append(body, ' '), at, 5*time.Minute), "the exact bytes are signed")
	other, _ := webhook.NewSecret()
	assert.False(t, specVerify(other, h, body, at, 5*time.Minute), "another secret")

	// The exact string signed: id.timestamp.body.
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("evt_1." + strconv.FormatInt(at.Unix(), 10) + "." + string(body)))
	assert.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), h.Get("webhook-signature"))
}

// During a rotation both secrets sign: a receiver with either verifies.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	old, _ := webhook.NewSecret()
	next, _ := webhook.NewSecret()
	at := time.Now()
	body := []byte(`{}`)
	h, err := webhook.Sign([]string{next, old}, "evt_2", at, body)
	require.NoError(t, err)
	assert.Len(t, strings.Fields(h.Get("webhook-signature")), 2)
	for _, s := range []string{old, next} {
		assert.True(t, specVerify(s, h, body, at, time.Minute))
		assert.NoError(t, webhook.Verify(s, h, body, at, time.Minute))
	}
}

// The package's own Verify accepts what the spec's signer makes, and refuses
// the rest with a reason.
func TestVerifyAgainstTheSpec(t *testing.T) {
	secret, _ := webhook.NewSecret()
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	at := time.Unix(1_800_000_000, 0)
	body := []byte(`{"a":1}`)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("msg_1.1800000000." + string(body)))
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", "1800000000")
	h.Set("webhook-signature", "v1,bm90IGl0 v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))

	assert.NoError(t, webhook.Verify(secret, h, body, at, webhook.DefaultTolerance))
	assert.ErrorIs(t, webhook.Verify(secret, h, body, at.Add(time.Hour), webhook.DefaultTolerance), webhook.ErrTimestamp)
	assert.ErrorIs(t, webhook.Verify(secret, h, []byte(`{"a":2}`), at, webhook.DefaultTolerance), webhook.ErrSignature)
	h.Del("webhook-id")
	assert.ErrorIs(t, webhook.Verify(secret, h, body, at, webhook.DefaultTolerance), webhook.ErrMissingHeaders)
	_, err := webhook.Sign([]string{"not-a-secret"}, "x", at, body)
	assert.ErrorIs(t, err, webhook.ErrSecret)
}
