package licensing

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Webhook error codes.
const (
	CodeWebhookNotFound  Code = "webhook_not_found"
	CodeDeliveryNotFound Code = "delivery_not_found"
	CodeWebhookLimit     Code = "webhook_limit_reached"
	// CodeRotationInProgress refuses a rotation while the secret before
	// the last one still signs.
	CodeRotationInProgress Code = "secret_rotation_in_progress"
)

// EventWebhookEndpointDisabled is sent when the service stops delivering to
// an endpoint: it answered 410 Gone, or it failed for FailureWindow.
const EventWebhookEndpointDisabled EventType = "WebhookEndpointDisabled"

// KindWebhook is the id kind of webhook endpoints (wh_…).
const KindWebhook = "wh"

// Webhook policies.
const (
	// MaxWebhooks is how many endpoints a brand may have.
	MaxWebhooks = 10
	// SecretOverlap is how long the previous secret still signs after a
	// rotation, so a receiver can switch without missing a delivery.
	SecretOverlap = 24 * time.Hour
	// FailureWindow is how long an endpoint may fail every attempt before
	// it is disabled.
	FailureWindow = 72 * time.Hour
	// MaxURLLength bounds an endpoint's URL.
	MaxURLLength = 2048
	// AllEvents subscribes an endpoint to every event type.
	AllEvents = "*"
	// KeptAttempts is how many attempts a delivery lists (the latest).
	KeptAttempts = 10
)

// Why an endpoint was disabled.
const (
	DisabledGone    = "gone"    // it answered 410 Gone
	DisabledFailing = "failing" // every attempt failed for FailureWindow
)

// WebhookStatus says whether an endpoint receives deliveries.
type WebhookStatus string

// The statuses of an endpoint.
const (
	WebhookEnabled  WebhookStatus = "enabled"
	WebhookDisabled WebhookStatus = "disabled"
)

// WebhookEndpoint is a brand's HTTPS endpoint that receives its events.
type WebhookEndpoint struct {
	ID         string
	Brand      string
	URL        string
	EventTypes []string // event type names, or ["*"]
	Secret     string   // whsec_…; shown to the brand once
	// PreviousSecret still signs until PreviousUntil (a rotation).
	PreviousSecret string
	PreviousUntil  *time.Time
	Status         WebhookStatus
	DisabledReason string
	DisabledAt     *time.Time
	// FailingSince is the first failed attempt after the last success.
	FailingSince *time.Time
	CreatedAt    time.Time
	Version      int64
}

// ParseEventTypes validates an endpoint's subscription: ["*"], or a list of
// known event types without repeats.
func ParseEventTypes(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, Invalid("event_types", `must list event types, or be ["*"] for all`)
	}
	if slices.Contains(in, AllEvents) {
		if len(in) != 1 {
			return nil, Invalid("event_types", `"*" stands alone`)
		}
		return []string{AllEvents}, nil
	}
	seen := map[string]bool{}
	for _, t := range in {
		if !slices.Contains(EventTypes, EventType(t)) {
			return nil, Invalid("event_types", "%q is not an event type (see docs/events.md)", clip(t, 64))
		}
		if seen[t] {
			return nil, Invalid("event_types", "%q is listed twice", t)
		}
		seen[t] = true
	}
	return slices.Clone(in), nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// NewWebhookEndpoint is a brand's new, enabled endpoint. The URL is checked
