package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/clsvc/license-service/internal/telemetry"
)

// Source is the source of every event the service publishes.
const Source = "license-service"

// PutEvents limits.
const (
	// MaxEntriesPerCall is the most entries one PutEvents call takes.
	MaxEntriesPerCall = 10
	// MaxCallBytes is the most one PutEvents call takes, as the sum of the
	// sizes of its entries (see EntrySize).
	MaxCallBytes = 256 * 1024
	// entryTimeBytes is what EventBridge counts for an entry's Time.
	entryTimeBytes = 14
)

// PutEventsAPI is the part of the EventBridge client the relay uses;
// *eventbridge.Client satisfies it.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher publishes outbox events to an EventBridge bus. It holds no state
// between calls and is safe for concurrent use.
type Publisher struct {
	client  PutEventsAPI
	bus     string
	log     *slog.Logger
	dead    DeadLetter
	metrics *telemetry.Metrics
	// sleep waits between two rounds of failed entries (a timer; tests
	// count the time instead).
	sleep func(ctx context.Context, d time.Duration)
	// backoff is the first round's backoff window (roundBackoff unless set).
	backoff time.Duration
}

// WithBackoff sets the backoff window of the first retry round (it doubles
// each round, up to twenty times this): a local relay against an emulator
// can retry faster than AWS advises.
func (p *Publisher) WithBackoff(first time.Duration) *Publisher {
	if first > 0 {
		p.backoff = first
	}
	return p
}

// WithMetrics makes the publisher emit EMF metrics of each batch:
// RelayPublished, RelayDeadLettered and RelayFailures (batches that must be
// retried).
func (p *Publisher) WithMetrics(m *telemetry.Metrics) *Publisher {
	p.metrics = m
	return p
}

func (p *Publisher) emit(st stats, failed bool) {
	failures := 0.0
	if failed {
		failures = 1
	}
	p.metrics.Emit(nil,
		telemetry.Metric{Name: "RelayPublished", Unit: "Count", Value: float64(st.published)},
		telemetry.Metric{Name: "RelayDeadLettered", Unit: "Count", Value: float64(st.deadLettered)},
		telemetry.Metric{Name: "RelayFailures", Unit: "Count", Value: failures})
}

// New returns a Publisher that puts events on the bus (a name or an ARN)
// through client. Events that must not be retried go to dead; a nil dead
// letter logs them only (LogDeadLetter). A nil log discards.
func New(client PutEventsAPI, busName string, log *slog.Logger, dead DeadLetter) *Publisher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dead == nil {
		dead = LogDeadLetter{Log: log}
	}
	return &Publisher{client: client, bus: busName, log: log, dead: dead, sleep: sleepCtx, backoff: roundBackoff}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Retries of failed entries within one invocation: up to maxRounds calls
// for the entries still failing, with full-jitter backoff (roundBackoff
// doubling up to 20 times it, 2 s), while the invocation has retryMargin
// left before its deadline.
const (
	maxRounds    = 12
	roundBackoff = 100 * time.Millisecond
	retryMargin  = 5 * time.Second
)

// mayRetry tells whether another round fits in the invocation, and waits
// for it.
func (p *Publisher) mayRetry(ctx context.Context, round int) bool {
	if round >= maxRounds || ctx.Err() != nil {
		return false
	}
	window := min(p.backoff<<(round-1), 20*p.backoff)
	if d, ok := ctx.Deadline(); ok && time.Until(d) < retryMargin+window {
		return false
	}
	p.sleep(ctx, time.Duration(rand.Int64N(int64(window)+1)))
	return ctx.Err() == nil
}

// EntrySize is the size EventBridge counts for the entry of ev on the bus:
// source, detail-type, detail, time and bus name. It is a little more than
// EventBridge's own count (which leaves out the bus name), never less.
func EntrySize(ev Event, busName string) int {
	return len(Source) + len(ev.Type) + len(ev.Detail) + entryTimeBytes + len(busName)
}

// Error codes of failed entries that retrying cannot fix: the entry goes to
// the dead letter. Any other code (ThrottlingException, InternalFailure,
// InternalException, ...) is retried.
var permanentCodes = map[string]bool{
	"MalformedDetail":                     true,
	"InvalidArgument":                     true,
	"InvalidArgumentException":            true,
	"ValidationException":                 true,
	"NotAuthorizedForSourceException":     true,
	"NotAuthorizedForDetailTypeException": true,
	"AccessDeniedException":               true,
}

