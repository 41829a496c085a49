package dynamo

import (
	"context"
	"slices"
	"time"

	"github.com/clsvc/license-service/internal/app"
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
func (s *Store) CreateProduct(ctx context.Context, p licensing.Product, done *app.IdempotencyCompletion) error {
	return s.putNew(ctx, productItem{PK: brandPK(p.Brand), SK: productSK(p.Slug), Type: "product", ID: p.ID, Brand: p.Brand, Slug: p.Slug, Name: p.Name, CreatedAt: p.CreatedAt},
		licensing.Errorf(licensing.CodeAlreadyExists, "a product with slug %q already exists", p.Slug), "create product", done)
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

// listByCreation reads the items of a partition whose sort key starts with
// prefix, as domain values, oldest first.
func listByCreation[I, V any](ctx context.Context, s *Store, pk, prefix, op string, value func(I) V, created func(V) time.Time) ([]V, error) {
	rows, err := queryItems[I](ctx, s, pk, prefix, op)
	if err != nil {
		return nil, err
	}
	out := make([]V, len(rows))
	for i, r := range rows {
		out[i] = value(r)
	}
	sortByCreation(out, created)
	return out, nil
}
