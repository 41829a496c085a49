package dynamo

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clsvc/license-service/internal/licensing"
)

type brandItem struct {
	PK        string    `dynamodbav:"pk"`
	SK        string    `dynamodbav:"sk"`
	Type      string    `dynamodbav:"type"`
	Slug      string    `dynamodbav:"slug"`
	Name      string    `dynamodbav:"name"`
	KeyPrefix string    `dynamodbav:"key_prefix"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	// Settings; absent means the default.
	StagingCap     int    `dynamodbav:"staging_cap,omitempty"`
	StaleAfterDays int    `dynamodbav:"stale_after_days,omitempty"`
	TokenGraceDays int    `dynamodbav:"token_grace_days,omitempty"`
	ReminderDays   string `dynamodbav:"expiry_reminder_days,omitempty"` // days, comma-separated
}

func (i brandItem) brand() licensing.Brand {
	return licensing.Brand{Slug: i.Slug, Name: i.Name, KeyPrefix: i.KeyPrefix, CreatedAt: i.CreatedAt,
		Settings: licensing.BrandSettings{StagingCap: i.StagingCap, StaleAfterDays: i.StaleAfterDays, TokenGraceDays: i.TokenGraceDays,
			ExpiryReminderDays: decodeDays(i.ReminderDays)}}
}

// ConfigureBrand writes a brand's settings, conditioned on the brand existing.
func (s *Store) ConfigureBrand(ctx context.Context, slug string, set licensing.BrandSettings) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.table,
		Key:                 keyOf(brandsPK(), brandSK(slug)),
		UpdateExpression:    aws.String("SET staging_cap = :cap, stale_after_days = :stale, token_grace_days = :grace, expiry_reminder_days = :reminders"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":cap": num(int64(set.StagingCap)), ":stale": num(int64(set.StaleAfterDays)), ":grace": num(int64(set.TokenGraceDays)),
			":reminders": str(encodeDays(set.ExpiryReminderDays)),
		},
	})
	if conditionFailed(err) {
		return licensing.Errorf(licensing.CodeBrandNotFound, "no brand %q", slug)
	}
	return fail("configure brand", err)
}

// apiKeyItem resolves a key hash to its tenant: the one read on every brand request.
type apiKeyItem struct {
	PK        string    `dynamodbav:"pk"`
	SK        string    `dynamodbav:"sk"`
	Type      string    `dynamodbav:"type"`
	Brand     string    `dynamodbav:"brand"`
	KeyPrefix string    `dynamodbav:"key_prefix"`
	KeyID     string    `dynamodbav:"key_id"`
	CreatedAt time.Time `dynamodbav:"created_at"`
}

// apiKeyRefItem lists a key under its brand.
type apiKeyRefItem struct {
	PK        string     `dynamodbav:"pk"`
	SK        string     `dynamodbav:"sk"`
	Type      string     `dynamodbav:"type"`
	Brand     string     `dynamodbav:"brand"`
	KeyID     string     `dynamodbav:"key_id"`
	Hash      string     `dynamodbav:"key_hash"`
	Hint      string     `dynamodbav:"hint"`
	CreatedAt time.Time  `dynamodbav:"created_at"`
	RevokedAt *time.Time `dynamodbav:"revoked_at,omitempty"`
}

func (i apiKeyRefItem) apiKey() licensing.APIKey {
	return licensing.APIKey{ID: i.KeyID, Brand: i.Brand, Hash: i.Hash, Hint: i.Hint, CreatedAt: i.CreatedAt, RevokedAt: i.RevokedAt}
}

const notExists = "attribute_not_exists(pk)"

// CreateBrand puts the brand and its prefix claim in one transaction.
func (s *Store) CreateBrand(ctx context.Context, b licensing.Brand) error {
	brand, err := attributevalue.MarshalMap(brandItem{PK: brandsPK(), SK: brandSK(b.Slug), Type: "brand", Slug: b.Slug, Name: b.Name, KeyPrefix: b.KeyPrefix, CreatedAt: b.CreatedAt})
	if err != nil {
		return err
	}
	prefix := keyOf(brandsPK(), prefixSK(b.KeyPrefix))
	prefix["type"] = str("brand_prefix")
	prefix["slug"] = str(b.Slug)
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: brand, ConditionExpression: aws.String(notExists)}},
		{Put: &types.Put{TableName: &s.table, Item: prefix, ConditionExpression: aws.String(notExists)}},
	}})
	if codes, ok := cancelled(err); ok && !unavailable(err) {
		if codes[0] == "ConditionalCheckFailed" {
			return licensing.Errorf(licensing.CodeAlreadyExists, "brand %q already exists", b.Slug)
		}
		return licensing.Errorf(licensing.CodeAlreadyExists, "key prefix %q is taken by another brand", b.KeyPrefix)
	}
	return fail("create brand", err)
}

// GetBrand reads one brand.
func (s *Store) GetBrand(ctx context.Context, slug string) (licensing.Brand, error) {
	it, found, err := getItem[brandItem](ctx, s, brandsPK(), brandSK(slug), false, "get brand")
	if err != nil {
		return licensing.Brand{}, err
	}
	if !found {
		return licensing.Brand{}, licensing.Errorf(licensing.CodeBrandNotFound, "no brand %q", slug)
	}
	return it.brand(), nil
}

// ListBrands lists every brand, by slug.
func (s *Store) ListBrands(ctx context.Context) ([]licensing.Brand, error) {
	rows, err := queryItems[brandItem](ctx, s, brandsPK(), "BRAND#", "list brands")
	if err != nil {
		return nil, err
	}
	out := make([]licensing.Brand, len(rows))
	for i, r := range rows {
		out[i] = r.brand()
	}
	return out, nil
}

// CreateAPIKey puts the hash lookup item, the brand's listing item and the
// ApiKeyCreated event in one transaction, conditioned on the brand existing.
func (s *Store) CreateAPIKey(ctx context.Context, b licensing.Brand, k licensing.APIKey, created licensing.Event) error {
	lookup, err := attributevalue.MarshalMap(apiKeyItem{PK: apiKeyPK(k.Hash), SK: skAPIKey, Type: "api_key", Brand: b.Slug, KeyPrefix: b.KeyPrefix, KeyID: k.ID, CreatedAt: k.CreatedAt})
	if err != nil {
		return err
	}
	ref, err := attributevalue.MarshalMap(apiKeyRefItem{PK: brandPK(b.Slug), SK: apiKeyRefSK(k.ID), Type: "api_key_ref", Brand: b.Slug, KeyID: k.ID, Hash: k.Hash, Hint: k.Hint, CreatedAt: k.CreatedAt})
	if err != nil {
		return err
	}
	events, err := s.eventPuts(created)
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append([]types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: &s.table, Key: keyOf(brandsPK(), brandSK(b.Slug)), ConditionExpression: aws.String("attribute_exists(pk)")}},
		{Put: &types.Put{TableName: &s.table, Item: lookup, ConditionExpression: aws.String(notExists)}},
		{Put: &types.Put{TableName: &s.table, Item: ref, ConditionExpression: aws.String(notExists)}},
	}, events...)})
	if codes, ok := cancelled(err); ok && !unavailable(err) {
		if codes[0] == "ConditionalCheckFailed" {
			return licensing.Errorf(licensing.CodeBrandNotFound, "no brand %q", b.Slug)
		}
		return licensing.Errorf(licensing.CodeAlreadyExists, "this API key is already registered")
	}
	return fail("create api key", err)
}

// ListAPIKeys lists a brand's keys, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, brand string) ([]licensing.APIKey, error) {
	return listByCreation(ctx, s, brandPK(brand), "APIKEY#", "list api keys", apiKeyRefItem.apiKey,
		func(k licensing.APIKey) time.Time { return k.CreatedAt })
}

// RevokeAPIKey deletes the hash lookup (so the key stops resolving at once),
// marks the listing revoked and writes the ApiKeyRevoked event, in one
// transaction.
func (s *Store) RevokeAPIKey(ctx context.Context, brand, id string, at time.Time, actor licensing.Actor) error {
	ref, found, err := getItem[apiKeyRefItem](ctx, s, brandPK(brand), apiKeyRefSK(id), true, "get api key")
	if err != nil {
		return err
	}
	notFound := licensing.Errorf(licensing.CodeAPIKeyNotFound, "brand %q has no active API key %q", brand, id)
	if !found || ref.RevokedAt != nil {
		return notFound
	}
	revoked, err := attributevalue.Marshal(at)
	if err != nil {
		return err
	}
	events, err := s.eventPuts(licensing.APIKeyEvent(licensing.EventAPIKeyRevoked, ref.apiKey(), at, actor))
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append([]types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &s.table, Key: keyOf(brandPK(brand), apiKeyRefSK(id)),
			UpdateExpression:          aws.String("SET revoked_at = :at"),
			ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(revoked_at)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":at": revoked},
		}},
		{Delete: &types.Delete{
			TableName: &s.table, Key: keyOf(apiKeyPK(ref.Hash), skAPIKey),
			ConditionExpression:       aws.String("brand = :brand"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":brand": str(brand)},
		}},
	}, events...)})
	if refusedByConditions(err) {
		return notFound
	}
	return fail("revoke api key", err)
}

// TenantForKeyHash resolves an API key hash with one GetItem.
func (s *Store) TenantForKeyHash(ctx context.Context, hash string) (licensing.Tenant, error) {
	it, found, err := getItem[apiKeyItem](ctx, s, apiKeyPK(hash), skAPIKey, false, "resolve api key")
	if err != nil {
		return licensing.Tenant{}, err
	}
	if !found {
		return licensing.Tenant{}, licensing.Errorf(licensing.CodeUnauthorized, "unknown or revoked API key")
	}
	return licensing.Tenant{Brand: it.Brand, KeyPrefix: it.KeyPrefix, APIKeyID: it.KeyID}, nil
}

// queryPrefix reads every item of a partition whose sort key starts with prefix.
func (s *Store) queryPrefix(ctx context.Context, pk, skPrefix string) ([]map[string]types.AttributeValue, error) {
	return s.queryAll(ctx, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk), ":sk": str(skPrefix),
		},
		ConsistentRead: aws.Bool(true),
	})
}

// queryAll reads every page of a Query, to the end: a listing is never
// silently cut short.
func (s *Store) queryAll(ctx context.Context, in *dynamodb.QueryInput) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
	}
	return items, nil
}
