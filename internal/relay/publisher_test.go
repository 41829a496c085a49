package relay

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/relay/relaytest"
)

func handle(t *testing.T, p *Publisher, recs []events.DynamoDBEventRecord) []string {
	t.Helper()
	resp, err := p.Handle(context.Background(), events.DynamoDBEvent{Records: recs})
	require.NoError(t, err)
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

func TestHandleDeliversInOrderInChunksOfTen(t *testing.T) {
	bus := relaytest.NewBus(t, nil)
	dl := &recordingDeadLetter{}
	p := New(bus.Client(), testBus, nil, dl)
	recs := eventRecords(25, 0)

	assert.Empty(t, handle(t, p, recs))

	calls := bus.Calls()
	require.Len(t, calls, 3)
	assert.Equal(t, []int{10, 10, 5}, []int{len(calls[0]), len(calls[1]), len(calls[2])})
	var got []relaytest.Entry
	for _, c := range calls {
		got = append(got, c...)
	}
	for i, e := range got {
		ev, ok, err := FromStreamRecord(recs[i])
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, Source, e.Source)
		assert.Equal(t, ev.Type, e.DetailType)
		assert.Equal(t, ev.Detail, e.Detail)
		assert.Equal(t, testBus, e.EventBusName)
		assert.Equal(t, eventID(i), e.EventID(t))
		require.NotNil(t, e.Time, "every entry carries its time")
		assert.InDelta(t, float64(ev.OccurredAt.UnixMilli())/1000, *e.Time, 0.0015)
	}
	assert.Equal(t, ids(0, 25), bus.DeliveredIDs())
	assert.Empty(t, dl.Sent())
}

func TestHandleSplitsChunksBySize(t *testing.T) {
	bus := relaytest.NewBus(t, nil)
	p := New(bus.Client(), testBus, nil, &recordingDeadLetter{})
	recs := eventRecords(7, 100*1024)

	assert.Empty(t, handle(t, p, recs))

	calls := bus.Calls()
	assert.Len(t, calls, 4)
	for i, c := range calls {
		assert.LessOrEqual(t, len(c), 2, "call %d", i)
		size := 0
		for _, e := range c {
			size += len(e.Source) + len(e.DetailType) + len(e.Detail) + 14 + len(e.EventBusName)
		}
		assert.LessOrEqual(t, size, MaxCallBytes, "call %d", i)
	}
	assert.Equal(t, ids(0, 7), bus.DeliveredIDs())
}

func TestHandleDeadLettersAnEntryTooLargeForAnyCall(t *testing.T) {
	bus := relaytest.NewBus(t, nil)
	dl := &recordingDeadLetter{}
	p := New(bus.Client(), testBus, nil, dl)
	recs := eventRecords(4, 10)
	recs[2] = StreamRecordFromItem(eventItem(2, MaxCallBytes), seqOf(2))

	assert.Empty(t, handle(t, p, recs))

	assert.Equal(t, []string{eventID(0), eventID(1), eventID(3)}, bus.DeliveredIDs())
	sent := dl.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, eventID(2), sent[0].ev.ID)
	assert.Contains(t, sent[0].reason, "exceeds the PutEvents limit")
}

func TestHandleFailedCallIsMadeAgainInTheSameInvocation(t *testing.T) {
	bus := relaytest.NewBus(t, func(call int, _ []relaytest.Entry) relaytest.Reply {
		if call == 1 {
			return relaytest.Reply{Status: 500, ErrorType: "InternalException"}
		}
		return relaytest.Reply{}
	})
	p := instant(New(bus.Client(), testBus, nil, &recordingDeadLetter{}))
	recs := eventRecords(25, 0)

	assert.Empty(t, handle(t, p, recs), "the failed call is made again, after a backoff")
	assert.Len(t, bus.Calls(), 4)
	assert.Equal(t, ids(0, 25), bus.DeliveredIDs(), "each event once, in stream order")
}

