package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

const (
	idemInProgress = "INPROGRESS"
	idemCompleted  = "COMPLETED"
)

type idemItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	Type        string `dynamodbav:"type"`
	Status      string `dynamodbav:"idem_status"`
	Hash        string `dynamodbav:"body_hash"`
	Token       string `dynamodbav:"claim_token,omitempty"`  // the claim's own, while in progress
	LockedUntil int64  `dynamodbav:"locked_until,omitempty"` // unix ms
	ExpiresAt   int64  `dynamodbav:"ttl"`                    // unix s; also the table's TTL attribute
	Result      string `dynamodbav:"result,omitempty"`
}

// Claim puts an in-progress record under the key unless a live one exists: a
// record is dead when it expired, or when it is in progress past its lock (its
// Lambda died). A live record is returned instead.
func (s *Store) Claim(ctx context.Context, c app.IdempotencyClaim) (*app.IdempotencyRecord, error) {
	item, err := attributevalue.MarshalMap(idemItem{
		PK: idemPK(c.Brand, c.Key), SK: skIdem, Type: "idempotency", Status: idemInProgress, Hash: c.Hash, Token: c.Token,
		LockedUntil: c.LockedUntil.UnixMilli(), ExpiresAt: epoch(c.ExpiresAt),
	})
	if err != nil {
		return nil, err
	}
	for range 3 {
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                &s.table,
			Item:                     item,
			ConditionExpression:      aws.String("attribute_not_exists(pk) OR #ttl <= :now OR (idem_status = :inprogress AND locked_until <= :nowms)"),
			ExpressionAttributeNames: map[string]string{"#ttl": AttrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":now": num(epoch(c.Now)), ":nowms": num(c.Now.UnixMilli()), ":inprogress": str(idemInProgress),
			},
		})
		if !conditionFailed(err) {
			return nil, fail("claim idempotency key", err)
		}
		it, found, err := getItem[idemItem](ctx, s, idemPK(c.Brand, c.Key), skIdem, true, "read idempotency key")
		if err != nil {
			return nil, err
		}
		if !found {
			continue // released in between: claim again
		}
		return &app.IdempotencyRecord{Hash: it.Hash, Completed: it.Status == idemCompleted, Result: []byte(it.Result)}, nil
	}
	return nil, errInProgress
}

// completeIdempotency is the transaction step that completes a claimed
// record: only the claim that put it, still in progress (not released, not
// taken over after its lock ran out), completes it.
func (s *Store) completeIdempotency(d app.IdempotencyCompletion) *types.Update {
	return &types.Update{
		TableName:                &s.table,
		Key:                      keyOf(idemPK(d.Brand, d.Key), skIdem),
		UpdateExpression:         aws.String("SET idem_status = :done, #result = :result, #ttl = :ttl REMOVE locked_until, claim_token"),
		ConditionExpression:      aws.String("idem_status = :inprogress AND body_hash = :hash AND claim_token = :token"),
		ExpressionAttributeNames: map[string]string{"#ttl": AttrTTL, "#result": "result"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":done": str(idemCompleted), ":result": str(string(d.Result)), ":ttl": num(epoch(d.ExpiresAt)),
			":inprogress": str(idemInProgress), ":hash": str(d.Hash), ":token": str(d.Token),
		},
	}
}

// errInProgress answers a request whose idempotency key another attempt owns:
// one that found the key claimed (Claim), or a mutation whose claim was
// released or taken over since it was made.
var errInProgress = licensing.Errorf(licensing.CodeRequestInProgress, "a request with this idempotency key is still in progress; retry shortly")

// withCompletion appends done's completion (when not nil) to a transaction's
// writes, as its last item.
func (s *Store) withCompletion(writes []types.TransactWriteItem, done *app.IdempotencyCompletion) []types.TransactWriteItem {
	if done == nil {
		return writes
	}
	return append(writes, types.TransactWriteItem{Update: s.completeIdempotency(*done)})
}

// claimLost reports whether a transaction built by withCompletion was
// refused by the completion's condition.
func claimLost(err error, done *app.IdempotencyCompletion) bool {
	codes, ok := cancelled(err)
	return ok && done != nil && !unavailable(err) && codes[len(codes)-1] == "ConditionalCheckFailed"
}

// completeAlone completes done with nothing else to write (a use case that
// decided on no change).
func (s *Store) completeAlone(ctx context.Context, done *app.IdempotencyCompletion) error {
	if done == nil {
		return nil
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.withCompletion(nil, done)})
	if claimLost(err, done) {
		return errInProgress
	}
	return fail("complete idempotency key", err)
}

// Release deletes the in-progress record of this claim, so the key may be
// retried at once after a failure.
func (s *Store) Release(ctx context.Context, brand, key, token string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           &s.table,
		Key:                 keyOf(idemPK(brand, key), skIdem),
		ConditionExpression: aws.String("idem_status = :inprogress AND claim_token = :token"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":inprogress": str(idemInProgress), ":token": str(token),
		},
	})
	if conditionFailed(err) {
		return nil
	}
	return fail("release idempotency key", err)
}
