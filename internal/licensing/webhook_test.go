package licensing

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseEventTypes(t *testing.T) {
	got, err := ParseEventTypes([]string{"*"})
	require.NoError(t, err)
	assert.Equal(t, []string{"*"}, got)
	got, err = ParseEventTypes([]string{"LicenseRenewed", "WebhookEndpointDisabled"})
	require.NoError(t, err)
	assert.Equal(t, []string{"LicenseRenewed", "WebhookEndpointDisabled"}, got)
	for name, in := range map[string][]string{
		"none": nil, "empty": {}, "unknown": {"LicenseExploded"}, "case": {"licenserenewed"},
		"star and more": {"*", "LicenseRenewed"}, "twice": {"LicenseRenewed", "LicenseRenewed"}, "blank": {""},
	} {
		_, err := ParseEventTypes(in)
		assert.Equal(t, CodeValidation, ErrorCode(err), name)
	}
}

func TestNewWebhookEndpoint(t *testing.T) {
	w, err := NewWebhookEndpoint("rankmath", " https://hooks.example.com/x ", []string{"*"}, "whsec_x", now)
	require.NoError(t, err)
	assert.True(t, ValidID(KindWebhook, w.ID))
	assert.Equal(t, "https://hooks.example.com/x", w.URL)
	assert.Equal(t, WebhookEnabled, w.Status)
	assert.Equal(t, int64(1), w.Version)
	for name, url := range map[string]string{"empty": "", "space inside": "https://a.example.com/a b", "newline": "https://a.example.com/\nx",
		"too long": "https://a.example.com/" + string(make([]byte, MaxURLLength))} {
		_, err := NewWebhookEndpoint("rankmath", url, []string{"*"}, "whsec_x", now)
		assert.Equal(t, CodeValidation, ErrorCode(err), name)
	}
}

func TestWebhookEndpointSubscriptionAndSecrets(t *testing.T) {
	w := WebhookEndpoint{EventTypes: []string{"LicenseRenewed"}, Secret: "whsec_a", Version: 1}
	assert.True(t, w.Wants(EventLicenseRenewed))
	assert.False(t, w.Wants(EventLicenseCancelled))
	assert.True(t, WebhookEndpoint{EventTypes: []string{"*"}}.Wants(EventWebhookEndpointDisabled))

	assert.Equal(t, []string{"whsec_a"}, w.SigningSecrets(now))
	r, err := w.Rotate("whsec_b", now)
	require.NoError(t, err)
	assert.Equal(t, int64(2), r.Version)
	assert.Equal(t, []string{"whsec_b", "whsec_a"}, r.SigningSecrets(now), "both sign during the overlap")
	assert.Equal(t, []string{"whsec_b", "whsec_a"}, r.SigningSecrets(now.Add(SecretOverlap-time.Second)))
	assert.Equal(t, []string{"whsec_b"}, r.SigningSecrets(now.Add(SecretOverlap)), "then the new one alone")
	assert.Equal(t, []string{"whsec_a"}, w.SigningSecrets(now), "the endpoint rotated is a copy")

	// Another rotation during the overlap would end whsec_a's at once.
	_, err = r.Rotate("whsec_c", now.Add(SecretOverlap-time.Second))
	assert.Equal(t, CodeRotationInProgress, ErrorCode(err))
	again, err := r.Rotate("whsec_c", now.Add(SecretOverlap))
	require.NoError(t, err)
	assert.Equal(t, []string{"whsec_c", "whsec_b"}, again.SigningSecrets(now.Add(SecretOverlap)))
}

func TestWebhookEndpointFailures(t *testing.T) {
	w := WebhookEndpoint{ID: "wh_x", Brand: "rankmath", URL: "https://a.example.com", Status: WebhookEnabled, Version: 1}
	f, evs, changed := w.Failed(now, false)
	assert.True(t, changed)
	assert.Empty(t, evs)
	require.NotNil(t, f.FailingSince)
	assert.Equal(t, int64(2), f.Version)

	again, evs, changed := f.Failed(now.Add(time.Hour), false)
	assert.False(t, changed, "failing already: nothing to write")
	assert.Empty(t, evs)
	assert.Equal(t, f.Version, again.Version)

	off, evs, changed := f.Failed(now.Add(FailureWindow), false)
	assert.True(t, changed)
	require.Len(t, evs, 1)
	assert.Equal(t, EventWebhookEndpointDisabled, evs[0].Type)
	assert.Equal(t, DisabledFailing, evs[0].Reason)
	assert.Equal(t, WebhookDisabled, off.Status)
	_, evs, changed = off.Failed(now.Add(2*FailureWindow), true)
	assert.False(t, changed, "disabled already")
	assert.Empty(t, evs)

	gone, evs, _ := w.Failed(now, true)
	assert.Equal(t, WebhookDisabled, gone.Status)
	assert.Equal(t, DisabledGone, gone.DisabledReason)
	require.Len(t, evs, 1)
	assert.Equal(t, "wh_x", evs[0].WebhookID)

	ok := f.Succeeded()
	assert.Nil(t, ok.FailingSince)
	assert.Equal(t, f.Version+1, ok.Version)
}

func TestWebhookDeliveryRecord(t *testing.T) {
	d := WebhookDelivery{Status: DeliveryPending}
	for i := range KeptAttempts + 3 {
		d = d.Record(DeliveryAttempt{At: now.Add(time.Duration(i) * time.Minute), StatusCode: 500}, true)
	}
	assert.Equal(t, KeptAttempts+3, d.Count, "every attempt counted")
	require.Len(t, d.Attempts, KeptAttempts, "the latest kept")
	assert.Equal(t, now.Add(3*time.Minute), d.Attempts[0].At)
	assert.Equal(t, DeliveryPending, d.Status)
	assert.Equal(t, DeliveryFailed, d.Record(DeliveryAttempt{StatusCode: 500}, false).Status, "no retry left")
	assert.Equal(t, DeliveryFailed, d.Record(DeliveryAttempt{StatusCode: 410}, true).Status, "gone")
	assert.Equal(t, DeliveryDelivered, d.Record(DeliveryAttempt{StatusCode: 204}, false).Status)
	assert.Equal(t, DeliveryPending, d.Record(DeliveryAttempt{Error: "timeout"}, true).Status)
	done := d.Record(DeliveryAttempt{StatusCode: 200}, true)
	assert.Equal(t, DeliveryDelivered, done.Record(DeliveryAttempt{StatusCode: 500}, false).Status, "once delivered, a failed manual retry does not undo it")
}

func TestDeliveryIDs(t *testing.T) {
	ev := NewID(KindEvent)
	id := DeliveryID(now, ev)
	assert.True(t, ValidDeliveryID(id), id)
	assert.Less(t, DeliveryID(now, ev), DeliveryID(now.Add(time.Nanosecond), ev), "ids sort by the event's time")
	for _, bad := range []string{"", "dlv_", "dlv_nope", id + "x", id[:len(id)-1], "evt" + id[3:],
		fmt.Sprintf("dlv_%016X_%s", now.UnixNano(), ev[4:]), "dlv_0000000000000001-" + ev[4:]} {
		assert.False(t, ValidDeliveryID(bad), bad)
	}
}
