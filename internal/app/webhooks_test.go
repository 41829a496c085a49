package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/telemetry"
	"github.com/clsvc/license-service/internal/webhook"
)

// hookReceiver answers every request with the status it holds, and counts them.
type hookReceiver struct {
	srv    *httptest.Server
	status atomic.Int32
	got    atomic.Int32
}

func newHookReceiver(t *testing.T, status int) *hookReceiver {
	r := &hookReceiver{}
	r.status.Store(int32(status))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r.got.Add(1)
		w.WriteHeader(int(r.status.Load()))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// counts is a report without the event it names.
func counts(r app.DeliveryReport) app.DeliveryReport {
	r.Brand, r.EventID, r.EventType = "", "", ""
	return r
}

// hooked is a fixture whose app delivers to receivers on this machine.
func hooked(t *testing.T) *fixture {
	f := newFixture(t)
	f.app.UseWebhooks(webhook.NewSender(true).WithTimeout(2 * time.Second))
	return f
}

// event is the JSON of a new event of the brand, now on the fixture's clock.
func (f *fixture) event(t *testing.T, typ licensing.EventType) []byte {
	t.Helper()
	b, err := json.Marshal(licensing.Event{ID: licensing.NewID(licensing.KindEvent), Version: licensing.EventVersion, Type: typ,
		OccurredAt: f.clock.Now(), Brand: f.tenant.Brand, Actor: licensing.Actor{Type: licensing.ActorSystem}})
	require.NoError(t, err)
	return b
}

func (f *fixture) endpoint(t *testing.T, id string) licensing.WebhookEndpoint {
	t.Helper()
	ws, err := f.app.ListWebhooks(context.Background(), f.tenant)
	require.NoError(t, err)
	for _, w := range ws {
		if w.ID == id {
			return w
		}
	}
	t.Fatalf("no endpoint %s", id)
	return licensing.WebhookEndpoint{}
}

// An endpoint that fails every attempt is disabled once it has failed for
// 3 days — not before — with one WebhookEndpointDisabled event in the
// outbox; it then receives nothing more.
func TestWebhookDisabledAfterThreeDaysOfFailures(t *testing.T) {
	f := hooked(t)
	ctx := context.Background()
	recv := newHookReceiver(t, http.StatusInternalServerError)
	w, err := f.app.CreateWebhook(ctx, f.tenant, recv.srv.URL, []string{"*"})
	require.NoError(t, err)
	start := f.clock.Now()

	rep, err := f.app.DeliverEvent(ctx, f.event(t, licensing.EventLicenseRenewed), false)
	require.NoError(t, err)
	assert.Equal(t, app.DeliveryReport{Failed: 1, Pending: 1}, counts(rep))
	got := f.endpoint(t, w.ID)
	require.NotNil(t, got.FailingSince)
	assert.True(t, got.FailingSince.Equal(start))

	f.clock.Advance(licensing.FailureWindow - time.Minute)
	rep, err = f.app.DeliverEvent(ctx, f.event(t, licensing.EventLicenseRenewed), false)
	require.NoError(t, err)
	assert.Equal(t, app.DeliveryReport{Failed: 1, Pending: 1}, counts(rep), "a minute short of 3 days: still enabled")
	assert.Equal(t, licensing.WebhookEnabled, f.endpoint(t, w.ID).Status)
	assert.True(t, f.endpoint(t, w.ID).FailingSince.Equal(start), "failing since the first failure")

	before := outboxEvents(t, f.eng)
	f.clock.Advance(time.Minute)
	rep, err = f.app.DeliverEvent(ctx, f.event(t, licensing.EventLicenseRenewed), false)
	require.NoError(t, err)
	assert.Equal(t, app.DeliveryReport{Failed: 1, Disabled: 1}, counts(rep), "3 days: disabled, and not retried")
	got = f.endpoint(t, w.ID)
	assert.Equal(t, licensing.WebhookDisabled, got.Status)
	assert.Equal(t, licensing.DisabledFailing, got.DisabledReason)
	evs := newEvents(before, outboxEvents(t, f.eng))
	require.Len(t, evs, 1)
	assert.Equal(t, licensing.EventWebhookEndpointDisabled, evs[0].Type)
	assert.Equal(t, w.ID, evs[0].WebhookID)
	assert.Equal(t, w.URL, evs[0].WebhookURL)
	assert.Equal(t, licensing.DisabledFailing, evs[0].Reason)
	assert.Equal(t, licensing.ActorSystem, evs[0].Actor.Type)

	n := recv.got.Load()
	rep, err = f.app.DeliverEvent(ctx, f.event(t, licensing.EventLicenseRenewed), false)
	require.NoError(t, err)
	assert.Equal(t, app.DeliveryReport{}, counts(rep))
	assert.Equal(t, n, recv.got.Load(), "a disabled endpoint is not called")
	assert.Len(t, newEvents(before, outboxEvents(t, f.eng)), 1, "disabled once")
}

// A success ends the failing spell: failures after it count from anew.
func TestWebhookSuccessResetsTheFailureWindow(t *testing.T) {
	f := hooked(t)
	ctx := context.Background()
	recv := newHookReceiver(t, http.StatusBadGateway)
	w, err := f.app.CreateWebhook(ctx, f.tenant, recv.srv.URL, []string{"*"})
	require.NoError(t, err)
	_, err = f.app.DeliverEvent(ctx, f.event(t, licensing.EventLicenseRenewed), false)
	require.NoError(t, err)
	require.NotNil(t, f.endpoint(t, w.ID).FailingSince)

	f.clock.Advance(48 * time.Hour)
	recv.status.Store(http.StatusNoContent)
	rep, err := f.app.DeliverEvent(ctx, f.event(t, licensing.EventLicenseRenewed), false)
	require.NoError(t, err)
	assert.Equal(t, app.DeliveryReport{Delivered: 1}, counts(rep))
	assert.Nil(t, f.endpoint(t, w.ID).FailingSince)

	f.clock.Advance(48 * time.Hour) // 96 h after the first failure, 0 after the last success
	recv.status.Store(http.StatusServiceUnavailable)
	rep, err = f.app.DeliverEvent(ctx, f.event(t, licensing.EventLicenseRenewed), false)
	require.NoError(t, err)
	assert.Equal(t, app.DeliveryReport{Failed: 1, Pending: 1}, counts(rep))
	assert.Equal(t, licensing.WebhookEnabled, f.endpoint(t, w.ID).Status)
}

// The last attempt that fails leaves the delivery failed (the queue then
// dead-letters the message); a delivered event is not sent again when the
// queue hands it over again; events the endpoint does not subscribe to, and
// other brands' endpoints, get nothing.
func TestWebhookDeliveryStates(t *testing.T) {
	f := hooked(t)
	ctx := context.Background()
	recv := newHookReceiver(t, http.StatusInternalServerError)
	w, err := f.app.CreateWebhook(ctx, f.tenant, recv.srv.URL, []string{string(licensing.EventLicenseRenewed)})
	require.NoError(t, err)
	otherRecv := newHookReceiver(t, http.StatusOK)
	_, err = f.app.CreateWebhook(ctx, f.other, otherRecv.srv.URL, []string{"*"})
	require.NoError(t, err)

	body := f.event(t, licensing.EventLicenseRenewed)
	rep, err := f.app.DeliverEvent(ctx, body, true)
	require.NoError(t, err)
	assert.Equal(t, app.DeliveryReport{Failed: 1, Exhausted: 1}, counts(rep), "the last attempt failed")
	ds, _, err := f.app.WebhookDeliveries(ctx, f.tenant, w.ID, "", 0)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, licensing.DeliveryFailed, ds[0].Status)
	assert.Equal(t, 500, ds[0].Attempts[0].StatusCode)

	recv.status.Store(http.StatusOK)
	d, err := f.app.RetryWebhookDelivery(ctx, f.tenant, w.ID, ds[0].ID)
	require.NoError(t, err)
	assert.Equal(t, licensing.DeliveryDelivered, d.Status)
	assert.Equal(t, 2, d.Count)
	assert.True(t, d.Attempts[1].Manual)
	n := recv.got.Load()
	rep, err = f.app.DeliverEvent(ctx, body, false) // SQS hands it over again
	require.NoError(t, err)
	assert.Equal(t, app.DeliveryReport{}, counts(rep))
	assert.Equal(t, n, recv.got.Load(), "a delivered event is not sent twice")

	rep, err = f.app.DeliverEvent(ctx, f.event(t, licensing.EventLicenseSuspended), false)
	require.NoError(t, err)
	assert.Equal(t, app.DeliveryReport{}, counts(rep), "not subscribed")
	assert.Zero(t, otherRecv.got.Load(), "another brand's endpoint gets nothing of rankmath's")

	_, err = f.app.RetryWebhookDelivery(ctx, f.other, w.ID, ds[0].ID)
	assert.Equal(t, licensing.CodeWebhookNotFound, licensing.ErrorCode(err), "another brand cannot retry it")
	_, err = f.app.DeliverEvent(ctx, []byte(`{"event_type":"LicenseRenewed"}`), false)
	assert.Equal(t, licensing.CodeValidation, licensing.ErrorCode(err), "not an event")
}

