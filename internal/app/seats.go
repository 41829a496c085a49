package app

import (
	"context"
	"strings"
	"time"

	"github.com/clsvc/license-service/internal/licensing"
)

// SeatInput identifies a seat as a product sends it.
type SeatInput struct {
	LicenseKey         string
	InstanceIdentifier string
	InstanceType       string // url (default), hostname, machine_id
	Product            string // id or slug; optional when the key covers one product
	// PreviousInstanceIdentifier (activate only) names the site this one
	// replaces (a migration): its seat moves here.
	PreviousInstanceIdentifier string
}

type seatRequest struct {
	key      licensing.LicenseKey
	instance licensing.Instance
	product  string
}

func (in SeatInput) validate() (seatRequest, error) {
	var r seatRequest
	var err error
	if r.key, err = licensing.ParseLicenseKey("license_key", in.LicenseKey); err != nil {
		return r, err
	}
	if r.instance, err = licensing.ParseInstance(in.InstanceType, in.InstanceIdentifier); err != nil {
		return r, err
	}
	r.product, err = parseProductRef(in.Product)
	return r, err
}

// parseProductRef accepts an optional product id or slug.
func parseProductRef(raw string) (string, error) {
	p := strings.TrimSpace(raw)
	if p == "" || licensing.ValidID(licensing.KindProduct, p) {
		return p, nil
	}
	return licensing.ParseSlug("product", strings.ToLower(p))
}

// Activation is the outcome of an activation.
type Activation struct {
	Activation licensing.Activation
	License    licensing.License
	Created    bool // false: the instance already held this seat
}

// Activate takes a seat on a license for a site or machine (US3). The same
// instance again keeps its seat and activation id.
func (a *App) Activate(ctx context.Context, in SeatInput) (Activation, error) {
	r, err := in.validate()
	if err != nil {
		return Activation{}, err
	}
	var previous *licensing.Instance
	if in.PreviousInstanceIdentifier != "" {
		p, err := licensing.ParseInstance(in.InstanceType, in.PreviousInstanceIdentifier)
		if err != nil {
			e := licensing.Invalid("previous_instance_identifier", "%s", strings.TrimPrefix(err.(*licensing.Error).Message, "instance_identifier: "))
			return Activation{}, e
		}
		if p != r.instance {
			previous = &p
		}
	}
	now := a.now()
	act, lic, created, err := a.store.Activate(ctx, licensing.Activation{
		ID: licensing.NewID(licensing.KindActivation), Key: r.key, Instance: r.instance, ActivatedAt: now,
		Environment: licensing.ClassifyInstance(r.instance),
	}, r.product, previous, now, licensing.Actor{Type: licensing.ActorProduct}, a.stagingCap)
	if err != nil {
		return Activation{}, err
	}
	if !created {
		a.seen(ctx, act)
	}
	return Activation{Activation: act, License: lic, Created: created}, nil
}

// CheckResult answers whether a license is valid and an instance holds a seat.
type CheckResult struct {
	License    licensing.License
	Valid      bool
	Reason     licensing.Code // why not valid
	Activation *licensing.Activation
	Instance   *licensing.Instance
}

// Check answers validity, seats and whether this instance is active, with
// one read of the key (US4). The instance is optional.
func (a *App) Check(ctx context.Context, in SeatInput) (CheckResult, error) {
	key, err := licensing.ParseLicenseKey("license_key", in.LicenseKey)
	if err != nil {
		return CheckResult{}, err
	}
	var inst *licensing.Instance
	if in.InstanceIdentifier != "" {
		i, err := licensing.ParseInstance(in.InstanceType, in.InstanceIdentifier)
		if err != nil {
			return CheckResult{}, err
		}
		inst = &i
	}
	product, err := parseProductRef(in.Product)
	if err != nil {
		return CheckResult{}, err
	}
	st, err := a.store.KeyState(ctx, key, false)
	if err != nil {
		return CheckResult{}, err
	}
	lic, err := st.LicenseFor(product)
	if err != nil {
		return CheckResult{}, err
	}
	res := CheckResult{License: lic, Valid: true, Instance: inst}
	if err := lic.InvalidReason(a.now()); err != nil {
		res.Valid, res.Reason = false, licensing.ErrorCode(err)
	}
	if inst != nil {
		if act, ok := st.ActivationOf(lic.ProductSlug, *inst); ok {
			res.Activation = &act
			a.seen(ctx, act)
		}
	}
	return res, nil
}

