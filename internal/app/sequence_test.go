package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/licensing"
)

// history is every event of a license in the outbox, by sequence. It
// checks the sequence rule: each change of the license moved its version
// on by one, so the sequences run 1, 2, … up to the stored version, once
// each. And replaying the events by sequence (the state of the last one)
// reproduces the stored license.
func (f *fixture) history(t *testing.T, p licensing.Provisioned) []licensing.Event {
	t.Helper()
	lic := p.Licenses[0]
	var evs []licensing.Event
	for _, e := range outboxEvents(t, f.eng) {
		if e.LicenseID == lic.ID {
			evs = append(evs, e)
		}
	}
	slices.SortFunc(evs, func(a, b licensing.Event) int { return int(a.Sequence - b.Sequence) })
	stored, err := f.app.License(context.Background(), f.tenant, lic.ID, "", 0)
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	for i, e := range evs {
		require.Equal(t, int64(i+1), e.Sequence, "%s: the license's events carry the sequences 1..version, once each: %v", e.Type, types_(evs))
	}
	assert.Equal(t, stored.License.Version, evs[len(evs)-1].Sequence, "the last event is the stored version")
	want := licensing.StateOf(stored.License)
	want.Status = stored.License.EffectiveStatus(f.clock.Now()) // expired, once past its expiry
	assert.Equal(t, want, evs[len(evs)-1].License, "replaying the events by sequence gives the stored license")
	return evs
}

// stateOf is the state an answer reports of a license.
func stateOf(l licensing.License) *licensing.LicenseState { return licensing.StateOf(l) }

// A suspension that a seat taken meanwhile refused reads again: its answer
// and its event report the seat (the event of a stale read said one seat
// fewer than the table held).
func TestSuspendAfterAnActivationReportsTheSeat(t *testing.T) {
	var between dynamotest.Interleave
	f := newFixture(t, between.Option())
	ctx := context.Background()
	p := f.license(t, 3)
	_, err := f.app.Activate(ctx, seat(p.Key.Key, "first.example.com"))
	require.NoError(t, err)

	between.Next(func() {
		_, err := f.app.Activate(ctx, seat(p.Key.Key, "second.example.com"))
		require.NoError(t, err)
	})
	v, err := f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionSuspend, Reason: "chargeback"})
	require.NoError(t, err)
	assert.Equal(t, 2, v.License.SeatsUsed, "the answer reports the seat taken meanwhile")
	evs := f.history(t, p)
	last := evs[len(evs)-1]
	assert.Equal(t, licensing.EventLicenseSuspended, last.Type)
	assert.Equal(t, 2, last.License.SeatsUsed)
	assert.Equal(t, stateOf(v.License), last.License, "the answer and the event agree")
}

// An activation that a suspension refused reads again and is refused: no
// seat, no event.
func TestActivateAfterASuspensionIsRefused(t *testing.T) {
	var between dynamotest.Interleave
	f := newFixture(t, between.Option())
	ctx := context.Background()
	p := f.license(t, 3)
	between.Next(func() {
		_, err := f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionSuspend})
		require.NoError(t, err)
	})
	_, err := f.app.Activate(ctx, seat(p.Key.Key, "late.example.com"))
	assert.Equal(t, licensing.CodeLicenseSuspended, licensing.ErrorCode(err), "%v", err)
	evs := f.history(t, p)
	assert.Equal(t, []licensing.EventType{licensing.EventLicenseProvisioned, licensing.EventLicenseSuspended}, types_(evs))
	assert.Zero(t, evs[1].License.SeatsUsed)
}

