package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
)

// Tests of the patches that make a call's cost independent of the table's
// size: a Query reads only its partition's keys, a failed transaction puts
// back only the items it touched, and a new item is inserted into the sorted
// keys in place. Each checks behaviour against what the engine did before.

func costTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	ts := httptest.NewServer(NewServer())
	t.Cleanup(ts.Close)
	client := newTestDynamoClient(t, ts.URL)
	table := "cost"
	_, err := client.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("g"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{{
			IndexName:  aws.String("byg"),
			KeySchema:  []ddbtypes.KeySchemaElement{{AttributeName: aws.String("g"), KeyType: ddbtypes.KeyTypeHash}},
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		}},
	})
	require.NoError(t, err)

	return client, table
}

func s(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

func put(t *testing.T, c *dynamodb.Client, table string, item map[string]ddbtypes.AttributeValue) {
	t.Helper()
	_, err := c.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item})
	require.NoError(t, err)
}

func sks(items []map[string]ddbtypes.AttributeValue) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it["pk"].(*ddbtypes.AttributeValueMemberS).Value + "|" + it["sk"].(*ddbtypes.AttributeValueMemberS).Value
	}

	return out
}

// A Query finds exactly its partition's items, in order, forwards and
// backwards, with paging, next to partitions whose hash keys share its
// prefix or contain the key separator.
func TestQueryReadsItsPartitionOnly(t *testing.T) {
	c, table := costTable(t)
	ctx := context.Background()
	// Inserted out of order: the sorted keys are kept sorted in place.
	for _, pk := range []string{"a.b", "a", "ab", "a-", "b", "a.", ""} {
		if pk == "" {
			continue
		}
		for _, sk := range []string{"3", "1", "b.c", "2"} {
			put(t, c, table, map[string]ddbtypes.AttributeValue{"pk": s(pk), "sk": s(sk)})
		}
	}
	query := func(pk string, forward bool, limit int32) []string {
		in := &dynamodb.QueryInput{
			TableName: aws.String(table), KeyConditionExpression: aws.String("#p = :p"),
			ExpressionAttributeNames: map[string]string{"#p": "pk"}, ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": s(pk)},
			ScanIndexForward: aws.Bool(forward),
		}
		if limit > 0 {
			in.Limit = aws.Int32(limit)
		}
		var got []string
		p := dynamodb.NewQueryPaginator(c, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			require.NoError(t, err)
			got = append(got, sks(out.Items)...)
		}

		return got
	}
	for _, pk := range []string{"a.b", "a", "ab", "a-", "b", "a."} {
		want := []string{pk + "|1", pk + "|2", pk + "|3", pk + "|b.c"}
		require.Equal(t, want, query(pk, true, 0), pk)
		require.Equal(t, want, query(pk, true, 1), "%s, a page of one at a time", pk)
		rev := append([]string(nil), want...)
		sort.Sort(sort.Reverse(sort.StringSlice(rev)))
		require.Equal(t, rev, query(pk, false, 0), "%s, backwards", pk)
	}
	require.Empty(t, query("zz", true, 0))
	// A key condition on the sort key too.
	out, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(table), KeyConditionExpression: aws.String("pk = :p AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": s("a"), ":lo": s("2"), ":hi": s("3")},
	})
	require.NoError(t, err)
	require.Equal(t, []string{"a|2", "a|3"}, sks(out.Items))
}

// A transaction that fails puts back exactly the items it touched — a new
// item removed, a changed one restored, a deleted one back — with the
// secondary index as before, and leaves every other item alone.
func TestFailedTransactionPutsBackWhatItTouched(t *testing.T) {
	c, table := costTable(t)
	ctx := context.Background()
	for i := range 50 {
		put(t, c, table, map[string]ddbtypes.AttributeValue{"pk": s(fmt.Sprintf("p%02d", i)), "sk": s("x"), "g": s(fmt.Sprintf("g%02d", i)), "n": &ddbtypes.AttributeValueMemberN{Value: "1"}})
	}
	scan := func() []map[string]ddbtypes.AttributeValue {
		out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
		require.NoError(t, err)

		return out.Items
	}
	before := scan()
	key := func(pk string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"pk": s(pk), "sk": s("x")}
	}
	_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
		{Put: &ddbtypes.Put{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"pk": s("new"), "sk": s("x"), "g": s("gnew")}}},
		{Update: &ddbtypes.Update{TableName: aws.String(table), Key: key("p01"), UpdateExpression: aws.String("SET n = :two, g = :g"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":two": &ddbtypes.AttributeValueMemberN{Value: "2"}, ":g": s("moved")}}},
		{Delete: &ddbtypes.Delete{TableName: aws.String(table), Key: key("p02")}},
		{ConditionCheck: &ddbtypes.ConditionCheck{TableName: aws.String(table), Key: key("p03"), ConditionExpression: aws.String("n = :nine"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":nine": &ddbtypes.AttributeValueMemberN{Value: "9"}}}},
	}})
	var canceled *ddbtypes.TransactionCanceledException
	require.ErrorAs(t, err, &canceled)
	require.ElementsMatch(t, before, scan(), "every item as it was")
	for g, want := range map[string]int{"g01": 1, "g02": 1, "moved": 0, "gnew": 0} {
		out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table), IndexName: aws.String("byg"),
			KeyConditionExpression: aws.String("g = :g"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":g": s(g)}})
		require.NoError(t, err)
		require.Len(t, out.Items, want, "index entry %s", g)
	}

	// The same transaction, now allowed, applies whole.
	_, err = c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
		{Put: &ddbtypes.Put{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"pk": s("new"), "sk": s("x"), "g": s("gnew")}}},
		{Delete: &ddbtypes.Delete{TableName: aws.String(table), Key: key("p02")}},
	}})
	require.NoError(t, err)
	require.Len(t, scan(), len(before))
}

