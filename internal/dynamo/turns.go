package dynamo

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clsvc/license-service/internal/licensing"
)

// Turns order the writers of one license when they contend. A seat change
// is conditioned on the exact counts it read, so of the writers that read
// the same counts only one commits; the others read again and retry. With
// a few writers that costs little. With hundreds at once (an agency
// deploying to all its sites) retries that merely back off collide again
// and again, and most of the engine's work is refused transactions.
//
// So a writer that a concurrent change has refused once takes a numbered
// turn instead: an atomic counter on the license's turn item
// (KEY#<key> / TURN#<product slug>, sorted after the licenses and never
// read by a product path) hands out tickets, and each writer waits until
// the turns before its own are served. Its turn is a fresh read and
// conditional transaction as before; then it marks its turn served, with
// how long the turn took. A waiter looks at the queue again when half the
// turns before it may have gone, at that pace (the next in line looks
// every quarter turn), so that a turn starts soon after the one before
// ends and waiting costs a few reads per writer. The conditions stay the
// only guard: a turn decides nothing, it spreads the attempts so that
// nearly every one commits.
//
// A writer that never serves its turn (it timed out, or its process died)
// would stop the queue, so a waiter skips a turn that has not moved for
// longer than turnStall times its distance from the front. A writer that
// is not contended never takes a ticket: its cost stays one read and one
// transaction.
type turnItem struct {
	Issued   int64 `dynamodbav:"issued"`
	Served   int64 `dynamodbav:"served"`
	ServedAt int64 `dynamodbav:"served_at"` // unix ms of the last turn served (or the first ticket)
	PaceUS   int64 `dynamodbav:"pace_us"`   // how long a turn takes, in µs: a moving average
	LastUS   int64 `dynamodbav:"last_us"`   // how long the last turn took, in µs
}

// turnSK is the sort key of a license's turn item.
func turnSK(productSlug string) string { return "TURN#" + productSlug }

const (
	// turnStall is how long the turn at the front may take before the next
	// waiter skips it (twice as long for the one behind it, and so on).
	turnStall = 500 * time.Millisecond
	// maxTurnPoll bounds the wait between two looks at the queue.
	maxTurnPoll = time.Second
	// maxFrontPoll bounds the wait of the next in line between two looks.
	maxFrontPoll = 5 * time.Millisecond
	// turnIdle is how long an unused turn item stays (the table's TTL).
	turnIdle = time.Hour
)

// turn is a ticket taken in a license's queue.
type turn struct {
	s      *Store
	key    map[string]types.AttributeValue
	ticket int64
	began  time.Time // when the turn came
	pace   int64     // the queue's pace when it came, µs a turn
}

// awaitTurn takes a ticket in the queue of the license (key, slug) and
// returns when the turns before it are served. attempt is how long the
// writer's own attempt took, the pace it assumes until a turn is served.
// It fails with service_unavailable when the request's deadline comes
// first; the ticket is then skipped by those behind it.
func (s *Store) awaitTurn(ctx context.Context, key licensing.LicenseKey, slug string, attempt time.Duration) (*turn, error) {
	t := &turn{s: s, key: keyOf(keyPK(key), turnSK(slug))}
	now := time.Now()
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.table,
		Key:              t.key,
		UpdateExpression: aws.String("ADD issued :one SET #type = :type, served = if_not_exists(served, :zero), served_at = if_not_exists(served_at, :now), #ttl = :ttl"),
		ExpressionAttributeNames: map[string]string{
			"#type": "type", "#ttl": AttrTTL,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": num(1), ":zero": num(0), ":type": str("turn"), ":now": num(now.UnixMilli()), ":ttl": num(now.Add(turnIdle).Unix()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		return nil, fail("take a turn", err)
	}
	q := decodeTurn(out.Attributes)
	t.ticket = q.Issued
	for {
		ahead := t.ticket - 1 - q.Served
		if ahead <= 0 {
			t.began, t.pace = time.Now(), q.PaceUS
			return t, nil
		}
		if time.Since(time.UnixMilli(q.ServedAt)) > turnStall*time.Duration(ahead) {
			// The turn at the front has stalled: skip it (only one waiter
			// does, by the condition).
			if q, err = s.skipTurn(ctx, t.key, q.Served); err != nil {
				return nil, err
			}
			continue
		}
		// The pace: the faster of the average and the last turn (a few
		// slow turns, say while hundreds of first attempts were refused at
		// once, must not send the waiters away for long), else the
		// writer's own attempt.
		pace := attempt
		if q.PaceUS > 0 {
			pace = time.Duration(min(q.PaceUS, q.LastUS)) * time.Microsecond
		}
		front := min(max(pace/4, time.Millisecond), maxFrontPoll)
		wait := min(time.Duration(ahead-1)*pace*3/4+front, maxTurnPoll)
		wait = wait/2 + time.Duration(rand.Int64N(int64(wait)+1)) // ±50%
		select {
		case <-ctx.Done():
			return nil, licensing.Unavailable(errors.New("seat contended: the request's deadline came before its turn"))
		case <-time.After(wait):
		}
		got, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: t.key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, fail("look at the turns", err)
		}
		q = decodeTurn(got.Item)
	}
}

