package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
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

type keyItem struct {
	PK            string    `dynamodbav:"pk"`
	SK            string    `dynamodbav:"sk"`
	Type          string    `dynamodbav:"type"`
	KeyID         string    `dynamodbav:"key_id"`
	Key           string    `dynamodbav:"license_key"`
	Brand         string    `dynamodbav:"brand"`
	CustomerEmail string    `dynamodbav:"customer_email"`
	CreatedAt     time.Time `dynamodbav:"created_at"`
	GSI1PK        string    `dynamodbav:"gsi1pk"`
	GSI1SK        string    `dynamodbav:"gsi1sk"`
}

func (i keyItem) record() licensing.KeyRecord {
	return licensing.KeyRecord{ID: i.KeyID, Key: licensing.LicenseKey(i.Key), Brand: i.Brand, CustomerEmail: i.CustomerEmail, CreatedAt: i.CreatedAt}
}

type licenseItem struct {
	PK          string     `dynamodbav:"pk"`
	SK          string     `dynamodbav:"sk"`
	Type        string     `dynamodbav:"type"`
	LicenseID   string     `dynamodbav:"license_id"`
	Key         string     `dynamodbav:"license_key"`
	Brand       string     `dynamodbav:"brand"`
	ProductID   string     `dynamodbav:"product_id"`
	ProductSlug string     `dynamodbav:"product_slug"`
	ProductName string     `dynamodbav:"product_name,omitempty"`
	Status      string     `dynamodbav:"status"`
	Reason      string     `dynamodbav:"status_reason,omitempty"`
	SeatLimit   int        `dynamodbav:"seat_limit"`
	SeatsUsed   int        `dynamodbav:"seats_used"`
	NonProdUsed int        `dynamodbav:"nonprod_used"`
	ExpiresAt   *time.Time `dynamodbav:"expires_at,omitempty"`
	ExpiresUnix int64      `dynamodbav:"expires_unix,omitempty"` // expires_at for conditions
	CreatedAt   time.Time  `dynamodbav:"created_at"`
	UpdatedAt   time.Time  `dynamodbav:"updated_at"`
	Version     int64      `dynamodbav:"version"`
	GSI1PK      string     `dynamodbav:"gsi1pk"`
	GSI1SK      string     `dynamodbav:"gsi1sk"`
	// The expiry day's GSI2 entry, on licenses that expire.
	GSI2PK       string `dynamodbav:"gsi2pk,omitempty"`
	GSI2SK       string `dynamodbav:"gsi2sk,omitempty"`
	RemindedDays string `dynamodbav:"reminded_days,omitempty"` // days, comma-separated

	ExpiryAnnounced bool `dynamodbav:"expiry_announced,omitempty"`
}

func (i licenseItem) license() licensing.License {
	return licensing.License{
		ID: i.LicenseID, Key: licensing.LicenseKey(i.Key), Brand: i.Brand, ProductID: i.ProductID, ProductSlug: i.ProductSlug, ProductName: i.ProductName,
		Status: licensing.Status(i.Status), Reason: i.Reason, SeatLimit: i.SeatLimit, SeatsUsed: i.SeatsUsed, NonProdUsed: i.NonProdUsed,
		ExpiresAt: i.ExpiresAt, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt, Version: i.Version,
		RemindedDays: decodeDays(i.RemindedDays), ExpiryAnnounced: i.ExpiryAnnounced,
	}
}

func unixOrZero(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.Unix()
}

// pointerItem finds a brand's license by id.
type pointerItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Type      string `dynamodbav:"type"`
	Brand     string `dynamodbav:"brand"`
	LicenseID string `dynamodbav:"license_id"`
	Key       string `dynamodbav:"license_key"`
	ProductID string `dynamodbav:"product_id"`
	Product   string `dynamodbav:"product_slug"`
}

// sortable is a fixed-width UTC time that sorts as a string.
func sortable(t time.Time) string { return outbox.Sortable(t) }

func emailSK(k licensing.KeyRecord, sk string) string {
	return sortable(k.CreatedAt) + "#" + string(k.Key) + "#" + sk
}

