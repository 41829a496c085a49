package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Migrated is what a migration run did.
type Migrated struct {
	Licenses int `json:"licenses_read"`    // license items without their product's name
	Named    int `json:"licenses_updated"` // given it
	Orphans  int `json:"licenses_orphan"`  // whose product no longer exists (left as they are)
	// Indexed is how many licenses that expire got their expiry index entry.
	Indexed int `json:"licenses_indexed_by_expiry"`
}

// Migrate brings items written by earlier versions to the current layout.
// It is idempotent: a second run finds nothing to do. Its steps:
//
//   - license items carry their product's name (product_name), so that a
//     key's products — the EDD endpoint's item_name — are known from the
//     key's own licenses, with one read. Licenses written before it lack
//     the name: each gets its product's, conditioned on its still lacking
//     one.
//   - license items that expire carry their expiry index entry (gsi2pk,
//     gsi2sk: the brand and day of expiry), so that the daily expiry job
//     finds them; each gets it from its own expiry, conditioned on that
//     expiry being unchanged.
//
// It scans the table once per step (paging to the end) for the items to change; it
// is an operator's one-off job, never a request's.
func (s *Store) Migrate(ctx context.Context) (Migrated, error) {
	var m Migrated
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{
		TableName:                 &s.table,
		FilterExpression:          aws.String("#type = :license AND attribute_not_exists(product_name)"),
		ExpressionAttributeNames:  map[string]string{"#type": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":license": str("license")},
		ConsistentRead:            aws.Bool(true),
	})
	names := map[string]string{} // brand/slug → product name
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return m, fail("scan licenses", err)
		}
		for _, it := range page.Items {
			var l licenseItem
			if err := attributevalue.UnmarshalMap(it, &l); err != nil {
				return m, fail("decode license", err)
			}
			m.Licenses++
			ref := l.Brand + "/" + l.ProductSlug
			name, known := names[ref]
			if !known {
				prod, found, err := getItem[productItem](ctx, s, brandPK(l.Brand), productSK(l.ProductSlug), true, "get product")
				if err != nil {
					return m, err
				}
				if found {
					name = prod.Name
				}
				names[ref] = name
			}
			if name == "" {
				m.Orphans++
				continue
			}
			_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 &s.table,
				Key:                       keyOf(l.PK, l.SK),
				UpdateExpression:          aws.String("SET product_name = :name"),
				ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(product_name)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":name": str(name)},
			})
			if conditionFailed(err) {
				continue // named meanwhile
			}
			if err != nil {
				return m, fail("name license product", err)
			}
			m.Named++
		}
	}
	return m, s.indexExpiries(ctx, &m)
}

// indexExpiries gives the licenses that expire, written before the expiry
// index, their entry.
func (s *Store) indexExpiries(ctx context.Context, m *Migrated) error {
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{
		TableName:                 &s.table,
		FilterExpression:          aws.String("#type = :license AND attribute_exists(expires_unix) AND attribute_not_exists(gsi2pk)"),
		ExpressionAttributeNames:  map[string]string{"#type": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":license": str("license")},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fail("scan licenses", err)
		}
		for _, it := range page.Items {
			var l licenseItem
			if err := attributevalue.UnmarshalMap(it, &l); err != nil {
				return fail("decode license", err)
			}
			lic := l.license()
			_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:           &s.table,
				Key:                 keyOf(l.PK, l.SK),
				UpdateExpression:    aws.String("SET gsi2pk = :pk, gsi2sk = :sk"),
				ConditionExpression: aws.String("attribute_not_exists(gsi2pk) AND expires_unix = :exp"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":pk": str(expiryPK(lic)), ":sk": str(expirySK(lic)), ":exp": num(l.ExpiresUnix),
				},
			})
			if conditionFailed(err) {
				continue // renewed (and indexed) meanwhile
			}
			if err != nil {
				return fail("index license expiry", err)
			}
			m.Indexed++
		}
	}
	return nil
}
