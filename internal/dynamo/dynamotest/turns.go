package dynamotest

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"
)

// StallTurn queues a writer ahead in the turns of the license of product
// under key, one that took its ticket at since and never comes: the next
// contended seat change waits behind it until it has stalled, then skips
// it. The item is written as the store writes a license's turns.
func (e *Engine) StallTurn(t testing.TB, key, product string, since time.Time) {
	t.Helper()
	item, err := attributevalue.MarshalMap(map[string]any{
		"pk": "KEY#" + key, "sk": "TURN#" + product, "type": "turn",
		"issued": 1, "served": 0, "served_at": since.UnixMilli(), "pace_us": 1000, "last_us": 1000,
	})
	require.NoError(t, err)
	_, err = e.Client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &e.Table, Item: item})
	require.NoError(t, err)
}

// Conflict answers the next TransactWriteItems that reaches it as DynamoDB
// does when another transaction holds one of its items (cancelled,
// TransactionConflict), without running it; every other request goes to
// the engine. The embedded engine runs transactions one at a time, so it
// never answers this itself.
type Conflict struct {
	armed atomic.Bool
}

// Next arms the conflict for the next transaction only.
func (c *Conflict) Next() { c.armed.Store(true) }

// Wrap puts the conflict in front of the engine's handler.
func (c *Conflict) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "DynamoDB_20120810.TransactWriteItems" && c.armed.CompareAndSwap(true, false) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",` +
				`"message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",` +
				`"CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}