// Provision writes a new key, its licenses, their pointers and e-mail index
// entries, and completes the idempotency record, in one transaction.
func (s *Store) Provision(ctx context.Context, p licensing.Provisioned, done *app.IdempotencyCompletion, events []licensing.Event) error {
	k := p.Key
	gsiPK := emailGSIPK(k.Brand, k.CustomerEmail)
	key, err := attributevalue.MarshalMap(keyItem{
		PK: keyPK(k.Key), SK: skKey, Type: "license_key", KeyID: k.ID, Key: string(k.Key), Brand: k.Brand,
		CustomerEmail: k.CustomerEmail, CreatedAt: k.CreatedAt, GSI1PK: gsiPK, GSI1SK: emailSK(k, skKey),
	})
	if err != nil {
		return err
	}
	cond := aws.String(notExists)
	writes := []types.TransactWriteItem{{Put: &types.Put{TableName: &s.table, Item: key, ConditionExpression: cond}}}
	for _, l := range p.Licenses {
		lic, err := attributevalue.MarshalMap(toLicenseItem(k, l))
		if err != nil {
			return err
		}
		ptr, err := attributevalue.MarshalMap(pointerItem{PK: licensePtrPK(k.Brand, l.ID), SK: skPtr, Type: "license_pointer", Brand: k.Brand, LicenseID: l.ID, Key: string(k.Key), ProductID: l.ProductID, Product: l.ProductSlug})
		if err != nil {
			return err
		}
		writes = append(writes,
			types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: lic, ConditionExpression: cond}},
			types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: ptr, ConditionExpression: cond}})
	}
	evPuts, err := s.eventPuts(events...)
	if err != nil {
		return err
	}
	writes = s.withCompletion(append(writes, evPuts...), done)
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
	if claimLost(err, done) {
		return errInProgress
	}
	if codes, ok := cancelled(err); ok && !unavailable(err) && codes[0] == "ConditionalCheckFailed" {
		return licensing.Errorf(licensing.CodeAlreadyExists, "license key collision")
	}
	return fail("provision", err)
}

func toLicenseItem(k licensing.KeyRecord, l licensing.License) licenseItem {
	sk := licenseSK(l.ProductSlug)
	return licenseItem{
		PK: keyPK(k.Key), SK: sk, Type: "license", LicenseID: l.ID, Key: string(k.Key), Brand: k.Brand,
		ProductID: l.ProductID, ProductSlug: l.ProductSlug, ProductName: l.ProductName, Status: string(l.Status), Reason: l.Reason,
		SeatLimit: l.SeatLimit, SeatsUsed: l.SeatsUsed, NonProdUsed: l.NonProdUsed, ExpiresAt: l.ExpiresAt, ExpiresUnix: unixOrZero(l.ExpiresAt),
		CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt, Version: l.Version,
		GSI1PK: emailGSIPK(k.Brand, k.CustomerEmail), GSI1SK: emailSK(k, sk),
		GSI2PK: expiryPK(l), GSI2SK: expirySK(l),
	}
}

// encodeDays and decodeDays store a license's reminders sent ("30,7").
func encodeDays(days []int) string {
	parts := make([]string, len(days))
	for i, d := range days {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, ",")
}

func decodeDays(s string) []int {
	var days []int
	for _, p := range strings.Split(s, ",") {
		if d, err := strconv.Atoi(p); err == nil {
			days = append(days, d)
		}
	}
	return days
}

// expiryPK and expirySK are a license's GSI2 entry: none for a perpetual one.
func expiryPK(l licensing.License) string {
	if l.ExpiresAt == nil {
		return ""
	}
	return expiryGSIPK(l.Brand, *l.ExpiresAt)
}

func expirySK(l licensing.License) string {
	if l.ExpiresAt == nil {
		return ""
	}
	return l.ID
}

// License finds a brand's license by id: its pointer, then the key and the
// license by their keys (never the key's seats).
func (s *Store) License(ctx context.Context, brand, id string) (licensing.LicenseView, error) {
	notFound := licensing.Errorf(licensing.CodeLicenseNotFound, "no such license")
	ptr, found, err := getItem[pointerItem](ctx, s, licensePtrPK(brand, id), skPtr, false, "get license pointer")
	if err != nil {
		return licensing.LicenseView{}, err
	}
	if !found {
		return licensing.LicenseView{}, notFound
	}
	v, err := s.seat(ctx, app.SeatQuery{Key: licensing.LicenseKey(ptr.Key), Product: ptr.Product}, true)
	if licensing.IsCode(err, licensing.CodeLicenseNotFound) || licensing.IsCode(err, licensing.CodeProductNotFound) {
		return licensing.LicenseView{}, notFound
	}
	if err != nil {
		return licensing.LicenseView{}, fail("read license", err)
	}
	if v.Key.Brand != brand || v.License.ID != id {
		return licensing.LicenseView{}, notFound
	}
	return licensing.LicenseView{Key: v.Key, License: v.License}, nil
}

