package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/outbox"
	"github.com/clsvc/license-service/internal/webhook"
)

const pathWebhooks = "/api/v1/brand/webhooks"

// The fixed ids of the webhook endpoint and delivery that the route tables
// (faults, isolation) aim at: seeded straight into the store.
var (
	whTestID    = "wh_" + "testwebhook" + "222222222"
	whTestEvent = "evt_" + "testevent" + "22222222222"
	whTestAt    = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

// whTestDelivery is the id of the seeded delivery.
func whTestDelivery() string { return licensing.DeliveryID(whTestAt, whTestEvent) }

// whSeed gives rankmath the endpoint whTestID, at a receiver on this
// machine answering 204, subscribed only to WebhookEndpointDisabled (so the
// requests of the tests send it nothing), with one failed delivery.
func whSeed(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(recv.Close)
	require.True(t, licensing.ValidID(licensing.KindWebhook, whTestID))
	secret, err := webhook.NewSecret()
	require.NoError(t, err)
	store := e.srv.Service.Store
	require.NoError(t, store.CreateWebhook(ctx, licensing.WebhookEndpoint{ID: whTestID, Brand: "rankmath", URL: recv.URL,
		EventTypes: []string{string(licensing.EventWebhookEndpointDisabled)}, Secret: secret, Status: licensing.WebhookEnabled,
		CreatedAt: whTestAt, Version: 1}, nil))
	body, err := json.Marshal(licensing.Event{ID: whTestEvent, Version: licensing.EventVersion, Type: licensing.EventWebhookEndpointDisabled,
		OccurredAt: whTestAt, Brand: "rankmath", WebhookID: "wh_" + "gonegonegone22222222", Reason: licensing.DisabledGone, Actor: licensing.Actor{Type: licensing.ActorSystem}})
	require.NoError(t, err)
	d := licensing.WebhookDelivery{ID: whTestDelivery(), Brand: "rankmath", EndpointID: whTestID, EventID: whTestEvent,
		EventType: licensing.EventWebhookEndpointDisabled, EventAt: whTestAt, Body: body}
	d = d.Record(licensing.DeliveryAttempt{At: whTestAt, StatusCode: 500, LatencyMS: 12}, false)
	require.NoError(t, store.PutDelivery(ctx, d, 0, time.Now().Add(24*time.Hour), nil))
}

// whReceived is one request a test receiver got.
type whReceived struct {
	id, ts, sig string
	body        []byte
	status      int // what the receiver answered (0: it let the sender time out)
}

// whReceiver is an endpoint whose answers a test scripts.
type whReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []whReceived
	answer func(n int, r whReceived) int // n counts requests from 1; 0 = hang past the sender's timeout
	hang   time.Duration
}

