package licensing

import (
	"fmt"
	"time"
)

// SeatView is what a seat decision needs, read by key: the license key, the
// license of one product, and the seats of the instances the request names
// (this one and, for a site move, the previous one). It never holds the
// license's other seats, so deciding costs the same on a key with one site
// as on one with thousands.
type SeatView struct {
	Key      KeyRecord
	License  License
	Current  *Activation // this instance's seat on the license, if it holds one
	Previous *Activation // the previous site's seat (a move), if named and held
}

// SeatChangeKind says what a seat decision writes.
type SeatChangeKind int

// What a seat decision does.
const (
	SeatKept  SeatChangeKind = iota // nothing: the instance already holds its seat
	SeatTaken                       // a new activation takes a seat
	SeatMoved                       // a site's seat moves to another site
	SeatFreed                       // an activation goes and frees its seat
)

// SeatChange is the outcome of a seat decision: what the storage adapter
// turns into one conditional transaction. Before is the license as read; the
// adapter's conditions require it to be unchanged (the real guard against a
// concurrent writer), so a change is only ever applied to the state it was
// decided on. After is the license as written: every change of a seat moves
// its version on by one, so After, and the event that reports it, are
// exactly what was committed.
type SeatChange struct {
	Kind       SeatChangeKind
	Key        KeyRecord
	Before     License    // as read
	After      License    // as written
	Activation Activation // the seat taken, moved to, kept or freed
	From       *Activation
	// StagingCap is the cap a new staging or local seat was counted against;
	// the adapter's condition holds the counter under it.
	StagingCap int
	Guard      SeatGuard // for SeatFreed: which activation may go
	At         time.Time // when it was decided: the license must be unexpired then
	Event      *Event    // nil for SeatKept
}

// SeatGuard narrows which activation may be freed, checked on the read and
// again by the transaction's condition.
type SeatGuard struct {
	// ActivationID, when set, must be the activation's id: support frees the
	// activation it looked at, never a newer one of the same site.
	ActivationID string
	// SeenBefore, when set, is the time the activation must not have been
	// seen since: a stale-seat reclaim never frees a site that called in
	// after the scan found it.
	SeenBefore time.Time
}

// Allows reports whether the guard lets act be freed.
func (g SeatGuard) Allows(act Activation) bool {
	if g.ActivationID != "" && act.ID != g.ActivationID {
		return false
	}
	return g.SeenBefore.IsZero() || act.LastSeenAt.Before(g.SeenBefore)
}

// TakeSeat decides an activation of a.Instance on the view's license:
//   - a usable license is required (suspended, cancelled, expired refuse);
//   - an instance that already holds a seat keeps it (SeatKept, same id);
//   - with a previous site holding a seat, that seat moves here (SeatMoved);
//     the counters change only when the two sites' environments count
//     differently (a staging copy going live takes a seat and frees its
//     staging place);
//   - otherwise a new seat is taken, production seats under the seat limit
//     and staging or local ones under stagingCap (SeatTaken).
//
// stagingCap is read only for staging and local sites.
func TakeSeat(v SeatView, a Activation, stagingCap func() (int, error), now time.Time, actor Actor) (SeatChange, error) {
	lic := v.License
	ch := SeatChange{Kind: SeatKept, Key: v.Key, Before: lic, After: lic, At: now}
	if err := lic.InvalidReason(now); err != nil {
		return ch, err
	}
	if v.Current != nil {
		ch.Activation = *v.Current
		return ch, nil
	}
	a.Key, a.Brand, a.LicenseID, a.ProductSlug, a.LastSeenAt = v.Key.Key, v.Key.Brand, lic.ID, lic.ProductSlug, now
	after := lic
	if v.Previous != nil {
		after = lic.WithSeats(v.Previous.Environment, -1)
	}
	if v.Previous == nil || v.Previous.Environment.TakesSeat() != a.Environment.TakesSeat() {
		if !a.Environment.TakesSeat() {
			c, err := stagingCap()
			if err != nil {
				return ch, err
			}
			ch.StagingCap = c
		}
		if err := after.SeatRefusal(a.Environment, ch.StagingCap, now); err != nil {
			return ch, err
		}
		after = after.WithSeats(a.Environment, +1)
	} else {
		after = lic // a like-for-like move changes no counter
	}
	after.Version = lic.Version + 1
	ch.After, ch.Activation = after, a
	if v.Previous != nil {
		from := *v.Previous
		ch.Kind, ch.From = SeatMoved, &from
		ch.Activation.MovedFrom = from.Instance.ID
		e := SiteMovedEvent(v.Key, after, from, a, now, actor)
		ch.Event = &e
		return ch, nil
	}
	ch.Kind = SeatTaken
	e := SeatEvent(EventLicenseActivated, v.Key, after, a, now, actor)
	ch.Event = &e
	return ch, nil
}

// FreeSeat decides the release of the view's instance's seat, in every
// license status: the instance must hold a seat the guard allows, and the
// seat counter of its environment goes down by one. event is
// SeatDeactivated, or SeatReclaimed for a stale seat freed by the service.
func FreeSeat(v SeatView, guard SeatGuard, event EventType, now time.Time, actor Actor) (SeatChange, error) {
	lic := v.License
	ch := SeatChange{Kind: SeatFreed, Key: v.Key, Before: lic, After: lic, Guard: guard, At: now}
	if v.Current == nil || !guard.Allows(*v.Current) {
		return ch, Errorf(CodeActivationNotFound, "this instance holds no seat on this license")
	}
	act := *v.Current
	if lic.SeatsTaken(act.Environment) < 1 {
		return ch, fmt.Errorf("free seat: a seat of %s is held but its counter is zero", v.Key.Key.Masked())
	}
	ch.After, ch.Activation = lic.WithSeats(act.Environment, -1), act
	ch.After.Version = lic.Version + 1
	e := SeatEvent(event, v.Key, ch.After, act, now, actor)
	ch.Event = &e
	return ch, nil
}

// NotCovered is the refusal of a product that a license key has no license
// for.
func NotCovered(product string) *Error {
	e := Errorf(CodeProductNotFound, "this license key does not cover product %q", product)
	e.Field = "product"
	return e
}