// skipTurn moves the queue past the stalled turn served+1.
func (s *Store) skipTurn(ctx context.Context, key map[string]types.AttributeValue, served int64) (turnItem, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.table,
		Key:                 key,
		UpdateExpression:    aws.String("SET served = :next, served_at = :now"),
		ConditionExpression: aws.String("served = :served"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":next": num(served + 1), ":served": num(served), ":now": num(time.Now().UnixMilli()),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return decodeTurn(out.Attributes), nil
	}
	if ccf, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return decodeTurn(ccf.Item), nil // another waiter moved it
	}
	return turnItem{}, fail("skip a turn", err)
}

// done marks the turn served, whatever became of the change, so that the
// next waiter goes. It runs even when the request's context has ended; it
// is a no-op for a turn that was skipped meanwhile.
func (t *turn) done(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	took := time.Since(t.began)
	_, _ = t.s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &t.s.table,
		Key:                 t.key,
		UpdateExpression:    aws.String("SET served = :ticket, served_at = :now, pace_us = :pace, last_us = :took"),
		ConditionExpression: aws.String("served = :before"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ticket": num(t.ticket), ":before": num(t.ticket - 1), ":now": num(time.Now().UnixMilli()),
			":pace": num(t.paceAfter(took)), ":took": num(took.Microseconds()),
		},
	})
}

// paceAfter is the queue's pace once this turn took took: a moving average
// over the last few turns, so that one slow turn does not send the waiters
// far away.
func (t *turn) paceAfter(took time.Duration) int64 {
	if t.pace <= 0 {
		return took.Microseconds()
	}
	return (3*t.pace + took.Microseconds()) / 4
}

func decodeTurn(item map[string]types.AttributeValue) turnItem {
	var t turnItem
	_ = attributevalue.UnmarshalMap(item, &t) // numbers the service wrote; absent ones are 0
	return t
}

// contention follows one writer's attempts at a license (a seat change or
// a lifecycle change, each a read and a transaction conditioned on it): it
// takes a turn once a concurrent change has refused the writer, and gives
// up when the conditions refuse a state that nobody changed.
type contention struct {
	s         *Store
	last      any           // what the last attempt read, when only its conditions refused it
	unchanged int           // refusals in a row of a state read again unchanged
	refused   time.Duration // how long the last refused attempt took (0: none yet)
	queued    *turn
}

// errRefusedUnchanged: the conditions refused a state that no concurrent
// writer changed (twice in a row), so waiting cannot help.
var errRefusedUnchanged = errors.New("conditions refused a state that nothing changed")

// read is called with each fresh read of the license. It answers true when
// the writer has just waited for its turn (so it must read again), or an
// error when it should give up.
func (c *contention) read(ctx context.Context, read any, key licensing.LicenseKey, slug string) (bool, error) {
	if c.last != nil && reflect.DeepEqual(c.last, read) {
		// Refused by its conditions, yet nothing it read has changed: no
		// concurrent writer to wait for. Once more, then give up.
		if c.unchanged++; c.unchanged == 2 {
			return false, errRefusedUnchanged
		}
		return false, nil
	}
	c.unchanged = 0
	if c.refused == 0 || c.queued != nil {
		return false, nil
	}
	// Another writer changed the license: wait for a turn rather than
	// collide again, then read afresh in it.
	q, err := c.s.awaitTurn(ctx, key, slug, c.refused)
	if err != nil {
		return false, err
	}
	c.queued = q
	return true, nil
}

// refusedBy records a contended transaction (see contended) built from read.
func (c *contention) refusedBy(ctx context.Context, err error, read any, took time.Duration, attempt int) {
	c.refused, c.last = took, nil
	if refusedOnlyByConditions(err) {
		c.last = read
	}
	if c.queued != nil {
		// Contended in its turn, by a writer that did not queue (its first
		// attempt) or one whose turn was skipped: go again soon.
		backoff(ctx, min(attempt, 3))
	}
}

// done marks the writer's turn served, if it took one.
func (c *contention) done(ctx context.Context) {
	if c.queued != nil {
		c.queued.done(ctx)
	}
}
