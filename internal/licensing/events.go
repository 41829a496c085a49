package licensing

import "time"

// EventType names a domain event; it is the EventBridge detail-type.
type EventType string

// The event catalogue (docs/events.md shows each with an example).
const (
	EventLicenseKeyCreated   EventType = "LicenseKeyCreated"
	EventLicenseProvisioned  EventType = "LicenseProvisioned"
	EventLicenseRenewed      EventType = "LicenseRenewed"
	EventLicenseSuspended    EventType = "LicenseSuspended"
	EventLicenseResumed      EventType = "LicenseResumed"
	EventLicenseCancelled    EventType = "LicenseCancelled"
	EventLicenseActivated    EventType = "LicenseActivated"
	EventSeatDeactivated     EventType = "SeatDeactivated"
	EventSiteMoved           EventType = "SiteMoved"
	EventSeatReclaimed       EventType = "SeatReclaimed"
	EventAPIKeyCreated       EventType = "ApiKeyCreated"
	EventAPIKeyRevoked       EventType = "ApiKeyRevoked"
	EventReleasePublished    EventType = "ReleasePublished"
	EventReleaseYanked       EventType = "ReleaseYanked"
	EventLicenseExpiringSoon EventType = "LicenseExpiringSoon"
	EventLicenseExpired      EventType = "LicenseExpired"
)

// EventTypes lists every event the service emits.
var EventTypes = []EventType{
	EventLicenseKeyCreated, EventLicenseProvisioned, EventLicenseRenewed, EventLicenseSuspended,
	EventLicenseResumed, EventLicenseCancelled, EventLicenseActivated, EventSeatDeactivated,
	EventSiteMoved, EventSeatReclaimed, EventAPIKeyCreated, EventAPIKeyRevoked,
	EventReleasePublished, EventReleaseYanked, EventLicenseExpiringSoon, EventLicenseExpired,
	EventWebhookEndpointDisabled,
}

// KeyVersion is the version of a license key item: it is written once.
const KeyVersion = 1

// EventVersion is the version of the detail schema; additive changes keep it.
const EventVersion = 1

// Who caused a change.
const (
	ActorAPIKey  = "api_key" // a brand's system, by its API key id
	ActorProduct = "product" // a product on a customer's site, by license key
	ActorCLI     = "cli"     // an operator with licensectl (or local seeding)
	ActorSystem  = "system"  // the service itself (the scheduled reclaim of stale seats)
)

// Actor says who caused an event.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// ActorOf is the actor of a brand request.
func ActorOf(t Tenant) Actor {
	if t.APIKeyID == "" {
		return Actor{Type: ActorCLI}
	}
	return Actor{Type: ActorAPIKey, ID: t.APIKeyID}
}

// Event is a domain event: what changed, the state after the change, and
// who changed it. Its JSON is the EventBridge detail.
type Event struct {
	ID         string    `json:"event_id"`
	Version    int       `json:"event_version"`
	Type       EventType `json:"event_type"`
	OccurredAt time.Time `json:"occurred_at"`
	Brand      string    `json:"brand"`
	// Sequence orders the events of one license: the license's version
	// after the change, which every change of the license increases by one,
	// in commit order. An event of a license key alone (LicenseKeyCreated)
	// carries the key's version, 1 (a key item is written once); events of
	// neither (API keys, releases) carry none. A consumer keeps, per
	// license, the highest sequence it applied and drops any event at or
	// below it (a duplicate, or one overtaken).
	Sequence int64 `json:"sequence,omitempty"`

	LicenseKeyID  string `json:"license_key_id,omitempty"`
	CustomerEmail string `json:"customer_email,omitempty"`
	LicenseID     string `json:"license_id,omitempty"`
	ProductID     string `json:"product_id,omitempty"`
	Product       string `json:"product,omitempty"`
	ActivationID  string `json:"activation_id,omitempty"`
	APIKeyID      string `json:"api_key_id,omitempty"`
	WebhookID     string `json:"webhook_id,omitempty"`
	WebhookURL    string `json:"webhook_url,omitempty"`

	License    *LicenseState    `json:"license,omitempty"`
	Activation *ActivationState `json:"activation,omitempty"`
	Release    *ReleaseState    `json:"release,omitempty"`
	// MovedFrom is the site a SiteMoved seat left.
	MovedFrom *ActivationState `json:"moved_from,omitempty"`
	// PreviousActivationID is the activation a SiteMoved seat replaced.
	PreviousActivationID string `json:"previous_activation_id,omitempty"`
	Reason               string `json:"reason,omitempty"`
	// DaysBefore is the reminder a LicenseExpiringSoon is (30: the
	// reminder 30 days before expiry).
	DaysBefore int   `json:"days_before,omitempty"`
	Actor      Actor `json:"actor"`
}

