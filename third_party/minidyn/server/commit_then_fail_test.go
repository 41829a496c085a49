package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
)

// attemptCounter counts the calls the server answers, by operation.
type attemptCounter struct {
	mu    sync.Mutex
	calls map[string]int
	next  http.Handler
}

func (a *attemptCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.Header.Get("X-Amz-Target")
	op = op[strings.LastIndexByte(op, '.')+1:]
	a.mu.Lock()
	a.calls[op]++
	a.mu.Unlock()
	a.next.ServeHTTP(w, r)
}

func (a *attemptCounter) count(op string) int {
	a.mu.Lock()
	defer a.mu.Unlock()

	return a.calls[op]
}

// retryingClient is newTestDynamoClient with the SDK's standard retryer
// (three attempts), as applications use it.
func retryingClient(t *testing.T, url string) *dynamodb.Client {
	t.Helper()

	base := newTestDynamoClient(t, url)

	return dynamodb.New(base.Options(), func(o *dynamodb.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.MaxBackoff = 0
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
}

func TestCommitThenFailAppliesWritesAndFailsEveryAttempt(t *testing.T) {
	s := NewServer()
	counter := &attemptCounter{calls: map[string]int{}, next: s}
	ts := httptest.NewServer(counter)
	defer ts.Close()

	cli := retryingClient(t, ts.URL)
	ctx := context.Background()

	makeBasicTable(t, cli, "pokemons", "id")

	id := func(v string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: v}}
	}
	get := func(v string) map[string]ddbtypes.AttributeValue {
		out, err := cli.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("pokemons"), Key: id(v), ConsistentRead: aws.Bool(true)})
		require.NoError(t, err, "reads keep working")

		return out.Item
	}

	s.EmulateFailure(FailureConditionCommitThenInternalServerError)

	var internal *ddbtypes.InternalServerError

	// A conditional put: the first attempt commits, the retries are refused
	// by the condition, and every attempt answers 500.
	_, err := cli.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String("pokemons"), Item: id("1"), ConditionExpression: aws.String("attribute_not_exists(id)"),
	})
	require.ErrorAs(t, err, &internal)
	require.Equal(t, 3, counter.count("PutItem"), "the SDK's three attempts all got the error")
	require.NotEmpty(t, get("1"), "the first attempt committed")

	// A transaction: committed once, then 500 at every attempt.
	_, err = cli.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
		{Put: &ddbtypes.Put{TableName: aws.String("pokemons"), Item: id("2"), ConditionExpression: aws.String("attribute_not_exists(id)")}},
		{Update: &ddbtypes.Update{TableName: aws.String("pokemons"), Key: id("1"), UpdateExpression: aws.String("ADD n :one"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": &ddbtypes.AttributeValueMemberN{Value: "1"}}}},
	}})
	require.ErrorAs(t, err, &internal)
	require.Equal(t, 3, counter.count("TransactWriteItems"))
	require.NotEmpty(t, get("2"))
	require.Equal(t, &ddbtypes.AttributeValueMemberN{Value: "1"}, get("1")["n"], "the transaction was applied once: its retries were refused")

	// UpdateItem, DeleteItem and BatchWriteItem: applied, then 500.
	_, err = cli.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("pokemons"), Key: id("2"),
		UpdateExpression: aws.String("SET kind = :k"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":k": &ddbtypes.AttributeValueMemberS{Value: "grass"}}})
	require.ErrorAs(t, err, &internal)
	require.Equal(t, &ddbtypes.AttributeValueMemberS{Value: "grass"}, get("2")["kind"])

	_, err = cli.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{
		"pokemons": {{PutRequest: &ddbtypes.PutRequest{Item: id("3")}}, {PutRequest: &ddbtypes.PutRequest{Item: id("4")}}},
	}})
	require.ErrorAs(t, err, &internal)
	require.NotEmpty(t, get("3"))
	require.NotEmpty(t, get("4"), "every sub-request of the batch was applied")

	_, err = cli.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("pokemons"), Key: id("4")})
	require.ErrorAs(t, err, &internal)
	require.Empty(t, get("4"))

	s.EmulateFailure(FailureConditionNone)

	_, err = cli.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("pokemons"), Item: id("5")})
	require.NoError(t, err, "cleared")
}

func TestCommitThenFailScopedToOperations(t *testing.T) {
	s := NewServer()
	ts := httptest.NewServer(s)
	defer ts.Close()

	cli := retryingClient(t, ts.URL)
	ctx := context.Background()

	makeBasicTable(t, cli, "pokemons", "id")

	item := map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "1"}}

	s.EmulateCommitThenFailure("TransactWriteItems")

	_, err := cli.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("pokemons"), Item: item})
	require.NoError(t, err, "a write not named works")

	_, err = cli.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
		{Delete: &ddbtypes.Delete{TableName: aws.String("pokemons"), Key: item}},
	}})

	var internal *ddbtypes.InternalServerError

	require.ErrorAs(t, err, &internal)

	out, err := cli.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("pokemons"), Key: item})
	require.NoError(t, err)
	require.Empty(t, out.Item, "the named write was applied")

	// A plain failure replaces it.
	s.EmulateFailure(FailureConditionNone)

	_, err = cli.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
		{Put: &ddbtypes.Put{TableName: aws.String("pokemons"), Item: item}},
	}})
	require.NoError(t, err)
}
