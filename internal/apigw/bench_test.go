package apigw_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The benchmarks below put each product hot path through the full handler
// stack next to the bare DynamoDB calls it makes, on the same engine, so the
// ratio shows what the handler adds (decoding, validation, canonicalising,
// rendering, logging) over its I/O. `make bench` runs them.

func BenchmarkCheckHandler(b *testing.B) {
	f := newStack(b, 5)
	ctx := context.Background()
	_, err := f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "a.example.com")})
	if err != nil {
		b.Fatal(err)
	}
	req := checkRequest(f.key, "https://www.a.example.com/")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := f.api.CheckLicense(ctx, req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
		}
	}
}

func BenchmarkCheckDynamoDB(b *testing.B) {
	f := newStack(b, 5)
	ctx := context.Background()
	_, err := f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "a.example.com")})
	if err != nil {
		b.Fatal(err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(f.eng.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "KEY#" + f.key}},
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := f.eng.Client.Query(ctx, in)
		if err != nil || len(out.Items) != 3 {
			b.Fatalf("%v %d", err, len(out.Items))
		}
	}
}

// seatsPerLicense is how many sites each benchmark license takes before the
// next license is provisioned (outside the timer), so that every activation
// reads a partition of realistic size.
const seatsPerLicense = 10

func BenchmarkActivateHandler(b *testing.B) {
	f := newStack(b, seatsPerLicense)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i > 0 && i%seatsPerLicense == 0 {
			b.StopTimer()
			f.key = f.provision(b, seatsPerLicense)
			b.StartTimer()
		}
		resp, err := f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, fmt.Sprintf("https://site-%d.example.com/", i))})
		if err != nil || resp.StatusCode != 201 {
			b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
		}
		i++
	}
}

func BenchmarkActivateDynamoDB(b *testing.B) {
	f := newStack(b, seatsPerLicense)
	ctx := context.Background()
	table := aws.String(f.eng.Table)
	var pk *types.AttributeValueMemberS
	var licenseKey map[string]types.AttributeValue
	var query *dynamodb.QueryInput
	use := func(key string) {
		pk = &types.AttributeValueMemberS{Value: "KEY#" + key}
		licenseKey = map[string]types.AttributeValue{"pk": pk, "sk": &types.AttributeValueMemberS{Value: "LIC#rankmath-pro"}}
		query = &dynamodb.QueryInput{
			TableName: table, KeyConditionExpression: aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": pk}, ConsistentRead: aws.Bool(true),
		}
	}
	use(f.key)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i > 0 && i%seatsPerLicense == 0 {
			b.StopTimer()
			use(f.provision(b, seatsPerLicense))
			b.StartTimer()
		}
		if _, err := f.eng.Client.Query(ctx, query); err != nil {
			b.Fatal(err)
		}
		now := time.Now().UTC()
		item, err := attributevalue.MarshalMap(map[string]any{
			"pk": pk.Value, "sk": fmt.Sprintf("ACT#rankmath-pro#url#site-%d.example.com", i), "type": "activation",
			"activation_id": fmt.Sprintf("act_%020d", i), "product_slug": "rankmath-pro", "instance_type": "url",
			"instance_identifier": fmt.Sprintf("site-%d.example.com", i), "activated_at": now,
		})
		if err != nil {
			b.Fatal(err)
		}
		event, err := attributevalue.MarshalMap(map[string]any{
			"pk": "BRAND#rankmath#LICEVT#lic_x", "sk": fmt.Sprintf("EVT#%s#evt_%020d", now.Format(time.RFC3339Nano), i), "type": "event",
			"event_id": fmt.Sprintf("evt_%020d", i), "event_type": "LicenseActivated", "brand": "rankmath", "occurred_at": now.Format(time.RFC3339Nano),
			"detail": `{"event_id":"evt_x","event_version":1,"event_type":"LicenseActivated","brand":"rankmath","license_id":"lic_x","product":"rankmath-pro"}`,
			"ttl":    now.Add(400 * 24 * time.Hour).Unix(),
		})
		if err != nil {
			b.Fatal(err)
		}
		_, err = f.eng.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: table, Key: licenseKey,
				UpdateExpression:         aws.String("SET seats_used = :next"),
				ConditionExpression:      aws.String("attribute_exists(pk) AND seats_used = :read AND seats_used < seat_limit AND #status = :valid AND (attribute_not_exists(expires_unix) OR expires_unix > :now)"),
				ExpressionAttributeNames: map[string]string{"#status": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":read": &types.AttributeValueMemberN{Value: fmt.Sprint(i % seatsPerLicense)}, ":next": &types.AttributeValueMemberN{Value: fmt.Sprint(i%seatsPerLicense + 1)},
					":valid": &types.AttributeValueMemberS{Value: "valid"}, ":now": &types.AttributeValueMemberN{Value: fmt.Sprint(now.Unix())},
				},
			}},
			{Put: &types.Put{TableName: table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			{Put: &types.Put{TableName: table, Item: event, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		}})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}
