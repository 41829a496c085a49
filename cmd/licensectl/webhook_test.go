package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/webhook"
)

var (
	secretRegexp    = regexp.MustCompile(`whsec_[A-Za-z0-9+/]{43}=`)
	webhookIDRegexp = regexp.MustCompile(`wh_[a-z2-7]{20}`)
)

// receiver is a webhook receiver on 127.0.0.1 that answers with status and
// records what it got.
type receiver struct {
	*httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	got    []received
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, status int) *receiver {
	t.Helper()
	r := &receiver{}
	r.status.Store(int32(status))
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		r.mu.Unlock()
		w.WriteHeader(int(r.status.Load()))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// newWebhookFixture is the engine with brands acme and other.
func newWebhookFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	f.ok("brand", "create", "--slug", "other", "--name", "Other", "--prefix", "OT")
	return f
}

func TestWebhookCommandsText(t *testing.T) {
	t.Parallel()
	f := newWebhookFixture(t)
	rcv := newReceiver(t, http.StatusOK)
	assert.Equal(t, "Brand acme has no webhook endpoints.\n", f.ok("webhook", "list", "--brand", "acme"))

	out := f.ok("webhook", "create", "--brand", "acme", "--url", rcv.URL+"/hooks", "--events", "LicenseActivated, LicenseRenewed")
	assert.True(t, strings.HasPrefix(out, "Created webhook endpoint wh_"), out)
	secret := secretRegexp.FindString(out)
	require.NotEmpty(t, secret, out)
	assert.Equal(t, 1, strings.Count(out, "whsec_"), out)
	assert.Contains(t, out, "\n    "+secret+"\n")
	assert.Contains(t, out, "it is shown only once")
	got := fieldsOf(out)
	id := got["id"]
	assert.Regexp(t, `^`+webhookIDRegexp.String()+`$`, id)
	assert.Equal(t, "acme", got["brand"])
	assert.Equal(t, rcv.URL+"/hooks", got["url"])
	assert.Equal(t, "LicenseActivated,LicenseRenewed", got["events"])
	assert.Equal(t, "enabled", got["status"])
	assert.Regexp(t, stampPattern, got["created_at"])

	// Without --events, or with "*": every event type.
	all := fieldsOf(f.ok("webhook", "create", "--brand", "acme", "--url", rcv.URL+"/all"))
	assert.Equal(t, "*", all["events"])
	star := fieldsOf(f.ok("webhook", "create", "--brand", "acme", "--url", rcv.URL+"/star", "--events", "*"))
	assert.Equal(t, "*", star["events"])

	out = f.ok("webhook", "list", "--brand", "acme")
	assert.NotContains(t, out, "whsec_", "list never shows a secret")
	r := rows(out)
	require.Len(t, r, 4, out)
	assert.Equal(t, []string{"ID", "STATUS", "EVENTS", "URL", "FAILING_SINCE", "DISABLED_REASON"}, r[0])
	assert.Equal(t, []string{id, "enabled", "LicenseActivated,LicenseRenewed", rcv.URL + "/hooks", "-", "-"}, r[1], "oldest first")
	assert.Equal(t, []string{all["id"], "enabled", "*", rcv.URL + "/all", "-", "-"}, r[2])
	assert.Equal(t, star["id"], r[3][0])

	before := time.Now().UTC()
	out = f.ok("webhook", "rotate-secret", "--brand", "acme", id)
	assert.True(t, strings.HasPrefix(out, "Rotated the signing secret of webhook endpoint "+id+" of brand acme.\n"), out)
	rotated := secretRegexp.FindString(out)
	require.NotEmpty(t, rotated, out)
	assert.NotEqual(t, secret, rotated)
	assert.NotContains(t, out, secret, "the previous secret is not shown again")
	got = fieldsOf(out)
	until, err := time.Parse(time.RFC3339, got["previous_secret_expires_at"])
	require.NoError(t, err, out)
	assert.WithinDuration(t, before.Add(licensing.SecretOverlap), until, time.Minute)
	assert.Contains(t, out, "The previous secret also signs deliveries until "+got["previous_secret_expires_at"])
	assert.Contains(t, out, "it is shown only once")
	assert.NotContains(t, f.ok("webhook", "list", "--brand", "acme"), "whsec_")

	assert.Equal(t, "Webhook endpoint "+id+" of brand acme has no deliveries (they are kept 30 days).\n",
		f.ok("webhook", "deliveries", "--brand", "acme", id))

	// Flags may follow the arguments.
	out = f.ok("webhook", "delete", all["id"], "--brand", "acme")
	assert.Equal(t, "Deleted webhook endpoint "+all["id"]+" ("+rcv.URL+"/all) of brand acme: it receives no more deliveries.\n", out)
	f.ok("webhook", "delete", "--brand", "acme", star["id"])
	f.ok("webhook", "delete", "--brand", "acme", id)
	assert.Equal(t, "Brand acme has no webhook endpoints.\n", f.ok("webhook", "list", "--brand", "acme"))
	f.fails(licensing.CodeWebhookNotFound, "no such webhook endpoint", "webhook", "delete", "--brand", "acme", id)
	f.fails(licensing.CodeWebhookNotFound, "no such webhook endpoint", "webhook", "rotate-secret", "--brand", "acme", id)
	f.fails(licensing.CodeWebhookNotFound, "no such webhook endpoint", "webhook", "deliveries", "--brand", "acme", id)
	assert.Empty(t, rcv.requests(), "nothing was delivered")
}

