package dynamo

import (
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/clsvc/license-service/internal/licensing"
)

type productItem struct {
	PK        string    `dynamodbav:"pk"`
	SK        string    `dynamodbav:"sk"`
	Type      string    `dynamodbav:"type"`
	ID        string    `dynamodbav:"product_id"`
	Brand     string    `dynamodbav:"brand"`
	Slug      string    `dynamodbav:"slug"`
	Name      string    `dynamodbav:"name"`
	CreatedAt time.Time `dynamodbav:"created_at"`
}

// CreateProduct puts a product unless its slug is taken within the brand.
func (s *Store) CreateProduct(ctx context.Context, p licensing.Product) error {
	item, err := attributevalue.MarshalMap(productItem{PK: brandPK(p.Brand), SK: productSK(p.Slug), Type: "product", ID: p.ID, Brand: p.Brand, Slug: p.Slug, Name: p.Name, CreatedAt: p.CreatedAt})
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item, ConditionExpression: aws.String(notExists)})
	if conditionFailed(err) {
		return licensing.Errorf(licensing.CodeAlreadyExists, "a product with slug %q already exists", p.Slug)
	}
	return fail("create product", err)
}

// ListProducts lists a brand's products by slug with one Query.
func (s *Store) ListProducts(ctx context.Context, brand string) ([]licensing.Product, error) {
	rows, err := queryItems[productItem](ctx, s, brandPK(brand), "PRODUCT#", "list products")
	if err != nil {
		return nil, err
	}
	out := make([]licensing.Product, len(rows))
	for i, r := range rows {
		out[i] = licensing.Product{ID: r.ID, Brand: r.Brand, Slug: r.Slug, Name: r.Name, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

func sortByCreation[T any](xs []T, at func(T) time.Time) {
	slices.SortStableFunc(xs, func(a, b T) int { return at(a).Compare(at(b)) })
}
