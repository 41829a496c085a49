package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

func webhookSK(id string) string { return "WEBHOOK#" + id }

// deliveryPK is the partition of an endpoint's deliveries.
func deliveryPK(brand, endpointID string) string { return "BRAND#" + brand + "#WEBHOOK#" + endpointID }

const deliverySKPrefix = "DLV#"

type webhookItem struct {
	PK             string     `dynamodbav:"pk"`
	SK             string     `dynamodbav:"sk"`
	Type           string     `dynamodbav:"type"`
	ID             string     `dynamodbav:"webhook_id"`
	Brand          string     `dynamodbav:"brand"`
	URL            string     `dynamodbav:"url"`
	EventTypes     []string   `dynamodbav:"event_types"`
	Secret         string     `dynamodbav:"secret"`
	PreviousSecret string     `dynamodbav:"previous_secret,omitempty"`
	PreviousUntil  *time.Time `dynamodbav:"previous_until,omitempty"`
	Status         string     `dynamodbav:"status"`
	DisabledReason string     `dynamodbav:"disabled_reason,omitempty"`
	DisabledAt     *time.Time `dynamodbav:"disabled_at,omitempty"`
	FailingSince   *time.Time `dynamodbav:"failing_since,omitempty"`
	CreatedAt      time.Time  `dynamodbav:"created_at"`
	Version        int64      `dynamodbav:"version"`
}

func toWebhookItem(w licensing.WebhookEndpoint) webhookItem {
	return webhookItem{PK: brandPK(w.Brand), SK: webhookSK(w.ID), Type: "webhook", ID: w.ID, Brand: w.Brand, URL: w.URL,
		EventTypes: w.EventTypes, Secret: w.Secret, PreviousSecret: w.PreviousSecret, PreviousUntil: w.PreviousUntil,
		Status: string(w.Status), DisabledReason: w.DisabledReason, DisabledAt: w.DisabledAt, FailingSince: w.FailingSince,
		CreatedAt: w.CreatedAt, Version: w.Version}
}

func (i webhookItem) endpoint() licensing.WebhookEndpoint {
	return licensing.WebhookEndpoint{ID: i.ID, Brand: i.Brand, URL: i.URL, EventTypes: i.EventTypes, Secret: i.Secret,
		PreviousSecret: i.PreviousSecret, PreviousUntil: i.PreviousUntil, Status: licensing.WebhookStatus(i.Status),
		DisabledReason: i.DisabledReason, DisabledAt: i.DisabledAt, FailingSince: i.FailingSince, CreatedAt: i.CreatedAt, Version: i.Version}
}

type attemptItem struct {
	At         time.Time `dynamodbav:"at"`
	StatusCode int       `dynamodbav:"status_code,omitempty"`
	LatencyMS  int64     `dynamodbav:"latency_ms"`
	Error      string    `dynamodbav:"error,omitempty"`
	Manual     bool      `dynamodbav:"manual,omitempty"`
}

type deliveryItem struct {
	PK         string        `dynamodbav:"pk"`
	SK         string        `dynamodbav:"sk"`
	Type       string        `dynamodbav:"type"`
	ID         string        `dynamodbav:"delivery_id"`
	Brand      string        `dynamodbav:"brand"`
	EndpointID string        `dynamodbav:"webhook_id"`
	EventID    string        `dynamodbav:"event_id"`
	EventType  string        `dynamodbav:"event_type"`
	EventAt    time.Time     `dynamodbav:"event_at"`
	Body       []byte        `dynamodbav:"body"`
	Status     string        `dynamodbav:"status"`
	Attempts   []attemptItem `dynamodbav:"attempts"`
	Count      int           `dynamodbav:"attempt_count"`
	UpdatedAt  time.Time     `dynamodbav:"updated_at"`
	TTL        int64         `dynamodbav:"ttl"`
}

func (i deliveryItem) delivery() licensing.WebhookDelivery {
	d := licensing.WebhookDelivery{ID: i.ID, Brand: i.Brand, EndpointID: i.EndpointID, EventID: i.EventID, EventType: licensing.EventType(i.EventType),
		EventAt: i.EventAt, Body: i.Body, Status: licensing.DeliveryStatus(i.Status), Count: i.Count, UpdatedAt: i.UpdatedAt}
	for _, a := range i.Attempts {
		d.Attempts = append(d.Attempts, licensing.DeliveryAttempt{At: a.At, StatusCode: a.StatusCode, LatencyMS: a.LatencyMS, Error: a.Error, Manual: a.Manual})
	}
	return d
}

