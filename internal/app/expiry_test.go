package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

// expiring provisions a license of rankmath-pro that expires in d.
func (f *fixture) expiring(t *testing.T, d time.Duration) licensing.Provisioned {
	t.Helper()
	res, _, err := f.app.Provision(context.Background(), f.tenant, app.ProvisionInput{
		CustomerEmail: "expiring@example.com", Products: []string{"rankmath-pro"}, MaxSeats: seats(2),
		ExpirationDate: f.clock.Now().Add(d).Format(time.RFC3339),
	}, "")
	require.NoError(t, err)
	return res
}

// notices runs the expiry job and answers the expiry events it wrote for p.
func (f *fixture) notices(t *testing.T, p licensing.Provisioned) []licensing.Event {
	t.Helper()
	before := outboxEvents(t, f.eng)
	_, err := f.app.NotifyExpiries(context.Background())
	require.NoError(t, err)
	var out []licensing.Event
	for _, e := range newEvents(before, outboxEvents(t, f.eng)) {
		if e.LicenseID == p.Licenses[0].ID {
			out = append(out, e)
		}
	}
	return out
}

// The clock moves across the reminders (30 and 7 days) and the expiry:
// each notice comes once, when its threshold is crossed, and re-runs send
// nothing more. The license's history stays in sequence, and the last event
// is the license as stored.
func TestExpiryNoticesAcrossThresholds(t *testing.T) {
	f := newFixture(t)
	p := f.expiring(t, 45*24*time.Hour)

	assert.Empty(t, f.notices(t, p), "45 days before: nothing")
	f.clock.Advance(16 * 24 * time.Hour) // 29 days left
	evs := f.notices(t, p)
	require.Len(t, evs, 1)
	assert.Equal(t, licensing.EventLicenseExpiringSoon, evs[0].Type)
	assert.Equal(t, 30, evs[0].DaysBefore)
	assert.Equal(t, licensing.ActorSystem, evs[0].Actor.Type)
	assert.Empty(t, f.notices(t, p), "a re-run the same day sends nothing")
	f.clock.Advance(24 * time.Hour)
	assert.Empty(t, f.notices(t, p), "nor does the next day's run")

	f.clock.Advance(22 * 24 * time.Hour) // 6 days left
	evs = f.notices(t, p)
	require.Len(t, evs, 1)
	assert.Equal(t, 7, evs[0].DaysBefore)

	f.clock.Advance(7 * 24 * time.Hour) // a day past the expiry
	evs = f.notices(t, p)
	require.Len(t, evs, 1)
	assert.Equal(t, licensing.EventLicenseExpired, evs[0].Type)
	assert.Equal(t, licensing.StatusExpired, evs[0].License.Status)
	assert.Empty(t, f.notices(t, p))
	f.clock.Advance(3 * 24 * time.Hour)
	assert.Empty(t, f.notices(t, p), "expired once, for good")

	hist := f.history(t, p)
	assert.Equal(t, []licensing.EventType{licensing.EventLicenseProvisioned, licensing.EventLicenseExpiringSoon,
		licensing.EventLicenseExpiringSoon, licensing.EventLicenseExpired}, types_(hist))
}

// A license first seen 5 days before its expiry (the job did not run, or it
// was provisioned late) gets the 7-day reminder, never a late 30-day one.
func TestExpiryNoticeSkipsThePassedReminders(t *testing.T) {
	f := newFixture(t)
	p := f.expiring(t, 5*24*time.Hour)
	evs := f.notices(t, p)
	require.Len(t, evs, 1)
	assert.Equal(t, 7, evs[0].DaysBefore)
	assert.Empty(t, f.notices(t, p))
}

// A renewal after a reminder starts the reminders of the new expiry.
func TestRenewalResetsTheReminders(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.expiring(t, 20*24*time.Hour)
	require.Len(t, f.notices(t, p), 1)

	newExpiry := f.clock.Now().Add(60 * 24 * time.Hour).Format(time.RFC3339)
	_, err := f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionRenew, ExpirationDate: newExpiry})
	require.NoError(t, err)
	assert.Empty(t, f.notices(t, p), "60 days before the new expiry: nothing")
	f.clock.Advance(31 * 24 * time.Hour) // 29 days before the new expiry
	evs := f.notices(t, p)
	require.Len(t, evs, 1)
	assert.Equal(t, 30, evs[0].DaysBefore, "the new expiry's own 30-day reminder")
	f.history(t, p)
}

// Two runs at once send each notice once: each notice is conditioned on the
// version it read.
func TestConcurrentExpiryRunsSendOnce(t *testing.T) {
	f := newFixture(t)
	var ps []licensing.Provisioned
	for range 8 {
		ps = append(ps, f.expiring(t, 3*24*time.Hour))
	}
	before := outboxEvents(t, f.eng)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, err := f.app.NotifyExpiries(context.Background())
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, e := range newEvents(before, outboxEvents(t, f.eng)) {
		require.Equal(t, licensing.EventLicenseExpiringSoon, e.Type)
		count[e.LicenseID]++
	}
	for _, p := range ps {
		assert.Equal(t, 1, count[p.Licenses[0].ID], "one reminder for %s", p.Licenses[0].ID)
		f.history(t, p)
	}
}

// Suspended, cancelled and perpetual licenses get no expiry notices.
func TestNoExpiryNoticeForSuspendedOrPerpetual(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.expiring(t, 3*24*time.Hour)
	_, err := f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionSuspend})
	require.NoError(t, err)
	assert.Empty(t, f.notices(t, p))
	perpetual := f.license(t, 1)
	perpetual.Licenses[0].ExpiresAt = nil
	assert.Empty(t, f.notices(t, perpetual))
}

// licensectl's list: the brand's valid licenses expiring within a window,
// soonest first, read day by day from the expiry index.
func TestExpiringWithin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	late := f.expiring(t, 20*24*time.Hour)
	soon := f.expiring(t, 3*24*time.Hour)
	f.expiring(t, 90*24*time.Hour)
	got, err := f.app.ExpiringWithin(ctx, "rankmath", 30*24*time.Hour)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, soon.Licenses[0].ID, got[0].ID)
	assert.Equal(t, late.Licenses[0].ID, got[1].ID)
	_, err = f.app.ExpiringWithin(ctx, "rankmath", 0)
	assert.Equal(t, licensing.CodeValidation, licensing.ErrorCode(err))
}

// A brand's own reminder days replace the default ones.
func TestBrandReminderDays(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.app.Ops().ConfigureBrand(context.Background(), "rankmath", licensing.BrandSettings{ExpiryReminderDays: []int{14, 2}}))
	p := f.expiring(t, 20*24*time.Hour)
	assert.Empty(t, f.notices(t, p), "20 days before: no reminder at 30 days for this brand")
	f.clock.Advance(7 * 24 * time.Hour) // 13 days left
	evs := f.notices(t, p)
	require.Len(t, evs, 1)
	assert.Equal(t, 14, evs[0].DaysBefore)
	f.clock.Advance(11*24*time.Hour + time.Hour) // under 2 days left
	evs = f.notices(t, p)
	require.Len(t, evs, 1)
	assert.Equal(t, 2, evs[0].DaysBefore)
}