func newWHReceiver(t *testing.T, hang time.Duration, answer func(n int, r whReceived) int) *whReceiver {
	rc := &whReceiver{answer: answer, hang: hang}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got := whReceived{id: r.Header.Get("webhook-id"), ts: r.Header.Get("webhook-timestamp"), sig: r.Header.Get("webhook-signature"), body: body}
		rc.mu.Lock()
		n := len(rc.got) + 1
		got.status = rc.answer(n, got)
		rc.got = append(rc.got, got)
		rc.mu.Unlock()
		if got.status == 0 {
			select {
			case <-time.After(rc.hang):
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(got.status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *whReceiver) requests() []whReceived {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

type whEndpointJSON struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	EventTypes     []string `json:"event_types"`
	Status         string   `json:"status"`
	Secret         string   `json:"secret"`
	DisabledReason *string  `json:"disabled_reason"`
}

func (e *env) whCreate(t *testing.T, apiKey, url string, types ...string) whEndpointJSON {
	t.Helper()
	var out whEndpointJSON
	m := expectOK(t, e.post(t, pathWebhooks, apiKey, map[string]any{"url": url, "event_types": types}), http.StatusCreated, &out)
	requireFields(t, m, "id", "url", "event_types", "secret", "status")
	return out
}

// whBrandEvents reads the brand's events since a time from the outbox: id → detail.
func whBrandEvents(t *testing.T, e *env, brand string, since time.Time) map[string]licensing.Event {
	t.Helper()
	items, err := e.srv.Service.Store.AllEventItems(context.Background())
	require.NoError(t, err)
	out := map[string]licensing.Event{}
	for _, it := range items {
		var row outbox.Item
		require.NoError(t, attributevalue.UnmarshalMap(it.Item, &row))
		if row.Brand != brand {
			continue
		}
		var ev licensing.Event
		require.NoError(t, json.Unmarshal([]byte(row.Detail), &ev))
		if ev.OccurredAt.After(since) {
			out[ev.ID] = ev
		}
	}
	return out
}

// TestWebhooksDeliverThroughFailures runs the local service (make run's
// relay and queue, with the retry schedule shortened) against two
// receivers: one that fails, times out and fails at random before it
// recovers, and one that answers 410 Gone. Every event of the brand since
// the endpoint was created (none from before: the demo data's) reaches
// the first, signed, with a webhook-id stable across its retries; a
// consumer applying the ordering rule of docs/events.md (per license, the
// highest sequence wins) ends with each license as stored; the second is
// disabled at its first answer and the first receives the
// WebhookEndpointDisabled event.
func TestWebhooksDeliverThroughFailures(t *testing.T) {
	t.Parallel()
	e := start(t, func(o *devserver.Options) {
		o.WebhookRetry = func(int) time.Duration { return 30 * time.Millisecond }
		o.WebhookTimeout = 300 * time.Millisecond
		o.EventPoll = 20 * time.Millisecond
	})
	rng := rand.New(rand.NewPCG(13, 2026))
	var rngMu sync.Mutex
	flaky := newWHReceiver(t, 2*time.Second, func(n int, _ whReceived) int {
		switch {
		case n <= 3:
			return http.StatusInternalServerError // fails
		case n <= 5:
			return 0 // times out
		}
		rngMu.Lock()
		defer rngMu.Unlock()
		switch rng.IntN(4) {
		case 0:
			return http.StatusServiceUnavailable
		case 1:
			return http.StatusMovedPermanently // a redirect is not followed: a failure
		}
		return http.StatusOK // recovered
	})
	gone := newWHReceiver(t, 0, func(int, whReceived) int { return http.StatusGone })

	since := time.Now() // the demo data's events, from before, are not sent
	all := e.whCreate(t, rmKey, flaky.srv.URL+"/hooks", "*")
	assert.Regexp(t, `^whsec_[A-Za-z0-9+/]{43}=$`, all.Secret, "whsec_ and base64 of 32 bytes")
	assert.Equal(t, "enabled", all.Status)
	dead := e.whCreate(t, rmKey, gone.srv.URL, string(licensing.EventLicenseRenewed))

	// Changes to three licenses: provisions, seats, lifecycle, renewals.
	var licenses []string
	for i := range 3 {
		p := e.provision(t, rmKey, provisionReq{CustomerEmail: fmt.Sprintf("hook-%d@example.com", i), Products: []string{"rankmath-pro"}, MaxSeats: ptr(3),
			ExpirationDate: futureDate(90 * 24 * time.Hour)})
		id := p.Licenses[0].ID
		licenses = append(licenses, id)
		for _, site := range []string{"a.example.com", "b.example.com"} {
			expectOK(t, e.post(t, "/api/v1/product/licenses/activate", "", map[string]string{
				"license_key": p.LicenseKey.Key, "instance_identifier": fmt.Sprintf("%d.%s", i, site), "product": "rankmath-pro"}), http.StatusCreated, nil)
		}
		expectOK(t, e.post(t, actionPath(id, "suspend"), rmKey, `{"reason":"hook"}`), http.StatusOK, nil)
		if i != 1 {
			expectOK(t, e.post(t, actionPath(id, "resume"), rmKey, `{}`), http.StatusOK, nil)
		}
		expectOK(t, e.post(t, actionPath(id, "renew"), rmKey, `{"expiration_date":"`+isoRenewTo()+`"}`), http.StatusOK, nil)
	}

	// Every event of the brand is delivered to the "*" endpoint, the
	// WebhookEndpointDisabled of the 410 endpoint included.
	var want map[string]licensing.Event
	delivered := func() map[string]bool {
		ok := map[string]bool{}
		for _, r := range flaky.requests() {
			if r.status == http.StatusOK {
				ok[r.id] = true
			}
		}
		return ok
	}
	var missing []string
	require.Eventually(t, func() bool {
		want = whBrandEvents(t, e, "rankmath", since)
		got := delivered()
		missing = nil
		disabled := false
		for id, ev := range want {
			if !got[id] {
				missing = append(missing, fmt.Sprintf("%s %s at %s", id, ev.Type, ev.OccurredAt.Format(time.RFC3339Nano)))
			}
			disabled = disabled || ev.Type == licensing.EventWebhookEndpointDisabled
		}
		return len(missing) == 0 && disabled
	}, 30*time.Second, 50*time.Millisecond, "every event of the brand reaches the endpoint; missing: %v", &missing)
	whSettled(t, e, all.ID, len(want))
	reqs := flaky.requests()
	bodies := map[string][]byte{}
	attempts := map[string]int{}
	timedOut := 0
	for _, r := range reqs {
		require.NoError(t, webhook.Verify(all.Secret, http.Header{"Webhook-Id": {r.id}, "Webhook-Timestamp": {r.ts}, "Webhook-Signature": {r.sig}},
			r.body, time.Now(), webhook.DefaultTolerance), "signed")
		if prev, ok := bodies[r.id]; ok {
			require.Equal(t, string(prev), string(r.body), "a retry sends the same body under the same webhook-id")
		}
		bodies[r.id] = r.body
		attempts[r.id]++
		var ev licensing.Event
		require.NoError(t, json.Unmarshal(r.body, &ev))
		require.Equal(t, ev.ID, r.id, "webhook-id is the event id")
		if r.status == 0 {
			timedOut++
		}
	}
	retried := 0
	for _, n := range attempts {
		if n > 1 {
			retried++
		}
	}
	assert.Len(t, bodies, len(want), "only the brand's events, each under its own id")
	assert.Positive(t, retried, "some events needed retries")
	assert.Equal(t, 2, timedOut)
	t.Logf("%d events, %d requests, %d events retried, %d timeouts", len(want), len(reqs), retried, timedOut)

	// The consumer rule: per license, apply an event only above the
	// highest sequence applied; what is left is the stored license.
	applied := map[string]licensing.Event{}
	for _, r := range reqs {
		if r.status != http.StatusOK {
			continue
		}
		var ev licensing.Event
		require.NoError(t, json.Unmarshal(r.body, &ev))
		if ev.LicenseID == "" || ev.License == nil {
			continue
		}
		if last, ok := applied[ev.LicenseID]; !ok || ev.Sequence > last.Sequence {
			applied[ev.LicenseID] = ev
		}
	}
	for _, id := range licenses {
		l, r := e.licenseOf(t, rmKey, id)
		require.Equal(t, http.StatusOK, r.status)
		got, ok := applied[id]
		require.True(t, ok, "events of %s", id)
		assert.Equal(t, l.Status, string(got.License.Status), "%s: the last event applied has the stored status", id)
		assert.Equal(t, l.SeatsUsed, got.License.SeatsUsed, "%s: and the stored seats", id)
		maxSeq := int64(0)
		for _, ev := range want {
			if ev.LicenseID == id {
				maxSeq = max(maxSeq, ev.Sequence)
			}
		}
		assert.Equal(t, maxSeq, got.Sequence, "%s: the consumer ends at the license's last sequence", id)
	}

	// The 410 endpoint: asked once, then disabled; it gets nothing more.
	var list struct {
		Webhooks []whEndpointJSON `json:"webhooks"`
	}
	expectOK(t, e.get(t, pathWebhooks, rmKey), http.StatusOK, &list)
	require.Len(t, list.Webhooks, 2)
	for _, w := range list.Webhooks {
		assert.Empty(t, w.Secret, "a listing shows no secret")
		if w.ID == dead.ID {
			assert.Equal(t, "disabled", w.Status)
			require.NotNil(t, w.DisabledReason)
			assert.Equal(t, licensing.DisabledGone, *w.DisabledReason)
		} else {
			assert.Equal(t, "enabled", w.Status)
		}
	}
	assert.Len(t, gone.requests(), 1, "a 410 disables the endpoint at once")

	// The deliveries of the "*" endpoint, a page at a time, newest first,
	// with their attempts.
	var page struct {
		Deliveries []struct {
			ID            string `json:"id"`
			EventID       string `json:"event_id"`
			Status        string `json:"status"`
			StatusCode    *int   `json:"status_code"`
			LatencyMS     *int64 `json:"latency_ms"`
			AttemptsCount int    `json:"attempts_count"`
			Attempts      []struct {
				StatusCode *int    `json:"status_code"`
				Error      *string `json:"error"`
			} `json:"attempts"`
		} `json:"deliveries"`
		NextCursor *string `json:"next_cursor"`
	}
	seen := map[string]int{}
	var someID, someEvent string // the newest delivery
	path := pathWebhooks + "/" + all.ID + "/deliveries?limit=7"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 20)
		page.NextCursor = nil
		expectOK(t, e.get(t, path, rmKey), http.StatusOK, &page)
		for _, d := range page.Deliveries {
			if someID == "" {
				someID, someEvent = d.ID, d.EventID
			}
			seen[d.EventID] = d.AttemptsCount
			assert.Equal(t, "delivered", d.Status, d.ID)
			require.NotNil(t, d.StatusCode)
			assert.Equal(t, http.StatusOK, *d.StatusCode)
			require.NotNil(t, d.LatencyMS)
			assert.Equal(t, attempts[d.EventID], d.AttemptsCount, "every attempt is counted")
		}
		if page.NextCursor == nil {
			break
		}
		path = pathWebhooks + "/" + all.ID + "/deliveries?limit=7&cursor=" + *page.NextCursor
	}
	assert.Len(t, seen, len(want), "the pages list every delivery once")

	// A manual retry sends one again, under the same webhook-id.
	var retriedOne struct {
		Delivery struct {
			Status        string `json:"status"`
			AttemptsCount int    `json:"attempts_count"`
		} `json:"delivery"`
	}
	before := len(flaky.requests())
	for range 20 { // the receiver fails at random: retry until it answers 200
		expectOK(t, e.post(t, pathWebhooks+"/"+all.ID+"/deliveries/"+someID+"/retry", rmKey, `{}`), http.StatusOK, &retriedOne)
		if flaky.requests()[len(flaky.requests())-1].status == http.StatusOK {
			break
		}
	}
	after := flaky.requests()
	require.Greater(t, len(after), before)
	assert.Equal(t, someEvent, after[len(after)-1].id, "a manual retry keeps the webhook-id")
	assert.Equal(t, "delivered", retriedOne.Delivery.Status)
	assert.Equal(t, attempts[someEvent]+len(after)-before, retriedOne.Delivery.AttemptsCount)
}

// whSettled waits until the endpoint's n deliveries are recorded as
// delivered: a receiver sees a request before the service writes down its
// answer, so a test that reads the deliveries, or requires the table
// unchanged, waits for that write first.
func whSettled(t *testing.T, e *env, webhookID string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var page struct {
			Deliveries []struct {
				Status string `json:"status"`
			} `json:"deliveries"`
		}
		r := e.get(t, pathWebhooks+"/"+webhookID+"/deliveries?limit=100", rmKey)
		if r.status != http.StatusOK || json.Unmarshal(r.body, &page) != nil {
			return false
		}
		delivered := 0
		for _, d := range page.Deliveries {
			if d.Status == "delivered" {
				delivered++
			}
		}
		return delivered == n
	}, 10*time.Second, 20*time.Millisecond, "%d deliveries of %s recorded as delivered", n, webhookID)
}

