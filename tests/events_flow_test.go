package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/relay/relaytest"
	"github.com/clsvc/license-service/internal/schedule"
)

// These tests watch the domain events leave the local service: the relay
// publishes them with the real EventBridge client to a loopback endpoint that
// speaks PutEvents (AWS JSON 1.1), while the API is driven over HTTP through
// every use case. After each request the committed events are handed to the
// relay at once (FlushEvents; no background polling), so each request's
// events, and only those, arrive before the next request.

// efBusName is the bus the service is configured to put events on.
const efBusName = "flow-test-bus"

// efEventID is the format of event ids.
var efEventID = regexp.MustCompile(`^evt_[a-z2-7]{20}$`)

// efBus is the loopback EventBridge of these tests (relaytest.Bus, which
// fails the test on any request that is not a signed PutEvents call): it
// accepts every entry except the calls (counted from 1) named by failCall,
// which it answers with a whole-call 500 InternalFailure.
type efBus struct {
	*relaytest.Bus
	mu   sync.Mutex
	fail map[int]bool
}

func newEFBus(t *testing.T) *efBus {
	t.Helper()
	b := &efBus{fail: map[int]bool{}}
	b.Bus = relaytest.NewBus(t, func(call int, _ []relaytest.Entry) relaytest.Reply {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.fail[call+1] {
			return relaytest.Reply{Status: http.StatusInternalServerError, ErrorType: "InternalFailure"}
		}
		return relaytest.Reply{}
	})
	return b
}

// failCall makes the n-th PutEvents call (counted from 1) fail as a whole.
func (b *efBus) failCall(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fail[n] = true
}

// callCount is how many PutEvents calls arrived.
func (b *efBus) callCount() int { return len(b.Calls()) }

// efClock is the service's clock in these tests: the wall clock, moved on
// by an offset that a test may advance (to make seats stale).
type efClock struct{ offset atomic.Int64 }

