package licensing

import (
	"slices"
	"time"
)

// ExpiryNotice decides the expiry notice a license is due as of now, if
// any, with reminders (days before expiry, largest first) in force:
//   - a valid license past its expiry that was not announced yet gets
//     LicenseExpired (once per expiry);
//   - a valid license within d days of its expiry, for the smallest reminder
//     d not sent yet, gets LicenseExpiringSoon for d; the larger reminders
//     it has passed are counted as sent with it, so a license found 5 days
//     before expiry gets the 7-day reminder and never a late 30-day one.
//
// A notice is a change of the license (the reminders sent are part of it),
// so it moves the version on by one; the event reports the license after it.
// Suspended, cancelled and perpetual licenses are due nothing. ok is false
// when nothing is due.
func ExpiryNotice(key KeyRecord, l License, reminders []int, now time.Time) (next License, ev Event, ok bool) {
	if l.ExpiresAt == nil || l.Status != StatusValid {
		return l, Event{}, false
	}
	next = l
	next.Version, next.UpdatedAt = l.Version+1, now.UTC()
	if !now.Before(*l.ExpiresAt) {
		if l.ExpiryAnnounced {
			return l, Event{}, false
		}
		next.ExpiryAnnounced = true
		ev = expiryEvent(EventLicenseExpired, key, next)
		ev.License.Status = StatusExpired
		return next, ev, true
	}
	left := l.ExpiresAt.Sub(now)
	due := 0
	for _, d := range reminders { // largest first
		if left <= time.Duration(d)*24*time.Hour && !slices.Contains(l.RemindedDays, d) {
			due = d
			next.RemindedDays = append(slices.Clone(next.RemindedDays), d)
		}
	}
	if due == 0 {
		return l, Event{}, false
	}
	slices.Sort(next.RemindedDays)
	ev = expiryEvent(EventLicenseExpiringSoon, key, next)
	ev.DaysBefore = due
	return next, ev, true
}

func expiryEvent(t EventType, key KeyRecord, l License) Event {
	e := newEvent(t, l.Brand, l.UpdatedAt, Actor{Type: ActorSystem})
	e.LicenseKeyID, e.LicenseID, e.ProductID, e.Product = key.ID, l.ID, l.ProductID, l.ProductSlug
	e.License, e.Sequence = StateOf(l), l.Version
	return e
}
