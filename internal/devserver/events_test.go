package devserver_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/devserver"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/service"
)

// startEvents runs the local service with the relay set up by o's event
// fields; it polls only when the test sets EventPoll.
func startEvents(t *testing.T, o devserver.Options) *devserver.Server {
	t.Helper()
	o.Template = dynamotest.TemplatePath(t)
	o.APIAddr, o.DynamoAddr = "127.0.0.1:0", "127.0.0.1:0"
	o.Config = service.Config{TableName: "licenses"}
	o.Seed = true
	if o.EventPoll == 0 {
		o.EventPoll = -1
	}
	srv, err := devserver.Start(context.Background(), o)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

// testEvent is an event item the test writes into the table itself.
type testEvent struct {
	id, typ string
	at      time.Time
	raw     string // the detail attribute, when not detail()
}

var baseTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// threeEvents are three events in time order.
func threeEvents() []testEvent {
	return []testEvent{
		{"evt_test_1", "LicenseProvisioned", baseTime, ""},
		{"evt_test_2", "LicenseSuspended", baseTime.Add(1500 * time.Millisecond), ""},
		{"evt_test_3", "LicenseResumed", baseTime.Add(2 * time.Second), ""},
	}
}

func (e testEvent) detail() string {
	return fmt.Sprintf(`{"event_id":%q,"type":%q,"brand":"acme","license_id":"lic_test"}`, e.id, e.typ)
}

// putEvent writes the event item as the store does, bypassing the service.
func putEvent(t *testing.T, srv *devserver.Server, e testEvent) {
	t.Helper()
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	_, err := srv.Service.Store.Client().PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String("licenses"),
		Item: map[string]types.AttributeValue{
			"pk":          s("BRAND#acme#LICEVT#lic_test"),
			"sk":          s("EVT#" + e.at.Format("2006-01-02T15:04:05.000000000Z") + "#" + e.id),
			"type":        s("event"),
			"event_id":    s(e.id),
			"event_type":  s(e.typ),
			"brand":       s("acme"),
			"occurred_at": s(e.at.Format(time.RFC3339Nano)),
			"detail":      s(cmp.Or(e.raw, e.detail())),
			"ttl":         &types.AttributeValueMemberN{Value: fmt.Sprint(e.at.Add(24 * time.Hour).Unix())},
		},
	})
	require.NoError(t, err)
}

// putThree writes the three events out of time order.
func putThree(t *testing.T, srv *devserver.Server) []testEvent {
	evs := threeEvents()
	for _, i := range []int{2, 0, 1} {
		putEvent(t, srv, evs[i])
	}
	return evs
}

// busEntry is a PutEvents request entry as it arrives on the wire.
type busEntry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Time         float64 // epoch seconds
}

