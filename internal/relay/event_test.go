package relay

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStreamRecordFromItemRoundTrip(t *testing.T) {
	item := eventItem(7, 3)
	item["tags"] = &types.AttributeValueMemberSS{Value: []string{"a", "b"}}
	item["counts"] = &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}}
	item["flag"] = &types.AttributeValueMemberBOOL{Value: true}
	item["gone"] = &types.AttributeValueMemberNULL{Value: true}
	item["blob"] = &types.AttributeValueMemberB{Value: []byte{1, 2}}
	item["meta"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		"seats": &types.AttributeValueMemberN{Value: "5"},
		"list": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: "x"},
			&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"ok": &types.AttributeValueMemberBOOL{Value: false}}},
		}},
	}}

	rec := StreamRecordFromItem(item, seqOf(7))

	assert.Equal(t, "INSERT", rec.EventName)
	assert.Equal(t, "aws:dynamodb", rec.EventSource)
	assert.Equal(t, seqOf(7), rec.Change.SequenceNumber)
	assert.Equal(t, "NEW_IMAGE", rec.Change.StreamViewType)
	assert.ElementsMatch(t, []string{"pk", "sk"}, slices.Collect(maps.Keys(rec.Change.Keys)))
	img := rec.Change.NewImage
	assert.Len(t, img, len(item))
	assert.Equal(t, "event", img["type"].String())
	assert.Equal(t, item["ttl"].(*types.AttributeValueMemberN).Value, img["ttl"].Number())
	assert.Equal(t, []string{"a", "b"}, img["tags"].StringSet())
	assert.Equal(t, []string{"1", "2.5"}, img["counts"].NumberSet())
	assert.True(t, img["flag"].Boolean())
	assert.True(t, img["gone"].IsNull())
	assert.Equal(t, []byte{1, 2}, img["blob"].Binary())
	meta := img["meta"].Map()
	assert.Equal(t, "5", meta["seats"].Number())
	list := meta["list"].List()
	require.Len(t, list, 2)
	assert.Equal(t, "x", list[0].String())
	assert.False(t, list[1].Map()["ok"].Boolean())

	ev, ok, err := FromStreamRecord(rec)
	require.NoError(t, err)
	require.True(t, ok)
	at := baseTime.Add(7 * time.Millisecond)
	assert.Equal(t, Event{
		ID: eventID(7), Type: "LicenseActivated", Brand: "acme",
		Detail:     item["detail"].(*types.AttributeValueMemberS).Value,
		OccurredAt: ev.OccurredAt, SequenceNumber: seqOf(7),
	}, ev)
	assert.True(t, at.Equal(ev.OccurredAt), "occurred_at keeps its nanoseconds")

	// The record survives Lambda's JSON as well.
	b, err := rec.Change.NewImage["meta"].MarshalJSON()
	require.NoError(t, err)
	assert.JSONEq(t, `{"M":{"seats":{"N":"5"},"list":{"L":[{"S":"x"},{"M":{"ok":{"BOOL":false}}}]}}}`, string(b))
}

func TestFromStreamRecordMalformed(t *testing.T) {
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	num := &types.AttributeValueMemberN{Value: "1"}
	for name, c := range map[string]struct {
		attr string
		val  types.AttributeValue // nil: no such attribute
		want string
	}{
		"no event_id":      {"event_id", nil, "no event_id"},
		"no event_type":    {"event_type", nil, "no event_type"},
		"no detail":        {"detail", nil, "no detail"},
		"no occurred_at":   {"occurred_at", nil, "no occurred_at"},
		"empty event_type": {"event_type", str(""), "event_type is empty"},
		"numeric event_id": {"event_id", num, "event_id is not a string"},
		"numeric brand":    {"brand", num, "brand is not a string"},
		"bad time":         {"occurred_at", str("yesterday"), "occurred_at is not an RFC 3339 time"},
		"detail not json":  {"detail", str("{oops"), "detail is not a JSON object"},
		"detail an array":  {"detail", str("[1]"), "detail is not a JSON object"},
		"detail null":      {"detail", str("null"), "detail is not a JSON object"},
		"detail trailing":  {"detail", str("{} {}"), "detail is not a JSON object"},
	} {
		t.Run(name, func(t *testing.T) {
			item := eventItem(1, 0)
			if c.val == nil {
				delete(item, c.attr)
			} else {
				item[c.attr] = c.val
			}
			ev, ok, err := FromStreamRecord(StreamRecordFromItem(item, seqOf(1)))
			require.Error(t, err)
			assert.True(t, ok, "an event item, if a malformed one")
			assert.True(t, errors.Is(err, ErrMalformed))
			assert.Contains(t, err.Error(), c.want)
			assert.Equal(t, seqOf(1), ev.SequenceNumber, "the dead letter names the record")
		})
	}
}

func TestFromStreamRecordOptionalBrand(t *testing.T) {
	item := eventItem(1, 0)
	delete(item, "brand")
	ev, ok, err := FromStreamRecord(StreamRecordFromItem(item, seqOf(1)))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Empty(t, ev.Brand)
}

func TestFromStreamRecordSkips(t *testing.T) {
	ins := StreamRecordFromItem(eventItem(1, 0), "1")
	for name, rec := range map[string]events.DynamoDBEventRecord{
		"modify":       func() events.DynamoDBEventRecord { r := ins; r.EventName = "MODIFY"; return r }(),
		"remove":       func() events.DynamoDBEventRecord { r := ins; r.EventName = "REMOVE"; return r }(),
		"other type":   StreamRecordFromItem(map[string]types.AttributeValue{"type": &types.AttributeValueMemberS{Value: "seat"}}, "2"),
		"numeric type": StreamRecordFromItem(map[string]types.AttributeValue{"type": &types.AttributeValueMemberN{Value: "1"}}, "3"),
		"no type":      StreamRecordFromItem(map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}}, "4"),
		"no image":     {EventName: "INSERT", Change: events.DynamoDBStreamRecord{SequenceNumber: "5"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, ok, err := FromStreamRecord(rec)
			assert.NoError(t, err)
			assert.False(t, ok)
		})
	}
}

func TestFromStreamRecordEventInsertWithoutImage(t *testing.T) {
	rec := StreamRecordFromItem(eventItem(1, 0), seqOf(1))
	rec.Change.NewImage = nil // a KEYS_ONLY stream
	_, ok, err := FromStreamRecord(rec)
	assert.True(t, ok)
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "NEW_IMAGE")
}
