package dynamotest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
)

// SeedSeats writes n production seats (sites seed-<i>.example.com) on the
// license of product under key, with BatchWriteItem, and sets the license's
// seats_used to match: a key with thousands of sites in seconds, where taking
// each seat through the API would take a transaction each. The items are
// written as the store writes activations; the tests that use them read
// them back through the store.
func (e *Engine) SeedSeats(t testing.TB, key, product string, n int) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var batch []types.WriteRequest
	flush := func() {
		for len(batch) > 0 {
			out, err := e.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{e.Table: batch}})
			require.NoError(t, err)
			batch = out.UnprocessedItems[e.Table]
		}
	}
	for i := range n {
		site := fmt.Sprintf("seed-%05d.example.com", i)
		item, err := attributevalue.MarshalMap(map[string]any{
			"pk": "KEY#" + key, "sk": "ACT#" + product + "#url#" + site, "type": "activation",
			"activation_id": fmt.Sprintf("act_seed%016d", i), "product_slug": product,
			"instance_type": "url", "instance_identifier": site, "environment": "production",
			"env_rules_version": 1, "activated_at": at, "last_seen_at": at,
		})
		require.NoError(t, err)
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		if len(batch) == 25 {
			flush()
		}
	}
	flush()
	_, err := e.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(e.Table),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "KEY#" + key}, "sk": &types.AttributeValueMemberS{Value: "LIC#" + product}},
		UpdateExpression:          aws.String("SET seats_used = seats_used + :n"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: fmt.Sprint(n)}},
	})
	require.NoError(t, err)
}