func (e busEntry) eventID(t *testing.T) string {
	var d struct {
		EventID string `json:"event_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(e.Detail), &d))
	return d.EventID
}

// fakeBus is a loopback endpoint speaking EventBridge PutEvents (AWS JSON
// 1.1). fail decides, for each call (0-based), whether the whole call fails
// (InternalException) or which entries fail (ThrottlingException).
type fakeBus struct {
	t         *testing.T
	srv       *httptest.Server
	mu        sync.Mutex
	calls     int
	delivered []busEntry
	failCall  func(call int) bool
	failEntry func(call int, e busEntry) bool
}

func newFakeBus(t *testing.T) *fakeBus {
	b := &fakeBus{t: t}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *fakeBus) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
		b.t.Errorf("unexpected request %s %s, target %q", r.Method, r.URL, r.Header.Get("X-Amz-Target"))
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"UnknownOperationException","message":"no such operation"}`)
		return
	}
	var in struct{ Entries []busEntry }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		b.t.Errorf("bad request body: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	call := b.calls
	b.calls++
	if b.failCall != nil && b.failCall(call) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"__type":"InternalException","message":"injected failure"}`)
		return
	}
	type result struct {
		EventId   string `json:",omitempty"`
		ErrorCode string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{Entries: []result{}}
	for i, e := range in.Entries {
		if b.failEntry != nil && b.failEntry(call, e) {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: "ThrottlingException"})
			continue
		}
		b.delivered = append(b.delivered, e)
		out.Entries = append(out.Entries, result{EventId: fmt.Sprintf("eb-%d-%d", call, i)})
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (b *fakeBus) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// Delivered is the accepted entries of the test's events (not the demo
// data's), in order of acceptance.
func (b *fakeBus) Delivered() []busEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []busEntry
	for _, e := range b.delivered {
		if strings.HasPrefix(e.eventID(b.t), "evt_test_") {
			out = append(out, e)
		}
	}
	return out
}

func (b *fakeBus) DeliveredIDs() []string {
	var ids []string
	for _, e := range b.Delivered() {
		ids = append(ids, e.eventID(b.t))
	}
	return ids
}

// AllDeliveredCounts counts the deliveries of every event id, demo data's
// included.
func (b *fakeBus) AllDeliveredCounts() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := map[string]int{}
	for _, e := range b.delivered {
		n[e.eventID(b.t)]++
	}
	return n
}

func ids(evs []testEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.id)
	}
	return out
}

func TestFlushEventsToEventBridge(t *testing.T) {
	bus := newFakeBus(t)
	srv := startEvents(t, devserver.Options{EventBridgeEndpoint: bus.srv.URL, EventBusName: "test-bus"})
	evs := putThree(t, srv)

	require.NoError(t, srv.FlushEvents(context.Background()))
	got := bus.Delivered()
	require.Equal(t, ids(evs), bus.DeliveredIDs(), "in time order")
	for i, e := range got {
		assert.Equal(t, "license-service", e.Source)
		assert.Equal(t, evs[i].typ, e.DetailType)
		assert.JSONEq(t, evs[i].detail(), e.Detail)
		assert.Equal(t, "test-bus", e.EventBusName)
		assert.InDelta(t, float64(evs[i].at.UnixNano())/1e9, e.Time, 0.001)
	}
	for id, n := range bus.AllDeliveredCounts() {
		assert.Equal(t, 1, n, "event %s", id)
	}

	calls := bus.Calls()
	require.NoError(t, srv.FlushEvents(context.Background()))
	assert.Equal(t, calls, bus.Calls(), "nothing new, no call")
	assert.Len(t, bus.Delivered(), 3)

	// Only what was committed since is sent.
	later := testEvent{"evt_test_4", "LicenseCancelled", baseTime.Add(time.Hour), ""}
	putEvent(t, srv, later)
	require.NoError(t, srv.FlushEvents(context.Background()))
	assert.Equal(t, calls+1, bus.Calls())
	assert.Equal(t, append(ids(evs), later.id), bus.DeliveredIDs())
}

func TestFlushEventsRetriesFailedCall(t *testing.T) {
	bus := newFakeBus(t)
	bus.failCall = func(call int) bool { return call == 0 }
	srv := startEvents(t, devserver.Options{EventBridgeEndpoint: bus.srv.URL})
	evs := putThree(t, srv)

	err := srv.FlushEvents(context.Background())
	require.ErrorIs(t, err, devserver.ErrEventsPending)
	assert.Equal(t, 1, bus.Calls(), "the SDK does not retry; the next pass does")
	assert.Empty(t, bus.AllDeliveredCounts())

	require.NoError(t, srv.FlushEvents(context.Background()))
	assert.Equal(t, ids(evs), bus.DeliveredIDs())
	assert.Equal(t, "license-events", bus.Delivered()[0].EventBusName)
	require.NoError(t, srv.FlushEvents(context.Background()))
	counts := bus.AllDeliveredCounts()
	for id, n := range counts {
		assert.Equal(t, 1, n, "event %s delivered exactly once", id)
	}
	for _, e := range evs {
		assert.Equal(t, 1, counts[e.id])
	}
}

func TestFlushEventsRetriesFromFailedEntry(t *testing.T) {
	bus := newFakeBus(t)
	throttled := false
	bus.failEntry = func(_ int, e busEntry) bool {
		if e.eventID(t) == "evt_test_2" && !throttled {
			throttled = true
			return true
		}
		return false
	}
	srv := startEvents(t, devserver.Options{EventBridgeEndpoint: bus.srv.URL})
	putThree(t, srv)

	require.ErrorIs(t, srv.FlushEvents(context.Background()), devserver.ErrEventsPending)
	assert.Equal(t, []string{"evt_test_1", "evt_test_3"}, bus.DeliveredIDs())

	// The failed event and every one after it are handed over again (the
	// relay is at least once); the one before it is not.
	require.NoError(t, srv.FlushEvents(context.Background()))
	assert.Equal(t, []string{"evt_test_1", "evt_test_3", "evt_test_2", "evt_test_3"}, bus.DeliveredIDs())
	require.NoError(t, srv.FlushEvents(context.Background()))
	assert.Len(t, bus.DeliveredIDs(), 4)
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// printedLine is one line of the event log.
type printedLine struct {
	EventBus   string          `json:"event_bus"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail_type"`
	Time       string          `json:"time"`
	Detail     json.RawMessage `json:"detail"`
}

