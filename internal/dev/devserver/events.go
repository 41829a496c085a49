package devserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/clsvc/license-service/internal/dynamo"
	"github.com/clsvc/license-service/internal/relay"
	"github.com/clsvc/license-service/internal/webhookqueue"
)

// The embedded engine has no DynamoDB Streams. In their place the engine
// hands each write's committed event items to a tailer (localdb's
// OnEventItems), which hands them to the relay's own handler
// (relay.Publisher.Handle) as synthetic stream records, in order, as the
// publish-events function receives them in AWS. An idle tailer does
// nothing; the event items committed while none ran are found at its start,
// with one scan. Against an external engine (DynamoDB Local) the tailer
// scans the table for new event items every EventPoll instead.

// DefaultEventBusName is the bus the local relay puts events on when
// Options.EventBusName is empty.
const DefaultEventBusName = "license-events"

// DefaultEventPoll is how often the background tailer looks for new events
// when Options.EventPoll is zero.
const DefaultEventPoll = 250 * time.Millisecond

// maxPollBackoff bounds the wait between passes after failed ones (an
// EventBridge endpoint that is down), unless EventPoll is longer.
const maxPollBackoff = 5 * time.Second

// ErrEventsPending is wrapped by the error of FlushEvents when the relay
// asked for some events to be retried (a failed PutEvents call or entry):
// they stay pending and the next pass hands them over again.
var ErrEventsPending = errors.New("events left to retry")

// tailer hands the event items of the table to the relay. Its passes are
// serialized: FlushEvents may run while the background poller does.
type tailer struct {
	store *dynamo.Store
	pub   *relay.Publisher
	log   *slog.Logger

	mu sync.Mutex // held for a whole pass; guards the fields below
	// handed is the keys (see eventKey) of the event items handed over and
	// done with; those no longer in the table (TTL) are forgotten. Scans
	// only.
	handed map[string]bool

	// Fed by the engine's writes (fed is set once, before the first pass).
	fed     bool
	scanned bool                              // the one scan at start is done
	atStart map[string]bool                   // keys that scan found: the feed skips them
	pending []map[string]types.AttributeValue // taken, not yet done with
	qmu     sync.Mutex                        // guards queue
	queue   []map[string]types.AttributeValue // fed, not yet taken
	wake    chan struct{}
}

