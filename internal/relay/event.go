// Package relay publishes the service's outbox to EventBridge.
//
// Every state change writes an event item into the table in the same
// transaction as the change itself (a transactional outbox). The table's
// stream hands those items to the publish-events function, whose handler is
// Publisher.Handle: it turns each inserted event item into an EventBridge
// entry and publishes them in stream order with PutEvents, reporting the
// earliest record that must be retried as the batch item failure (the event
// source mapping runs with ReportBatchItemFailures). Events that can never be
// published (a malformed item, an entry EventBridge rejects as invalid) go to
// a DeadLetter instead of blocking the shard.
//
// Delivery is at least once: a retried batch publishes again the events that
// followed the failed one in its PutEvents call, so consumers de-duplicate by
// event_id.
package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/outbox"
)

// Event item attributes and markers: the outbox package's.
const (
	attrType       = outbox.AttrType
	attrEventID    = outbox.AttrEventID
	attrEventType  = outbox.AttrEventType
	attrBrand      = outbox.AttrBrand
	attrOccurredAt = outbox.AttrOccurredAt
	attrDetail     = outbox.AttrDetail
	attrSK         = outbox.AttrSK

	// ItemType is the value of the type attribute of event items.
	ItemType = outbox.ItemType
	// sortKeyPrefix starts the sort key of event items.
	sortKeyPrefix = outbox.SortKeyPrefix
)

// Event is one outbox event, read from its stream record.
type Event struct {
	ID     string // event_id
	Type   string // event_type: the EventBridge detail-type
	Brand  string // brand; may be empty
	Detail string // detail: a JSON object
	// OccurredAt is occurred_at, the time of the state change.
	OccurredAt time.Time
	// SequenceNumber is the stream record's sequence number, the item
	// identifier of a batch item failure.
	SequenceNumber string
}

// ErrMalformed is wrapped by the errors of FromStreamRecord for event items
// that cannot be published.
var ErrMalformed = errors.New("malformed event item")

// FromStreamRecord reads the event of a stream record. It answers false for
// records that are not the insert of an event item (other items, updates,
// deletions, TTL expiries), which the relay skips. It answers true and an
// error wrapping ErrMalformed for an event item that cannot be published: a
// missing or mistyped attribute, an occurred_at that is not RFC 3339, a detail
// that is not a JSON object. The Event is then filled as far as it could be
// read, sequence number included, for the dead letter.
func FromStreamRecord(r events.DynamoDBEventRecord) (Event, bool, error) {
	ev := Event{SequenceNumber: r.Change.SequenceNumber}
	if r.EventName != string(events.DynamoDBOperationTypeInsert) {
		return ev, false, nil
	}
	img := r.Change.NewImage
	if len(img) == 0 {
		// Without an image nothing tells an event item apart, but its key
		// does: a stream that lost its NEW_IMAGE view must not drop events
		// silently.
		if sk, ok := stringAttr(r.Change.Keys, attrSK); ok && strings.HasPrefix(sk, sortKeyPrefix) {
			return ev, true, fmt.Errorf("%w: stream record %s has no new image (the stream view type must include NEW_IMAGE)", ErrMalformed, ev.SequenceNumber)
		}
		return ev, false, nil
	}
	if t, ok := stringAttr(img, attrType); !ok || t != ItemType {
		return ev, false, nil
	}

	var problems []string
	need := func(name string) string {
		v, ok := stringAttr(img, name)
		switch {
		case !present(img, name):
			problems = append(problems, "no "+name)
		case !ok:
			problems = append(problems, name+" is not a string")
		case v == "":
			problems = append(problems, name+" is empty")
		}
		return v
	}
	ev.ID = need(attrEventID)
	ev.Type = need(attrEventType)
	ev.Detail = need(attrDetail)
	if present(img, attrBrand) {
		b, ok := stringAttr(img, attrBrand)
		if !ok {
			problems = append(problems, attrBrand+" is not a string")
		}
		ev.Brand = b
	}
	if at := need(attrOccurredAt); at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			problems = append(problems, attrOccurredAt+" is not an RFC 3339 time")
		}
		ev.OccurredAt = t
	}
	if ev.Detail != "" && !isJSONObject(ev.Detail) {
		problems = append(problems, attrDetail+" is not a JSON object")
	}
	if len(problems) > 0 {
		return ev, true, fmt.Errorf("%w: %s", ErrMalformed, strings.Join(problems, ", "))
	}
	return ev, true, nil
}

// present tells whether the image has the attribute at all. The zero
// DynamoDBAttributeValue claims to be binary, so presence is the map's.
func present(img map[string]events.DynamoDBAttributeValue, name string) bool {
	_, ok := img[name]
	return ok
}

// stringAttr is the attribute's value if it is a string.
func stringAttr(img map[string]events.DynamoDBAttributeValue, name string) (string, bool) {
	v, ok := img[name]
	if !ok || v.DataType() != events.DataTypeString {
		return "", false
	}
	return v.String(), true
}

// isJSONObject tells whether s is one valid JSON object, as EventBridge
// requires of a detail.
func isJSONObject(s string) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal([]byte(s), &m) == nil && m != nil
}