// CreateWebhook puts a new endpoint under its brand.
func (s *Store) CreateWebhook(ctx context.Context, w licensing.WebhookEndpoint, done *app.IdempotencyCompletion) error {
	return s.putNew(ctx, toWebhookItem(w), licensing.Errorf(licensing.CodeAlreadyExists, "webhook endpoint %q exists", w.ID), "create webhook", done)
}

// Webhooks lists a brand's endpoints: one Query of the WEBHOOK# items of
// its partition.
func (s *Store) Webhooks(ctx context.Context, brand string) ([]licensing.WebhookEndpoint, error) {
	return listByCreation(ctx, s, brandPK(brand), "WEBHOOK#", "list webhooks", webhookItem.endpoint,
		func(w licensing.WebhookEndpoint) time.Time { return w.CreatedAt })
}

// Webhook reads one endpoint, strongly consistent.
func (s *Store) Webhook(ctx context.Context, brand, id string) (licensing.WebhookEndpoint, error) {
	it, found, err := getItem[webhookItem](ctx, s, brandPK(brand), webhookSK(id), true, "get webhook")
	if err != nil {
		return licensing.WebhookEndpoint{}, err
	}
	if !found {
		return licensing.WebhookEndpoint{}, licensing.Errorf(licensing.CodeWebhookNotFound, "no such webhook endpoint")
	}
	return it.endpoint(), nil
}

// DeleteWebhook deletes an endpoint and returns it as it was; its
// deliveries expire by their ttl. With done, it reads the endpoint first and
// deletes it conditioned on the version read, in one transaction that
// completes done with it.
func (s *Store) DeleteWebhook(ctx context.Context, brand, id string, done *app.IdempotencyCompletion) (licensing.WebhookEndpoint, error) {
	notFound := licensing.Errorf(licensing.CodeWebhookNotFound, "no such webhook endpoint")
	if done != nil {
		return s.deleteWebhookOnce(ctx, brand, id, done)
	}
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: keyOf(brandPK(brand), webhookSK(id)),
		ConditionExpression: aws.String("attribute_exists(pk)"), ReturnValues: types.ReturnValueAllOld})
	if conditionFailed(err) {
		return licensing.WebhookEndpoint{}, notFound
	}
	if err != nil {
		return licensing.WebhookEndpoint{}, fail("delete webhook", err)
	}
	var it webhookItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &it); err != nil {
		return licensing.WebhookEndpoint{}, fail("decode webhook", err)
	}
	return it.endpoint(), nil
}

func (s *Store) deleteWebhookOnce(ctx context.Context, brand, id string, done *app.IdempotencyCompletion) (licensing.WebhookEndpoint, error) {
	for attempt := range maxWebhookAttempts {
		w, err := s.Webhook(ctx, brand, id)
		if err != nil {
			return w, err
		}
		if err := done.SetResult(w); err != nil {
			return w, err
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.withCompletion([]types.TransactWriteItem{
			{Delete: &types.Delete{TableName: &s.table, Key: keyOf(brandPK(brand), webhookSK(id)), ConditionExpression: aws.String("version = :v"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(w.Version)}}},
		}, done)})
		if claimLost(err, done) {
			return w, errInProgress
		}
		if contended(err) {
			backoff(ctx, attempt) // changed or deleted since read: read again
			continue
		}
		if err != nil {
			return w, fail("delete webhook", err)
		}
		return w, nil
	}
	return licensing.WebhookEndpoint{}, licensing.Unavailable(errors.New("webhook endpoint changed concurrently too often"))
}

// maxWebhookAttempts bounds UpdateWebhook's retries on concurrent changes.
const maxWebhookAttempts = 8

