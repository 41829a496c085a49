package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// RepublishBatch is how many stored events Republish hands to the publisher
// at a time, as the stream's event source mapping would.
const RepublishBatch = 100

// ErrRepublishIncomplete is wrapped by the error of Republish when
// EventBridge did not take every event: run it again for the same window
// (consumers drop what they already had by event_id).
var ErrRepublishIncomplete = errors.New("republish incomplete")

// Republish hands stored event items (in the order given: oldest first) to
// the publisher again, as synthetic stream records, through the same code as
// the stream relay: PutEvents in chunks, dead letters for what can never be
// published. It is the way back for events whose stream records expired
// before the relay could publish them (the records of a batch that exhausted
// its retries and went to the dead-letter queue): the outbox keeps every
// event item for EventRetention. make run's local relay hands the outbox over
// the same way. It answers how many items were done (sent or dead-lettered)
// before the first that failed; on an error that is fewer than all.
func (p *Publisher) Republish(ctx context.Context, items []map[string]types.AttributeValue) (int, error) {
	done := 0
	for chunk := range slices.Chunk(items, RepublishBatch) {
		batch := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, len(chunk))}
		for i, it := range chunk {
			batch.Records[i] = StreamRecordFromItem(it, fmt.Sprintf("%021d", done+i+1))
		}
		res, err := p.Handle(ctx, batch)
		if err != nil {
			return done, fmt.Errorf("%w: %w", ErrRepublishIncomplete, err)
		}
		if len(res.BatchItemFailures) > 0 {
			failed := slices.IndexFunc(batch.Records, func(r events.DynamoDBEventRecord) bool {
				return r.Change.SequenceNumber == res.BatchItemFailures[0].ItemIdentifier
			})
			failed = max(failed, 0)
			id := ""
			if ev, ok := chunk[failed]["event_id"].(*types.AttributeValueMemberS); ok {
				id = ev.Value
			}
			return done + failed, fmt.Errorf("%w: EventBridge did not take event %q; %d of %d events done", ErrRepublishIncomplete, id, done+failed, len(items))
		}
		done += len(chunk)
	}
	return done, nil
}
