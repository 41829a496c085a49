package licensing

import (
	"strings"
	"time"
)

// Status is the stored lifecycle status of a license.
type Status string

// Stored statuses, and the derived "expired" that a valid license past its
// expiry reads as.
const (
	StatusValid     Status = "valid"
	StatusSuspended Status = "suspended"
	StatusCancelled Status = "cancelled"
	StatusExpired   Status = "expired"
)

// KeyRecord is a license key handed to one customer: it groups one license per
// product.
type KeyRecord struct {
	ID            string
	Key           LicenseKey
	Brand         string
	CustomerEmail string
	CreatedAt     time.Time
}

// License entitles a license key to one product, on up to SeatLimit seats.
type License struct {
	ID          string
	Key         LicenseKey
	Brand       string
	ProductID   string
	ProductSlug string
	ProductName string // the product's name when the license was issued
	Status      Status // stored status: valid, suspended or cancelled
	Reason      string // why it was last suspended, resumed or cancelled
	SeatLimit   int
	SeatsUsed   int        // production seats taken
	NonProdUsed int        // staging and local seats taken (not counted against SeatLimit)
	ExpiresAt   *time.Time // nil: perpetual
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64 // optimistic concurrency: bumped by every change
	// RemindedDays are the reminders (days before expiry) already sent for
	// the current expiry; ExpiryAnnounced says LicenseExpired was. A renewal
	// clears both.
	RemindedDays    []int
	ExpiryAnnounced bool
}

// EffectiveStatus is the status as clients see it: a valid license past its
// expiry is expired.
func (l License) EffectiveStatus(now time.Time) Status {
	if l.Status == StatusValid && l.ExpiresAt != nil && !now.Before(*l.ExpiresAt) {
		return StatusExpired
	}
	return l.Status
}

// SeatsRemaining is how many more seats may be activated.
func (l License) SeatsRemaining() int {
	return max(l.SeatLimit-l.SeatsUsed, 0)
}

// Action is a lifecycle change requested by a brand.
type Action string

// Lifecycle actions.
const (
	ActionSuspend Action = "suspend"
	ActionResume  Action = "resume"
	ActionCancel  Action = "cancel"
	ActionRenew   Action = "renew"
)

// Transition applies a lifecycle action to a license as of now and returns the
// changed license. Invalid transitions are CodeInvalidTransition errors:
//
//	suspend: valid (not expired) → suspended
//	resume:  suspended → valid
//	cancel:  valid, expired or suspended → cancelled (final)
//	renew:   valid, expired or suspended, not perpetual → a later expiry, status unchanged
func (l License) Transition(a Action, reason string, expiresAt *time.Time, now time.Time) (License, error) {
	from := l.EffectiveStatus(now)
	next := l
	switch a {
	case ActionSuspend:
		if from != StatusValid {
			return l, invalidTransition(a, from)
		}
		next.Status = StatusSuspended
	case ActionResume:
		if from != StatusSuspended {
			return l, invalidTransition(a, from)
		}
		next.Status = StatusValid
	case ActionCancel:
		if from == StatusCancelled {
			return l, invalidTransition(a, from)
		}
		next.Status = StatusCancelled
	case ActionRenew:
		if from == StatusCancelled {
			return l, invalidTransition(a, from)
		}
		if expiresAt == nil {
			return l, Invalid("expiration_date", "is required")
		}
		if l.ExpiresAt == nil {
			return l, Errorf(CodeInvalidTransition, "cannot renew a perpetual license: it never expires")
		}
		if !expiresAt.After(*l.ExpiresAt) {
			return l, Invalid("expiration_date", "must be later than the current expiry %s", l.ExpiresAt.Format(time.RFC3339))
		}
		e := expiresAt.UTC()
		next.ExpiresAt = &e
		next.RemindedDays, next.ExpiryAnnounced = nil, false // the new expiry gets its own reminders
	default:
		return l, Errorf(CodeInvalidTransition, "unknown action %q", a)
	}
	if a != ActionRenew {
		next.Reason = reason
	}
	next.UpdatedAt = now.UTC()
	next.Version = l.Version + 1
	return next, nil
}

func invalidTransition(a Action, from Status) *Error {
	return Errorf(CodeInvalidTransition, "cannot %s a license that is %s", a, from)
}

