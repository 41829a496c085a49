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
	p, err := licensing.ParseText("product", raw, licensing.SingleLine)
	if err != nil {
		return "", err
	}
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
// instance again keeps its seat and activation id; naming a previous site
// that holds a seat moves that seat here. The store reads the key, the
// license and the sites' seats by key, and writes what licensing.TakeSeat
// decides in one conditional transaction.
func (a *App) Activate(ctx context.Context, in SeatInput) (Activation, error) {
	r, err := in.validate()
	if err != nil {
		return Activation{}, err
	}
	q := SeatQuery{Key: r.key, Product: r.product, Instance: &r.instance}
	if in.PreviousInstanceIdentifier != "" {
		p, err := licensing.ParseInstance(in.InstanceType, in.PreviousInstanceIdentifier)
		if err != nil {
			e := licensing.Invalid("previous_instance_identifier", "%s", strings.TrimPrefix(err.(*licensing.Error).Message, "instance_identifier: "))
			return Activation{}, e
		}
		if p != r.instance {
			q.Previous = &p
		}
	}
	act := licensing.Activation{ // activated when its turn comes (takeSeat)
		ID: licensing.NewID(licensing.KindActivation), Key: r.key, Instance: r.instance,
		Environment: licensing.ClassifyInstance(r.instance),
	}
	return a.takeSeat(ctx, q, act, licensing.Actor{Type: licensing.ActorProduct})
}

