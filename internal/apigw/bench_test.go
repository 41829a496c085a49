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
//
// The handler benchmarks run on a key with 1 seat taken and on one with
// 2,000, both in the same table (so that the engine's own cost, which grows
// with the table, is the same for both): a product request reads the items
// it needs by key, so the two should cost the same.

// benchSeats are the seats taken on the keys the benchmarks use.
var benchSeats = []int{1, 2000}

// benchKeys provisions one key per entry of benchSeats (with room for the
// activations a benchmark adds) and takes that many seats on each.
func benchKeys(b *testing.B) (*stackFixture, map[int]string) {
	f := newStack(b, 1)
	keys := map[int]string{}
	for _, n := range benchSeats {
		keys[n] = f.provision(b, n+5000)
		f.eng.SeedSeats(b, keys[n], "rankmath-pro", n-1)
		resp, err := f.api.ActivateLicense(context.Background(), events.APIGatewayProxyRequest{Body: seatBody(keys[n], "a.example.com")})
		if err != nil || resp.StatusCode != 201 {
			b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
		}
	}
	return f, keys
}

func BenchmarkCheckHandler(b *testing.B) {
	f, keys := benchKeys(b)
	ctx := context.Background()
	for _, n := range benchSeats {
		b.Run(fmt.Sprintf("seats=%d", n), func(b *testing.B) {
			req := checkRequest(keys[n], "https://www.a.example.com/")
			b.ReportAllocs()
			for b.Loop() {
				resp, err := f.api.CheckLicense(ctx, req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
				}
			}
		})
	}
}

// seatItems is the BatchGetItem of a seat decision: the key, the license
// and one site's seat.
func seatItems(table, key, site string, consistent bool) *dynamodb.BatchGetItemInput {
	pk := &types.AttributeValueMemberS{Value: "KEY#" + key}
	item := func(sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": pk, "sk": &types.AttributeValueMemberS{Value: sk}}
	}
	return &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: {
		Keys:           []map[string]types.AttributeValue{item("KEY"), item("LIC#rankmath-pro"), item("ACT#rankmath-pro#url#" + site)},
		ConsistentRead: aws.Bool(consistent),
	}}}
}

func BenchmarkCheckDynamoDB(b *testing.B) {
	f, keys := benchKeys(b)
	ctx := context.Background()
	in := seatItems(f.eng.Table, keys[1], "a.example.com", false)
	b.ReportAllocs()
	for b.Loop() {
		out, err := f.eng.Client.BatchGetItem(ctx, in)
		if err != nil || len(out.Responses[f.eng.Table]) != 3 {
			b.Fatalf("%v %d", err, len(out.Responses[f.eng.Table]))
		}
	}
}

func BenchmarkActivateHandler(b *testing.B) {
	f, keys := benchKeys(b)
	ctx := context.Background()
	i := 0
	for _, n := range benchSeats {
		b.Run(fmt.Sprintf("seats=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(keys[n], fmt.Sprintf("https://site-%d.example.com/", i))})
				if err != nil || resp.StatusCode != 201 {
					b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
				}
				i++
			}
		})
	}
}

func BenchmarkActivateDynamoDB(b *testing.B) {
	f, keys := benchKeys(b)
	ctx := context.Background()
	table := aws.String(f.eng.Table)
	key := keys[1]
	pk := &types.AttributeValueMemberS{Value: "KEY#" + key}
	licenseKey := map[string]types.AttributeValue{"pk": pk, "sk": &types.AttributeValueMemberS{Value: "LIC#rankmath-pro"}}
	seats := 1
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		site := fmt.Sprintf("site-%d.example.com", i)
		if _, err := f.eng.Client.BatchGetItem(ctx, seatItems(f.eng.Table, key, site, true)); err != nil {
			b.Fatal(err)
		}
		now := time.Now().UTC()
		item, err := attributevalue.MarshalMap(map[string]any{
			"pk": pk.Value, "sk": "ACT#rankmath-pro#url#" + site, "type": "activation",
			"activation_id": fmt.Sprintf("act_%020d", i), "product_slug": "rankmath-pro", "instance_type": "url",
			"instance_identifier": site, "activated_at": now,
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
					":read": &types.AttributeValueMemberN{Value: fmt.Sprint(seats)}, ":next": &types.AttributeValueMemberN{Value: fmt.Sprint(seats + 1)},
					":valid": &types.AttributeValueMemberS{Value: "valid"}, ":now": &types.AttributeValueMemberN{Value: fmt.Sprint(now.Unix())},
				},
			}},
			{Put: &types.Put{TableName: table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			{Put: &types.Put{TableName: table, Item: event, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		}})
		if err != nil {
			b.Fatal(err)
		}
		seats++
		i++
	}
}

// BenchmarkTableSize runs check and activate on tables of 1,000, 10,000 and
// 100,000 items (other keys' items, written beforehand), to show that a
// request's cost on the local engine does not grow with the data it does not
// touch: `make bench-table`.
func BenchmarkTableSize(b *testing.B) {
	for _, items := range []int{1_000, 10_000, 100_000} {
		f := newStack(b, 1)
		fillTable(b, f, items)
		ctx := context.Background()
		key := f.provision(b, 9000)
		if resp, err := f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(key, "a.example.com")}); err != nil || resp.StatusCode != 201 {
			b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
		}
		b.Run(fmt.Sprintf("check/items=%d", items), func(b *testing.B) {
			req := checkRequest(key, "a.example.com")
			for b.Loop() {
				if resp, err := f.api.CheckLicense(ctx, req); err != nil || resp.StatusCode != 200 {
					b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
				}
			}
		})
		i := 0
		b.Run(fmt.Sprintf("activate/items=%d", items), func(b *testing.B) {
			for b.Loop() {
				resp, err := f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(key, fmt.Sprintf("size-%d.example.com", i))})
				if err != nil || resp.StatusCode != 201 {
					b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
				}
				i++
			}
		})
	}
}

// fillTable writes n items of other license keys (a key item and two seats
// each, as many partitions as keys) with BatchWriteItem.
func fillTable(b *testing.B, f *stackFixture, n int) {
	b.Helper()
	ctx := context.Background()
	var batch []types.WriteRequest
	flush := func() {
		for len(batch) > 0 {
			out, err := f.eng.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{f.eng.Table: batch}})
			if err != nil {
				b.Fatal(err)
			}
			batch = out.UnprocessedItems[f.eng.Table]
		}
	}
	for i := range n {
		key := fmt.Sprintf("KEY#FILL-%07d", i/3)
		sk := []string{"KEY", "ACT#p#url#a.example.com", "ACT#p#url#b.example.com"}[i%3]
		item, err := attributevalue.MarshalMap(map[string]any{"pk": key, "sk": sk, "type": "filler", "detail": "0123456789abcdef0123456789abcdef"})
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		if len(batch) == 25 {
			flush()
		}
	}
	flush()
}