// Activations pages through the seats of a key's license for a product, in
// sort-key order (instance type, then identifier), at most limit a page,
// strongly consistent; cursor is the opaque position a previous page
// returned ("" for the first page, "" back when there are no more).
func (s *Store) Activations(ctx context.Context, key licensing.LicenseKey, productSlug, cursor string, limit int) ([]licensing.Activation, string, error) {
	prefix := "ACT#" + productSlug + "#"
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :act)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(keyPK(key)), ":act": str(prefix)},
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(limit + 1)), // one more tells whether there is a next page
	}
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !strings.HasPrefix(string(raw), prefix) {
			return nil, "", licensing.Invalid("cursor", "is not a cursor this API returned")
		}
		in.ExclusiveStartKey = keyOf(keyPK(key), string(raw))
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fail("list activations", err)
	}
	items, next := out.Items, ""
	if len(items) > limit {
		items = items[:limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(stringAttr(items[limit-1], AttrSK)))
	}
	acts := make([]licensing.Activation, 0, len(items))
	for _, it := range items {
		var a activationItem
		if err := attributevalue.UnmarshalMap(it, &a); err != nil {
			return nil, "", fail("decode activation", err)
		}
		acts = append(acts, a.activation(keyItem{Key: string(key)}))
	}
	return acts, next, nil
}

// ActivationByID finds one seat of a key's license by its activation id. An
// id names no key of the table, so this pages through the license's seats
// with a filter (to the end, never truncated): a support action, not a
// product path.
func (s *Store) ActivationByID(ctx context.Context, key licensing.LicenseKey, productSlug, id string) (licensing.Activation, bool, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :act)"),
		FilterExpression:       aws.String("activation_id = :id"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(keyPK(key)), ":act": str("ACT#" + productSlug + "#"), ":id": str(id),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil || len(items) == 0 {
		return licensing.Activation{}, false, fail("find activation", err)
	}
	var a activationItem
	if err := attributevalue.UnmarshalMap(items[0], &a); err != nil {
		return licensing.Activation{}, false, fail("decode activation", err)
	}
	return a.activation(keyItem{Key: string(key)}), true, nil
}

// maxUpdateAttempts bounds the optimistic retries of UpdateLicense; the
// request's deadline usually ends them first.
const maxUpdateAttempts = 16

// UpdateLicense applies change to the license's current state and writes it
// conditioned on the version read; a concurrent change (a seat change moves
// the version too) makes it take a turn among the license's writers (see
// turns.go), then re-read and re-apply, so two changes never interleave and
// its events carry the state committed.
func (s *Store) UpdateLicense(ctx context.Context, brand, id string, done *app.IdempotencyCompletion, change func(licensing.LicenseView) (licensing.License, []licensing.Event, error)) (licensing.LicenseView, error) {
	c := contention{s: s}
	defer c.done(ctx)
	for attempt := range maxUpdateAttempts {
		began := time.Now()
		view, err := s.License(ctx, brand, id)
		if err != nil {
			return view, err
		}
		if again, err := c.read(ctx, view, view.Key.Key, view.License.ProductSlug); err != nil {
			return licensing.LicenseView{}, fmt.Errorf("update license %s: %w", id, err)
		} else if again {
			continue
		}
		next, evs, err := change(view)
		if err != nil {
			return view, err
		}
		update, err := s.licenseStateUpdate(next, view.License.Version)
		if err != nil {
			return view, err
		}
		puts, err := s.eventPuts(evs...)
		if err != nil {
			return view, err
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems: s.withCompletion(append([]types.TransactWriteItem{{Update: update}}, puts...), done),
		})
		if claimLost(err, done) {
			return view, errInProgress
		}
		if contended(err) {
			c.refusedBy(ctx, err, view, time.Since(began), attempt)
			continue
		}
		if err != nil {
			return view, fail("update license", err)
		}
		view.License = next
		return view, nil
	}
	return licensing.LicenseView{}, licensing.Unavailable(errors.New("license changed concurrently too often"))
}