// TestWebhookRoutes: creation's checks, the secret shown once, rotation
// (both secrets sign for 24 hours), deletion, and the refusals.
func TestWebhookRoutes(t *testing.T) {
	t.Parallel()
	e := start(t, func(o *devserver.Options) { o.WebhookRetry = func(int) time.Duration { return time.Hour } })
	recv := newWHReceiver(t, 0, func(int, whReceived) int { return http.StatusOK })
	w := e.whCreate(t, rmKey, recv.srv.URL, string(licensing.EventLicenseSuspended), string(licensing.EventLicenseResumed))
	assert.Equal(t, []string{"LicenseSuspended", "LicenseResumed"}, w.EventTypes)

	// Only the events subscribed to are sent.
	expectOK(t, e.post(t, actionPath(demo.RankMathProLicense, "suspend"), rmKey, `{"reason":"r"}`), http.StatusOK, nil)
	require.Eventually(t, func() bool { return len(recv.requests()) == 1 }, 10*time.Second, 20*time.Millisecond)
	var ev licensing.Event
	require.NoError(t, json.Unmarshal(recv.requests()[0].body, &ev))
	assert.Equal(t, licensing.EventLicenseSuspended, ev.Type)

	// Rotation: a new secret; the old and new both sign the next delivery.
	var rotated whEndpointJSON
	expectOK(t, e.post(t, pathWebhooks+"/"+w.ID+"/rotate-secret", rmKey, `{}`), http.StatusOK, &rotated)
	require.NotEqual(t, w.Secret, rotated.Secret)
	require.Regexp(t, `^whsec_`, rotated.Secret)
	expectOK(t, e.post(t, actionPath(demo.RankMathProLicense, "resume"), rmKey, `{}`), http.StatusOK, nil)
	require.Eventually(t, func() bool { return len(recv.requests()) == 2 }, 10*time.Second, 20*time.Millisecond)
	whSettled(t, e, w.ID, 2)
	r := recv.requests()[1]
	h := http.Header{"Webhook-Id": {r.id}, "Webhook-Timestamp": {r.ts}, "Webhook-Signature": {r.sig}}
	require.NoError(t, webhook.Verify(rotated.Secret, h, r.body, time.Now(), webhook.DefaultTolerance), "the new secret signs")
	require.NoError(t, webhook.Verify(w.Secret, h, r.body, time.Now(), webhook.DefaultTolerance), "the old one too, for 24 hours")
	// Another rotation would end the old secret's 24 hours at once.
	e.unchanged(t, func() {
		checkError(t, e.post(t, pathWebhooks+"/"+w.ID+"/rotate-secret", rmKey, `{}`), http.StatusConflict, "secret_rotation_in_progress")
	})

	// Refusals: each a 400 with the field, and nothing written.
	for name, body := range map[string]string{
		"no url":              `{"event_types":["*"]}`,
		"ftp":                 `{"url":"ftp://example.com/x","event_types":["*"]}`,
		"plain http, public":  `{"url":"http://example.com/x","event_types":["*"]}`,
		"private address":     `{"url":"https://10.1.2.3/hook","event_types":["*"]}`,
		"link-local metadata": `{"url":"https://169.254.169.254/latest/meta-data","event_types":["*"]}`,
		"IPv6 loopback https": `{"url":"https://[::1]:8443/hook","event_types":["*"]}`,
		"user info":           `{"url":"https://user:pw@example.com/x","event_types":["*"]}`,
		"unknown event type":  `{"url":"https://example.com/x","event_types":["LicenseExploded"]}`,
		"star and more":       `{"url":"https://example.com/x","event_types":["*","LicenseRenewed"]}`,
		"no event types":      `{"url":"https://example.com/x","event_types":[]}`,
		"twice":               `{"url":"https://example.com/x","event_types":["LicenseRenewed","LicenseRenewed"]}`,
	} {
		e.unchanged(t, func() {
			r := e.post(t, pathWebhooks, rmKey, body)
			require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", name, r.body)
			checkError(t, r, http.StatusBadRequest, "validation_error")
		})
	}
	// Unknown ids: 404 with the code, nothing written.
	e.unchanged(t, func() {
		checkError(t, e.do(t, call{method: http.MethodDelete, path: pathWebhooks + "/wh_nope", apiKey: rmKey}), http.StatusNotFound, "webhook_not_found")
		checkError(t, e.post(t, pathWebhooks+"/"+w.ID+"/deliveries/dlv_nope/retry", rmKey, `{}`), http.StatusNotFound, "delivery_not_found")
		checkError(t, e.get(t, pathWebhooks+"/"+w.ID+"/deliveries?cursor=bogus", rmKey), http.StatusBadRequest, "validation_error")
	})

	// At most 10 endpoints per brand.
	for range licensing.MaxWebhooks - 1 {
		e.whCreate(t, rmKey, recv.srv.URL, "*")
	}
	e.unchanged(t, func() {
		checkError(t, e.post(t, pathWebhooks, rmKey, map[string]any{"url": recv.srv.URL, "event_types": []string{"*"}}), http.StatusConflict, "webhook_limit_reached")
	})

	// Deletion answers the endpoint as it was; then it is gone.
	var deleted struct {
		Webhook whEndpointJSON `json:"webhook"`
		Deleted bool           `json:"deleted"`
	}
	expectOK(t, e.do(t, call{method: http.MethodDelete, path: pathWebhooks + "/" + w.ID, apiKey: rmKey}), http.StatusOK, &deleted)
	assert.True(t, deleted.Deleted)
	assert.Equal(t, w.ID, deleted.Webhook.ID)
	assert.Empty(t, deleted.Webhook.Secret)
	checkError(t, e.do(t, call{method: http.MethodDelete, path: pathWebhooks + "/" + w.ID, apiKey: rmKey}), http.StatusNotFound, "webhook_not_found")
}