// push queues event items the engine committed, and wakes the poller.
func (t *tailer) push(items []map[string]types.AttributeValue) {
	t.qmu.Lock()
	t.queue = append(t.queue, items...)
	t.qmu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func newTailer(store *dynamo.Store, pub *relay.Publisher, log *slog.Logger) *tailer {
	return &tailer{store: store, pub: pub, log: log, handed: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// eventKey names an event item for the handed set: its event id, or for an
// item without one (the relay dead-letters it) its table key, which keeps it
// from coming back.
func eventKey(item map[string]types.AttributeValue) string {
	if id := stringValue(item, "event_id"); id != "" {
		return "id\x00" + id
	}
	return "key\x00" + stringValue(item, "pk") + "\x00" + stringValue(item, "sk")
}

// pass hands the event items committed since the last pass to the relay, in
// the store's order (occurred_at, then key), through the same hand-over as
// licensectl events republish. Those before the record the relay reports to
// retry are done; that record and the ones after it are handed over again by
// the next pass, as Lambda retries from the failed record.
func (t *tailer) pass(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fed {
		return t.fedPass(ctx)
	}

	found, err := t.store.AllEventItems(ctx)
	if err != nil {
		return err
	}
	handed := make(map[string]bool, len(t.handed))
	var fresh []map[string]types.AttributeValue
	for _, e := range found {
		if k := eventKey(e.Item); t.handed[k] {
			handed[k] = true
			continue
		}
		fresh = append(fresh, e.Item)
	}
	t.handed = handed
	if len(fresh) == 0 {
		return nil
	}
	done, err := t.pub.Republish(ctx, fresh)
	for _, item := range fresh[:done] {
		t.handed[eventKey(item)] = true
	}
	if err != nil {
		return fmt.Errorf("%w: %d of %d events, from event %q: %w", ErrEventsPending, len(fresh)-done, len(fresh),
			stringValue(fresh[done], "event_id"), err)
	}
	return nil
}

// fedPass hands the fed event items to the relay, after those the one scan
// at start found; those the relay did not take stay first in line.
func (t *tailer) fedPass(ctx context.Context) error {
	if !t.scanned {
		found, err := t.store.AllEventItems(ctx)
		if err != nil {
			return err
		}
		t.atStart = map[string]bool{}
		for _, e := range found {
			t.pending = append(t.pending, e.Item)
			t.atStart[eventKey(e.Item)] = true
		}
		t.scanned = true
	}
	t.qmu.Lock()
	queued := t.queue
	t.queue = nil
	t.qmu.Unlock()
	for _, item := range queued {
		if k := eventKey(item); t.atStart[k] {
			delete(t.atStart, k) // committed as the tailer started: the scan has it
			continue
		}
		t.pending = append(t.pending, item)
	}
	if len(t.pending) == 0 {
		return nil
	}
	done, err := t.pub.Republish(ctx, t.pending)
	left := t.pending[done:]
	t.pending = append([]map[string]types.AttributeValue(nil), left...)
	if err != nil {
		return fmt.Errorf("%w: %d events, from event %q: %w", ErrEventsPending, len(left), stringValue(left[0], "event_id"), err)
	}
	return nil
}

// poll runs a pass every interval until ctx ends, waiting longer (up to
// maxPollBackoff) after failed passes.
func (t *tailer) poll(ctx context.Context, every time.Duration) {
	wait := every
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-t.wake:
		}
		err := t.pass(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && t.fed:
			wait = every
			timer.Stop() // idle until the engine feeds more
			continue
		case err == nil:
			wait = every
		default:
			// The relay has logged the failed calls already.
			level := slog.LevelWarn
			if errors.Is(err, ErrEventsPending) {
				level = slog.LevelDebug
			}
			t.log.Log(ctx, level, "relaying local events failed", slog.String("error", err.Error()))
			wait = min(2*wait, max(every, maxPollBackoff))
		}
		timer.Reset(wait)
	}
}

// stringValue is the item's string attribute name, "" if it has none.
func stringValue(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// printBus stands in for EventBridge without an endpoint: it writes every
// entry as one JSON line and accepts it.
type printBus struct {
	mu sync.Mutex
	w  io.Writer
	n  uint64
}

// printedEvent is one line of printBus.
type printedEvent struct {
	EventBus   string          `json:"event_bus"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail_type"`
	Time       string          `json:"time,omitempty"`
	Detail     json.RawMessage `json:"detail"`
}

// PutEvents prints the entries, one line each, with a single write, and
// answers that all were put. A failed write fails the call.
func (b *printBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, e := range in.Entries {
		line := printedEvent{
			EventBus:   aws.ToString(e.EventBusName),
			Source:     aws.ToString(e.Source),
			DetailType: aws.ToString(e.DetailType),
			Detail:     json.RawMessage(aws.ToString(e.Detail)),
		}
		if e.Time != nil {
			line.Time = e.Time.UTC().Format(time.RFC3339Nano)
		}
		if !json.Valid(line.Detail) {
			// The relay sends JSON objects only; print anything else as a string.
			quoted, _ := json.Marshal(aws.ToString(e.Detail))
			line.Detail = quoted
		}
		if err := enc.Encode(line); err != nil {
			return nil, fmt.Errorf("print event: %w", err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.w.Write(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("print events: %w", err)
	}
	out := &eventbridge.PutEventsOutput{Entries: make([]ebtypes.PutEventsResultEntry, len(in.Entries))}
	for i := range out.Entries {
		b.n++
		out.Entries[i].EventId = aws.String(fmt.Sprintf("local-%d", b.n))
	}
	return out, nil
}

// startEvents wires the relay to EventBridge at o.EventBridgeEndpoint, or to
// o.EventLog without one, and starts polling unless o.EventPoll is negative.
func (s *Server) startEvents(ctx context.Context, o Options) error {
	bus := o.EventBusName
	if bus == "" {
		bus = DefaultEventBusName
	}
	var client relay.PutEventsAPI
	if o.EventBridgeEndpoint != "" {
		// One attempt per call: the next pass is the retry, as the next
		// Lambda invocation is in AWS.
		eb, err := relay.NewEventBridgeClient(ctx, relay.ClientConfig{
			Endpoint: o.EventBridgeEndpoint, Region: o.Config.Region, MaxAttempts: 1,
		})
		if err != nil {
			return fmt.Errorf("eventbridge client: %w", err)
		}
		client = eb
	} else {
		w := o.EventLog
		if w == nil {
			w = io.Discard
		}
		client = &printBus{w: w}
	}
	s.webhooks = webhookqueue.NewLocal(s.Service.App, o.Log, nil, o.WebhookRetry)
	client = teeBus{PutEventsAPI: client, to: s.webhooks.Push}
	pub := relay.New(client, bus, o.Log, relay.LogDeadLetter{Log: o.Log}).WithBackoff(o.EventRetryBackoff)
	s.events = newTailer(s.Service.Store, pub, o.Log)
	if s.Engine != nil {
		// Fed by the embedded engine's writes: no scan but the one at start.
		s.events.fed = true
		s.Engine.OnEventItems(s.events.push)
	}

	every := o.EventPoll
	if every < 0 {
		return nil
	}
	if every == 0 {
		every = DefaultEventPoll
	}
	pollCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	s.stopEvents = func() {
		stop()
		<-done
	}
	go func() {
		defer close(done)
		s.events.poll(pollCtx, every)
	}()
	return nil
}

// FlushEvents hands the event items committed since the last pass to the
// relay now, as the background poller does; it returns once they are
// published (or printed). An error wrapping ErrEventsPending means the relay
// asked for some of them to be retried: the next pass hands those over
// again. It is safe to call while the poller runs; passes take turns.
func (s *Server) FlushEvents(ctx context.Context) error {
	if s.events == nil {
		return errors.New("devserver: events are not relayed (the server did not start)")
	}
	return s.events.pass(ctx)
}

// teeBus hands each event the bus took to the local webhook queue, as the
// rule on the bus does in AWS.
type teeBus struct {
	relay.PutEventsAPI
	to func(detail []byte)
}

func (b teeBus) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	out, err := b.PutEventsAPI.PutEvents(ctx, in, optFns...)
	if err != nil {
		return out, err
	}
	for i, e := range in.Entries {
		if i < len(out.Entries) && out.Entries[i].ErrorCode == nil && aws.ToString(e.Source) == relay.Source {
			b.to([]byte(aws.ToString(e.Detail)))
		}
	}
	return out, nil
}
