package dynamo

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/outbox"
)

// EventRetention is how long event items stay (see outbox.Retention).
const EventRetention = outbox.Retention

// eventPuts are the transaction steps that write events into the outbox.
func (s *Store) eventPuts(evs ...licensing.Event) ([]types.TransactWriteItem, error) {
	out := make([]types.TransactWriteItem, 0, len(evs))
	for i, e := range evs {
		detail, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode event: %w", err)
		}
		// The position within the transaction orders events of one instant.
		item, err := attributevalue.MarshalMap(outbox.NewItem(e.Brand, e.LicenseID, e.ID, string(e.Type), e.OccurredAt, i, detail))
		if err != nil {
			return nil, err
		}
		out = append(out, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String(notExists)}})
	}
	return out, nil
}

// LicenseEvents reads a license's events, newest first, a page at a time;
// the cursor is opaque to clients (the last sort key read, base64url).
func (s *Store) LicenseEvents(ctx context.Context, brand, licenseID, cursor string, limit int) ([]app.StoredEvent, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :evt)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(outbox.LicensePK(brand, licenseID)), ":evt": str(outbox.SortKeyPrefix)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	}
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !strings.HasPrefix(string(raw), outbox.SortKeyPrefix) {
			return nil, "", licensing.Invalid("cursor", "is not a cursor this API returned")
		}
		in.ExclusiveStartKey = keyOf(outbox.LicensePK(brand, licenseID), string(raw))
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fail("query license events", err)
	}
	var rows []outbox.Item
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &rows); err != nil {
		return nil, "", fail("decode license events", err)
	}
	evs := make([]app.StoredEvent, len(rows))
	for i, r := range rows {
		at, _ := time.Parse(time.RFC3339Nano, r.OccurredAt)
		evs[i] = app.StoredEvent{ID: r.EventID, Type: licensing.EventType(r.EventType), OccurredAt: at, Detail: json.RawMessage(r.Detail)}
	}
	next := ""
	if sk, ok := out.LastEvaluatedKey[AttrSK].(*types.AttributeValueMemberS); ok && len(rows) == limit {
		next = base64.RawURLEncoding.EncodeToString([]byte(sk.Value))
	}
	return evs, next, nil
}

// EventItem is a stored outbox item as the relay takes it: its attributes,
// and when it occurred (zero when occurred_at cannot be read; the relay
// dead-letters such an item).
type EventItem struct {
	OccurredAt time.Time
	Item       map[string]types.AttributeValue
}

// AllEventItems reads every stored event item, oldest first, then by sort
// key and partition key, so the events of one transaction keep their order;
// items whose time cannot be read come first. It is a Scan of the table
// filtered to event items: the local relay's view of the outbox, and the
// operator's when republishing, never a hot path.
func (s *Store) AllEventItems(ctx context.Context) ([]EventItem, error) {
	type found struct {
		EventItem
		pk, sk string
	}
	var all []found
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{
		TableName:                 &s.table,
		FilterExpression:          aws.String("#type = :event"),
		ExpressionAttributeNames:  map[string]string{"#type": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":event": str("event")},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fail("scan event items", err)
		}
		for _, it := range page.Items {
			f := found{EventItem: EventItem{Item: it}, pk: stringAttr(it, AttrPK), sk: stringAttr(it, AttrSK)}
			if at, err := time.Parse(time.RFC3339Nano, stringAttr(it, "occurred_at")); err == nil {
				f.OccurredAt = at
			}
			all = append(all, f)
		}
	}
	slices.SortStableFunc(all, func(a, b found) int {
		return cmp.Or(a.OccurredAt.Compare(b.OccurredAt), cmp.Compare(a.sk, b.sk), cmp.Compare(a.pk, b.pk))
	})
	out := make([]EventItem, len(all))
	for i, f := range all {
		out[i] = f.EventItem
	}
	return out, nil
}

// EventItems reads the stored event items that occurred in [since, until),
// in the order of AllEventItems, for republishing, and counts the event
// items whose occurred_at cannot be read (no window can hold them).
func (s *Store) EventItems(ctx context.Context, since, until time.Time) (items []map[string]types.AttributeValue, unreadable int, err error) {
	all, err := s.AllEventItems(ctx)
	if err != nil {
		return nil, 0, err
	}
	for _, e := range all {
		switch {
		case e.OccurredAt.IsZero():
			unreadable++
		case !e.OccurredAt.Before(since) && e.OccurredAt.Before(until):
			items = append(items, e.Item)
		}
	}
	return items, unreadable, nil
}

// stringAttr is a string attribute of an item, or "".
func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
