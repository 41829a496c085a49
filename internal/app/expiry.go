package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clsvc/license-service/internal/licensing"
)

// expiryLookBack is how many days back the expiry job looks for licenses
// that expired without their LicenseExpired (the job did not run then, or
// the license was suspended over its expiry and resumed since).
const expiryLookBack = 60

// ExpiryNotices is what an expiry run sent for one brand.
type ExpiryNotices struct {
	Brand        string
	ExpiringSoon int // LicenseExpiringSoon events
	Expired      int // LicenseExpired events
}

// errNothingDue ends a license's update when a concurrent run sent its
// notice first.
var errNothingDue = errors.New("no expiry notice due")

// NotifyExpiries is the daily expiry job: for each brand it reads the
// licenses expiring within its largest reminder, or expired in the last
// expiryLookBack days, day by day from the expiry index (never a scan), and
// writes the notice each is due (licensing.ExpiryNotice) with its event,
// through the outbox. Each notice is a change of the license conditioned on
// the version read, so a re-run, or two runs at once, send each notice
// once; a renewal in between starts the reminders of the new expiry.
func (a *App) NotifyExpiries(ctx context.Context) ([]ExpiryNotices, error) {
	brands, err := a.store.ListBrands(ctx)
	if err != nil {
		return nil, err
	}
	now := a.now()
	var out []ExpiryNotices
	var errs []error
	for _, b := range brands {
		n, err := a.notifyBrandExpiries(ctx, b, now)
		out = append(out, n)
		if err != nil {
			// The other brands still get theirs; the run reports the failure
			// and the next one retries (each notice is sent once).
			errs = append(errs, fmt.Errorf("expiry notices of %s: %w", b.Slug, err))
		}
	}
	return out, errors.Join(errs...)
}

// notifyBrandExpiries sends one brand's notices due as of now.
func (a *App) notifyBrandExpiries(ctx context.Context, b licensing.Brand, now time.Time) (ExpiryNotices, error) {
	days := b.Settings.ReminderDays()
	n := ExpiryNotices{Brand: b.Slug}
	for d := -expiryLookBack; d <= days[0]; d++ {
		lics, err := a.store.ExpiringOn(ctx, b.Slug, now.AddDate(0, 0, d))
		if err != nil {
			return n, err
		}
		for _, l := range lics {
			if _, _, due := licensing.ExpiryNotice(licensing.KeyRecord{}, l, days, now); !due {
				continue // as the index shows it; the write reads it again
			}
			t, err := a.notifyExpiry(ctx, l, days, now)
			if err != nil {
				return n, err
			}
			switch t {
			case licensing.EventLicenseExpiringSoon:
				n.ExpiringSoon++
			case licensing.EventLicenseExpired:
				n.Expired++
			}
		}
	}
	return n, nil
}

// notifyExpiry writes the notice l is due, read again: none when another
// run sent it first.
func (a *App) notifyExpiry(ctx context.Context, l licensing.License, days []int, now time.Time) (licensing.EventType, error) {
	var sent licensing.EventType
	_, err := a.store.UpdateLicense(ctx, l.Brand, l.ID, nil, func(v licensing.LicenseView) (licensing.License, []licensing.Event, error) {
		next, ev, due := licensing.ExpiryNotice(v.Key, v.License, days, now)
		if !due {
			return v.License, nil, errNothingDue
		}
		sent = ev.Type
		return next, []licensing.Event{ev}, nil
	})
	if errors.Is(err, errNothingDue) || licensing.IsCode(err, licensing.CodeLicenseNotFound) {
		return "", nil
	}
	return sent, err
}

// ExpiringWithin lists a brand's valid licenses that expire within the
// given time from now (at most a year), soonest first, from the expiry
// index.
func (a *App) ExpiringWithin(ctx context.Context, brand string, within time.Duration) ([]licensing.License, error) {
	if within <= 0 || within > 366*24*time.Hour {
		return nil, licensing.Invalid("within", "must be between 1 day and a year")
	}
	now := a.now()
	var out []licensing.License
	for d := 0; d <= int(within/(24*time.Hour)); d++ {
		lics, err := a.store.ExpiringOn(ctx, brand, now.AddDate(0, 0, d))
		if err != nil {
			return nil, err
		}
		for _, l := range lics {
			if l.Status == licensing.StatusValid && l.ExpiresAt.After(now) && !l.ExpiresAt.After(now.Add(within)) {
				out = append(out, l)
			}
		}
	}
	slices.SortFunc(out, func(a, b licensing.License) int { return a.ExpiresAt.Compare(*b.ExpiresAt) })
	return out, nil
}