// Permanent tells whether a failed entry's error code means the entry can
// never be published, so that it goes to the dead letter instead of being
// retried.
func Permanent(errorCode string) bool { return permanentCodes[errorCode] }

// item is one event of the batch on its way: an entry to publish, or an
// event to dead-letter without publishing it (reason set).
type item struct {
	ev     Event
	reason string
	code   string
	entry  int // index of its entry in the call; -1 without one
}

// chunk is what one PutEvents call publishes: the events in stream order,
// and the entries of those that are published.
type chunk struct {
	items   []item
	entries []types.PutEventsRequestEntry
	size    int
}

// outcome of one item of a chunk.
type outcome struct {
	retry  bool   // report the record as failed
	reason string // dead-letter with this reason (when not retried)
	code   string // error code, for the log
}

// stats counts what one invocation did, for its log line.
type stats struct {
	records, skipped, published, deadLettered, calls int
}

// Handle is the Lambda handler of the table's stream. It publishes the
// batch's events in stream order, in PutEvents calls of at most
// MaxEntriesPerCall entries and MaxCallBytes. Records that are not event
// inserts are skipped. The entries of a call that fail are sent again, alone
// (as AWS advises for PutEvents: never the ones that went through), with
// jittered backoff, for up to maxRounds calls while the invocation has time,
// and the batch goes on. An entry that failed in every one of those calls
// while EventBridge took other entries of the invocation is stubborn: it
// goes to the dead letter, so that it neither blocks nor multiplies the records after
// it (Lambda would hand them over again from it). Only the records still
// failing otherwise (an outage, or the invocation's time running out) are
// reported as batch item failures. Events that can never be published go
// to the dead letter and count as done.
//
// Handle answers an error only when it cannot name a record to retry (a
// record without a sequence number), which makes Lambda retry the batch.
func (p *Publisher) Handle(ctx context.Context, batch events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var st stats
	st.records = len(batch.Records)
	var failing []Event
	var cur chunk
	for _, rec := range batch.Records {
		ev, ok, err := FromStreamRecord(rec)
		if !ok {
			st.skipped++
			continue
		}
		if err != nil {
			cur.items = append(cur.items, item{ev: ev, reason: err.Error(), code: "MalformedEventItem", entry: -1})
			continue
		}
		size := EntrySize(ev, p.bus)
		if size > MaxCallBytes {
			cur.items = append(cur.items, item{ev: ev, code: "EntryTooLarge", entry: -1,
				reason: fmt.Sprintf("entry of %d bytes exceeds the PutEvents limit of %d", size, MaxCallBytes)})
			continue
		}
		if len(cur.entries) == MaxEntriesPerCall || cur.size+size > MaxCallBytes {
			failing = append(failing, p.flush(ctx, &cur, &st)...)
			cur = chunk{}
		}
		cur.items = append(cur.items, item{ev: ev, entry: len(cur.entries)})
		cur.entries = append(cur.entries, types.PutEventsRequestEntry{
			Source:       aws.String(Source),
			DetailType:   aws.String(ev.Type),
			Detail:       aws.String(ev.Detail),
			EventBusName: aws.String(p.bus),
			Time:         aws.Time(ev.OccurredAt),
		})
		cur.size += size
	}
	failing = append(failing, p.flush(ctx, &cur, &st)...)
	if len(failing) > 0 {
		return p.fail(ctx, failing, st)
	}
	p.log.InfoContext(ctx, "events relayed", st.attrs()...)
	p.emit(st, false)
	return events.DynamoDBEventResponse{}, nil
}

// fail answers the batch item failures of the records still failing.
func (p *Publisher) fail(ctx context.Context, failing []Event, st stats) (events.DynamoDBEventResponse, error) {
	attrs := append(st.attrs(), slog.Int("failing", len(failing)), slog.String("retry_from", failing[0].SequenceNumber),
		slog.String("event_id", failing[0].ID))
	p.log.WarnContext(ctx, "events relayed in part", attrs...)
	p.emit(st, true)
	var resp events.DynamoDBEventResponse
	for _, ev := range failing {
		if ev.SequenceNumber == "" {
			return events.DynamoDBEventResponse{}, fmt.Errorf("relay: event %q to retry has no stream sequence number", ev.ID)
		}
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: ev.SequenceNumber})
	}
	return resp, nil
}

func (s stats) attrs() []any {
	return []any{
		slog.Int("records", s.records), slog.Int("skipped", s.skipped), slog.Int("published", s.published),
		slog.Int("dead_lettered", s.deadLettered), slog.Int("calls", s.calls),
	}
}