// Sort key conditions cut the partition further: BETWEEN, begins_with and
// equality find the same items as a walk of the partition would.
func TestQuerySortKeyConditions(t *testing.T) {
	c, table := costTable(t)
	ctx := context.Background()
	for _, sk := range []string{"ACT#a#1", "ACT#a#2", "ACT#b#1", "KEY", "LIC#a", "LIC#b", "M"} {
		put(t, c, table, map[string]ddbtypes.AttributeValue{"pk": s("K"), "sk": s(sk)})
		put(t, c, table, map[string]ddbtypes.AttributeValue{"pk": s("K2"), "sk": s(sk)})
	}
	for cond, want := range map[string][]string{
		"pk = :p AND sk BETWEEN :lo AND :hi": {"K|KEY", "K|LIC#a", "K|LIC#b"},
		"pk = :p AND begins_with(sk, :act)":  {"K|ACT#a#1", "K|ACT#a#2"},
		"pk = :p AND sk = :key":              {"K|KEY"},
		"pk = :p AND #s BETWEEN :lo AND :hi": {"K|KEY", "K|LIC#a", "K|LIC#b"},
		"pk = :p AND begins_with(#s, :none)": nil,
		"pk = :p AND sk BETWEEN :hi AND :lo": nil,
		"pk = :p AND sk > :key":              {"K|LIC#a", "K|LIC#b", "K|M"},
	} {
		in := &dynamodb.QueryInput{TableName: aws.String(table), KeyConditionExpression: aws.String(cond),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": s("K")}}
		for name, v := range map[string]string{":lo": "KEY", ":hi": "LIC$", ":act": "ACT#a#", ":key": "KEY", ":none": "Z"} {
			if strings.Contains(cond, name) {
				in.ExpressionAttributeValues[name] = s(v)
			}
		}
		if strings.Contains(cond, "#s") {
			in.ExpressionAttributeNames = map[string]string{"#s": "sk"}
		}
		out, err := c.Query(ctx, in)
		require.NoError(t, err, cond)
		if want == nil {
			require.Empty(t, out.Items, cond)
			continue
		}
		require.Equal(t, want, sks(out.Items), cond)
	}
}

// An item that gains the index's key attribute by an UpdateItem enters the
// index, one whose attribute changes moves, one put again without it leaves
// it, and the other items' entries stay. Upstream, an item entering the
// index by an update overwrote another item's entry.
func TestUpdatesMoveItemsInAndOutOfAnIndex(t *testing.T) {
	c, table := costTable(t)
	ctx := context.Background()
	for _, p := range []string{"a", "b", "c"} {
		put(t, c, table, map[string]ddbtypes.AttributeValue{"pk": s(p), "sk": s("x"), "g": s("g-" + p)})
	}
	put(t, c, table, map[string]ddbtypes.AttributeValue{"pk": s("d"), "sk": s("x")}) // not in the index
	inIndex := func(g string) int {
		out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table), IndexName: aws.String("byg"),
			KeyConditionExpression: aws.String("g = :g"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":g": s(g)}})
		require.NoError(t, err)

		return len(out.Items)
	}
	update := func(p, expr string, values map[string]ddbtypes.AttributeValue) {
		_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table),
			Key: map[string]ddbtypes.AttributeValue{"pk": s(p), "sk": s("x")}, UpdateExpression: aws.String(expr), ExpressionAttributeValues: values})
		require.NoError(t, err)
	}

	update("d", "SET g = :g", map[string]ddbtypes.AttributeValue{":g": s("g-d")})
	for _, g := range []string{"g-a", "g-b", "g-c", "g-d"} {
		require.Equal(t, 1, inIndex(g), "entry %s after d entered the index", g)
	}
	update("b", "SET g = :g", map[string]ddbtypes.AttributeValue{":g": s("g-b2")})
	require.Equal(t, 0, inIndex("g-b"), "b left its old entry")
	require.Equal(t, 1, inIndex("g-b2"), "for its new one")
	put(t, c, table, map[string]ddbtypes.AttributeValue{"pk": s("c"), "sk": s("x")})
	require.Equal(t, 0, inIndex("g-c"), "c, put again without g, left the index")
	for _, g := range []string{"g-a", "g-d"} {
		require.Equal(t, 1, inIndex(g), "entry %s stays", g)
	}
}
