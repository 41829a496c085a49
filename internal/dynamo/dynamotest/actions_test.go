package dynamotest

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// What the SDK sends is recorded as IAM authorizes it: a transaction item by
// item, a Query on its index.
func TestActionsAsIAMAuthorizes(t *testing.T) {
	eng := Start(t)
	rec := NewActions()
	srv := httptest.NewServer(rec.Wrap(eng.Server))
	t.Cleanup(srv.Close)
	db := dynamodb.New(eng.Client.Options(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	ctx := context.Background()
	key := func(pk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: "X"}}
	}
	table := aws.String(eng.Table)
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: table, Item: key("a")}},
		{Update: &types.Update{TableName: table, Key: key("b"), UpdateExpression: aws.String("SET n = :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}}},
		{Delete: &types.Delete{TableName: table, Key: key("c")}},
		{ConditionCheck: &types.ConditionCheck{TableName: table, Key: key("d"), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Query(ctx, &dynamodb.QueryInput{TableName: table, IndexName: aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "x"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key("a")}); err != nil {
		t.Fatal(err)
	}
	res := "table/" + eng.Table
	want := []Action{
		{"dynamodb:ConditionCheckItem", res}, {"dynamodb:DeleteItem", res}, {"dynamodb:GetItem", res},
		{"dynamodb:PutItem", res}, {"dynamodb:Query", res + "/index/gsi1"}, {"dynamodb:UpdateItem", res},
	}
	if got := rec.Seen(); !slices.Equal(got, want) {
		t.Fatalf("recorded %v, want %v", got, want)
	}
	if bad := rec.Unreadable(); len(bad) > 0 {
		t.Fatalf("unreadable: %v", bad)
	}
	rec.Reset()
	if got := rec.Seen(); len(got) != 0 {
		t.Fatalf("after Reset: %v", got)
	}
	if _, err := IAMActions("DynamoDB_20120810.TransactWriteItems", []byte(`{"TransactItems":[{"Frobnicate":{"TableName":"t"}}]}`)); err == nil {
		t.Fatal("an unknown kind of transaction item is an error")
	}
	if _, err := IAMActions("AWSEvents.PutEvents", []byte(`{}`)); err == nil {
		t.Fatal("a request of another service is an error")
	}
}