func TestWebhookCommandsJSON(t *testing.T) {
	t.Parallel()
	f := newWebhookFixture(t)
	rcv := newReceiver(t, http.StatusOK)

	var created webhookView
	f.okJSON(&created, "webhook", "create", "--brand", "acme", "--url", rcv.URL, "--events", "LicenseActivated")
	assert.Regexp(t, `^`+webhookIDRegexp.String()+`$`, created.ID)
	assert.Regexp(t, `^`+secretRegexp.String()+`$`, created.Secret)
	assert.Equal(t, webhookView{ID: created.ID, Brand: "acme", URL: rcv.URL, EventTypes: []string{"LicenseActivated"}, Status: "enabled",
		CreatedAt: created.CreatedAt, Secret: created.Secret}, created)
	assert.Regexp(t, stampPattern, created.CreatedAt)

	out := f.ok("--json", "webhook", "list", "--brand", "acme")
	assert.NotContains(t, out, created.Secret)
	assert.NotContains(t, out, `"secret"`)
	var l webhookList
	f.okJSON(&l, "webhook", "list", "--brand", "acme")
	created.Secret = ""
	assert.Equal(t, webhookList{Brand: "acme", Webhooks: []webhookView{created}}, l)

	var rotated webhookView
	f.okJSON(&rotated, "webhook", "rotate-secret", "--brand", "acme", created.ID)
	assert.Regexp(t, `^`+secretRegexp.String()+`$`, rotated.Secret)
	assert.NotEqual(t, created.Secret, rotated.Secret)
	assert.Regexp(t, stampPattern, rotated.PreviousSecretUntil)
	f.okJSON(&l, "webhook", "list", "--brand", "acme")
	require.Len(t, l.Webhooks, 1)
	assert.Empty(t, l.Webhooks[0].Secret)
	assert.Equal(t, rotated.PreviousSecretUntil, l.Webhooks[0].PreviousSecretUntil)

	var ds deliveryList
	f.okJSON(&ds, "webhook", "deliveries", "--brand", "acme", created.ID, "--limit", "5")
	assert.Equal(t, deliveryList{Brand: "acme", WebhookID: created.ID, Deliveries: []deliveryView{}}, ds)
	assert.Contains(t, f.ok("--json", "webhook", "deliveries", "--brand", "acme", created.ID), `"deliveries": []`)

	var del webhookDeleted
	f.okJSON(&del, "webhook", "delete", "--brand", "acme", created.ID)
	assert.Equal(t, webhookDeleted{ID: created.ID, Brand: "acme", URL: rcv.URL, Deleted: true}, del)
	f.okJSON(&l, "webhook", "list", "--brand", "acme")
	assert.Equal(t, webhookList{Brand: "acme", Webhooks: []webhookView{}}, l)
}

