package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/licensing"
)

// Product calls refresh last_seen_at at most once a day; the daily job
// frees seats unseen for the brand's days, only for brands that opted in.
func TestStaleSeats(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.license(t, 2)
	key := p.Key.Key
	_, err := f.app.Activate(ctx, seat(key, "https://kept.com"))
	require.NoError(t, err)
	_, err = f.app.Activate(ctx, seat(key, "https://gone.com"))
	require.NoError(t, err)

	// Within a day a check writes nothing.
	f.clock.Advance(time.Hour)
	before := f.eng.Dump(t)
	_, err = f.app.Check(ctx, seat(key, "https://kept.com"))
	require.NoError(t, err)
	assert.Equal(t, before, f.eng.Dump(t), "no write within a day")

	// Off by default: nothing is reclaimed however long a seat is unseen.
	f.clock.Advance(40 * 24 * time.Hour)
	done, err := f.app.ReclaimStale(ctx)
	require.NoError(t, err)
	assert.Empty(t, done)

	// kept.com calls in; gone.com never does.
	_, err = f.app.Check(ctx, seat(key, "https://kept.com"))
	require.NoError(t, err)
	st := f.audit(t, key)
	for _, a := range st.Activations {
		if a.Instance.ID == "kept.com" {
			assert.Equal(t, f.clock.Now(), a.LastSeenAt.UTC(), "refreshed after a day")
		}
	}

	require.NoError(t, f.app.Ops().ConfigureBrand(ctx, "rankmath", licensing.BrandSettings{StaleAfterDays: 30}))
	evBefore := outboxEvents(t, f.eng)
	done, err = f.app.ReclaimStale(ctx)
	require.NoError(t, err)
	assert.Equal(t, []app.Reclaimed{{Brand: "rankmath", Seats: 1}}, done)
	st = f.audit(t, key)
	require.Len(t, st.Activations, 1)
	assert.Equal(t, "kept.com", st.Activations[0].Instance.ID)
	evs := newEvents(evBefore, outboxEvents(t, f.eng))
	require.Len(t, evs, 1)
	assert.Equal(t, licensing.EventSeatReclaimed, evs[0].Type)
	assert.Equal(t, licensing.Actor{Type: licensing.ActorSystem}, evs[0].Actor)
	assert.Equal(t, "gone.com", evs[0].Activation.InstanceIdentifier)

	done, err = f.app.ReclaimStale(ctx)
	require.NoError(t, err)
	assert.Equal(t, []app.Reclaimed{{Brand: "rankmath", Seats: 0}}, done, "nothing left to free")
}

// A site that calls in between the reclaim's scan and its transaction keeps
// its seat: the delete is conditioned on last_seen_at still being before the
// cutoff, and the re-read after the cancelled transaction finds it fresh.
func TestReclaimSparesASiteSeenMeanwhile(t *testing.T) {
	var between dynamotest.Interleave
	f := newFixture(t, between.Option())
	ctx := context.Background()
	p := f.license(t, 2)
	key := p.Key.Key
	_, err := f.app.Activate(ctx, seat(key, "https://back.com"))
	require.NoError(t, err)
	require.NoError(t, f.app.Ops().ConfigureBrand(ctx, "rankmath", licensing.BrandSettings{StaleAfterDays: 30}))
	f.clock.Advance(40 * 24 * time.Hour)

	evBefore := outboxEvents(t, f.eng)
	between.Next(func() {
		_, err := f.app.Check(ctx, seat(key, "https://back.com"))
		require.NoError(t, err)
	})
	done, err := f.app.ReclaimStale(ctx)
	require.NoError(t, err)
	assert.Equal(t, []app.Reclaimed{{Brand: "rankmath", Seats: 0}}, done)
	st := f.audit(t, key)
	require.Len(t, st.Activations, 1, "the site that called in keeps its seat")
	assert.Equal(t, f.clock.Now(), st.Activations[0].LastSeenAt.UTC())
	assert.Empty(t, newEvents(evBefore, outboxEvents(t, f.eng)), "no SeatReclaimed event")
}