// Tenant is the brand a request acts for, resolved from its credential.
type Tenant struct {
	Brand     string
	KeyPrefix string
	APIKeyID  string
}

// Provisioned is a new license key with its licenses.
type Provisioned struct {
	Key      KeyRecord
	Licenses []License
}

// LicenseView is a license with the key it belongs to and a page of its
// active seats.
type LicenseView struct {
	Key             KeyRecord
	License         License
	Activations     []Activation
	NextActivations string // cursor of the next page of seats, "" after the last
}

// KeyLicenses is a license key with all its licenses.
type KeyLicenses struct {
	Key      KeyRecord
	Licenses []License
}

// Activation is a seat taken by one instance (a site or machine) on a license.
type Activation struct {
	ID          string
	LicenseID   string
	Key         LicenseKey
	Brand       string
	ProductSlug string
	Instance    Instance
	Environment Environment // production takes a seat; staging and local are capped apart
	ActivatedAt time.Time
	LastSeenAt  time.Time // refreshed by product calls at most once a day
	// MovedFrom is, on the answer of an activation that took over another
	// site's seat (a site move), that site's canonical identifier; it is
	// not stored.
	MovedFrom string
}

// TakesSeat reports whether a site of this environment counts against the
// seat limit (production) rather than the staging cap.
func (e Environment) TakesSeat() bool { return e == EnvProduction || e == "" }

// SeatsTaken is how many sites of env's kind hold a seat: production seats,
// or staging and local sites.
func (l License) SeatsTaken(env Environment) int {
	if env.TakesSeat() {
		return l.SeatsUsed
	}
	return l.NonProdUsed
}

// WithSeats is the license with delta more sites of env's kind.
func (l License) WithSeats(env Environment, delta int) License {
	if env.TakesSeat() {
		l.SeatsUsed += delta
	} else {
		l.NonProdUsed += delta
	}
	return l
}

// DefaultStagingCap is how many staging and local sites a license may hold
// besides its seats, unless its brand sets another cap.
const DefaultStagingCap = 3

// SeatRefusal says why a license takes no new seat of an environment as of
// now, or nil when it does: production seats count against SeatLimit,
// staging and local ones against stagingCap.
func (l License) SeatRefusal(env Environment, stagingCap int, now time.Time) error {
	if err := l.InvalidReason(now); err != nil {
		return err
	}
	if !env.TakesSeat() {
		if l.NonProdUsed >= stagingCap {
			return Errorf(CodeNoSeatsAvailable, "all %d staging and local sites of this license are in use; deactivate one first", stagingCap)
		}
		return nil
	}
	return l.ActivationRefusal(now)
}

// ActivationRefusal says why a license takes no new seat as of now, or nil
// when it does: a suspended, cancelled or expired license refuses with its
// own code, a full one with no_seats_available.
func (l License) ActivationRefusal(now time.Time) error {
	if err := l.InvalidReason(now); err != nil {
		return err
	}
	if l.SeatsUsed >= l.SeatLimit {
		return Errorf(CodeNoSeatsAvailable, "all %d seats of this license are in use; deactivate a site first", l.SeatLimit)
	}
	return nil
}

// InvalidReason is nil for a license that is valid as of now, else an error
// whose code says why (license_suspended, license_cancelled, license_expired).
func (l License) InvalidReason(now time.Time) error {
	switch l.EffectiveStatus(now) {
	case StatusValid:
		return nil
	case StatusSuspended:
		return Errorf(CodeLicenseSuspended, "this license is suspended")
	case StatusCancelled:
		return Errorf(CodeLicenseCancelled, "this license is cancelled")
	default:
		return Errorf(CodeLicenseExpired, "this license expired")
	}
}

// LicenseFor finds the key's license for a product given by slug or id, or
// the only license when product is empty.
func (s KeyLicenses) LicenseFor(product string) (License, error) {
	if product == "" {
		if len(s.Licenses) == 1 {
			return s.Licenses[0], nil
		}
		slugs := make([]string, len(s.Licenses))
		for i, l := range s.Licenses {
			slugs[i] = l.ProductSlug
		}
		return License{}, Invalid("product", "is required: this license key covers several products (%s)", strings.Join(slugs, ", "))
	}
	for _, l := range s.Licenses {
		if l.ProductSlug == strings.ToLower(product) || l.ProductID == product {
			return l, nil
		}
	}
	return License{}, NotCovered(product)
}