func TestWebhookErrors(t *testing.T) {
	t.Parallel()
	f := newWebhookFixture(t)
	rcv := newReceiver(t, http.StatusOK)

	f.fails(licensing.CodeValidation, `event_types: "Nope" is not an event type (see docs/events.md)`,
		"webhook", "create", "--brand", "acme", "--url", rcv.URL, "--events", "LicenseActivated,Nope")
	f.fails(licensing.CodeValidation, `event_types: "*" stands alone`,
		"webhook", "create", "--brand", "acme", "--url", rcv.URL, "--events", "*,LicenseActivated")
	f.fails(licensing.CodeValidation, "url: webhook endpoint refused: 10.0.0.1 is not a public address",
		"webhook", "create", "--brand", "acme", "--url", "https://10.0.0.1/hooks")
	f.fails(licensing.CodeValidation, "url: webhook endpoint refused: the scheme must be https",
		"webhook", "create", "--brand", "acme", "--url", "http://192.0.2.1/hooks")
	f.fails(licensing.CodeBrandNotFound, `no brand "ghost"`, "webhook", "list", "--brand", "ghost")
	assert.Equal(t, "Brand acme has no webhook endpoints.\n", f.ok("webhook", "list", "--brand", "acme"), "nothing was created")

	unknown := licensing.NewID(licensing.KindWebhook)
	f.fails(licensing.CodeWebhookNotFound, "no such webhook endpoint", "webhook", "delete", "--brand", "acme", unknown)
	f.fails(licensing.CodeWebhookNotFound, "no such webhook endpoint", "webhook", "delete", "--brand", "acme", "wh_nope")
	f.fails(licensing.CodeWebhookNotFound, "no such webhook endpoint", "webhook", "rotate-secret", "--brand", "acme", unknown)

	id := fieldsOf(f.ok("webhook", "create", "--brand", "acme", "--url", rcv.URL))["id"]
	f.fails(licensing.CodeValidation, "limit: must be a whole number between 1 and 100", "webhook", "deliveries", "--brand", "acme", "--limit", "0", id)
	f.fails(licensing.CodeValidation, "limit: must be a whole number between 1 and 100", "webhook", "deliveries", "--brand", "acme", "--limit", "101", id)
	f.fails(licensing.CodeValidation, "cursor: is not a cursor this API returned", "webhook", "deliveries", "--brand", "acme", "--cursor", "bogus", id)

	// Another brand sees none of acme's endpoints: not found, exactly as an unknown one.
	assert.Equal(t, "Brand other has no webhook endpoints.\n", f.ok("webhook", "list", "--brand", "other"))
	msg := "no such webhook endpoint"
	f.fails(licensing.CodeWebhookNotFound, msg, "webhook", "delete", "--brand", "other", id)
	f.fails(licensing.CodeWebhookNotFound, msg, "webhook", "rotate-secret", "--brand", "other", id)
	f.fails(licensing.CodeWebhookNotFound, msg, "webhook", "deliveries", "--brand", "other", id)
	f.fails(licensing.CodeWebhookNotFound, msg, "webhook", "retry", "--brand", "other", id, licensing.DeliveryID(time.Now(), licensing.NewID(licensing.KindEvent)))
	var l webhookList
	f.okJSON(&l, "webhook", "list", "--brand", "acme")
	require.Len(t, l.Webhooks, 1, "acme's endpoint is still there")
	assert.Equal(t, id, l.Webhooks[0].ID)
}