// flush publishes a chunk, sending its failed entries again alone (see
// Handle), and settles its events in stream order: done, dead-lettered, or
// still failing. It answers the events still failing.
func (p *Publisher) flush(ctx context.Context, c *chunk, st *stats) []Event {
	outs := make([]outcome, len(c.items))
	var pending []int // items whose entry is still to go through
	for i, it := range c.items {
		if it.entry < 0 {
			outs[i] = outcome{reason: it.reason, code: it.code}
			continue
		}
		pending = append(pending, i)
	}
	rounds := 0
	for round := 0; len(pending) > 0 && (round == 0 || p.mayRetry(ctx, round)); round++ {
		pending = p.put(ctx, c, pending, outs, st)
		rounds = round + 1
	}
	for _, i := range pending {
		if st.published > 0 && rounds == maxRounds {
			// EventBridge took other entries of this invocation, and not
			// this one in any of its calls: reporting it would make Lambda
			// hand over the records after it again and again. It goes to
			// the dead letter (and licensectl events republish) instead.
			// When nothing went through (an outage, throttling of every
			// entry) the records are reported, for Lambda to retry.
			outs[i] = outcome{code: "StillFailing", reason: fmt.Sprintf("PutEvents failed the entry %d times while it took the others", rounds)}
			continue
		}
		outs[i].retry = true // an outage, or out of time: Lambda retries
	}
	var failing []Event
	for i, it := range c.items {
		o := outs[i]
		switch {
		case o.retry:
			failing = append(failing, it.ev)
		case o.reason != "":
			p.log.ErrorContext(ctx, "event dead-lettered", slog.String("event_id", it.ev.ID), slog.String("event_type", it.ev.Type),
				slog.String("brand", it.ev.Brand), slog.String("sequence_number", it.ev.SequenceNumber),
				slog.String("error_code", o.code), slog.String("reason", o.reason))
			if err := p.dead.Send(ctx, it.ev, o.reason); err != nil {
				p.log.ErrorContext(ctx, "dead letter failed", slog.String("event_id", it.ev.ID),
					slog.String("event_type", it.ev.Type), slog.String("error", err.Error()))
				failing = append(failing, it.ev)
				continue
			}
			st.deadLettered++
		}
	}
	return failing
}

// put makes one PutEvents call of the pending items' entries, records what
// went through or can never go, and answers the items to send again.
func (p *Publisher) put(ctx context.Context, c *chunk, pending []int, outs []outcome, st *stats) []int {
	entries := make([]types.PutEventsRequestEntry, len(pending))
	for k, i := range pending {
		entries[k] = c.entries[c.items[i].entry]
	}
	st.calls++
	res, err := p.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		code := "Error"
		var ae smithy.APIError
		if errors.As(err, &ae) {
			code = ae.ErrorCode()
		}
		p.log.WarnContext(ctx, "put events failed", slog.String("error_code", code), slog.String("error", err.Error()),
			slog.Int("entries", len(entries)))
		return pending
	}
	failures := entryFailures(res, len(entries))
	var again []int
	for k, i := range pending {
		f, failed := failures[k]
		switch {
		case !failed:
			st.published++
		case Permanent(f.code):
			outs[i] = outcome{reason: "PutEvents rejected the entry: " + f.code + ": " + f.message, code: f.code}
		default:
			again = append(again, i)
			p.log.WarnContext(ctx, "put events entry failed", slog.String("event_id", c.items[i].ev.ID),
				slog.String("event_type", c.items[i].ev.Type), slog.String("error_code", f.code), slog.String("error", f.message))
		}
	}
	return again
}

type entryFailure struct{ code, message string }

// entryFailures reads which entries of a call failed. An entry the answer
// does not account for counts as failed, to be retried.
func entryFailures(res *eventbridge.PutEventsOutput, n int) map[int]entryFailure {
	failures := map[int]entryFailure{}
	for i := range n {
		if i >= len(res.Entries) {
			failures[i] = entryFailure{code: "MissingResult", message: "the answer has no result for the entry"}
			continue
		}
		e := res.Entries[i]
		switch {
		case aws.ToString(e.ErrorCode) != "":
			failures[i] = entryFailure{code: aws.ToString(e.ErrorCode), message: aws.ToString(e.ErrorMessage)}
		case res.FailedEntryCount > 0 && aws.ToString(e.EventId) == "":
			failures[i] = entryFailure{code: "UnknownFailure", message: "the entry has neither an event id nor an error code"}
		}
	}
	return failures
}
