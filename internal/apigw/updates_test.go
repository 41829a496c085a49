package apigw_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/apigw"
	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/bucket/buckettest"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/token"
)

// updatesFixture is the full handler stack with the release bucket, a
// license with a seat on demo.DemoSite's twin and releases published.
type updatesFixture struct {
	*stackFixture
	app *app.App
	s3  *buckettest.Server
}

func newUpdatesStack(tb testing.TB, releases int) *updatesFixture {
	tb.Helper()
	f := newStack(tb, 5)
	s3 := buckettest.Start(tb)
	a := app.New(f.eng.Store, nil)
	a.UsePackages(s3.Store)
	f.api = apigw.New(a, nil, apigw.Options{Signer: signer(tb)})
	ctx := context.Background()
	t := licensing.Tenant{Brand: demo.Brands[0].Slug, KeyPrefix: demo.Brands[0].Prefix}
	for i := range releases {
		pkg := []byte(fmt.Sprintf("PK package %d", i))
		sum := sha256.Sum256(pkg)
		size := int64(len(pkg))
		out, err := a.CreateRelease(ctx, t, "rankmath-pro", licensing.ReleaseInput{Version: fmt.Sprintf("1.%d.0", i),
			Changelog: "- a fix", PackageSHA256: hex.EncodeToString(sum[:]), PackageSize: &size})
		require.NoError(tb, err)
		require.NoError(tb, demo.Upload(ctx, nil, out.Upload, pkg))
		_, err = a.PublishRelease(ctx, t, "rankmath-pro", out.Release.Version.String())
		require.NoError(tb, err)
	}
	resp, err := f.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(f.key, "a.example.com")})
	require.NoError(tb, err)
	require.Equal(tb, 201, resp.StatusCode, resp.Body)
	return &updatesFixture{stackFixture: f, app: a, s3: s3}
}

func signer(tb testing.TB) *token.Signer {
	tb.Helper()
	keys, err := token.LocalKeyring()
	require.NoError(tb, err)
	s, err := token.NewSigner(keys...)
	require.NoError(tb, err)
	return s
}

func updatesRequest(key, site string) events.APIGatewayProxyRequest {
	return events.APIGatewayProxyRequest{HTTPMethod: "GET", QueryStringParameters: map[string]string{
		"license_key": key, "instance_identifier": site, "product": "rankmath-pro", "version": "1.0.0",
	}}
}

// An update check reads the key, the license and the site's seat (one
// BatchGetItem) and what the channel offers
// (one GetItem by key), however many releases the product has; presigning
// is local signing, no round trip.
func TestUpdatesRoundTripsDoNotGrowWithReleases(t *testing.T) {
	for _, n := range []int{1, 25} {
		f := newUpdatesStack(t, n)
		f.counter.Reset()
		resp, err := f.api.ProductUpdates(context.Background(), updatesRequest(f.key, "a.example.com"))
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, resp.Body)
		var out struct {
			Latest  struct{ Version string }
			Package *struct{ URL string }
		}
		require.NoError(t, json.Unmarshal([]byte(resp.Body), &out))
		require.Equal(t, fmt.Sprintf("1.%d.0", n-1), out.Latest.Version)
		require.NotNil(t, out.Package, resp.Body)
		require.Equal(t, map[string]int{"BatchGetItem": 1, "GetItem": 1}, f.counter.ByOperation(), "%d releases", n)

		// EDD's get_version costs the same; following its download link
		// reads the key and the release named.
		f.counter.Reset()
		resp, err = f.api.EDD(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "POST", Headers: map[string]string{"Host": "api.example.com"},
			Body: "edd_action=get_version&license=" + f.key + "&item_id=rankmath-pro&url=https://a.example.com&version=1.0.0"})
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, resp.Body)
		require.Equal(t, map[string]int{"BatchGetItem": 1, "GetItem": 1}, f.counter.ByOperation(), "get_version, %d releases", n)
		var v struct{ Package string }
		require.NoError(t, json.Unmarshal([]byte(resp.Body), &v))
		link, err := url.Parse(v.Package)
		require.NoError(t, err)
		require.Equal(t, "https://api.example.com/api/v1/product/edd", link.Scheme+"://"+link.Host+link.Path)
		f.counter.Reset()
		resp, err = f.api.EDD(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "GET",
			QueryStringParameters: map[string]string{"edd_action": "package_download", "id": link.Query().Get("id")}})
		require.NoError(t, err)
		require.Equal(t, 302, resp.StatusCode, resp.Body)
		require.Equal(t, map[string]int{"BatchGetItem": 1, "GetItem": 1}, f.counter.ByOperation(), "package_download")
	}
}

func BenchmarkUpdatesHandler(b *testing.B) {
	f := newUpdatesStack(b, 3)
	ctx := context.Background()
	req := updatesRequest(f.key, "https://www.a.example.com/")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := f.api.ProductUpdates(ctx, req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
		}
	}
}

// BenchmarkUpdatesDynamoDB is the I/O of an update check without the service:
// the BatchGetItem of the key, the license and the site's seat, the
// channel's GetItem and the presigning of the package.
func BenchmarkUpdatesDynamoDB(b *testing.B) {
	f := newUpdatesStack(b, 3)
	ctx := context.Background()
	var brand, productID string
	pk := &types.AttributeValueMemberS{Value: "KEY#" + f.key}
	item := func(sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": pk, "sk": &types.AttributeValueMemberS{Value: sk}}
	}
	q := &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{f.eng.Table: {Keys: []map[string]types.AttributeValue{
		item("KEY"), item("LIC#rankmath-pro"), item("ACT#rankmath-pro#url#a.example.com"),
	}}}}
	out, err := f.eng.Client.BatchGetItem(ctx, q)
	require.NoError(b, err)
	for _, it := range out.Responses[f.eng.Table] {
		if s, ok := it["product_id"].(*types.AttributeValueMemberS); ok {
			productID = s.Value
			brand = it["brand"].(*types.AttributeValueMemberS).Value
		}
	}
	require.NotEmpty(b, productID)
	get := &dynamodb.GetItemInput{TableName: aws.String(f.eng.Table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "BRAND#" + brand + "#PRODUCT#" + productID + "#REL"},
		"sk": &types.AttributeValueMemberS{Value: "LATEST#stable"},
	}}
	b.ReportAllocs()
	for b.Loop() {
		out, err := f.eng.Client.BatchGetItem(ctx, q)
		if err != nil || len(out.Responses[f.eng.Table]) != 3 {
			b.Fatalf("%v %d", err, len(out.Responses[f.eng.Table]))
		}
		rel, err := f.eng.Client.GetItem(ctx, get)
		if err != nil || rel.Item == nil {
			b.Fatalf("%v %v", err, rel.Item)
		}
		if _, err := f.s3.Store.PresignDownload(ctx, "releases/x/y/1.2.0.zip", "rankmath-pro-1.2.0.zip", app.MaxPresignTTL); err != nil {
			b.Fatal(err)
		}
	}
}
