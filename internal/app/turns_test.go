package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/licensing"
)

// turns reads the turn counters of a license (issued, served), as stored.
func (f *fixture) turns(t *testing.T, key licensing.LicenseKey, product string) (issued, served int) {
	t.Helper()
	out, err := f.eng.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: &f.eng.Table, ConsistentRead: new(true),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "KEY#" + string(key)},
			"sk": &types.AttributeValueMemberS{Value: "TURN#" + product},
		},
	})
	require.NoError(t, err)
	var q struct{ Issued, Served int }
	require.NoError(t, attributevalue.UnmarshalMap(out.Item, &q))
	return q.Issued, q.Served
}

// A site whose seat transaction a concurrent change refused takes a turn:
// it gets its seat in it, and marks the turn served for whoever is next.
// A site that meets no contention never touches the turns.
func TestContendedSeatChangeTakesATurn(t *testing.T) {
	var between dynamotest.Interleave
	f := newFixture(t, between.Option())
	ctx := context.Background()
	p := f.license(t, 5)
	key := p.Key.Key

	_, err := f.app.Activate(ctx, seat(key, "quiet.example.com"))
	require.NoError(t, err)
	issued, _ := f.turns(t, key, "rankmath-pro")
	assert.Zero(t, issued, "no contention, no turn")

	between.Next(func() {
		_, err := f.app.Activate(ctx, seat(key, "rival.example.com"))
		require.NoError(t, err)
	})
	_, err = f.app.Activate(ctx, seat(key, "site.example.com"))
	require.NoError(t, err)
	issued, served := f.turns(t, key, "rankmath-pro")
	assert.Equal(t, 1, issued)
	assert.Equal(t, 1, served, "the turn is marked served")
	st := f.audit(t, key)
	assert.Len(t, st.Activations, 3)
}

// A turn whose writer never comes back (it timed out, its process died)
// does not stop the queue: the writer behind it skips it once it has
// stalled, then changes its seat in its own turn.
func TestStalledTurnIsSkipped(t *testing.T) {
	var between dynamotest.Interleave
	f := newFixture(t, between.Option())
	ctx := context.Background()
	p := f.license(t, 5)
	key := p.Key.Key
	f.eng.StallTurn(t, string(key), "rankmath-pro", time.Now())

	between.Next(func() {
		_, err := f.app.Activate(ctx, seat(key, "rival.example.com"))
		require.NoError(t, err)
	})
	_, err := f.app.Activate(ctx, seat(key, "site.example.com"))
	require.NoError(t, err)
	issued, served := f.turns(t, key, "rankmath-pro")
	assert.Equal(t, 2, issued)
	assert.Equal(t, 2, served, "the stalled turn was skipped, this one served")
	assert.Len(t, f.audit(t, key).Activations, 2)
}

// A request whose deadline comes before its turn answers 503 and changes
// nothing; the site retries later.
func TestDeadlineBeforeTheTurnChangesNothing(t *testing.T) {
	var between dynamotest.Interleave
	f := newFixture(t, between.Option())
	p := f.license(t, 5)
	key := p.Key.Key
	f.eng.StallTurn(t, string(key), "rankmath-pro", time.Now())

	between.Next(func() {
		_, err := f.app.Activate(context.Background(), seat(key, "rival.example.com"))
		require.NoError(t, err)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := f.app.Activate(ctx, seat(key, "site.example.com"))
	assert.Equal(t, licensing.CodeServiceUnavailable, licensing.ErrorCode(err), "%v", err)
	st := f.audit(t, key)
	require.Len(t, st.Activations, 1)
	assert.Equal(t, "rival.example.com", st.Activations[0].Instance.ID)
}