// realEvent is the JSON of a LicenseActivated as the service writes it
// (about 600 bytes, like docs/events.md's example).
func (f *fixture) realEvent(t *testing.T) []byte {
	t.Helper()
	exp := f.clock.Now().AddDate(1, 0, 0)
	e := licensing.Event{ID: licensing.NewID(licensing.KindEvent), Version: licensing.EventVersion, Type: licensing.EventLicenseActivated,
		OccurredAt: f.clock.Now(), Brand: f.tenant.Brand, Sequence: 7, LicenseKeyID: licensing.NewID(licensing.KindLicenseKey),
		LicenseID: licensing.NewID(licensing.KindLicense), ProductID: licensing.NewID(licensing.KindProduct), Product: "rankmath-pro",
		ActivationID: licensing.NewID(licensing.KindActivation),
		License:      &licensing.LicenseState{Status: licensing.StatusValid, SeatLimit: 3, SeatsUsed: 2, ExpiresAt: &exp},
		Activation:   &licensing.ActivationState{InstanceIdentifier: "shop.example.com", InstanceType: licensing.InstanceURL, Environment: "production", Status: "active"},
		Actor:        licensing.Actor{Type: licensing.ActorProduct}}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	return b
}

// A delivery reads by key: the brand's endpoints (one Query of their
// items), then each one's delivery — its cost does not grow with the
// brand's licenses, events or earlier deliveries. Measured on an event of
// the real size: the first attempt, and an event's 9th (last) attempt at
// an endpoint that keeps failing.
func TestWebhookDeliveryCostDoesNotGrowWithData(t *testing.T) {
	f := hooked(t)
	ctx := context.Background()
	recv := newHookReceiver(t, http.StatusOK)
	_, err := f.app.CreateWebhook(ctx, f.tenant, recv.srv.URL, []string{"*"})
	require.NoError(t, err)
	measure := func(body []byte, final bool) (int64, float64, float64) {
		ctx := telemetry.WithRoundTrips(ctx)
		_, err := f.app.DeliverEvent(ctx, body, final)
		require.NoError(t, err)
		rcu, wcu := telemetry.Consumed(ctx)
		return telemetry.RoundTrips(ctx), rcu, wcu
	}
	body := f.realEvent(t)
	t.Logf("event: %d bytes", len(body))
	trips, rcu, wcu := measure(body, false)
	assert.Equal(t, int64(3), trips, "Query of the endpoints, GetItem of the delivery, PutItem of it")
	for i := range 200 {
		_, _, err := f.app.Provision(ctx, f.tenant, app.ProvisionInput{CustomerEmail: fmt.Sprintf("c%d@example.com", i), Products: []string{"rankmath-pro"}}, "")
		require.NoError(t, err)
		_, err = f.app.DeliverEvent(ctx, f.realEvent(t), false)
		require.NoError(t, err)
	}
	trips2, rcu2, wcu2 := measure(f.realEvent(t), false)
	assert.Equal(t, trips, trips2)
	assert.Equal(t, rcu, rcu2, "read capacity")
	assert.Equal(t, wcu, wcu2, "write capacity")
	t.Logf("first attempt, delivered: %d round trips, %.1f RCU, %.1f WCU", trips, rcu, wcu)

	recv.status.Store(http.StatusServiceUnavailable)
	failing := f.realEvent(t)
	for range 8 {
		_, _, _ = measure(failing, false)
	}
	trips, rcu, wcu = measure(failing, true)
	assert.Equal(t, int64(4), trips, "and a GetItem of the endpoint, failing already: nothing to write")
	t.Logf("9th attempt, failed: %d round trips, %.1f RCU, %.1f WCU", trips, rcu, wcu)
}