func TestHandleSendsOnlyTheFailedEntriesAgain(t *testing.T) {
	throttled := map[string]bool{eventID(3): true, eventID(7): true}
	bus := relaytest.NewBus(t, nil)
	bus.SetAnswer(func(_ int, entries []relaytest.Entry) relaytest.Reply {
		errs := map[int]string{}
		for i, e := range entries {
			if id := e.EventID(t); throttled[id] {
				delete(throttled, id) // fails once
				errs[i] = "ThrottlingException"
			}
		}
		return relaytest.Reply{EntryErrors: errs}
	})
	dl := &recordingDeadLetter{}
	p := instant(New(bus.Client(), testBus, nil, dl))
	recs := eventRecords(25, 0)

	assert.Empty(t, handle(t, p, recs), "the failed entries go through in the same invocation")
	calls := bus.Calls()
	require.Len(t, calls, 4)
	var again []string
	for _, e := range calls[1] {
		again = append(again, e.EventID(t))
	}
	assert.Equal(t, []string{eventID(3), eventID(7)}, again, "only the failed entries are sent again")
	want := append(ids(0, 3), ids(4, 7)...)
	want = append(want, ids(8, 10)...)
	want = append(want, eventID(3), eventID(7))
	want = append(want, ids(10, 25)...)
	assert.Equal(t, want, bus.DeliveredIDs(), "every event delivered exactly once")
	assert.Empty(t, dl.Sent())
}

func TestHandleThrottledCallsThenSuccess(t *testing.T) {
	bus := relaytest.NewBus(t, func(call int, _ []relaytest.Entry) relaytest.Reply {
		if call < 3 || call == 4 {
			return relaytest.Reply{Status: 400, ErrorType: "ThrottlingException"}
		}
		return relaytest.Reply{}
	})
	p := instant(New(bus.Client(), testBus, nil, &recordingDeadLetter{}))
	recs := eventRecords(25, 0)

	assert.Equal(t, 1, deliverAll(t, p, recs), "one invocation: the throttled calls are made again in it")

	assert.Equal(t, ids(0, 25), bus.DeliveredIDs(), "each event exactly once, in stream order")
	assert.Equal(t, ids(0, 25), bus.Consumed())
}

func TestHandleDeadLettersRejectedEntryAndDeliversTheRest(t *testing.T) {
	bus := relaytest.NewBus(t, func(_ int, entries []relaytest.Entry) relaytest.Reply {
		errs := map[int]string{}
		for i, e := range entries {
			if e.EventID(t) == eventID(5) {
				errs[i] = "MalformedDetail"
			}
		}
		return relaytest.Reply{EntryErrors: errs}
	})
	dl := &recordingDeadLetter{}
	log, logs := newLog()
	p := New(bus.Client(), testBus, log, dl)
	recs := eventRecords(12, 0)

	assert.Empty(t, handle(t, p, recs), "a rejected entry is not retried")

	assert.Equal(t, append(ids(0, 5), ids(6, 12)...), bus.DeliveredIDs())
	sent := dl.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, eventID(5), sent[0].ev.ID)
	assert.Equal(t, seqOf(5), sent[0].ev.SequenceNumber)
	assert.Contains(t, sent[0].reason, "MalformedDetail")

	var line map[string]any
	for _, l := range logs.Lines(t) {
		if l["msg"] == "event dead-lettered" {
			line = l
		}
	}
	require.NotNil(t, line, "the dead letter is logged")
	assert.Equal(t, "ERROR", line["level"])
	assert.Equal(t, eventID(5), line["event_id"])
	assert.Equal(t, "SeatFreed", line["event_type"])
	assert.Equal(t, "MalformedDetail", line["error_code"])
}

