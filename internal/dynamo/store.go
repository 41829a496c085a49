// Package dynamo is the DynamoDB adapter: one table, single-table design.
//
// Items (pk / sk):
//
//	BRANDS                   / BRAND#<slug>        a brand
//	BRANDS                   / PREFIX#<prefix>     claims a key prefix for one brand
//	APIKEY#<sha256>          / APIKEY              resolves an API key hash to its brand
//	BRAND#<slug>             / APIKEY#<id>         a brand's API key as listed (hash, hint, revoked_at)
//	BRAND#<slug>             / PRODUCT#<slug>      a product
//	KEY#<license key>        / KEY                 a license key (customer e-mail; GSI1 entry)
//	KEY#<license key>        / LIC#<product slug>  a license (status, seats, expiry, version; GSI1 entry)
//	BRAND#<slug>#LIC#<id>    / LIC                 points a brand's license id at its key and product
//	BRAND#<slug>#IDEM#<key>  / IDEM                an idempotency record (expires via ttl)
//
// A license key's partition is keyed by the key itself, whose prefix is its
// brand's (prefixes are unique), so one Query answers everything about a key
// without knowing the brand first; every brand-side read checks the stored
// brand. GSI1 (gsi1pk = BRAND#<slug>#EMAIL#<email>, gsi1sk = <created>#<key>#<sk>)
// lists a customer's keys and licenses within one brand. GSI2, sparse
// (gsi2pk = BRAND#<slug>#EXPIRES#<yyyy-mm-dd>, gsi2sk = <license id>, only on
// licenses that expire), lists a brand's licenses expiring on a day.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

// Attribute and index names of the table.
const (
	AttrPK      = "pk"
	AttrSK      = "sk"
	AttrGSI1PK  = "gsi1pk"
	AttrGSI1SK  = "gsi1sk"
	AttrTTL     = "ttl"
	IndexByMail = "gsi1"

	AttrGSI2PK    = "gsi2pk"
	AttrGSI2SK    = "gsi2sk"
	IndexByExpiry = "gsi2"
)

// Store implements the app's storage ports on one DynamoDB table.
type Store struct {
	db    *dynamodb.Client
	table string
	slugs sync.Map // product id → slug, learned from the licenses read
}

var _ app.Store = (*Store)(nil)

// New returns a Store on the named table.
func New(db *dynamodb.Client, table string) *Store {
	return &Store{db: db, table: table}
}

// Client is the DynamoDB client the store uses.
func (s *Store) Client() *dynamodb.Client { return s.db }

// Table is the table's name.
func (s *Store) Table() string { return s.table }

func brandsPK() string                      { return "BRANDS" }
func brandSK(slug string) string            { return "BRAND#" + slug }
func prefixSK(prefix string) string         { return "PREFIX#" + prefix }
func apiKeyPK(hash string) string           { return "APIKEY#" + hash }
func brandPK(slug string) string            { return "BRAND#" + slug }
func apiKeyRefSK(id string) string          { return "APIKEY#" + id }
func productSK(slug string) string          { return "PRODUCT#" + slug }
func keyPK(k licensing.LicenseKey) string   { return "KEY#" + string(k) }
func licenseSK(productSlug string) string   { return "LIC#" + productSlug }
func licensePtrPK(brand, id string) string  { return "BRAND#" + brand + "#LIC#" + id }
func idemPK(brand, key string) string       { return "BRAND#" + brand + "#IDEM#" + key }
func emailGSIPK(brand, email string) string { return "BRAND#" + brand + "#EMAIL#" + email }

// expiryGSIPK is the GSI2 partition of a brand's licenses expiring on the
// (UTC) day of at.
func expiryGSIPK(brand string, at time.Time) string {
	return "BRAND#" + brand + "#EXPIRES#" + at.UTC().Format(time.DateOnly)
}