// A deactivation that a cancellation refused reads again and still frees
// the seat (seats are freed in every status): its event carries the
// cancelled status, as stored.
func TestDeactivateAfterACancellationCarriesItsStatus(t *testing.T) {
	var between dynamotest.Interleave
	f := newFixture(t, between.Option())
	ctx := context.Background()
	p := f.license(t, 3)
	_, err := f.app.Activate(ctx, seat(p.Key.Key, "site.example.com"))
	require.NoError(t, err)
	between.Next(func() {
		_, err := f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionCancel, Reason: "refund"})
		require.NoError(t, err)
	})
	lic, _, err := f.app.Deactivate(ctx, seat(p.Key.Key, "site.example.com"))
	require.NoError(t, err)
	assert.Equal(t, licensing.StatusCancelled, lic.Status)
	evs := f.history(t, p)
	last := evs[len(evs)-1]
	assert.Equal(t, licensing.EventSeatDeactivated, last.Type)
	assert.Equal(t, licensing.StatusCancelled, last.License.Status)
	assert.Equal(t, stateOf(lic), last.License)
}

// A site move that a suspension refused reads again and is refused.
func TestMoveAfterASuspensionIsRefused(t *testing.T) {
	var between dynamotest.Interleave
	f := newFixture(t, between.Option())
	ctx := context.Background()
	p := f.license(t, 3)
	_, err := f.app.Activate(ctx, seat(p.Key.Key, "old.example.com"))
	require.NoError(t, err)
	between.Next(func() {
		_, err := f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionSuspend})
		require.NoError(t, err)
	})
	_, err = f.app.Activate(ctx, move(p.Key.Key, "new.example.com", "old.example.com"))
	assert.Equal(t, licensing.CodeLicenseSuspended, licensing.ErrorCode(err), "%v", err)
	evs := f.history(t, p)
	assert.Equal(t, []licensing.EventType{licensing.EventLicenseProvisioned, licensing.EventLicenseActivated, licensing.EventLicenseSuspended}, types_(evs))
	assert.Equal(t, 1, evs[2].License.SeatsUsed)
}

// A reclaim of a stale seat that a resumption refused reads again and frees
// the seat: its event carries the resumed license.
func TestReclaimAfterAResumptionCarriesItsStatus(t *testing.T) {
	var between dynamotest.Interleave
	f := newFixture(t, between.Option())
	ctx := context.Background()
	p := f.license(t, 3)
	_, err := f.app.Activate(ctx, seat(p.Key.Key, "stale.example.com"))
	require.NoError(t, err)
	_, err = f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionSuspend})
	require.NoError(t, err)
	require.NoError(t, f.app.Ops().ConfigureBrand(ctx, "rankmath", licensing.BrandSettings{StaleAfterDays: 30}))
	f.clock.Advance(31 * 24 * time.Hour)
	between.Next(func() {
		_, err := f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionResume})
		require.NoError(t, err)
	})
	done, err := f.app.ReclaimStale(ctx)
	require.NoError(t, err)
	assert.Equal(t, []app.Reclaimed{{Brand: "rankmath", Seats: 1}}, done)
	evs := f.history(t, p)
	last := evs[len(evs)-1]
	assert.Equal(t, licensing.EventSeatReclaimed, last.Type)
	assert.Equal(t, licensing.StatusValid, last.License.Status)
	assert.Zero(t, last.License.SeatsUsed)
}

// Seats are freed on an expired license too; the event says it is expired,
// as the license reads then.
func TestDeactivateOnAnExpiredLicenseCarriesItsStatus(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.expiring(t, 24*time.Hour)
	_, err := f.app.Activate(ctx, seat(p.Key.Key, "site.example.com"))
	require.NoError(t, err)
	f.clock.Advance(48 * time.Hour)
	_, _, err = f.app.Deactivate(ctx, seat(p.Key.Key, "site.example.com"))
	require.NoError(t, err)
	evs := f.history(t, p)
	last := evs[len(evs)-1]
	assert.Equal(t, licensing.EventSeatDeactivated, last.Type)
	assert.Equal(t, licensing.StatusExpired, last.License.Status)
	assert.Zero(t, last.License.SeatsUsed)
}