func TestHandleDeadLettersAndRetriesInOneInvocation(t *testing.T) {
	throttledOnce := true
	bus := relaytest.NewBus(t, func(_ int, entries []relaytest.Entry) relaytest.Reply {
		errs := map[int]string{}
		for i, e := range entries {
			switch e.EventID(t) {
			case eventID(2):
				if throttledOnce {
					throttledOnce = false
					errs[i] = "InternalFailure"
				}
			case eventID(5):
				errs[i] = "NotAuthorizedForDetailTypeException"
			}
		}
		return relaytest.Reply{EntryErrors: errs}
	})
	dl := &recordingDeadLetter{}
	p := instant(New(bus.Client(), testBus, nil, dl))
	recs := eventRecords(8, 0)

	assert.Empty(t, handle(t, p, recs))
	sent := dl.Sent()
	require.Len(t, sent, 1, "dead-lettered once")
	assert.Equal(t, eventID(5), sent[0].ev.ID)
	want := []string{eventID(0), eventID(1), eventID(3), eventID(4), eventID(6), eventID(7), eventID(2)}
	assert.Equal(t, want, bus.DeliveredIDs())
}

func TestHandleFailedDeadLetterIsRetried(t *testing.T) {
	bus := relaytest.NewBus(t, func(_ int, entries []relaytest.Entry) relaytest.Reply {
		errs := map[int]string{}
		for i, e := range entries {
			if e.EventID(t) == eventID(4) {
				errs[i] = "InvalidArgument"
			}
		}
		return relaytest.Reply{EntryErrors: errs}
	})
	dl := &recordingDeadLetter{}
	dl.setFail(eventID(4))
	p := instant(New(bus.Client(), testBus, nil, dl))
	recs := eventRecords(15, 0)

	assert.Equal(t, []string{seqOf(4)}, handle(t, p, recs), "only the event whose dead letter failed")
	assert.Len(t, bus.Calls(), 2, "the batch went on")
	assert.Equal(t, append(ids(0, 4), ids(5, 15)...), bus.DeliveredIDs())

	dl.setFail()
	assert.Empty(t, handle(t, p, recs[4:]))
	require.Len(t, dl.Sent(), 1)
	assert.Equal(t, eventID(4), dl.Sent()[0].ev.ID)
	assert.Equal(t, append(ids(0, 4), ids(5, 15)...), bus.Consumed())
}

func TestHandleDeadLettersMalformedItemsWithoutPublishingThem(t *testing.T) {
	bus := relaytest.NewBus(t, nil)
	dl := &recordingDeadLetter{}
	p := New(bus.Client(), testBus, nil, dl)
	recs := eventRecords(6, 0)
	notJSON := eventItem(2, 0)
	notJSON["detail"] = &types.AttributeValueMemberS{Value: "not json"}
	recs[2] = StreamRecordFromItem(notJSON, seqOf(2))
	noID := eventItem(4, 0)
	delete(noID, "event_id")
	recs[4] = StreamRecordFromItem(noID, seqOf(4))

	assert.Empty(t, handle(t, p, recs))

	require.Len(t, bus.Calls(), 1)
	assert.Equal(t, []string{eventID(0), eventID(1), eventID(3), eventID(5)}, bus.DeliveredIDs())
	sent := dl.Sent()
	require.Len(t, sent, 2)
	assert.Equal(t, eventID(2), sent[0].ev.ID)
	assert.Equal(t, seqOf(2), sent[0].ev.SequenceNumber)
	assert.Equal(t, "not json", sent[0].ev.Detail)
	assert.Contains(t, sent[0].reason, "detail is not a JSON object")
	assert.Equal(t, seqOf(4), sent[1].ev.SequenceNumber)
	assert.Contains(t, sent[1].reason, "no event_id")
}

func TestHandleMalformedItemIsDeadLetteredWhileTheOthersAreRetried(t *testing.T) {
	bus := relaytest.NewBus(t, func(call int, _ []relaytest.Entry) relaytest.Reply {
		if call == 0 {
			return relaytest.Reply{Status: 503, ErrorType: "ServiceUnavailable"}
		}
		return relaytest.Reply{}
	})
	dl := &recordingDeadLetter{}
	p := instant(New(bus.Client(), testBus, nil, dl))
	recs := eventRecords(4, 0)
	bad := eventItem(3, 0)
	bad["detail"] = &types.AttributeValueMemberS{Value: `["an array"]`}
	recs[3] = StreamRecordFromItem(bad, seqOf(3))

	assert.Empty(t, handle(t, p, recs))
	require.Len(t, dl.Sent(), 1)
	assert.Equal(t, seqOf(3), dl.Sent()[0].ev.SequenceNumber)
	assert.Equal(t, ids(0, 3), bus.DeliveredIDs())
}