// A manual retry that succeeds while the queue's attempt of the same event
// is still waiting for its answer: the queue's failure, recorded after,
// neither undoes the delivery nor loses an attempt.
func TestWebhookConcurrentAttemptsLoseNothing(t *testing.T) {
	f := hooked(t)
	ctx := context.Background()
	release := make(chan struct{})
	arrived := make(chan struct{}, 3)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(http.StatusInternalServerError)
		case 2: // the queue's second attempt: answered 500, late
			arrived <- struct{}{}
			<-release
			w.WriteHeader(http.StatusInternalServerError)
		default: // the brand's manual retry
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(srv.Close)
	w, err := f.app.CreateWebhook(ctx, f.tenant, srv.URL, []string{"*"})
	require.NoError(t, err)
	body := f.event(t, licensing.EventLicenseRenewed)
	rep, err := f.app.DeliverEvent(ctx, body, false)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Pending)
	ds, _, err := f.app.WebhookDeliveries(ctx, f.tenant, w.ID, "", 0)
	require.NoError(t, err)
	require.Len(t, ds, 1)

	queued := make(chan app.DeliveryReport, 1)
	go func() {
		rep, err := f.app.DeliverEvent(ctx, body, true) // the last attempt
		assert.NoError(t, err)
		queued <- rep
	}()
	<-arrived
	d, err := f.app.RetryWebhookDelivery(ctx, f.tenant, w.ID, ds[0].ID)
	require.NoError(t, err)
	require.Equal(t, licensing.DeliveryDelivered, d.Status)
	close(release)
	rep = <-queued
	assert.Zero(t, rep.Exhausted, "delivered meanwhile: nothing to dead-letter")

	ds, _, err = f.app.WebhookDeliveries(ctx, f.tenant, w.ID, "", 0)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, licensing.DeliveryDelivered, ds[0].Status)
	assert.Equal(t, 3, ds[0].Count, "every attempt counted")
	require.Len(t, ds[0].Attempts, 3)
	assert.Equal(t, 500, ds[0].Attempts[2].StatusCode, "the late failure is recorded last")
}