func (c *efClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *efClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// startEF starts the local service publishing to bus, without background
// polling, on clock, and returns it once the demo seed's events are
// published and discarded.
func startEF(t *testing.T, bus *efBus, clock *efClock) *env {
	t.Helper()
	e := start(t, func(o *devserver.Options) {
		o.EventBridgeEndpoint = bus.URL
		o.EventBusName = efBusName
		o.EventPoll = -1
		o.Now = clock.Now
	})
	require.NoError(t, e.srv.FlushEvents(context.Background()), "publish the demo seed's events")
	bus.Take()
	return e
}

// efDetail is an event's detail as the tests read it.
type efDetail struct {
	EventID       string `json:"event_id"`
	EventVersion  int    `json:"event_version"`
	EventType     string `json:"event_type"`
	OccurredAt    string `json:"occurred_at"`
	Brand         string `json:"brand"`
	LicenseKeyID  string `json:"license_key_id"`
	CustomerEmail string `json:"customer_email"`
	LicenseID     string `json:"license_id"`
	ProductID     string `json:"product_id"`
	Product       string `json:"product"`
	ActivationID  string `json:"activation_id"`
	APIKeyID      string `json:"api_key_id"`
	License       *struct {
		Status    string  `json:"status"`
		SeatLimit int     `json:"seat_limit"`
		SeatsUsed int     `json:"seats_used"`
		ExpiresAt *string `json:"expires_at"`
	} `json:"license"`
	Activation *struct {
		InstanceIdentifier string `json:"instance_identifier"`
		InstanceType       string `json:"instance_type"`
		Status             string `json:"status"`
	} `json:"activation"`
	Reason string `json:"reason"`
	Actor  struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"actor"`
}

// efEvent is an accepted entry with its detail decoded.
type efEvent struct {
	entry relaytest.Entry
	d     efDetail
	raw   map[string]any
}

func decodeEF(t *testing.T, en relaytest.Entry) efEvent {
	t.Helper()
	ev := efEvent{entry: en}
	require.NoError(t, json.Unmarshal([]byte(en.Detail), &ev.raw), "detail is not a JSON object: %s", en.Detail)
	require.NotNil(t, ev.raw, "detail is not a JSON object: %s", en.Detail)
	require.NoError(t, json.Unmarshal([]byte(en.Detail), &ev.d), "detail %s", en.Detail)
	return ev
}

// efFlow drives one local service and checks every event it publishes.
type efFlow struct {
	e   *env
	bus *efBus
	// ids are the event ids published so far.
	ids map[string]string
	// secrets must never appear in a detail: license keys, API keys.
	secrets []string
	// emails must never appear in a detail, but as LicenseKeyCreated's customer_email.
	emails []string
	// since is when the previous flush ended: the events of a flush occurred after it.
	since time.Time
	// clock is the service's clock; since and the end of a flush are read from it.
	clock *efClock
}

func newEFFlow(t *testing.T) *efFlow {
	t.Helper()
	bus := newEFBus(t)
	clock := &efClock{}
	e := startEF(t, bus, clock)
	return &efFlow{e: e, bus: bus, ids: map[string]string{}, secrets: []string{rmKey, wprKey}, since: clock.Now(), clock: clock}
}

// flush hands the committed events to the relay, requires the published
// entries to be exactly the event types want, of brand, checks what every
// event must be, and returns them.
func (f *efFlow) flush(t *testing.T, brand string, want ...string) []efEvent {
	t.Helper()
	require.NoError(t, f.e.srv.FlushEvents(context.Background()), "FlushEvents")
	until := f.clock.Now()
	entries := f.bus.Take()
	var types []string
	for _, en := range entries {
		types = append(types, en.DetailType)
	}
	if want == nil {
		want = []string{}
	}
	if types == nil {
		types = []string{}
	}
	require.Equal(t, want, types, "the events published, in order")
	out := make([]efEvent, len(entries))
	for i, en := range entries {
		out[i] = f.check(t, en, brand, until)
	}
	f.since = until
	return out
}

// none requires that nothing committed since the last flush is published.
func (f *efFlow) none(t *testing.T) {
	t.Helper()
	f.flush(t, "")
}

// check requires what every published event must be.
func (f *efFlow) check(t *testing.T, en relaytest.Entry, brand string, until time.Time) efEvent {
	t.Helper()
	ev := decodeEF(t, en)
	d := ev.d
	require.Equal(t, "license-service", en.Source, "Source of %s", en.Detail)
	require.Equal(t, efBusName, en.EventBusName, "EventBusName of %s", en.Detail)
	require.Equal(t, en.DetailType, d.EventType, "DetailType and detail.event_type")
	require.Equal(t, brand, d.Brand, "detail.brand of %s", en.Detail)
	require.Equal(t, 1, d.EventVersion, "detail.event_version of %s", en.Detail)
	require.Regexp(t, efEventID, d.EventID, "detail.event_id")
	prev, dup := f.ids[d.EventID]
	require.False(t, dup, "event_id %s published twice: %s and %s", d.EventID, prev, en.Detail)
	f.ids[d.EventID] = en.Detail

	at, err := time.Parse(time.RFC3339Nano, d.OccurredAt)
	require.NoError(t, err, "detail.occurred_at %q", d.OccurredAt)
	require.False(t, at.Before(f.since.Add(-time.Second)) || at.After(until.Add(time.Second)),
		"occurred_at %s is not within the request (%s .. %s)", at, f.since, until)
	require.NotNil(t, en.Time, "entry without Time: %s", en.Detail)
	sent := time.UnixMilli(int64(math.Round(*en.Time * 1000)))
	require.WithinDuration(t, at, sent, time.Millisecond, "entry Time and detail.occurred_at")

	actor, ok := ev.raw["actor"].(map[string]any)
	require.True(t, ok, "detail without actor: %s", en.Detail)
	require.NotEmpty(t, actor["type"], "actor without type: %s", en.Detail)

	upper := strings.ToUpper(en.Detail)
	for _, s := range f.secrets {
		require.NotContains(t, upper, strings.ToUpper(s), "a detail shows a secret")
	}
	// The customer's e-mail: only as LicenseKeyCreated's customer_email.
	rest := map[string]any{}
	for k, v := range ev.raw {
		if k != "customer_email" || d.EventType != "LicenseKeyCreated" {
			rest[k] = v
		}
	}
	restJSON, err := json.Marshal(rest)
	require.NoError(t, err)
	for _, m := range f.emails {
		require.NotContains(t, strings.ToLower(string(restJSON)), strings.ToLower(m), "a detail shows the customer's e-mail")
	}
	return ev
}

// efLicenseIDs are the ids every license event carries.
type efLicenseIDs struct {
	keyID, licenseID, productID, product string
}

func efIDsOf(p provisionedJSON, l licenseJSON) efLicenseIDs {
	return efLicenseIDs{keyID: p.LicenseKey.ID, licenseID: l.ID, productID: l.ProductID, product: l.ProductSlug}
}

// requireLicenseEvent checks the ids and license state of a license event.
func requireLicenseEvent(t *testing.T, ev efEvent, ids efLicenseIDs, status string, seatLimit, seatsUsed int, expires time.Time) {
	t.Helper()
	d := ev.d
	require.Equal(t, ids.keyID, d.LicenseKeyID, "license_key_id of %s", ev.entry.Detail)
	require.Equal(t, ids.licenseID, d.LicenseID, "license_id of %s", ev.entry.Detail)
	require.Equal(t, ids.productID, d.ProductID, "product_id of %s", ev.entry.Detail)
	require.Equal(t, ids.product, d.Product, "product of %s", ev.entry.Detail)
	require.NotNil(t, d.License, "no license state in %s", ev.entry.Detail)
	require.Equal(t, status, d.License.Status, "license.status of %s", ev.entry.Detail)
	require.Equal(t, seatLimit, d.License.SeatLimit, "license.seat_limit of %s", ev.entry.Detail)
	require.Equal(t, seatsUsed, d.License.SeatsUsed, "license.seats_used of %s", ev.entry.Detail)
	require.NotNil(t, d.License.ExpiresAt, "license.expires_at of %s", ev.entry.Detail)
	require.True(t, expires.Equal(mustParseTime(t, *d.License.ExpiresAt)), "license.expires_at %s, want %s", *d.License.ExpiresAt, expires)
	require.NotContains(t, ev.raw, "api_key_id", "a license event names an API key: %s", ev.entry.Detail)
	require.NotContains(t, ev.raw, "customer_email", "a license event shows the e-mail: %s", ev.entry.Detail)
}

// requireActor requires the detail's actor to be exactly {type[, id]}.
func requireActor(t *testing.T, ev efEvent, typ, id string) {
	t.Helper()
	want := map[string]any{"type": typ}
	if id != "" {
		want["id"] = id
	}
	require.Equal(t, want, ev.raw["actor"], "actor of %s", ev.entry.Detail)
}

// requireSeatEvent checks the seat fields of LicenseActivated and SeatDeactivated.
func requireSeatEvent(t *testing.T, ev efEvent, activationID, instance, status string) {
	t.Helper()
	require.Equal(t, activationID, ev.d.ActivationID, "activation_id of %s", ev.entry.Detail)
	require.NotNil(t, ev.d.Activation, "no activation in %s", ev.entry.Detail)
	require.Equal(t, instance, ev.d.Activation.InstanceIdentifier, "activation.instance_identifier")
	require.Equal(t, "url", ev.d.Activation.InstanceType, "activation.instance_type")
	require.Equal(t, status, ev.d.Activation.Status, "activation.status")
}

// requireNoSeat requires a license event without seat fields.
func requireNoSeat(t *testing.T, ev efEvent) {
	t.Helper()
	require.NotContains(t, ev.raw, "activation_id", "in %s", ev.entry.Detail)
	require.NotContains(t, ev.raw, "activation", "in %s", ev.entry.Detail)
}

// requireReason requires detail.reason (absent when want is empty).
func requireReason(t *testing.T, ev efEvent, want string) {
	t.Helper()
	if want == "" {
		require.NotContains(t, ev.raw, "reason", "in %s", ev.entry.Detail)
		return
	}
	require.Equal(t, want, ev.raw["reason"], "reason of %s", ev.entry.Detail)
}

// brandKeyID is the id of the brand's only API key (the demo key).
func brandKeyID(t *testing.T, e *env, brand string) string {
	t.Helper()
	keys, err := e.srv.Service.App.Ops().ListAPIKeys(context.Background(), brand)
	require.NoError(t, err)
	require.Len(t, keys, 1, "the demo brand %s has one API key", brand)
	return keys[0].ID
}

func efAction(t *testing.T, e *env, apiKey, id, action string, body any) licenseDetailJSON {
	t.Helper()
	var l licenseDetailJSON
	expectOK(t, e.post(t, actionPath(id, action), apiKey, body), http.StatusOK, &l)
	return l
}

func efActivate(t *testing.T, e *env, key, site string, status int) paActivation {
	t.Helper()
	var a paActivation
	expectOK(t, e.do(t, paActivateCall(t, paSeat{LicenseKey: key, InstanceIdentifier: site, InstanceType: "url", Product: "rankmath-pro"})), status, &a)
	return a
}

// TestEventFlow drives the API through every use case and requires exactly
// the events each request commits, in order, with their details.
func TestEventFlow(t *testing.T) {
	t.Parallel()
	f := newEFFlow(t)
	e := f.e
	ctx := context.Background()
	rmKeyID := brandKeyID(t, e, "rankmath")
	wprKeyID := brandKeyID(t, e, "wp-rocket")

	// Nothing new: nothing is published.
	f.none(t)

	// Provision: the key, then one license per product, in the request's order.
	const email = "Flow.Customer@Example.com"
	f.emails = append(f.emails, email)
	exp := mustParseTime(t, futureDate(30*24*time.Hour))
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: email, Products: []string{"rankmath-pro", "content-ai"},
		ExpirationDate: exp.Format(time.RFC3339), MaxSeats: ptr(1)})
	f.secrets = append(f.secrets, p.LicenseKey.Key)
	require.Equal(t, "rankmath-pro", p.Licenses[0].ProductSlug)
	require.Equal(t, "content-ai", p.Licenses[1].ProductSlug)
	pro, cai := efIDsOf(p, p.Licenses[0]), efIDsOf(p, p.Licenses[1])
	evs := f.flush(t, "rankmath", "LicenseKeyCreated", "LicenseProvisioned", "LicenseProvisioned")
	require.Equal(t, p.LicenseKey.ID, evs[0].d.LicenseKeyID)
	require.Equal(t, p.LicenseKey.CustomerEmail, evs[0].d.CustomerEmail, "LicenseKeyCreated's customer_email")
	requireActor(t, evs[0], "api_key", rmKeyID)
	for _, k := range []string{"license_id", "product_id", "product", "license", "activation_id", "api_key_id"} {
		require.NotContains(t, evs[0].raw, k, "LicenseKeyCreated: %s", evs[0].entry.Detail)
	}
	for i, ids := range []efLicenseIDs{pro, cai} {
		ev := evs[1+i]
		requireLicenseEvent(t, ev, ids, "valid", 1, 0, exp)
		requireActor(t, ev, "api_key", rmKeyID)
		requireNoSeat(t, ev)
		requireReason(t, ev, "")
	}

	// Reading changes nothing and publishes nothing.
	e.licenseOf(t, rmKey, pro.licenseID)
	expectOK(t, e.get(t, emailQuery(email), rmKey), http.StatusOK, nil)
	f.none(t)

	// Renew: the new expiry.
	exp2 := mustParseTime(t, futureDate(60*24*time.Hour))
	efAction(t, e, rmKey, pro.licenseID, "renew", map[string]string{"expiration_date": exp2.Format(time.RFC3339)})
	evs = f.flush(t, "rankmath", "LicenseRenewed")
	requireLicenseEvent(t, evs[0], pro, "valid", 1, 0, exp2)
	requireActor(t, evs[0], "api_key", rmKeyID)
	requireReason(t, evs[0], "")
	requireNoSeat(t, evs[0])

	// Suspend with a reason.
	efAction(t, e, rmKey, pro.licenseID, "suspend", map[string]string{"reason": "payment failed"})
	evs = f.flush(t, "rankmath", "LicenseSuspended")
	requireLicenseEvent(t, evs[0], pro, "suspended", 1, 0, exp2)
	requireActor(t, evs[0], "api_key", rmKeyID)
	requireReason(t, evs[0], "payment failed")

	// Resume.
	efAction(t, e, rmKey, pro.licenseID, "resume", map[string]string{"reason": "paid"})
	evs = f.flush(t, "rankmath", "LicenseResumed")
	requireLicenseEvent(t, evs[0], pro, "valid", 1, 0, exp2)
	requireActor(t, evs[0], "api_key", rmKeyID)
	requireReason(t, evs[0], "paid")

	// A product activates a site: the event names the canonical instance.
	const site = "flow-site.example.com"
	a1 := efActivate(t, e, p.LicenseKey.Key, "https://www.Flow-Site.example.com/", http.StatusCreated)
	require.Equal(t, site, a1.InstanceIdentifier)
	evs = f.flush(t, "rankmath", "LicenseActivated")
	requireLicenseEvent(t, evs[0], pro, "valid", 1, 1, exp2)
	requireSeatEvent(t, evs[0], a1.ActivationID, site, "active")
	requireActor(t, evs[0], "product", "")

	// The same site again (spelled otherwise) keeps its seat: no event; nor does a check.
	again := efActivate(t, e, p.LicenseKey.Key, "http://flow-site.example.com", http.StatusOK)
	require.Equal(t, a1.ActivationID, again.ActivationID)
	expectOK(t, e.do(t, paCheckCall(paSeat{LicenseKey: p.LicenseKey.Key, InstanceIdentifier: site, Product: "rankmath-pro"})), http.StatusOK, nil)
	f.none(t)

	// The product deactivates it.
	var deact paDeactivation
	expectOK(t, e.do(t, paDeactivateCall(t, paSeat{LicenseKey: p.LicenseKey.Key, InstanceIdentifier: site, InstanceType: "url", Product: "rankmath-pro"})), http.StatusOK, &deact)
	require.Equal(t, 0, deact.SeatsUsed)
	evs = f.flush(t, "rankmath", "SeatDeactivated")
	requireLicenseEvent(t, evs[0], pro, "valid", 1, 0, exp2)
	requireSeatEvent(t, evs[0], a1.ActivationID, site, "deactivated")
	requireActor(t, evs[0], "product", "")

	// Activated again, then the brand's support frees the seat.
	a2 := efActivate(t, e, p.LicenseKey.Key, site, http.StatusCreated)
	evs = f.flush(t, "rankmath", "LicenseActivated")
	requireLicenseEvent(t, evs[0], pro, "valid", 1, 1, exp2)
	requireSeatEvent(t, evs[0], a2.ActivationID, site, "active")
	requireActor(t, evs[0], "product", "")

	// No seat left for another site: refused, no event.
	expectError(t, e, paActivateCall(t, paSeat{LicenseKey: p.LicenseKey.Key, InstanceIdentifier: "other-site.example.com", Product: "rankmath-pro"}),
		http.StatusConflict, "no_seats_available")
	f.none(t)

	var freed licenseDetailJSON
	expectOK(t, e.do(t, call{method: http.MethodDelete, path: paFreeSeatPath(pro.licenseID, a2.ActivationID), apiKey: rmKey}), http.StatusOK, &freed)
	require.Equal(t, 0, freed.SeatsUsed)
	evs = f.flush(t, "rankmath", "SeatDeactivated")
	requireLicenseEvent(t, evs[0], pro, "valid", 1, 0, exp2)
	requireSeatEvent(t, evs[0], a2.ActivationID, site, "deactivated")
	requireActor(t, evs[0], "api_key", rmKeyID)

	// Cancel.
	efAction(t, e, rmKey, pro.licenseID, "cancel", map[string]string{"reason": "refund"})
	evs = f.flush(t, "rankmath", "LicenseCancelled")
	requireLicenseEvent(t, evs[0], pro, "cancelled", 1, 0, exp2)
	requireActor(t, evs[0], "api_key", rmKeyID)
	requireReason(t, evs[0], "refund")

	// Refused requests change nothing and publish nothing.
	post := func(path, apiKey, body string) call {
		return call{method: http.MethodPost, path: path, apiKey: apiKey, body: []byte(body)}
	}
	refused := []struct {
		name   string
		c      call
		status int
		code   string
	}{
		{"suspend a cancelled license", post(actionPath(pro.licenseID, "suspend"), rmKey, `{"reason":"x"}`), http.StatusConflict, "invalid_transition"},
		{"resume a cancelled license", post(actionPath(pro.licenseID, "resume"), rmKey, `{}`), http.StatusConflict, "invalid_transition"},
		{"cancel a cancelled license", post(actionPath(pro.licenseID, "cancel"), rmKey, `{}`), http.StatusConflict, "invalid_transition"},
		{"renew a cancelled license", post(actionPath(pro.licenseID, "renew"), rmKey, `{"expiration_date":"`+futureDate(90*24*time.Hour)+`"}`), http.StatusConflict, "invalid_transition"},
		{"renew to an earlier date", post(actionPath(cai.licenseID, "renew"), rmKey, `{"expiration_date":"`+futureDate(24*time.Hour)+`"}`), http.StatusBadRequest, "validation_error"},
		{"activate a cancelled license", paActivateCall(t, paSeat{LicenseKey: p.LicenseKey.Key, InstanceIdentifier: "third.example.com", Product: "rankmath-pro"}), http.StatusForbidden, "license_cancelled"},
		{"activate with a bad instance type", paActivateCall(t, paSeat{LicenseKey: p.LicenseKey.Key, InstanceIdentifier: "x.example.com", InstanceType: "bogus", Product: "content-ai"}), http.StatusBadRequest, "validation_error"},
		{"deactivate a site without a seat", paDeactivateCall(t, paSeat{LicenseKey: p.LicenseKey.Key, InstanceIdentifier: site, Product: "rankmath-pro"}), http.StatusNotFound, "activation_not_found"},
		{"free a freed seat", call{method: http.MethodDelete, path: paFreeSeatPath(pro.licenseID, a2.ActivationID), apiKey: rmKey}, http.StatusNotFound, "activation_not_found"},
		{"provision without products", post(pathProvision, rmKey, `{"customer_email":"x@example.com","products":[]}`), http.StatusBadRequest, "validation_error"},
		{"provision invalid JSON", post(pathProvision, rmKey, `{"customer_email":`), http.StatusBadRequest, "invalid_json"},
		{"another brand's license", post(actionPath(cai.licenseID, "suspend"), wprKey, `{}`), http.StatusNotFound, "license_not_found"},
		{"no API key", post(actionPath(cai.licenseID, "suspend"), "", `{}`), http.StatusUnauthorized, "unauthorized"},
	}
	for _, r := range refused {
		t.Log(r.name)
		expectError(t, e, r.c, r.status, r.code)
		f.none(t)
	}

	// API keys, by an operator: created, used (the events name it), revoked.
	plain, k, err := e.srv.Service.App.Ops().CreateAPIKey(ctx, "rankmath")
	require.NoError(t, err)
	f.secrets = append(f.secrets, plain)
	evs = f.flush(t, "rankmath", "ApiKeyCreated")
	require.Equal(t, k.ID, evs[0].d.APIKeyID)
	requireActor(t, evs[0], "cli", "")
	for _, key := range []string{"license_key_id", "license_id", "license", "customer_email", "activation_id"} {
		require.NotContains(t, evs[0].raw, key, "ApiKeyCreated: %s", evs[0].entry.Detail)
	}

	efAction(t, e, plain, cai.licenseID, "suspend", map[string]string{"reason": "new key"})
	evs = f.flush(t, "rankmath", "LicenseSuspended")
	requireLicenseEvent(t, evs[0], cai, "suspended", 1, 0, exp)
	requireActor(t, evs[0], "api_key", k.ID)

	require.NoError(t, e.srv.Service.App.Ops().RevokeAPIKey(ctx, "rankmath", k.ID))
	evs = f.flush(t, "rankmath", "ApiKeyRevoked")
	require.Equal(t, k.ID, evs[0].d.APIKeyID)
	requireActor(t, evs[0], "cli", "")
	require.NotContains(t, evs[0].raw, "license_id")

	expectError(t, e, post(actionPath(cai.licenseID, "resume"), plain, `{}`), http.StatusUnauthorized, "unauthorized")
	f.none(t)

	// Another brand's events carry its own brand; an idempotent replay publishes nothing.
	const wprEmail = "rocket.customer@example.com"
	f.emails = append(f.emails, wprEmail)
	wreq := provisionReq{CustomerEmail: wprEmail, Products: []string{"wp-rocket"}, IdempotencyKey: "flow-wpr-1"}
	wp := e.provision(t, wprKey, wreq)
	f.secrets = append(f.secrets, wp.LicenseKey.Key)
	evs = f.flush(t, "wp-rocket", "LicenseKeyCreated", "LicenseProvisioned")
	require.Equal(t, wp.LicenseKey.ID, evs[0].d.LicenseKeyID)
	require.Equal(t, wprEmail, evs[0].d.CustomerEmail)
	require.Equal(t, wp.Licenses[0].ID, evs[1].d.LicenseID)
	require.Equal(t, "wp-rocket", evs[1].d.Product)
	for _, ev := range evs {
		requireActor(t, ev, "api_key", wprKeyID)
	}
	replay := e.post(t, pathProvision, wprKey, wreq)
	expectOK(t, replay, http.StatusCreated, nil)
	require.Equal(t, "true", replay.header.Get("Idempotent-Replayed"))
	f.none(t)

	efMoveEDDReclaim(t, f, email, exp2)

	received, accepted := f.bus.Received(), f.bus.Delivered()
	require.Equal(t, len(received), len(accepted), "no call failed")
}

// efEDDAnswer is what TestEventFlow reads of an EDD answer.
type efEDDAnswer struct {
	Success   bool   `json:"success"`
	License   string `json:"license"`
	SiteCount int    `json:"site_count"`
	Error     string `json:"error"`
}

// efEDD posts an EDD request as WordPress' wp_remote_post does (a form) to
// the EDD-compatible route and requires a 200 EDD answer.
func efEDD(t *testing.T, e *env, action, key, site string) efEDDAnswer {
	t.Helper()
	// item_id: the product by its slug (item_name matching is a look-up of
	// its own, not what these events are about).
	form := url.Values{"edd_action": {action}, "license": {key}, "item_id": {"rankmath-pro"}, "url": {site}}
	r := e.do(t, call{method: http.MethodPost, path: "/api/v1/product/edd", body: []byte(form.Encode()),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	var a efEDDAnswer
	expectOK(t, r, http.StatusOK, &a)
	return a
}

// efMoveEDDReclaim is the end of TestEventFlow: a site move, the EDD
// endpoint's activation and deactivation, and the scheduled reclaim of a
// stale seat with the service's clock moved on, each with exactly its events.
func efMoveEDDReclaim(t *testing.T, f *efFlow, email string, exp time.Time) {
	t.Helper()
	e := f.e
	ctx := context.Background()
	m := e.provision(t, rmKey, provisionReq{CustomerEmail: email, Products: []string{"rankmath-pro"}, ExpirationDate: exp.Format(time.RFC3339), MaxSeats: ptr(2)})
	f.secrets = append(f.secrets, m.LicenseKey.Key)
	key, ids := m.LicenseKey.Key, efIDsOf(m, m.Licenses[0])
	f.flush(t, "rankmath", "LicenseKeyCreated", "LicenseProvisioned")

	from := efActivate(t, e, key, "https://from-site.example.com", http.StatusCreated)
	f.flush(t, "rankmath", "LicenseActivated")

	// A site move (the previous site spelled otherwise) keeps the seat: one
	// SiteMoved naming both activations and the site left.
	move := func(site, previous string, status int) paActivation {
		var a paActivation
		body := map[string]string{"license_key": key, "instance_identifier": site, "instance_type": "url",
			"product": "rankmath-pro", "previous_instance_identifier": previous}
		expectOK(t, e.post(t, paActivatePath, "", body), status, &a)
		return a
	}
	to := move("https://to-site.example.com/", "https://www.From-Site.example.com/", http.StatusCreated)
	require.Equal(t, "to-site.example.com", to.InstanceIdentifier)
	require.NotEqual(t, from.ActivationID, to.ActivationID)
	require.Equal(t, 1, to.SeatsUsed, "a move keeps the seat count")
	evs := f.flush(t, "rankmath", "SiteMoved")
	requireLicenseEvent(t, evs[0], ids, "valid", 2, 1, exp)
	requireSeatEvent(t, evs[0], to.ActivationID, "to-site.example.com", "active")
	requireActor(t, evs[0], "product", "")
	require.Equal(t, from.ActivationID, evs[0].raw["previous_activation_id"], "previous_activation_id of %s", evs[0].entry.Detail)
	require.Equal(t, map[string]any{"instance_identifier": "from-site.example.com", "instance_type": "url", "environment": "production", "status": "moved"},
		evs[0].raw["moved_from"], "moved_from of %s", evs[0].entry.Detail)

	// The same move again: to-site holds its seat and from-site none, so
	// nothing changes and nothing is published.
	again := move("to-site.example.com", "from-site.example.com", http.StatusOK)
	require.Equal(t, to.ActivationID, again.ActivationID)
	f.none(t)

	// The EDD endpoint runs the same use cases, with the same events.
	act := efEDD(t, e, "activate_license", strings.ToLower(key), "https://www.EDD-Site.example.com/")
	require.Equal(t, efEDDAnswer{Success: true, License: "valid", SiteCount: 2}, act)
	evs = f.flush(t, "rankmath", "LicenseActivated")
	requireLicenseEvent(t, evs[0], ids, "valid", 2, 2, exp)
	requireActor(t, evs[0], "product", "")
	eddSeat := evs[0].d.ActivationID
	require.NotEmpty(t, eddSeat)
	requireSeatEvent(t, evs[0], eddSeat, "edd-site.example.com", "active")

	// Activated again, refused for want of a seat, checked: nothing published.
	require.Equal(t, efEDDAnswer{Success: true, License: "valid", SiteCount: 2}, efEDD(t, e, "activate_license", key, "edd-site.example.com"))
	e.unchanged(t, func() {
		require.Equal(t, efEDDAnswer{Success: false, License: "invalid", SiteCount: 2, Error: "no_activations_left"},
			efEDD(t, e, "activate_license", key, "https://another-edd-site.example.com"))
	})
	require.Equal(t, efEDDAnswer{Success: true, License: "valid", SiteCount: 2}, efEDD(t, e, "check_license", key, "edd-site.example.com"))
	f.none(t)

	deact := efEDD(t, e, "deactivate_license", key, "http://edd-site.example.com")
	require.Equal(t, efEDDAnswer{Success: true, License: "deactivated", SiteCount: 1}, deact)
	evs = f.flush(t, "rankmath", "SeatDeactivated")
	requireLicenseEvent(t, evs[0], ids, "valid", 2, 1, exp)
	requireSeatEvent(t, evs[0], eddSeat, "edd-site.example.com", "deactivated")
	requireActor(t, evs[0], "product", "")
	e.unchanged(t, func() {
		require.Equal(t, efEDDAnswer{Success: false, License: "failed", SiteCount: 1, Error: "site_inactive"},
			efEDD(t, e, "deactivate_license", key, "edd-site.example.com"))
	})
	f.none(t)

	// 31 days on, to-site.example.com has not called in; the demo seat has
	// (a check refreshes its last_seen_at). With rankmath freeing seats
	// unseen for 30 days, the scheduled reclaim frees to-site's seat alone.
	f.clock.advance(31 * 24 * time.Hour)
	expectOK(t, e.do(t, paCheckCall(paSeat{LicenseKey: demo.RankMathKey, InstanceIdentifier: demo.DemoSite, Product: "rankmath-pro"})), http.StatusOK, nil)
	require.NoError(t, e.srv.Service.App.Ops().ConfigureBrand(ctx, "rankmath", licensing.BrandSettings{StaleAfterDays: 30}))
	f.none(t)
	reclaim := schedule.Reclaim(e.srv.Service.App, nil)
	res, err := reclaim(ctx, events.CloudWatchEvent{ID: "flow-reclaim"})
	require.NoError(t, err)
	require.Equal(t, 1, res.Seats, "%+v", res)
	evs = f.flush(t, "rankmath", "SeatReclaimed")
	requireLicenseEvent(t, evs[0], ids, "valid", 2, 0, exp)
	requireSeatEvent(t, evs[0], to.ActivationID, "to-site.example.com", "reclaimed")
	requireActor(t, evs[0], "system", "")
	at := mustParseTime(t, evs[0].d.OccurredAt)
	require.WithinDuration(t, time.Now().Add(31*24*time.Hour), at, time.Hour, "occurred_at is the service's clock")

	res, err = reclaim(ctx, events.CloudWatchEvent{ID: "flow-reclaim-2"})
	require.NoError(t, err)
	require.Zero(t, res.Seats, "nothing left to free")
	f.none(t)
	var lic licenseDetailJSON
	expectOK(t, e.get(t, licensePath(ids.licenseID), rmKey), http.StatusOK, &lic)
	require.Zero(t, lic.SeatsUsed)
	require.Empty(t, lic.Activations)
}

// efHistory is one page of GET /api/v1/brand/licenses/{id}/events.
type efHistory struct {
	LicenseID string `json:"license_id"`
	Events    []struct {
		EventID    string          `json:"event_id"`
		EventType  string          `json:"event_type"`
		OccurredAt string          `json:"occurred_at"`
		Detail     json.RawMessage `json:"detail"`
	} `json:"events"`
	NextCursor *string `json:"next_cursor"`
}

func efHistoryPath(id, query string) string {
	if query == "" {
		return licensePath(id) + "/events"
	}
	return licensePath(id) + "/events?" + query
}

// efReadHistory pages through a license's history limit events at a time.
func efReadHistory(t *testing.T, e *env, id string, limit int) []efEvent {
	t.Helper()
	var out []efEvent
	cursor := ""
	for page := 0; ; page++ {
		require.Less(t, page, 50, "the history does not end")
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var h efHistory
		m := expectOK(t, e.get(t, efHistoryPath(id, q.Encode()), rmKey), http.StatusOK, &h)
		requireFields(t, m, "license_id", "events", "next_cursor")
		require.Equal(t, id, h.LicenseID)
		require.LessOrEqual(t, len(h.Events), limit, "page %d", page)
		for _, it := range h.Events {
			ev := decodeEF(t, relaytest.Entry{Detail: string(it.Detail), DetailType: it.EventType})
			require.Equal(t, it.EventID, ev.d.EventID, "event_id and detail.event_id")
			require.Equal(t, it.EventType, ev.d.EventType, "event_type and detail.event_type")
			require.True(t, mustParseTime(t, ev.d.OccurredAt).Equal(mustParseTime(t, it.OccurredAt)), "occurred_at %s and detail.occurred_at %s", it.OccurredAt, ev.d.OccurredAt)
			out = append(out, ev)
		}
		if h.NextCursor == nil {
			return out
		}
		require.Len(t, h.Events, limit, "page %d is not full but has a next_cursor", page)
		require.NotEmpty(t, *h.NextCursor)
		cursor = *h.NextCursor
	}
}

// TestEventHistory: a license's history is its published events, newest
// first, a page at a time; it is tenant-scoped and refuses bad paging.
func TestEventHistory(t *testing.T) {
	t.Parallel()
	f := newEFFlow(t)
	e := f.e

	exp := mustParseTime(t, futureDate(30*24*time.Hour))
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: "history@example.com", Products: []string{"rankmath-pro", "content-ai"},
		ExpirationDate: exp.Format(time.RFC3339), MaxSeats: ptr(1)})
	pro, cai := p.Licenses[0], p.Licenses[1]
	require.Equal(t, "rankmath-pro", pro.ProductSlug)
	key := p.LicenseKey.Key
	seat := paSeat{LicenseKey: key, InstanceIdentifier: "history.example.com", InstanceType: "url", Product: "rankmath-pro"}

	efAction(t, e, rmKey, pro.ID, "renew", map[string]string{"expiration_date": futureDate(60 * 24 * time.Hour)})
	efAction(t, e, rmKey, pro.ID, "suspend", map[string]string{"reason": "payment failed"})
	efAction(t, e, rmKey, cai.ID, "suspend", map[string]string{"reason": "other license"})
	efAction(t, e, rmKey, pro.ID, "resume", map[string]string{"reason": "paid"})
	efActivate(t, e, key, seat.InstanceIdentifier, http.StatusCreated)
	efActivate(t, e, key, seat.InstanceIdentifier, http.StatusOK)
	expectOK(t, e.do(t, paDeactivateCall(t, seat)), http.StatusOK, nil)
	a := efActivate(t, e, key, seat.InstanceIdentifier, http.StatusCreated)
	expectOK(t, e.do(t, call{method: http.MethodDelete, path: paFreeSeatPath(pro.ID, a.ActivationID), apiKey: rmKey}), http.StatusOK, nil)
	efAction(t, e, rmKey, pro.ID, "renew", map[string]string{"expiration_date": futureDate(90 * 24 * time.Hour)})
	efAction(t, e, rmKey, pro.ID, "cancel", map[string]string{"reason": "refund"})
	expectError(t, e, call{method: http.MethodPost, path: actionPath(pro.ID, "suspend"), apiKey: rmKey, body: []byte(`{}`)}, http.StatusConflict, "invalid_transition")

	published := f.flush(t, "rankmath", "LicenseKeyCreated", "LicenseProvisioned", "LicenseProvisioned",
		"LicenseRenewed", "LicenseSuspended", "LicenseSuspended", "LicenseResumed",
		"LicenseActivated", "SeatDeactivated", "LicenseActivated", "SeatDeactivated",
		"LicenseRenewed", "LicenseCancelled")

	// The license's events as published, newest first.
	var want []efEvent
	for _, ev := range published {
		if ev.d.LicenseID == pro.ID {
			want = append([]efEvent{ev}, want...)
		}
	}
	wantTypes := []string{"LicenseCancelled", "LicenseRenewed", "SeatDeactivated", "LicenseActivated", "SeatDeactivated",
		"LicenseActivated", "LicenseResumed", "LicenseSuspended", "LicenseRenewed", "LicenseProvisioned"}
	same := func(t *testing.T, got []efEvent) {
		t.Helper()
		var types []string
		for _, ev := range got {
			types = append(types, ev.d.EventType)
		}
		require.Equal(t, wantTypes, types, "the license's history, newest first")
		require.Len(t, got, len(want))
		for i := range want {
			require.Equal(t, want[i].d.EventID, got[i].d.EventID, "event %d", i)
			require.JSONEq(t, want[i].entry.Detail, got[i].entry.Detail, "event %d: the history's detail and the published one", i)
		}
	}

	t.Run("pages of 3", func(t *testing.T) { same(t, efReadHistory(t, e, pro.ID, 3)) })
	t.Run("pages of 4", func(t *testing.T) { same(t, efReadHistory(t, e, pro.ID, 4)) })
	t.Run("one page", func(t *testing.T) { same(t, efReadHistory(t, e, pro.ID, 100)) })
	t.Run("default limit", func(t *testing.T) {
		var h efHistory
		expectOK(t, e.get(t, efHistoryPath(pro.ID, ""), rmKey), http.StatusOK, &h)
		require.Len(t, h.Events, len(want))
		require.Nil(t, h.NextCursor)
	})
	t.Run("another license", func(t *testing.T) {
		got := efReadHistory(t, e, cai.ID, 3)
		var types []string
		for _, ev := range got {
			types = append(types, ev.d.EventType)
			require.Equal(t, cai.ID, ev.d.LicenseID)
		}
		require.Equal(t, []string{"LicenseSuspended", "LicenseProvisioned"}, types)
	})

	t.Run("refused", func(t *testing.T) {
		get := func(id, query, apiKey string) call {
			return call{method: http.MethodGet, path: efHistoryPath(id, query), apiKey: apiKey}
		}
		expectError(t, e, get(pro.ID, "limit=3", wprKey), http.StatusNotFound, "license_not_found")
		expectError(t, e, get(pro.ID, "", ""), http.StatusUnauthorized, "unauthorized")
		expectError(t, e, get("lic_aaaaaaaaaaaaaaaaaaaa", "", rmKey), http.StatusNotFound, "license_not_found")
		for _, cursor := range []string{"not-a-cursor", "%%%", strings.Repeat("A", 600)} {
			t.Run("cursor "+cursor[:min(len(cursor), 12)], func(t *testing.T) {
				expectInvalid(t, e, get(pro.ID, "limit=3&cursor="+url.QueryEscape(cursor), rmKey), "cursor")
			})
		}
		for _, limit := range []string{"0", "101", "-1", "abc", "3.5"} {
			t.Run("limit="+limit, func(t *testing.T) {
				expectInvalid(t, e, get(pro.ID, "limit="+limit, rmKey), "limit")
			})
		}
	})
	f.none(t)
}

// TestEventFlowRetry: a PutEvents call that fails as a whole is made again
// by the relay in the same pass, after a backoff; with more than one call's
// worth, a failed second call holds up nothing; a consumer that drops
// duplicates by event_id sees every event exactly once, in order, and none
// arrives more than twice.
func TestEventFlowRetry(t *testing.T) {
	t.Parallel()
	f := newEFFlow(t)
	e, bus := f.e, f.bus

	// What the demo seed published is left out below.
	seedReceived, seedAccepted := bus.Received(), bus.Delivered()
	require.Equal(t, len(seedReceived), len(seedAccepted))
	seed := len(seedReceived)

	// The bus is down for the next call; the API works regardless (the outbox).
	before := bus.callCount()
	bus.failCall(before + 1)
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: "retry@example.com", Products: []string{"rankmath-pro", "content-ai"},
		ExpirationDate: futureDate(30 * 24 * time.Hour)})
	efAction(t, e, rmKey, p.Licenses[0].ID, "suspend", map[string]string{"reason": "during outage"})
	f.flush(t, "rankmath", "LicenseKeyCreated", "LicenseProvisioned", "LicenseProvisioned", "LicenseSuspended")
	require.Equal(t, before+2, bus.callCount(), "the failed call, then the same entries again")
	f.none(t)

	// More than one call's worth (PutEvents takes 10 entries): the second call fails.
	var keys []provisionedJSON
	for i := range 5 {
		keys = append(keys, e.provision(t, rmKey, provisionReq{CustomerEmail: fmt.Sprintf("bulk%d@example.com", i), Products: []string{"rankmath-pro", "content-ai"}}))
	}
	first := bus.callCount() + 1
	bus.failCall(first + 1)
	var wantTypes []string
	for range keys {
		wantTypes = append(wantTypes, "LicenseKeyCreated", "LicenseProvisioned", "LicenseProvisioned")
	}
	f.flush(t, "rankmath", wantTypes...)
	require.Equal(t, first+2, bus.callCount(), "two calls, and the failed one again")
	f.none(t)

	// What arrived, duplicates included, and what a de-duplicating consumer keeps.
	received, accepted := bus.Received(), bus.Delivered()
	received, accepted = received[seed:], accepted[seed:]
	var all, seen []string
	for _, en := range accepted {
		all = append(all, decodeEF(t, en).d.EventID)
	}
	consumed := map[string]int{}
	var consumedTypes []string
	for _, en := range received {
		ev := decodeEF(t, en)
		consumed[ev.d.EventID]++
		if consumed[ev.d.EventID] == 1 {
			seen = append(seen, ev.d.EventID)
			consumedTypes = append(consumedTypes, ev.d.EventType)
		}
	}
	require.Greater(t, len(received), len(seen), "the failed calls arrived as duplicates")
	require.Equal(t, all, seen, "every published event was accepted once, in order")
	require.Len(t, seen, 4+15)
	require.Equal(t, append([]string{"LicenseKeyCreated", "LicenseProvisioned", "LicenseProvisioned", "LicenseSuspended"}, wantTypes...), consumedTypes)
	require.Len(t, f.ids, len(seen), "every event was accepted exactly once")
	for id, n := range consumed {
		require.LessOrEqual(t, n, 2, "event %s arrived %d times", id, n)
	}
}
