package devserver_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/relay/relaytest"
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

// delivered is the entries the bus accepted of the test's events (not the
// demo data's), in order of acceptance.
func delivered(t *testing.T, bus *relaytest.Bus) []relaytest.Entry {
	var out []relaytest.Entry
	for _, e := range bus.Delivered() {
		if strings.HasPrefix(e.EventID(t), "evt_test_") {
			out = append(out, e)
		}
	}
	return out
}

func deliveredIDs(t *testing.T, bus *relaytest.Bus) []string {
	var ids []string
	for _, e := range delivered(t, bus) {
		ids = append(ids, e.EventID(t))
	}
	return ids
}

// deliveredCounts counts the deliveries of every event id, demo data's
// included.
func deliveredCounts(bus *relaytest.Bus) map[string]int {
	n := map[string]int{}
	for _, id := range bus.DeliveredIDs() {
		n[id]++
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
	bus := relaytest.NewBus(t, nil)
	srv := startEvents(t, devserver.Options{EventBridgeEndpoint: bus.URL, EventBusName: "test-bus"})
	evs := putThree(t, srv)

	require.NoError(t, srv.FlushEvents(context.Background()))
	got := delivered(t, bus)
	require.Equal(t, ids(evs), deliveredIDs(t, bus), "in time order")
	for i, e := range got {
		assert.Equal(t, "license-service", e.Source)
		assert.Equal(t, evs[i].typ, e.DetailType)
		assert.JSONEq(t, evs[i].detail(), e.Detail)
		assert.Equal(t, "test-bus", e.EventBusName)
		require.NotNil(t, e.Time)
		assert.InDelta(t, float64(evs[i].at.UnixNano())/1e9, *e.Time, 0.001)
	}
	for id, n := range deliveredCounts(bus) {
		assert.Equal(t, 1, n, "event %s", id)
	}

	calls := len(bus.Calls())
	require.NoError(t, srv.FlushEvents(context.Background()))
	assert.Len(t, bus.Calls(), calls, "nothing new, no call")
	assert.Len(t, delivered(t, bus), 3)

	// Only what was committed since is sent.
	later := testEvent{"evt_test_4", "LicenseCancelled", baseTime.Add(time.Hour), ""}
	putEvent(t, srv, later)
	require.NoError(t, srv.FlushEvents(context.Background()))
	assert.Len(t, bus.Calls(), calls+1)
	assert.Equal(t, append(ids(evs), later.id), deliveredIDs(t, bus))
}

func TestFlushEventsRetriesFailedCall(t *testing.T) {
	bus := relaytest.NewBus(t, func(call int, _ []relaytest.Entry) relaytest.Reply {
		if call == 0 {
			return relaytest.Reply{Status: http.StatusInternalServerError, ErrorType: "InternalException"}
		}
		return relaytest.Reply{}
	})
	srv := startEvents(t, devserver.Options{EventBridgeEndpoint: bus.URL})
	evs := putThree(t, srv)

	require.NoError(t, srv.FlushEvents(context.Background()), "the relay makes the failed call again, in the same pass")
	calls := bus.Calls()
	require.Len(t, calls, 3, "the SDK does not retry; the relay makes the failed call again after a backoff, then the next chunk")
	assert.Equal(t, len(calls[0]), len(calls[1]), "the same entries again")
	assert.Equal(t, ids(evs), deliveredIDs(t, bus))
	assert.Equal(t, "license-events", delivered(t, bus)[0].EventBusName)
	require.NoError(t, srv.FlushEvents(context.Background()))
	counts := deliveredCounts(bus)
	for id, n := range counts {
		assert.Equal(t, 1, n, "event %s delivered exactly once", id)
	}
	for _, e := range evs {
		assert.Equal(t, 1, counts[e.id])
	}
}

func TestFlushEventsSendsOnlyTheFailedEntryAgain(t *testing.T) {
	throttled := false
	bus := relaytest.NewBus(t, func(_ int, entries []relaytest.Entry) relaytest.Reply {
		errs := map[int]string{}
		for i, e := range entries {
			if e.EventID(t) == "evt_test_2" && !throttled {
				throttled = true
				errs[i] = "ThrottlingException"
			}
		}
		return relaytest.Reply{EntryErrors: errs}
	})
	srv := startEvents(t, devserver.Options{EventBridgeEndpoint: bus.URL})
	putThree(t, srv)

	// The failed entry alone is sent again, in the same pass: every event
	// is delivered once.
	require.NoError(t, srv.FlushEvents(context.Background()))
	assert.Equal(t, []string{"evt_test_1", "evt_test_3", "evt_test_2"}, deliveredIDs(t, bus))
	require.NoError(t, srv.FlushEvents(context.Background()))
	assert.Len(t, deliveredIDs(t, bus), 3)
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

// The relay of make run is fed by the engine's writes. Started on a table of
// 10,000 items and idle, it makes no call at all (the tailer scanned the
// table every 250 ms before); what was committed before it started is found
// once, by its one scan; a new event is relayed without another scan.
func TestLocalRelayIsFedByTheWrites(t *testing.T) {
	var log syncBuffer
	srv := startEvents(t, devserver.Options{EventLog: &log, EventPoll: 5 * time.Millisecond})
	require.NotNil(t, srv.Engine)
	ctx := context.Background()
	db := srv.Service.Store.Client()
	for i := 0; i < 10_000; i += 25 {
		var batch []types.WriteRequest
		for j := i; j < i+25; j++ {
			batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("FILL#%05d", j)}, "sk": &types.AttributeValueMemberS{Value: "x"},
				"type": &types.AttributeValueMemberS{Value: "filler"},
			}}})
		}
		_, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"licenses": batch}})
		require.NoError(t, err)
	}
	require.NoError(t, srv.FlushEvents(ctx)) // the one scan at start: the demo data's events
	seeded := strings.Count(log.String(), "\n")
	require.Positive(t, seeded)
	scans := srv.Engine.Calls("Scan")
	require.Positive(t, scans)

	idle := srv.Engine.Requests()
	time.Sleep(100 * time.Millisecond) // twenty poll intervals
	assert.Equal(t, idle, srv.Engine.Requests(), "an idle relay makes no call, with 10,000 items in the table")

	putEvent(t, srv, testEvent{"evt_test_fed", "LicenseSuspended", baseTime, ""})
	require.NoError(t, srv.FlushEvents(ctx))
	lines := printed(t, &log)
	require.Len(t, lines, 1, "the new event, relayed once")
	assert.Equal(t, seeded+1, strings.Count(log.String(), "\n"), "the seeded events were not relayed again")
	assert.Equal(t, scans, srv.Engine.Calls("Scan"), "no scan but the one at start")
}