// Deactivate frees an instance's seat, in every license status (US5).
func (a *App) Deactivate(ctx context.Context, in SeatInput) (licensing.License, licensing.Instance, error) {
	r, err := in.validate()
	if err != nil {
		return licensing.License{}, r.instance, err
	}
	lic, err := a.store.Deactivate(ctx, r.key, r.product, r.instance, a.now(), licensing.Actor{Type: licensing.ActorProduct}, licensing.EventSeatDeactivated, SeatGuard{})
	return lic, r.instance, err
}

// FreeSeat lets a brand's support free one of its license's seats by
// activation id, with the same conditional transaction as Deactivate.
func (a *App) FreeSeat(ctx context.Context, t licensing.Tenant, licenseID, activationID string) (licensing.LicenseView, error) {
	if !licensing.ValidID(licensing.KindActivation, activationID) {
		return licensing.LicenseView{}, activationNotFound()
	}
	v, err := a.License(ctx, t, licenseID)
	if err != nil {
		return v, err
	}
	for _, act := range v.Activations {
		if act.ID != activationID {
			continue
		}
		if _, err := a.store.Deactivate(ctx, v.Key.Key, act.ProductSlug, act.Instance, a.now(), licensing.ActorOf(t), licensing.EventSeatDeactivated, SeatGuard{ActivationID: act.ID}); err != nil {
			return v, err
		}
		return a.store.License(ctx, t.Brand, licenseID)
	}
	return licensing.LicenseView{}, activationNotFound()
}

func activationNotFound() error {
	return licensing.Errorf(licensing.CodeActivationNotFound, "no such activation on this license")
}

// SeenInterval is how often a product call refreshes an activation's
// last_seen_at: at most once a day, so most calls pay no write.
const SeenInterval = 24 * time.Hour

// seen refreshes an activation's last_seen_at when it is a day old. It is
// best effort: a failure never fails the product's call.
func (a *App) seen(ctx context.Context, act licensing.Activation) {
	now := a.now()
	if !act.LastSeenAt.IsZero() && now.Sub(act.LastSeenAt) < SeenInterval {
		return
	}
	_ = a.store.Touch(ctx, act, now, now.Add(-SeenInterval))
}

// Reclaimed is what a reclaim run freed.
type Reclaimed struct {
	Brand string
	Seats int
}

// ReclaimStale frees, for every brand that set StaleAfterDays, the seats not
// seen for that many days, each with a SeatReclaimed event. It is the daily
// scheduled job (and licensectl seats reclaim).
func (a *App) ReclaimStale(ctx context.Context) ([]Reclaimed, error) {
	brands, err := a.store.ListBrands(ctx)
	if err != nil {
		return nil, err
	}
	var out []Reclaimed
	for _, b := range brands {
		days := b.Settings.StaleAfterDays
		if days <= 0 {
			continue
		}
		now := a.now()
		cutoff := now.Add(-time.Duration(days) * 24 * time.Hour)
		stale, err := a.store.StaleActivations(ctx, b.KeyPrefix, cutoff)
		if err != nil {
			return out, err
		}
		r := Reclaimed{Brand: b.Slug}
		for _, act := range stale {
			guard := SeatGuard{ActivationID: act.ID, SeenBefore: cutoff}
			_, err := a.store.Deactivate(ctx, act.Key, act.ProductSlug, act.Instance, now, licensing.Actor{Type: licensing.ActorSystem}, licensing.EventSeatReclaimed, guard)
			if licensing.IsCode(err, licensing.CodeActivationNotFound) {
				continue // freed, replaced or seen meanwhile
			}
			if err != nil {
				return append(out, r), err
			}
			r.Seats++
		}
		out = append(out, r)
	}
	return out, nil
}