// licenseStateUpdate is the conditional write of a lifecycle change.
func (s *Store) licenseStateUpdate(l licensing.License, prevVersion int64) (*types.Update, error) {
	updated, err := attributevalue.Marshal(l.UpdatedAt)
	if err != nil {
		return nil, err
	}
	values := map[string]types.AttributeValue{
		":status": str(string(l.Status)), ":updated": updated,
		":version": num(l.Version), ":prev": num(prevVersion),
	}
	// SET only: a cleared reason is stored empty, and a license never goes
	// from an expiry back to perpetual, so nothing is ever REMOVEd.
	set := []string{"#status = :status", "updated_at = :updated", "version = :version", "status_reason = :reason",
		"reminded_days = :reminded", "expiry_announced = :announced"}
	values[":reason"] = str(l.Reason)
	values[":reminded"], values[":announced"] = str(encodeDays(l.RemindedDays)), &types.AttributeValueMemberBOOL{Value: l.ExpiryAnnounced}
	if l.ExpiresAt != nil {
		exp, err := attributevalue.Marshal(*l.ExpiresAt)
		if err != nil {
			return nil, err
		}
		set = append(set, "expires_at = :expires", "expires_unix = :expires_unix", "gsi2pk = :gsi2pk", "gsi2sk = :gsi2sk")
		values[":expires"] = exp
		values[":expires_unix"] = num(l.ExpiresAt.Unix())
		values[":gsi2pk"], values[":gsi2sk"] = str(expiryPK(l)), str(expirySK(l))
	}
	return &types.Update{
		TableName:                 &s.table,
		Key:                       keyOf(keyPK(l.Key), licenseSK(l.ProductSlug)),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ")),
		ConditionExpression:       aws.String("attribute_exists(pk) AND version = :prev"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: values,
	}, nil
}

// ExpiringOn lists a brand's licenses that expire on the (UTC) day of day,
// from the sparse expiry index (eventually consistent: a renewal may show a
// moment later; the job that uses it reads each license again before it
// writes).
func (s *Store) ExpiringOn(ctx context.Context, brand string, day time.Time) ([]licensing.License, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(IndexByExpiry),
		KeyConditionExpression:    aws.String("gsi2pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(expiryGSIPK(brand, day))},
	})
	if err != nil {
		return nil, fail("query licenses by expiry", err)
	}
	out := make([]licensing.License, 0, len(items))
	for _, it := range items {
		var l licenseItem
		if err := attributevalue.UnmarshalMap(it, &l); err != nil {
			return nil, fail("decode license", err)
		}
		out = append(out, l.license())
	}
	return out, nil
}

// LicensesByEmail lists a brand's keys for a customer, oldest first, with one
// Query of the e-mail index (eventually consistent, as every GSI read).
func (s *Store) LicensesByEmail(ctx context.Context, brand, email string) ([]licensing.KeyLicenses, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(IndexByMail),
		KeyConditionExpression:    aws.String("gsi1pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(emailGSIPK(brand, email))},
	})
	if err != nil {
		return nil, fail("query licenses by email", err)
	}
	var out []licensing.KeyLicenses
	index := map[string]int{}
	group := func(key string) int {
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, licensing.KeyLicenses{})
		}
		return i
	}
	for _, it := range items {
		typ, _ := it["type"].(*types.AttributeValueMemberS)
		if typ == nil {
			continue
		}
		switch typ.Value {
		case "license_key":
			var k keyItem
			if err := attributevalue.UnmarshalMap(it, &k); err != nil {
				return nil, fail("decode license key", err)
			}
			out[group(k.Key)].Key = k.record()
		case "license":
			var l licenseItem
			if err := attributevalue.UnmarshalMap(it, &l); err != nil {
				return nil, fail("decode license", err)
			}
			i := group(l.Key)
			out[i].Licenses = append(out[i].Licenses, l.license())
		}
	}
	// Drop groups whose key item the index has not caught up with yet.
	kept := out[:0]
	for _, g := range out {
		if g.Key.Brand == brand {
			kept = append(kept, g)
		}
	}
	return kept, nil
}
