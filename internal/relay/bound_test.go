package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/outbox"
	"github.com/clsvc/license-service/internal/relay/relaytest"
)

// licenseEvents is n events over lics licenses, in commit order: event i is
// the (i/lics+1)-th change of license i%lics, whose sequence it carries,
// with the license's seats_used equal to it.
func licenseEvents(n, lics int) []events.DynamoDBEventRecord {
	recs := make([]events.DynamoDBEventRecord, n)
	for i := range recs {
		lic, seq := fmt.Sprintf("lic_%03d", i%lics), i/lics+1
		at := baseTime.Add(time.Duration(i) * time.Millisecond)
		detail, _ := json.Marshal(map[string]any{
			"event_id": eventID(i), "license_id": lic, "brand": "acme", "sequence": seq,
			"occurred_at": at.Format(time.RFC3339Nano), "license": map[string]any{"seats_used": seq},
		})
		item, err := attributevalue.MarshalMap(outbox.NewItem("acme", lic, eventID(i), "LicenseActivated", at, 0, detail))
		if err != nil {
			panic(err)
		}
		recs[i] = StreamRecordFromItem(item, seqOf(i))
	}
	return recs
}

// Against an EventBridge whose calls fail with probability 1/3 and whose
// entries fail with probability 1/4 (random, seeded), 500 events of 50
// licenses, relayed in the stream's batches of 100 as Lambda hands them
// over, are all delivered within 60 s of backoff, at most twice each on
// average; and each license's highest sequence delivered is its final state.
//
// The same holds for the fixed pattern under which the relay used to stall
// (every third call and every fourth entry of a call failing): only failed
// entries are sent again, so a failing position is not the same entry twice.
func TestRelayBoundUnderRandomFailures(t *testing.T) {
	fixed := func(call int, entries []relaytest.Entry) relaytest.Reply {
		if call%3 == 2 {
			return relaytest.Reply{Status: 500, ErrorType: "InternalException"}
		}
		errs := map[int]string{}
		for i := range entries {
			if i%4 == 3 {
				errs[i] = "ThrottlingException"
			}
		}
		return relaytest.Reply{EntryErrors: errs}
	}
	for name, answer := range map[string]relaytest.Answer{
		"seed 1": relaytest.RandomFailures(1), "seed 2": relaytest.RandomFailures(2), "seed 3": relaytest.RandomFailures(3),
		"seed 4": relaytest.RandomFailures(4), "seed 5": relaytest.RandomFailures(5),
		"fixed pattern": fixed,
	} {
		t.Run(name, func(t *testing.T) {
			bus := relaytest.NewBus(t, answer)
			p := New(bus.Client(), testBus, nil, &recordingDeadLetter{})
			var waited time.Duration // the backoff, counted rather than slept
			p.sleep = func(_ context.Context, d time.Duration) { waited += d }
			recs := licenseEvents(500, 50)
			invocations := 0
			for from := 0; from < len(recs); from += 100 {
				invocations += deliverAll(t, p, recs[from:from+100])
			}

			delivered := bus.DeliveredIDs()
			assert.ElementsMatch(t, ids(0, 500), bus.Consumed(), "every event delivered")
			avg := float64(len(delivered)) / 500
			assert.LessOrEqual(t, avg, 2.0, "deliveries per event")
			assert.LessOrEqual(t, waited, 60*time.Second, "time spent backing off")
			last := map[string]float64{}
			for _, e := range bus.Delivered() {
				d := e.DetailMap(t)
				lic, seq := d["license_id"].(string), d["sequence"].(float64)
				last[lic] = max(last[lic], seq)
				if seq == 10 {
					assert.Equal(t, 10.0, d["license"].(map[string]any)["seats_used"])
				}
			}
			require.Len(t, last, 50)
			for lic, seq := range last {
				assert.Equal(t, 10.0, seq, "%s: its last change delivered", lic)
			}
			t.Logf("%s: %d deliveries for 500 events (%.2f each), %d calls, %d invocations, %v of backoff",
				name, len(delivered), avg, len(bus.Calls()), invocations, waited.Round(time.Millisecond))
		})
	}
}