// A delivery that failed (the receiver answered 500) is listed, and
// webhook retry sends it again, with the same webhook-id, once the receiver
// answers 200.
func TestWebhookDeliveriesAndRetry(t *testing.T) {
	t.Parallel()
	f := newWebhookFixture(t)
	ctx := t.Context()
	rcv := newReceiver(t, http.StatusInternalServerError)
	out := f.ok("webhook", "create", "--brand", "acme", "--url", rcv.URL, "--events", "LicenseActivated")
	id, secret := fieldsOf(out)["id"], secretRegexp.FindString(out)
	require.NotEmpty(t, secret, out)

	a := app.New(f.eng.Store, nil)
	a.UseWebhooks(webhook.NewSender(true))
	deliver := func(typ licensing.EventType, at time.Time) (licensing.Event, []byte, app.DeliveryReport) {
		t.Helper()
		ev := licensing.Event{ID: licensing.NewID(licensing.KindEvent), Version: licensing.EventVersion, Type: typ, Brand: "acme", OccurredAt: at.UTC()}
		body, err := json.Marshal(ev)
		require.NoError(t, err)
		rep, err := a.DeliverEvent(ctx, body, false)
		require.NoError(t, err)
		rep.Brand, rep.EventID, rep.EventType = "", "", "" // the counts alone
		return ev, body, rep
	}
	// After the endpoint's creation: it gets no event from before.
	first := time.Now().Add(time.Minute).Truncate(time.Second)
	ev, body, rep := deliver(licensing.EventLicenseActivated, first)
	assert.Equal(t, app.DeliveryReport{Failed: 1, Pending: 1}, rep)
	_, _, rep = deliver(licensing.EventLicenseRenewed, first)
	assert.Equal(t, app.DeliveryReport{}, rep, "not subscribed")
	require.Len(t, rcv.requests(), 1)
	dlv := licensing.DeliveryID(ev.OccurredAt, ev.ID)

	r := rows(f.ok("webhook", "deliveries", "--brand", "acme", id))
	require.Len(t, r, 2)
	assert.Equal(t, []string{"ID", "EVENT_TYPE", "STATUS", "CODE", "LATENCY_MS", "ATTEMPTS", "OCCURRED_AT", "ERROR"}, r[0])
	require.Len(t, r[1], 8, r[1])
	assert.Equal(t, []string{dlv, "LicenseActivated", "pending", "500"}, r[1][:4])
	_, err := strconv.Atoi(r[1][4])
	assert.NoError(t, err, "latency in ms: %s", r[1][4])
	assert.Equal(t, []string{"1", stamp(first), "-"}, r[1][5:])
	r = rows(f.ok("webhook", "list", "--brand", "acme"))
	require.Len(t, r, 2)
	assert.Regexp(t, stampPattern, r[1][4], "failing since the 500")

	rcv.status.Store(http.StatusOK)
	out = f.ok("webhook", "retry", "--brand", "acme", id, dlv)
	assert.Regexp(t, `^Sent delivery `+dlv+` to webhook endpoint `+id+` of brand acme again: delivered \(answered 200 in \d+ ms\)\.\n`, out)
	got := fieldsOf(out)
	assert.Equal(t, "delivered", got["status"])
	assert.Equal(t, "200", got["status_code"])
	assert.Regexp(t, `^\d+$`, got["latency_ms"])
	assert.Equal(t, "2", got["attempts"])
	assert.Equal(t, ev.ID, got["event_id"])

	reqs := rcv.requests()
	require.Len(t, reqs, 2)
	for _, req := range reqs {
		assert.Equal(t, ev.ID, req.header.Get("webhook-id"), "one message id across attempts")
		assert.Equal(t, body, req.body)
		assert.NoError(t, webhook.Verify(secret, req.header, req.body, time.Now(), webhook.DefaultTolerance), "signed with the secret create printed")
	}
	r = rows(f.ok("webhook", "list", "--brand", "acme"))
	assert.Equal(t, "-", r[1][4], "no longer failing")

	var retried deliveryRetried
	f.okJSON(&retried, "webhook", "retry", "--brand", "acme", id, dlv)
	d := retried.Delivery
	assert.Equal(t, "delivered", d.Status)
	assert.Equal(t, 3, d.AttemptsCount)
	require.Len(t, d.Attempts, 3)
	assert.Equal(t, []int{500, 200, 200}, []int{d.Attempts[0].StatusCode, d.Attempts[1].StatusCode, d.Attempts[2].StatusCode})
	assert.Equal(t, []bool{false, true, true}, []bool{d.Attempts[0].Manual, d.Attempts[1].Manual, d.Attempts[2].Manual})
	assert.Equal(t, 200, d.StatusCode)
	require.NotNil(t, d.LatencyMS)

	f.fails(licensing.CodeDeliveryNotFound, "no such delivery of this webhook endpoint", "webhook", "retry", "--brand", "acme", id, "dlv_nope")

	// Pages: newest event first, then the cursor printed.
	second, _, rep := deliver(licensing.EventLicenseActivated, first.Add(time.Second))
	assert.Equal(t, app.DeliveryReport{Delivered: 1}, rep)
	out = f.ok("webhook", "deliveries", "--brand", "acme", "--limit", "1", id)
	r = rows(out)
	require.GreaterOrEqual(t, len(r), 4, out)
	assert.Equal(t, licensing.DeliveryID(second.OccurredAt, second.ID), r[1][0])
	m := regexp.MustCompile(`\nNext page: licensectl webhook deliveries --brand acme --cursor (\S+) ` + id + `\n$`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	r = rows(f.ok("webhook", "deliveries", "--brand", "acme", "--limit", "1", "--cursor", m[1], id))
	assert.Equal(t, dlv, r[1][0])
}

func TestWebhookUsage(t *testing.T) {
	t.Parallel()
	global := []string{"--endpoint", "http://127.0.0.1:1"}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"webhook"}, "webhook: missing subcommand (create, list, delete, rotate-secret, deliveries, retry)"},
		{[]string{"webhook", "rotate"}, `webhook: unknown subcommand "rotate" (create, list, delete, rotate-secret, deliveries, retry)`},
		{[]string{"webhook", "create", "--brand", "acme"}, "webhook create: missing required flag(s) --url"},
		{[]string{"webhook", "delete", "--brand", "acme"}, "webhook delete: missing argument(s) WEBHOOK_ID"},
		{[]string{"webhook", "delete", "--brand", "acme", " "}, "webhook delete: missing argument(s) WEBHOOK_ID"},
		{[]string{"webhook", "delete", "wh_x"}, "webhook delete: missing required flag(s) --brand"},
		{[]string{"webhook", "retry", "--brand", "acme"}, "webhook retry: missing argument(s) WEBHOOK_ID DELIVERY_ID"},
		{[]string{"webhook", "retry", "--brand", "acme", "wh_x"}, "webhook retry: missing argument(s) DELIVERY_ID"},
		{[]string{"webhook", "delete", "--brand", "acme", "wh_x", "wh_y"}, `webhook delete: unexpected argument "wh_y"`},
		{[]string{"webhook", "delete", "wh_x", "--brand", "acme", "--", "--json"}, `webhook delete: unexpected argument "--json"`},
		{[]string{"webhook", "list", "--brand", "acme", "extra"}, `webhook list: unexpected argument "extra"`},
		{[]string{"webhook", "deliveries", "--brand", "acme", "wh_x", "--verbose"}, "flag provided but not defined: -verbose"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o := cli(t, nil, append(global, tc.args...)...)
			assert.Equal(t, 2, o.code)
			assert.Empty(t, o.stdout)
			assert.True(t, strings.HasPrefix(o.stderr, "licensectl: "+tc.msg+"\n"), o.stderr)
			assert.Contains(t, o.stderr, "licensectl help")
		})
	}

	o := cli(t, nil, "help")
	for _, want := range []string{
		"  webhook create --brand SLUG --url URL [--events TYPE,TYPE]\n",
		"  webhook delete --brand SLUG WEBHOOK_ID\n",
		"  webhook deliveries --brand SLUG [--limit N] [--cursor CURSOR] WEBHOOK_ID\n",
		"  webhook retry --brand SLUG WEBHOOK_ID DELIVERY_ID\n",
		"        WEBHOOK_ID  ",
		"        DELIVERY_ID  ",
	} {
		assert.Contains(t, o.stdout, want)
	}
}