// here for its form only; where it may point is the sender's to check.
func NewWebhookEndpoint(brand, url string, eventTypes []string, secret string, now time.Time) (WebhookEndpoint, error) {
	url, err := ParseText("url", url, SingleLine)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	switch {
	case url == "":
		return WebhookEndpoint{}, Invalid("url", "is required")
	case len(url) > MaxURLLength:
		return WebhookEndpoint{}, Invalid("url", "is longer than %d bytes", MaxURLLength)
	case strings.ContainsFunc(url, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return WebhookEndpoint{}, Invalid("url", "has spaces or control characters")
	}
	types, err := ParseEventTypes(eventTypes)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	return WebhookEndpoint{ID: NewID(KindWebhook), Brand: brand, URL: url, EventTypes: types, Secret: secret,
		Status: WebhookEnabled, CreatedAt: now.UTC(), Version: 1}, nil
}

// Wants tells whether the endpoint is subscribed to an event type.
func (w WebhookEndpoint) Wants(t EventType) bool {
	return slices.Contains(w.EventTypes, AllEvents) || slices.Contains(w.EventTypes, string(t))
}

// SigningSecrets are the secrets that sign a delivery at now: the current
// one, and the previous one during SecretOverlap after a rotation.
func (w WebhookEndpoint) SigningSecrets(now time.Time) []string {
	out := []string{w.Secret}
	if w.PreviousSecret != "" && w.PreviousUntil != nil && now.Before(*w.PreviousUntil) {
		out = append(out, w.PreviousSecret)
	}
	return out
}

// Rotate makes secret the endpoint's secret; the current one keeps signing
// for SecretOverlap. A rotation during another's overlap is refused: it
// would end the previous secret's overlap at once.
func (w WebhookEndpoint) Rotate(secret string, now time.Time) (WebhookEndpoint, error) {
	if w.PreviousUntil != nil && now.Before(*w.PreviousUntil) {
		return w, Errorf(CodeRotationInProgress, "the previous secret still signs until %s; rotate again after that",
			w.PreviousUntil.UTC().Format(time.RFC3339))
	}
	until := now.UTC().Add(SecretOverlap)
	w.PreviousSecret, w.PreviousUntil, w.Secret = w.Secret, &until, secret
	w.Version++
	return w, nil
}

// Succeeded is the endpoint after a delivered attempt: no longer failing.
func (w WebhookEndpoint) Succeeded() WebhookEndpoint {
	w.FailingSince = nil
	w.Version++
	return w
}

// Failed is the endpoint after an attempt that failed at now (gone: it
// answered 410), with the WebhookEndpointDisabled event when the failure
// disables it: at once when gone, else once it has failed for
// FailureWindow. changed is false when there is nothing to write: the
// endpoint was failing already and stays enabled, or is disabled already.
func (w WebhookEndpoint) Failed(now time.Time, gone bool) (_ WebhookEndpoint, evs []Event, changed bool) {
	now = now.UTC()
	if w.Status != WebhookEnabled {
		return w, nil, false
	}
	if w.FailingSince == nil {
		w.FailingSince, changed = &now, true
	}
	reason := ""
	switch {
	case gone:
		reason = DisabledGone
	case now.Sub(*w.FailingSince) >= FailureWindow:
		reason = DisabledFailing
	}
	if reason != "" {
		w.Status, w.DisabledReason, w.DisabledAt, changed = WebhookDisabled, reason, &now, true
		e := newEvent(EventWebhookEndpointDisabled, w.Brand, now, Actor{Type: ActorSystem})
		e.WebhookID, e.WebhookURL, e.Reason = w.ID, w.URL, reason
		evs = []Event{e}
	}
	if changed {
		w.Version++
	}
	return w, evs, changed
}

// DeliveryStatus is where a delivery of an event to an endpoint stands.
type DeliveryStatus string

// The statuses of a delivery.
const (
	DeliveryPending   DeliveryStatus = "pending"   // failed so far; retried
	DeliveryDelivered DeliveryStatus = "delivered" // answered 2xx
	DeliveryFailed    DeliveryStatus = "failed"    // no retry left, or the endpoint is disabled
)

// DeliveryAttempt is one POST of an event to an endpoint.
type DeliveryAttempt struct {
	At         time.Time
	StatusCode int    // 0: no answer
	LatencyMS  int64  // until the answer's headers, or the failure
	Error      string // why it failed without an answer (timeout, refused, …)
	Manual     bool   // a retry the brand asked for
}

// Delivered tells whether the attempt succeeded (2xx).
func (a DeliveryAttempt) Delivered() bool { return a.StatusCode >= 200 && a.StatusCode < 300 }

// Gone tells whether the endpoint answered 410 Gone.
func (a DeliveryAttempt) Gone() bool { return a.StatusCode == 410 }

// WebhookDelivery is an event's delivery to one endpoint and its attempts.
type WebhookDelivery struct {
	ID         string
	Brand      string
	EndpointID string
	EventID    string
	EventType  EventType
	EventAt    time.Time
	Body       []byte // the event's JSON, as sent
	Status     DeliveryStatus
	Attempts   []DeliveryAttempt // the latest KeptAttempts, oldest first
	Count      int               // every attempt, kept or not
	UpdatedAt  time.Time
}

// DeliveryID names the delivery of an event (by its time and id) to an
// endpoint; ids sort by the event's time.
func DeliveryID(eventAt time.Time, eventID string) string {
	return fmt.Sprintf("dlv_%016x_%s", eventAt.UnixNano(), strings.TrimPrefix(eventID, KindEvent+"_"))
}

// ValidDeliveryID reports whether s is shaped as DeliveryID makes them.
func ValidDeliveryID(s string) bool {
	rest, ok := strings.CutPrefix(s, "dlv_")
	if !ok || len(rest) != 16+1+20 || rest[16] != '_' {
		return false
	}
	for _, c := range rest[:16] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return ValidID(KindEvent, KindEvent+"_"+rest[17:])
}

// Record adds an attempt (keeping the latest KeptAttempts) and sets the
// status it leads to: delivered, pending while retries remain, else failed.
func (d WebhookDelivery) Record(a DeliveryAttempt, retriesLeft bool) WebhookDelivery {
	d.Attempts = append(slices.Clone(d.Attempts), a)
	if len(d.Attempts) > KeptAttempts {
		d.Attempts = d.Attempts[len(d.Attempts)-KeptAttempts:]
	}
	d.Count++
	d.UpdatedAt = a.At
	switch {
	case a.Delivered(), d.Status == DeliveryDelivered: // once delivered, always
		d.Status = DeliveryDelivered
	case retriesLeft && !a.Gone():
		d.Status = DeliveryPending
	default:
		d.Status = DeliveryFailed
	}
	return d
}