// printed reads the event log's lines of the test's events; every line of
// the log must be one JSON object.
func printed(t *testing.T, log *syncBuffer) []printedLine {
	t.Helper()
	var out []printedLine
	sc := bufio.NewScanner(strings.NewReader(log.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l printedLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "line %q", sc.Text())
		var d struct {
			EventID string `json:"event_id"`
		}
		require.NoError(t, json.Unmarshal(l.Detail, &d), "the detail is an object: %s", l.Detail)
		if strings.HasPrefix(d.EventID, "evt_test_") {
			out = append(out, l)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

func TestFlushEventsPrintsWithoutEndpoint(t *testing.T) {
	var log syncBuffer
	srv := startEvents(t, devserver.Options{EventLog: &log})
	evs := putThree(t, srv)

	require.NoError(t, srv.FlushEvents(context.Background()))
	lines := printed(t, &log)
	require.Len(t, lines, 3)
	for i, l := range lines {
		assert.Equal(t, "license-events", l.EventBus)
		assert.Equal(t, "license-service", l.Source)
		assert.Equal(t, evs[i].typ, l.DetailType)
		assert.Equal(t, evs[i].at.Format(time.RFC3339Nano), l.Time)
		assert.JSONEq(t, evs[i].detail(), string(l.Detail))
	}

	before := log.String()
	require.NoError(t, srv.FlushEvents(context.Background()))
	assert.Equal(t, before, log.String(), "nothing new, nothing printed")
}

func TestFlushEventsDeadLettersMalformedItem(t *testing.T) {
	var log syncBuffer
	srv := startEvents(t, devserver.Options{EventLog: &log})
	putEvent(t, srv, testEvent{"evt_test_bad", "LicenseSuspended", baseTime, "not json"})
	good := testEvent{"evt_test_good", "LicenseResumed", baseTime.Add(time.Second), ""}
	putEvent(t, srv, good)

	// The relay dead-letters (logs) the malformed item and goes on; it is
	// not handed over again.
	require.NoError(t, srv.FlushEvents(context.Background()))
	require.NoError(t, srv.FlushEvents(context.Background()))
	lines := printed(t, &log)
	require.Len(t, lines, 1)
	assert.JSONEq(t, good.detail(), string(lines[0].Detail))
}

func TestBackgroundPollerPrintsEvents(t *testing.T) {
	var log syncBuffer
	srv := startEvents(t, devserver.Options{EventLog: &log, EventPoll: 20 * time.Millisecond})
	e := threeEvents()[0]
	putEvent(t, srv, e)

	// A liveness check, not a speed assertion.
	deadline := time.Now().Add(5 * time.Second)
	for len(printed(t, &log)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.Len(t, printed(t, &log), 1, "the poller printed the event")

	// FlushEvents takes turns with the poller: the event is not printed twice.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { assert.NoError(t, srv.FlushEvents(context.Background())) })
	}
	wg.Wait()
	lines := printed(t, &log)
	require.Len(t, lines, 1)
	assert.JSONEq(t, e.detail(), string(lines[0].Detail))
}
