package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/outbox"
)

const testBus = "license-events"

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
	item, err := attributevalue.MarshalMap(outbox.NewItem("acme", fmt.Sprintf("lic_%03d", i), eventID(i),
		[]string{"LicenseProvisioned", "LicenseActivated", "SeatFreed"}[i%3], at, 0, detail))
	if err != nil {
		panic(err)
	}
	return item
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
		// Lambda retries the stream from the earliest record reported.
		from := -1
		for i, r := range batch {
			if from < 0 && slices.ContainsFunc(resp.BatchItemFailures, func(f events.DynamoDBBatchItemFailure) bool {
				return f.ItemIdentifier == r.Change.SequenceNumber
			}) {
				from = i
			}
		}
		require.GreaterOrEqual(t, from, 0, "failure %q is a record of the batch", resp.BatchItemFailures[0].ItemIdentifier)
		batch = batch[from:]
	}
	t.Fatal("the batch never went through")
	return 0
}

// instant makes p wait no real time between rounds of failed entries.
func instant(p *Publisher) *Publisher {
	p.sleep = func(context.Context, time.Duration) {}
	return p
}