func TestHandleSkipsRecordsThatAreNotEventInserts(t *testing.T) {
	bus := relaytest.NewBus(t, nil)
	dl := &recordingDeadLetter{}
	p := New(bus.Client(), testBus, nil, dl)

	modify := StreamRecordFromItem(eventItem(90, 0), "m1")
	modify.EventName = "MODIFY"
	remove := StreamRecordFromItem(eventItem(91, 0), "r1")
	remove.EventName = "REMOVE"
	remove.Change.OldImage, remove.Change.NewImage = remove.Change.NewImage, nil
	license := eventItem(92, 0)
	license["type"] = &types.AttributeValueMemberS{Value: "license"}
	untyped := eventItem(93, 0)
	delete(untyped, "type")
	keysOnly := StreamRecordFromItem(map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "BRAND#acme"}, "sk": &types.AttributeValueMemberS{Value: "LIC#lic_1"},
	}, "k1")
	keysOnly.Change.NewImage = nil
	others := []events.DynamoDBEventRecord{
		modify, remove, StreamRecordFromItem(license, "l1"), StreamRecordFromItem(untyped, "u1"), keysOnly,
	}

	assert.Empty(t, handle(t, p, others))
	assert.Empty(t, bus.Calls(), "nothing to publish, no call")

	recs := eventRecords(3, 0)
	mixed := []events.DynamoDBEventRecord{others[0], recs[0], others[1], others[2], recs[1], others[3], recs[2], others[4]}
	assert.Empty(t, handle(t, p, mixed))
	assert.Equal(t, ids(0, 3), bus.DeliveredIDs())
	assert.Empty(t, dl.Sent())
}

func TestHandleEmptyBatch(t *testing.T) {
	bus := relaytest.NewBus(t, nil)
	p := New(bus.Client(), testBus, nil, nil)
	assert.Empty(t, handle(t, p, nil))
	assert.Empty(t, bus.Calls())
}

func TestHandleCancelledContextReportsFailure(t *testing.T) {
	bus := relaytest.NewBus(t, nil)
	p := New(bus.Client(), testBus, nil, &recordingDeadLetter{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := p.Handle(ctx, events.DynamoDBEvent{Records: eventRecords(3, 0)})
	require.NoError(t, err)
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	assert.Equal(t, []string{seqOf(0), seqOf(1), seqOf(2)}, failed, "every record still to go, no retry round")
}

func TestHandleRecordWithoutSequenceNumberFailsTheBatch(t *testing.T) {
	bus := relaytest.NewBus(t, func(int, []relaytest.Entry) relaytest.Reply {
		return relaytest.Reply{Status: 500, ErrorType: "InternalException"}
	})
	p := instant(New(bus.Client(), testBus, nil, nil))
	_, err := p.Handle(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{StreamRecordFromItem(eventItem(1, 0), "")}})
	assert.Error(t, err)
}

func TestHandleConcurrentInvocations(t *testing.T) {
	bus := relaytest.NewBus(t, nil)
	p := New(bus.Client(), testBus, nil, &recordingDeadLetter{})
	recs := eventRecords(30, 0)
	done := make(chan struct{})
	for i := range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			resp, err := p.Handle(context.Background(), events.DynamoDBEvent{Records: recs[i*10 : i*10+10]})
			assert.NoError(t, err)
			assert.Empty(t, resp.BatchItemFailures)
		}()
	}
	for range 3 {
		<-done
	}
	got := bus.Consumed()
	assert.ElementsMatch(t, ids(0, 30), got)
}

func TestEntrySizeIsConservative(t *testing.T) {
	ev := Event{Type: "LicenseProvisioned", Detail: `{"a":"é"}`, OccurredAt: time.Now()}
	// EventBridge: source + detail-type + detail (UTF-8 bytes) + 14 for time.
	eb := len("license-service") + len("LicenseProvisioned") + len(`{"a":"é"}`) + 14
	assert.GreaterOrEqual(t, EntrySize(ev, testBus), eb)
	assert.Equal(t, 10, len(`{"a":"é"}`), "bytes, not runes")
}

