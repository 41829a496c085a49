package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/relay/relaytest"
)

// The relay's bound, over HTTP through the local service (what make run
// starts) with EVENTBRIDGE_ENDPOINT at an EventBridge that fails a third of
// its calls and a quarter of the entries of the others (random, seeded):
// 500 and more events of 50 licenses, committed by brand requests, are all
// delivered, at most twice each on average, and each license's event of
// the highest sequence delivered is its final state. The relay's backoff is
// shortened (EventRetryBackoff); the rounds are the same.
func TestRelayBoundThroughTheLocalService(t *testing.T) {
	t.Parallel()
	bus := relaytest.NewBus(t, relaytest.RandomFailures(7))
	e := start(t, func(o *devserver.Options) {
		o.EventBridgeEndpoint = bus.URL
		o.EventRetryBackoff = time.Millisecond
		o.EventPoll = -1 // passes only through FlushEvents
	})
	ctx := context.Background()
	require.NoError(t, flushAll(ctx, e)) // the demo data's events
	seed := len(bus.DeliveredIDs())

	var licenses []string
	for i := range 25 {
		p := e.provision(t, rmKey, provisionReq{CustomerEmail: fmt.Sprintf("bound%d@example.com", i), Products: []string{"rankmath-pro", "content-ai"},
			ExpirationDate: futureDate(365 * 24 * time.Hour)})
		for _, l := range p.Licenses {
			licenses = append(licenses, l.ID)
		}
	}
	for round := range 9 {
		action := []string{"suspend", "resume"}[round%2]
		for _, id := range licenses {
			efAction(t, e, rmKey, id, action, map[string]string{"reason": "bound"})
		}
	}
	require.NoError(t, flushAll(ctx, e))

	delivered := bus.Delivered()[seed:]
	ids := map[string]int{}
	last := map[string]map[string]any{}
	for _, en := range delivered {
		d := en.DetailMap(t)
		id := d["event_id"].(string)
		ids[id]++
		lic, _ := d["license_id"].(string)
		if lic == "" {
			continue
		}
		if prev, ok := last[lic]; !ok || d["sequence"].(float64) > prev["sequence"].(float64) {
			last[lic] = d
		}
	}
	events := 25 + 50 + 9*50
	require.Len(t, ids, events, "every event delivered")
	avg := float64(len(delivered)) / float64(events)
	assert.LessOrEqual(t, avg, 2.0, "deliveries per event")
	for _, id := range licenses {
		v, err := e.srv.Service.Store.License(ctx, "rankmath", id)
		require.NoError(t, err)
		d := last[id]
		require.NotNil(t, d, "%s: events delivered", id)
		assert.Equal(t, float64(v.License.Version), d["sequence"], "%s: the last change delivered", id)
		assert.Equal(t, string(v.License.Status), d["license"].(map[string]any)["status"], "%s: the final state", id)
	}
	t.Logf("%d events, %d deliveries (%.2f each), %d PutEvents calls", events, len(delivered), avg, len(bus.Calls()))
}

// flushAll hands the committed events to the relay until it has taken them
// all (the relay reports what it could not deliver in a pass, as Lambda
// would retry it).
func flushAll(ctx context.Context, e *env) error {
	var err error
	for range 20 {
		if err = e.srv.FlushEvents(ctx); err == nil {
			return nil
		}
	}
	return err
}