// LicenseState is a license as an event reports it, after the change.
type LicenseState struct {
	Status      Status     `json:"status"`
	SeatLimit   int        `json:"seat_limit"`
	SeatsUsed   int        `json:"seats_used"`
	NonProdUsed int        `json:"staging_sites_used"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

// ActivationState is a seat as an event reports it, after the change.
type ActivationState struct {
	InstanceIdentifier string       `json:"instance_identifier"`
	InstanceType       InstanceType `json:"instance_type"`
	Environment        Environment  `json:"environment,omitempty"`
	Status             string       `json:"status"` // active, deactivated
}

func newEvent(t EventType, brand string, at time.Time, actor Actor) Event {
	return Event{ID: NewID(KindEvent), Version: EventVersion, Type: t, OccurredAt: at.UTC(), Brand: brand, Actor: actor}
}

// StateOf is a license's state as events report it.
func StateOf(l License) *LicenseState {
	return &LicenseState{Status: l.Status, SeatLimit: l.SeatLimit, SeatsUsed: l.SeatsUsed, NonProdUsed: l.NonProdUsed, ExpiresAt: l.ExpiresAt}
}

// stateAt is a license's state as an event of a change at at reports it:
// the status as clients see it then (a valid license past its expiry is
// expired), so that a seat freed on an expired license says so.
func stateAt(l License, at time.Time) *LicenseState {
	st := StateOf(l)
	st.Status = l.EffectiveStatus(at)
	return st
}

// ProvisionedEvents are the events of a provisioning: the key, then one per license.
func ProvisionedEvents(p Provisioned, actor Actor) []Event {
	k := p.Key
	key := newEvent(EventLicenseKeyCreated, k.Brand, k.CreatedAt, actor)
	key.LicenseKeyID, key.CustomerEmail, key.Sequence = k.ID, k.CustomerEmail, KeyVersion
	out := []Event{key}
	for _, l := range p.Licenses {
		e := newEvent(EventLicenseProvisioned, k.Brand, k.CreatedAt, actor)
		e.LicenseKeyID, e.LicenseID, e.ProductID, e.Product, e.License = k.ID, l.ID, l.ProductID, l.ProductSlug, StateOf(l)
		e.Sequence = l.Version
		out = append(out, e)
	}
	return out
}

// TransitionEvent is the event of a lifecycle change from before to after.
func TransitionEvent(a Action, key KeyRecord, after License, actor Actor) Event {
	t := map[Action]EventType{
		ActionSuspend: EventLicenseSuspended, ActionResume: EventLicenseResumed,
		ActionCancel: EventLicenseCancelled, ActionRenew: EventLicenseRenewed,
	}[a]
	e := newEvent(t, after.Brand, after.UpdatedAt, actor)
	e.LicenseKeyID, e.LicenseID, e.ProductID, e.Product, e.License = key.ID, after.ID, after.ProductID, after.ProductSlug, stateAt(after, after.UpdatedAt)
	e.Sequence = after.Version
	if a != ActionRenew {
		e.Reason = after.Reason
	}
	return e
}

// SeatEvent is the event of a seat taken (LicenseActivated) or freed
// (SeatDeactivated); after is the license with its new seat count.
func SeatEvent(t EventType, key KeyRecord, after License, act Activation, at time.Time, actor Actor) Event {
	e := newEvent(t, key.Brand, at, actor)
	status := "active"
	switch t {
	case EventSeatDeactivated:
		status = "deactivated"
	case EventSeatReclaimed:
		status = "reclaimed"
	}
	e.LicenseKeyID, e.LicenseID, e.ProductID, e.Product, e.ActivationID = key.ID, after.ID, after.ProductID, after.ProductSlug, act.ID
	e.License, e.Sequence = stateAt(after, at), after.Version
	e.Activation = &ActivationState{InstanceIdentifier: act.Instance.ID, InstanceType: act.Instance.Type, Environment: act.Environment, Status: status}
	return e
}

// APIKeyEvent is the event of an API key created or revoked.
func APIKeyEvent(t EventType, k APIKey, at time.Time, actor Actor) Event {
	e := newEvent(t, k.Brand, at, actor)
	e.APIKeyID = k.ID
	return e
}

// SiteMovedEvent is the event of a seat moved from one site to another.
func SiteMovedEvent(key KeyRecord, after License, from, to Activation, at time.Time, actor Actor) Event {
	e := SeatEvent(EventSiteMoved, key, after, to, at, actor)
	e.PreviousActivationID = from.ID
	e.MovedFrom = &ActivationState{InstanceIdentifier: from.Instance.ID, InstanceType: from.Instance.Type, Environment: from.Environment, Status: "moved"}
	return e
}
