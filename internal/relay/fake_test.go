package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/stretchr/testify/require"
)

const testBus = "license-events"

// wireEntry is a PutEvents request entry as it arrives on the wire.
type wireEntry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Time         float64 // epoch seconds
}

// eventID is the event_id of the entry's detail.
func (e wireEntry) eventID(t *testing.T) string {
	var d struct {
		EventID string `json:"event_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(e.Detail), &d))
	return d.EventID
}

// reply is how the fake bus answers a call: an error of the whole call
// (status and __type), or per-entry error codes by index.
type reply struct {
	status    int
	errorType string
	entryErrs map[int]string
}

// fakeBus is a local endpoint speaking the PutEvents API. It keeps every call
// and the entries it accepted, in order.
type fakeBus struct {
	t         *testing.T
	srv       *httptest.Server
	mu        sync.Mutex
	calls     [][]wireEntry
	delivered []wireEntry
	// answer decides the reply to a call (0-based); nil accepts everything.
	answer func(call int, entries []wireEntry) reply
}

func newFakeBus(t *testing.T, answer func(call int, entries []wireEntry) reply) *fakeBus {
	t.Helper()
	b := &fakeBus{t: t, answer: answer}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *fakeBus) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(status int, typ, msg string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" ||
		r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		b.t.Errorf("unexpected request %s %s, target %q", r.Method, r.URL, r.Header.Get("X-Amz-Target"))
		fail(http.StatusBadRequest, "UnknownOperationException", "no such operation")
		return
	}
	var in struct{ Entries []wireEntry }
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		b.t.Errorf("bad request body: %v", err)
		fail(http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	call := len(b.calls)
	b.calls = append(b.calls, in.Entries)
	var rep reply
	if b.answer != nil {
		rep = b.answer(call, in.Entries)
	}
	if rep.status != 0 {
		fail(rep.status, rep.errorType, "injected failure")
		return
	}
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{Entries: []result{}}
	for i, e := range in.Entries {
		if code := rep.entryErrs[i]; code != "" {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: code, ErrorMessage: "injected " + code})
			continue
		}
		b.delivered = append(b.delivered, e)
		out.Entries = append(out.Entries, result{EventId: fmt.Sprintf("eb-%d-%d", call, i)})
	}
	_ = json.NewEncoder(w).Encode(out)
}

// Calls is every call's entries so far.
func (b *fakeBus) Calls() [][]wireEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]wireEntry(nil), b.calls...)
}

// Delivered is every accepted entry so far, in order of acceptance.
func (b *fakeBus) Delivered() []wireEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]wireEntry(nil), b.delivered...)
}

// DeliveredIDs is the event ids of the accepted entries, duplicates and all.
func (b *fakeBus) DeliveredIDs() []string {
	var ids []string
	for _, e := range b.Delivered() {
		ids = append(ids, e.eventID(b.t))
	}
	return ids
}

// Consumed is what a consumer that drops repeated event ids sees: each
// event once, in order of first delivery.
func (b *fakeBus) Consumed() []string {
	seen := map[string]bool{}
	var ids []string
	for _, id := range b.DeliveredIDs() {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// Client is the real EventBridge client aimed at the fake, without retries.
func (b *fakeBus) Client() *eventbridge.Client {
	return eventbridge.New(eventbridge.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(b.srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
}

// recordingDeadLetter keeps what is sent to it; fail, when set, makes Send
// fail (and keep nothing) for the event ids it holds.
type recordingDeadLetter struct {
	mu   sync.Mutex
	sent []deadLetter
	fail map[string]bool
}

type deadLetter struct {
	ev     Event
	reason string
}

func (d *recordingDeadLetter) Send(_ context.Context, ev Event, reason string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail[ev.ID] {
		return fmt.Errorf("dead letter queue unavailable")
	}
	d.sent = append(d.sent, deadLetter{ev, reason})
	return nil
}

func (d *recordingDeadLetter) Sent() []deadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]deadLetter(nil), d.sent...)
}

func (d *recordingDeadLetter) setFail(ids ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = map[string]bool{}
	for _, id := range ids {
		d.fail[id] = true
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Lines is the logged JSON lines.
func (s *syncBuffer) Lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines = append(lines, m)
	}
	return lines
}

func newLog() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

var baseTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func eventID(i int) string { return fmt.Sprintf("evt_%03d", i) }

func seqOf(i int) string { return fmt.Sprintf("%021d", 1000+i) }

// eventItem is the event item the store would write for the i-th event,
// with a detail padded by pad bytes.
func eventItem(i, pad int) map[string]types.AttributeValue {
	at := baseTime.Add(time.Duration(i) * time.Millisecond)
	detail, _ := json.Marshal(map[string]any{
		"event_id": eventID(i), "license_id": fmt.Sprintf("lic_%03d", i), "brand": "acme",
		"occurred_at": at.Format(time.RFC3339Nano), "pad": strings.Repeat("x", pad),
	})
	return map[string]types.AttributeValue{
		"pk":          &types.AttributeValueMemberS{Value: "BRAND#acme#LIC#lic_" + fmt.Sprint(i)},
		"sk":          &types.AttributeValueMemberS{Value: "EVT#" + at.Format(time.RFC3339Nano) + "#" + eventID(i)},
		"type":        &types.AttributeValueMemberS{Value: "event"},
		"event_id":    &types.AttributeValueMemberS{Value: eventID(i)},
		"event_type":  &types.AttributeValueMemberS{Value: []string{"LicenseProvisioned", "LicenseActivated", "SeatFreed"}[i%3]},
		"brand":       &types.AttributeValueMemberS{Value: "acme"},
		"occurred_at": &types.AttributeValueMemberS{Value: at.Format(time.RFC3339Nano)},
		"detail":      &types.AttributeValueMemberS{Value: string(detail)},
		"ttl":         &types.AttributeValueMemberN{Value: fmt.Sprint(at.Add(30 * 24 * time.Hour).Unix())},
	}
}

// eventRecords is the stream records of events 0..n-1.
func eventRecords(n, pad int) []events.DynamoDBEventRecord {
	recs := make([]events.DynamoDBEventRecord, n)
	for i := range recs {
		recs[i] = StreamRecordFromItem(eventItem(i, pad), seqOf(i))
	}
	return recs
}

func ids(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, eventID(i))
	}
	return s
}

// deliverAll plays Lambda with ReportBatchItemFailures: it hands the batch
// to Handle, and again from the reported record on, until nothing fails. It
// answers the number of invocations.
func deliverAll(t *testing.T, p *Publisher, recs []events.DynamoDBEventRecord) int {
	t.Helper()
	batch := recs
	for n := 1; n <= 50; n++ {
		resp, err := p.Handle(context.Background(), events.DynamoDBEvent{Records: batch})
		require.NoError(t, err)
		if len(resp.BatchItemFailures) == 0 {
			return n
		}
		require.Len(t, resp.BatchItemFailures, 1, "only the earliest failed record is reported")
		from := -1
		for i, r := range batch {
			if r.Change.SequenceNumber == resp.BatchItemFailures[0].ItemIdentifier {
				from = i
			}
		}
		require.GreaterOrEqual(t, from, 0, "failure %q is a record of the batch", resp.BatchItemFailures[0].ItemIdentifier)
		batch = batch[from:]
	}
	t.Fatal("the batch never went through")
	return 0
}