const (
	skKey    = "KEY"
	skAPIKey = "APIKEY"
	skPtr    = "LIC"
	skIdem   = "IDEM"
)

func keyOf(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: pk},
		AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}
}

// fail wraps a DynamoDB error: throttling, server faults, timeouts and
// connection failures become service_unavailable (the client may retry);
// anything else is an internal error. Domain errors pass through.
func fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*licensing.Error](err); ok {
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("dynamodb %s: %w", op, licensing.Unavailable(err))
	}
	return fmt.Errorf("dynamodb %s: %w", op, err)
}

func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	if _, ok := errors.AsType[*types.ProvisionedThroughputExceededException](err); ok {
		return true
	}
	if _, ok := errors.AsType[*types.RequestLimitExceeded](err); ok {
		return true
	}
	if _, ok := errors.AsType[*types.InternalServerError](err); ok {
		return true
	}
	if tce, ok := errors.AsType[*types.TransactionCanceledException](err); ok {
		for _, r := range tce.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded":
				return true
			}
		}
	}
	if _, ok := errors.AsType[*types.TransactionInProgressException](err); ok {
		return true
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		switch ae.ErrorCode() {
		case "ThrottlingException", "ServiceUnavailable", "InternalFailure", "InternalServerError":
			return true
		}
		return ae.ErrorFault() == smithy.FaultServer
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
			return true
		}
	}
	return false
}

// conditionFailed reports whether err is a failed condition of a single-item write.
func conditionFailed(err error) bool {
	_, ok := errors.AsType[*types.ConditionalCheckFailedException](err)
	return ok
}

// cancelled returns the cancellation reason codes of a cancelled transaction.
func cancelled(err error) ([]string, bool) {
	tce, ok := errors.AsType[*types.TransactionCanceledException](err)
	if !ok {
		return nil, false
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
	}
	return codes, true
}

func epoch(t time.Time) int64 { return t.Unix() }

// putNew puts an item unless one with its key exists (then it fails with
// exists); with done, in one transaction that completes it.
func (s *Store) putNew(ctx context.Context, item any, exists *licensing.Error, op string, done *app.IdempotencyCompletion) error {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return err
	}
	put := &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String(notExists)}
	if done == nil {
		_, err = s.db.PutItem(ctx, put)
		if conditionFailed(err) {
			return exists
		}
		return fail(op, err)
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.withCompletion([]types.TransactWriteItem{
		{Put: &types.Put{TableName: put.TableName, Item: put.Item, ConditionExpression: put.ConditionExpression}},
	}, done)})
	if claimLost(err, done) {
		return errInProgress
	}
	if refusedByConditions(err) {
		return exists
	}
	return fail(op, err)
}

// getItem reads one item into T; found is false when there is none.
func getItem[T any](ctx context.Context, s *Store, pk, sk string, consistent bool, op string) (it T, found bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: keyOf(pk, sk), ConsistentRead: aws.Bool(consistent)})
	if err != nil {
		return it, false, fail(op, err)
	}
	if out.Item == nil {
		return it, false, nil
	}
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return it, false, fail("decode "+op, err)
	}
	return it, true, nil
}

// queryItems reads every item of a partition whose sort key starts with
// skPrefix into Ts, strongly consistent.
func queryItems[T any](ctx context.Context, s *Store, pk, skPrefix, op string) ([]T, error) {
	items, err := s.queryPrefix(ctx, pk, skPrefix)
	if err != nil {
		return nil, fail(op, err)
	}
	var rows []T
	if err := attributevalue.UnmarshalListOfMaps(items, &rows); err != nil {
		return nil, fail("decode "+op, err)
	}
	return rows, nil
}

// Ping reads one item that never exists: the cheapest call that proves the
// table answers (0.5 RCU).
func (s *Store) Ping(ctx context.Context) error {
	_, _, err := getItem[brandItem](ctx, s, "HEALTH", "HEALTH", false, "ping")
	return err
}
