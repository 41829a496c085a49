package dynamo_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/licensing"
)

// A table written in the old layout — licenses without their product's
// name, as every version before this one wrote them — is migrated once: each
// license of a product that exists is named, an orphan is left alone, the
// rest of the table is untouched, and a second run changes nothing.
func TestMigrateNamesOldLicenses(t *testing.T) {
	e := withBrands(t)
	for _, p := range []licensing.Product{
		{ID: "prd_1", Brand: "rankmath", Slug: "slug-prd_1", Name: "Rank Math Pro", CreatedAt: t0},
		{ID: "prd_2", Brand: "rankmath", Slug: "slug-prd_2", Name: "Content AI", CreatedAt: t0},
	} {
		require.NoError(t, e.Store.CreateProduct(ctx, p, nil))
	}
	// The old layout: Provision of licenses without a name writes no
	// product_name attribute (it is omitted when empty), exactly as before.
	old := provisioned("RM-AAAA-BBBB-CCCC-DDDD", "jane@example.com", t0, "prd_1", "prd_2")
	orphan := provisioned("RM-EEEE-FFFF-GGGG-HHHH", "joe@example.com", t0, "prd_gone")
	require.NoError(t, e.Store.Provision(ctx, old, nil, nil))
	require.NoError(t, e.Store.Provision(ctx, orphan, nil, nil))
	kl, err := e.Store.KeyLicenses(ctx, old.Key.Key)
	require.NoError(t, err)
	for _, l := range kl.Licenses {
		require.Empty(t, l.ProductName, "written in the old layout")
	}
	before := e.Dump(t)

	m, err := e.Store.Migrate(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, m.Licenses)
	assert.Equal(t, 2, m.Named)
	assert.Equal(t, 1, m.Orphans)

	kl, err = e.Store.KeyLicenses(ctx, old.Key.Key)
	require.NoError(t, err)
	names := map[string]string{}
	for _, l := range kl.Licenses {
		names[l.ProductSlug] = l.ProductName
	}
	assert.Equal(t, map[string]string{"slug-prd_1": "Rank Math Pro", "slug-prd_2": "Content AI"}, names)
	after := e.Dump(t)
	assert.Len(t, after, len(before), "no item added or removed")
	changed := 0
	for i := range before {
		if before[i] != after[i] {
			changed++
		}
	}
	assert.Equal(t, 2, changed, "only the two named licenses changed")

	again, err := e.Store.Migrate(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, again.Named, "idempotent")
	assert.Equal(t, after, e.Dump(t))
}

// Licenses written before the expiry index (no gsi2pk) get their entry from
// their own expiry, once; the expiry job then finds them by day.
func TestMigrateIndexesOldLicensesByExpiry(t *testing.T) {
	e := withBrands(t)
	p := provisioned("RM-AAAA-BBBB-CCCC-DDDD", "jane@example.com", t0, "prd_1", "prd_2")
	require.NoError(t, e.Store.Provision(ctx, p, nil, nil))
	exp := *p.Licenses[0].ExpiresAt
	for _, l := range p.Licenses { // the old layout: no expiry index entry
		key := map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "KEY#" + string(p.Key.Key)},
			"sk": &types.AttributeValueMemberS{Value: "LIC#" + l.ProductSlug},
		}
		got, err := e.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &e.Table, Key: key, ConsistentRead: aws.Bool(true)})
		require.NoError(t, err)
		delete(got.Item, "gsi2pk")
		delete(got.Item, "gsi2sk")
		_, err = e.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &e.Table, Key: key})
		require.NoError(t, err)
		_, err = e.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &e.Table, Item: got.Item})
		require.NoError(t, err)
	}
	found, err := e.Store.ExpiringOn(ctx, "rankmath", exp)
	require.NoError(t, err)
	require.Empty(t, found, "not indexed before the migration")

	m, err := e.Store.Migrate(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, m.Indexed)
	found, err = e.Store.ExpiringOn(ctx, "rankmath", exp)
	require.NoError(t, err)
	assert.Len(t, found, 2)

	again, err := e.Store.Migrate(ctx)
	require.NoError(t, err)
	assert.Zero(t, again.Indexed, "idempotent")
}