// UpdateWebhook reads, changes and writes an endpoint with its events, in
// one transaction conditioned on the version read.
func (s *Store) UpdateWebhook(ctx context.Context, brand, id string, done *app.IdempotencyCompletion,
	change func(licensing.WebhookEndpoint) (licensing.WebhookEndpoint, []licensing.Event, error)) (licensing.WebhookEndpoint, error) {
	for attempt := range maxWebhookAttempts {
		before, err := s.Webhook(ctx, brand, id)
		if err != nil {
			return before, err
		}
		next, evs, err := change(before)
		if err != nil {
			return next, err
		}
		if next.Version == before.Version {
			return next, s.completeAlone(ctx, done)
		}
		item, err := attributevalue.MarshalMap(toWebhookItem(next))
		if err != nil {
			return before, err
		}
		puts, err := s.eventPuts(evs...)
		if err != nil {
			return before, err
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.withCompletion(append([]types.TransactWriteItem{
			{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String("version = :v"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(before.Version)}}},
		}, puts...), done)})
		if claimLost(err, done) {
			return before, errInProgress
		}
		if contended(err) {
			backoff(ctx, attempt)
			continue
		}
		if err != nil {
			return before, fail("update webhook", err)
		}
		return next, nil
	}
	return licensing.WebhookEndpoint{}, licensing.Unavailable(errors.New("webhook endpoint changed concurrently too often"))
}

// PutDelivery writes a delivery as it now stands (one item per event and
// endpoint, its attempts inside), conditioned on the attempts counted when
// it was read.
func (s *Store) PutDelivery(ctx context.Context, d licensing.WebhookDelivery, readCount int, expires time.Time, done *app.IdempotencyCompletion) error {
	it := deliveryItem{PK: deliveryPK(d.Brand, d.EndpointID), SK: deliverySKPrefix + d.ID, Type: "webhook_delivery", ID: d.ID,
		Brand: d.Brand, EndpointID: d.EndpointID, EventID: d.EventID, EventType: string(d.EventType), EventAt: d.EventAt,
		Body: d.Body, Status: string(d.Status), Count: d.Count, UpdatedAt: d.UpdatedAt, TTL: epoch(expires)}
	for _, a := range d.Attempts {
		it.Attempts = append(it.Attempts, attemptItem{At: a.At, StatusCode: a.StatusCode, LatencyMS: a.LatencyMS, Error: a.Error, Manual: a.Manual})
	}
	item, err := attributevalue.MarshalMap(it)
	if err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: item, ConditionExpression: aws.String(notExists)}
	if readCount > 0 {
		in.ConditionExpression = aws.String("attempt_count = :n")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":n": num(int64(readCount))}
	}
	if done == nil {
		_, err = s.db.PutItem(ctx, in)
	} else {
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.withCompletion([]types.TransactWriteItem{
			{Put: &types.Put{TableName: in.TableName, Item: in.Item, ConditionExpression: in.ConditionExpression, ExpressionAttributeValues: in.ExpressionAttributeValues}},
		}, done)})
		if claimLost(err, done) {
			return errInProgress
		}
	}
	if conditionFailed(err) || refusedByConditions(err) {
		return fmt.Errorf("put delivery %s: %w", d.ID, app.ErrStale)
	}
	return fail("put delivery", err)
}

// Delivery reads one delivery by key, strongly consistent.
func (s *Store) Delivery(ctx context.Context, brand, endpointID, deliveryID string) (licensing.WebhookDelivery, bool, error) {
	it, found, err := getItem[deliveryItem](ctx, s, deliveryPK(brand, endpointID), deliverySKPrefix+deliveryID, true, "get delivery")
	if err != nil || !found {
		return licensing.WebhookDelivery{}, found, err
	}
	return it.delivery(), true, nil
}

// Deliveries reads a page of an endpoint's deliveries, newest event first;
// the cursor is the last sort key read (base64url), opaque to clients.
func (s *Store) Deliveries(ctx context.Context, brand, endpointID, cursor string, limit int) ([]licensing.WebhookDelivery, string, error) {
	pk := deliveryPK(brand, endpointID)
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :dlv)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":dlv": str(deliverySKPrefix)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	}
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !strings.HasPrefix(string(raw), deliverySKPrefix) || !licensing.ValidDeliveryID(strings.TrimPrefix(string(raw), deliverySKPrefix)) {
			return nil, "", licensing.Invalid("cursor", "is not a cursor this API returned")
		}
		in.ExclusiveStartKey = keyOf(pk, string(raw))
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fail("query deliveries", err)
	}
	var rows []deliveryItem
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &rows); err != nil {
		return nil, "", fail("decode deliveries", err)
	}
	ds := make([]licensing.WebhookDelivery, len(rows))
	for i, r := range rows {
		ds[i] = r.delivery()
	}
	next := ""
	if sk, ok := out.LastEvaluatedKey[AttrSK].(*types.AttributeValueMemberS); ok && len(rows) == limit {
		next = base64.RawURLEncoding.EncodeToString([]byte(sk.Value))
	}
	return ds, next, nil
}