func TestPermanent(t *testing.T) {
	for _, c := range []string{"MalformedDetail", "InvalidArgument", "NotAuthorizedForSourceException", "NotAuthorizedForDetailTypeException", "AccessDeniedException"} {
		assert.True(t, Permanent(c), c)
	}
	for _, c := range []string{"ThrottlingException", "InternalFailure", "InternalException", "", "SomethingNew"} {
		assert.False(t, Permanent(c), c)
	}
}

// stubClient answers PutEvents with a fixed output.
// stubClient answers every call with out, and records the calls' sizes.
type stubClient struct {
	out   *eventbridge.PutEventsOutput
	calls *[]int
}

func (s stubClient) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	*s.calls = append(*s.calls, len(in.Entries))
	return s.out, nil
}

// An answer that does not account for an entry counts it as failed: the
// entry is sent again (here the stub then answers for it).
func TestHandleIncompleteAnswersAreSentAgain(t *testing.T) {
	ok := ebtypes.PutEventsResultEntry{EventId: aws.String("e")}
	for name, c := range map[string]struct {
		out   *eventbridge.PutEventsOutput
		calls []int
	}{
		"missing results": {&eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{ok, ok}}, []int{4, 2}},
		"failure without code": {&eventbridge.PutEventsOutput{FailedEntryCount: 1,
			Entries: []ebtypes.PutEventsResultEntry{ok, {}, ok, ok}}, []int{4, 1}},
	} {
		t.Run(name, func(t *testing.T) {
			var calls []int
			p := instant(New(stubClient{c.out, &calls}, testBus, nil, &recordingDeadLetter{}))
			assert.Empty(t, handle(t, p, eventRecords(4, 0)))
			assert.Equal(t, c.calls, calls, "the entries not accounted for, and only they, are sent again")
		})
	}
}

// An entry that EventBridge keeps refusing while it takes the calls around
// it is dead-lettered after the rounds of its invocation: it neither holds
// up the records after it nor makes Lambda hand them over again.
func TestHandleDeadLettersAStubbornEntry(t *testing.T) {
	bus := relaytest.NewBus(t, func(_ int, entries []relaytest.Entry) relaytest.Reply {
		errs := map[int]string{}
		for i, e := range entries {
			if e.EventID(t) == eventID(4) {
				errs[i] = "ThrottlingException"
			}
		}
		return relaytest.Reply{EntryErrors: errs}
	})
	dl := &recordingDeadLetter{}
	p := instant(New(bus.Client(), testBus, nil, dl))
	recs := eventRecords(25, 0)

	assert.Empty(t, handle(t, p, recs), "nothing for Lambda to hand over again")
	assert.Equal(t, append(ids(0, 4), ids(5, 25)...), bus.DeliveredIDs(), "every other event once")
	sent := dl.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, eventID(4), sent[0].ev.ID)
	assert.Contains(t, sent[0].reason, "failed the entry 12 times")
}

// When EventBridge takes nothing (an outage, or every entry throttled),
// nothing is dead-lettered: the records are reported, for Lambda to retry
// later.
func TestHandleOutageIsReportedNotDeadLettered(t *testing.T) {
	for name, answer := range map[string]relaytest.Answer{
		"calls fail": func(int, []relaytest.Entry) relaytest.Reply {
			return relaytest.Reply{Status: 500, ErrorType: "InternalException"}
		},
		"every entry throttled": func(_ int, entries []relaytest.Entry) relaytest.Reply {
			errs := map[int]string{}
			for i := range entries {
				errs[i] = "ThrottlingException"
			}
			return relaytest.Reply{EntryErrors: errs}
		},
	} {
		t.Run(name, func(t *testing.T) {
			bus := relaytest.NewBus(t, answer)
			dl := &recordingDeadLetter{}
			p := instant(New(bus.Client(), testBus, nil, dl))
			assert.Len(t, handle(t, p, eventRecords(3, 0)), 3)
			assert.Empty(t, dl.Sent())
		})
	}
}