// A delivery left pending when another event's 410 disabled its endpoint
// is closed as failed at its next receive; an endpoint created after an
// event does not get it.
func TestWebhookDisabledEndpointClosesPendingDeliveries(t *testing.T) {
	f := hooked(t)
	ctx := context.Background()
	recv := newHookReceiver(t, http.StatusInternalServerError)
	w, err := f.app.CreateWebhook(ctx, f.tenant, recv.srv.URL, []string{"*"})
	require.NoError(t, err)
	first := f.event(t, licensing.EventLicenseRenewed)
	rep, err := f.app.DeliverEvent(ctx, first, false)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Pending)

	f.clock.Advance(time.Minute)
	recv.status.Store(http.StatusGone)
	rep, err = f.app.DeliverEvent(ctx, f.event(t, licensing.EventLicenseRenewed), false)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Disabled)

	f.clock.Advance(time.Minute)
	n := recv.got.Load()
	rep, err = f.app.DeliverEvent(ctx, first, false) // the first event's retry
	require.NoError(t, err)
	assert.Zero(t, rep.Pending+rep.Exhausted)
	assert.Equal(t, n, recv.got.Load(), "not sent to a disabled endpoint")
	ds, _, err := f.app.WebhookDeliveries(ctx, f.tenant, w.ID, "", 0)
	require.NoError(t, err)
	require.Len(t, ds, 2)
	for _, d := range ds {
		assert.Equal(t, licensing.DeliveryFailed, d.Status, d.EventID)
	}

	late := f.event(t, licensing.EventLicenseRenewed)
	f.clock.Advance(time.Minute)
	newer := newHookReceiver(t, http.StatusOK)
	_, err = f.app.CreateWebhook(ctx, f.tenant, newer.srv.URL, []string{"*"})
	require.NoError(t, err)
	rep, err = f.app.DeliverEvent(ctx, late, false)
	require.NoError(t, err)
	assert.Zero(t, rep.Delivered, "an event from before the endpoint existed")
	assert.Zero(t, newer.got.Load())
}