// takeSeat writes what licensing.TakeSeat decides for act on q's view, as of
// the moment of each decision: a writer that waited its turn decides, and
// dates its seat and event, when its turn comes.
func (a *App) takeSeat(ctx context.Context, q SeatQuery, act licensing.Activation, actor licensing.Actor) (Activation, error) {
	ch, err := a.store.ChangeSeat(ctx, q, nil, func(v licensing.SeatView) (licensing.SeatChange, error) {
		stagingCap := func() (int, error) { return a.stagingCap(ctx, v.Key.Brand) }
		now := a.now()
		act := act
		if act.ActivatedAt.IsZero() {
			act.ActivatedAt = now
		}
		return licensing.TakeSeat(v, act, stagingCap, now, actor)
	})
	if err != nil {
		return Activation{}, err
	}
	if ch.Kind == licensing.SeatKept {
		a.seen(ctx, ch.Activation)
	}
	return Activation{Activation: ch.Activation, License: ch.After, Created: ch.Kind != licensing.SeatKept}, nil
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
// one eventually consistent read of the key, the license and the instance's
// seat (US4). The instance is optional.
func (a *App) Check(ctx context.Context, in SeatInput) (CheckResult, error) {
	key, err := licensing.ParseLicenseKey("license_key", in.LicenseKey)
	if err != nil {
		return CheckResult{}, err
	}
	q := SeatQuery{Key: key}
	if in.InstanceIdentifier != "" {
		i, err := licensing.ParseInstance(in.InstanceType, in.InstanceIdentifier)
		if err != nil {
			return CheckResult{}, err
		}
		q.Instance = &i
	}
	if q.Product, err = parseProductRef(in.Product); err != nil {
		return CheckResult{}, err
	}
	v, err := a.store.Seat(ctx, q, false)
	if err != nil {
		return CheckResult{}, err
	}
	res := CheckResult{License: v.License, Valid: true, Instance: q.Instance, Activation: v.Current}
	if err := v.License.InvalidReason(a.now()); err != nil {
		res.Valid, res.Reason = false, licensing.ErrorCode(err)
	}
	if v.Current != nil {
		a.seen(ctx, *v.Current)
	}
	return res, nil
}

// KeyProducts lists the products a license key covers, as its licenses name
// them, with one read of the key and its licenses.
func (a *App) KeyProducts(ctx context.Context, key string) ([]licensing.Product, error) {
	k, err := licensing.ParseLicenseKey("license_key", key)
	if err != nil {
		return nil, err
	}
	kl, err := a.store.KeyLicenses(ctx, k)
	if err != nil {
		return nil, err
	}
	out := make([]licensing.Product, len(kl.Licenses))
	for i, l := range kl.Licenses {
		out[i] = licensing.Product{ID: l.ProductID, Slug: l.ProductSlug, Name: l.ProductName, Brand: kl.Key.Brand}
	}
	return out, nil
}

// Deactivate frees an instance's seat, in every license status (US5).
func (a *App) Deactivate(ctx context.Context, in SeatInput) (licensing.License, licensing.Instance, error) {
	r, err := in.validate()
	if err != nil {
		return licensing.License{}, r.instance, err
	}
	lic, err := a.freeSeat(ctx, SeatQuery{Key: r.key, Product: r.product, Instance: &r.instance}, licensing.SeatGuard{}, licensing.EventSeatDeactivated, licensing.Actor{Type: licensing.ActorProduct})
	return lic, r.instance, err
}

// freeSeat writes what licensing.FreeSeat decides on q's view, as of the
// moment of each decision.
func (a *App) freeSeat(ctx context.Context, q SeatQuery, guard licensing.SeatGuard, event licensing.EventType, actor licensing.Actor) (licensing.License, error) {
	ch, err := a.store.ChangeSeat(ctx, q, nil, func(v licensing.SeatView) (licensing.SeatChange, error) {
		return licensing.FreeSeat(v, guard, event, a.now(), actor)
	})
	return ch.After, err
}

// FreeSeat lets a brand's support free one of its license's seats by
// activation id, with the same conditional transaction as Deactivate.
func (a *App) FreeSeat(ctx context.Context, t licensing.Tenant, licenseID, activationID string) (licensing.LicenseView, error) {
	v, _, err := a.FreeSeatOnce(ctx, t, licenseID, activationID, "")
	return v, err
}

// FreeSeatOnce is FreeSeat under an idempotency key (see once). A replay
// answers the license as the seat's release left it, with its seats as they
// are now.
func (a *App) FreeSeatOnce(ctx context.Context, t licensing.Tenant, licenseID, activationID, idempotencyKey string) (licensing.LicenseView, bool, error) {
	if !licensing.ValidID(licensing.KindActivation, activationID) {
		return licensing.LicenseView{}, false, activationNotFound()
	}
	if !licensing.ValidID(licensing.KindLicense, licenseID) {
		return licensing.LicenseView{}, false, licenseNotFound()
	}
	m := mutation{Op: "free-seat", IDs: []string{licenseID, activationID}}
	v, replayed, err := once(ctx, a, t, idempotencyKey, m, func(done *IdempotencyCompletion) (licensing.LicenseView, error) {
		v, err := a.store.License(ctx, t.Brand, licenseID)
		if err != nil {
			return v, err
		}
		act, found, err := a.store.ActivationByID(ctx, v.Key.Key, v.License.ProductSlug, activationID)
		if err != nil {
			return v, err
		}
		if !found {
			return licensing.LicenseView{}, activationNotFound()
		}
		q := SeatQuery{Key: v.Key.Key, Product: v.License.ProductSlug, Instance: &act.Instance}
		ch, err := a.store.ChangeSeat(ctx, q, done, func(sv licensing.SeatView) (licensing.SeatChange, error) {
			ch, err := licensing.FreeSeat(sv, licensing.SeatGuard{ActivationID: act.ID}, licensing.EventSeatDeactivated, a.now(), licensing.ActorOf(t))
			if err != nil {
				return ch, err
			}
			return ch, done.SetResult(licensing.LicenseView{Key: v.Key, License: ch.After})
		})
		return licensing.LicenseView{Key: v.Key, License: ch.After}, err
	})
	if err != nil {
		return v, false, err
	}
	v, err = a.withActivations(ctx, v, "", MaxActivationsPage)
	return v, replayed, err
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
			q := SeatQuery{Key: act.Key, Product: act.ProductSlug, Instance: &act.Instance}
			guard := licensing.SeatGuard{ActivationID: act.ID, SeenBefore: cutoff}
			_, err := a.freeSeat(ctx, q, guard, licensing.EventSeatReclaimed, licensing.Actor{Type: licensing.ActorSystem})
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
