package app_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

func move(key licensing.LicenseKey, site, from string) app.SeatInput {
	in := seat(key, site)
	in.PreviousInstanceIdentifier = from
	return in
}

// A site move under a full license keeps the seat: the old activation goes,
// the new one comes, in one transaction, with a SiteMoved event.
func TestSiteMoveUnderAFullLicense(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.license(t, 1)
	old, err := f.app.Activate(ctx, seat(p.Key.Key, "https://old-shop.com"))
	require.NoError(t, err)
	_, err = f.app.Activate(ctx, seat(p.Key.Key, "https://new-shop.com"))
	require.Equal(t, licensing.CodeNoSeatsAvailable, licensing.ErrorCode(err), "the license is full")

	before := outboxEvents(t, f.eng)
	moved, err := f.app.Activate(ctx, move(p.Key.Key, "https://new-shop.com", "https://www.old-shop.com/"))
	require.NoError(t, err)
	assert.True(t, moved.Created)
	assert.Equal(t, 1, moved.License.SeatsUsed, "seats unchanged")
	st := f.audit(t, p.Key.Key)
	require.Len(t, st.Activations, 1)
	assert.Equal(t, "new-shop.com", st.Activations[0].Instance.ID)

	evs := newEvents(before, outboxEvents(t, f.eng))
	require.Len(t, evs, 1)
	assert.Equal(t, licensing.EventSiteMoved, evs[0].Type)
	assert.Equal(t, old.Activation.ID, evs[0].PreviousActivationID)
	assert.Equal(t, moved.Activation.ID, evs[0].ActivationID)
	assert.Equal(t, "old-shop.com", evs[0].MovedFrom.InstanceIdentifier)

	// Moving again from a site that no longer holds the seat is a plain
	// activation, and the license is full.
	_, err = f.app.Activate(ctx, move(p.Key.Key, "https://third-shop.com", "https://old-shop.com"))
	assert.Equal(t, licensing.CodeNoSeatsAvailable, licensing.ErrorCode(err))
	f.audit(t, p.Key.Key)
}

// A staging copy going live takes a seat and frees its staging place.
func TestSiteMoveFromStagingToProduction(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.license(t, 1)
	_, err := f.app.Activate(ctx, seat(p.Key.Key, "https://staging.shop.com"))
	require.NoError(t, err)
	live, err := f.app.Activate(ctx, move(p.Key.Key, "https://shop.com", "https://staging.shop.com"))
	require.NoError(t, err)
	assert.Equal(t, licensing.EnvProduction, live.Activation.Environment)
	assert.Equal(t, 1, live.License.SeatsUsed)
	assert.Equal(t, 0, live.License.NonProdUsed)
	f.audit(t, p.Key.Key)

	// Going live again from another staging copy needs a free seat.
	_, err = f.app.Activate(ctx, seat(p.Key.Key, "https://dev.shop.com"))
	require.NoError(t, err)
	before := f.eng.Dump(t)
	_, err = f.app.Activate(ctx, move(p.Key.Key, "https://shop2.com", "https://dev.shop.com"))
	assert.Equal(t, licensing.CodeNoSeatsAvailable, licensing.ErrorCode(err))
	assert.Equal(t, before, f.eng.Dump(t))

	_, err = f.app.Activate(ctx, move(p.Key.Key, "https://shop.com", "\\x00"))
	assert.Equal(t, licensing.CodeValidation, licensing.ErrorCode(err))
}

// A suspended license moves nothing.
func TestSiteMoveOnASuspendedLicense(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.license(t, 1)
	_, err := f.app.Activate(ctx, seat(p.Key.Key, "https://old-shop.com"))
	require.NoError(t, err)
	_, err = f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionSuspend})
	require.NoError(t, err)
	_, err = f.app.Activate(ctx, move(p.Key.Key, "https://new-shop.com", "https://old-shop.com"))
	assert.Equal(t, licensing.CodeLicenseSuspended, licensing.ErrorCode(err))
}
