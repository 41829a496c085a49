// Package demo seeds the local service with demo brands, products and
// local-only API keys, so that `make run` and the README's examples work on a
// fresh machine.
package demo

import (
	"context"
	"fmt"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

// Brand is a demo brand with its fixed local API key.
type Brand struct {
	Slug, Name, Prefix string
	APIKey             string
	Products           []Product
}

// Product is a demo product.
type Product struct{ Slug, Name string }

// Brands are the demo brands. Their API keys are for local use only.
var Brands = []Brand{
	{
		Slug: "rankmath", Name: "Rank Math", Prefix: "RM", APIKey: "local-rankmath-key-0001",
		Products: []Product{{Slug: "rankmath-pro", Name: "Rank Math Pro"}, {Slug: "content-ai", Name: "Content AI"}},
	},
	{
		Slug: "wp-rocket", Name: "WP Rocket", Prefix: "WPR", APIKey: "local-wp-rocket-key-0001",
		Products: []Product{{Slug: "wp-rocket", Name: "WP Rocket"}},
	},
}

// Seed creates the demo brands, products and keys; what already exists is
// left as it is, so seeding twice is harmless.
func Seed(ctx context.Context, ops app.Ops) error {
	products := map[string]licensing.Product{}
	for _, b := range Brands {
		if _, err := ops.CreateBrand(ctx, b.Slug, b.Name, b.Prefix); err != nil && !licensing.IsCode(err, licensing.CodeAlreadyExists) {
			return fmt.Errorf("seed brand %s: %w", b.Slug, err)
		}
		if _, err := ops.ImportAPIKey(ctx, b.Slug, b.APIKey); err != nil && !licensing.IsCode(err, licensing.CodeAlreadyExists) {
			return fmt.Errorf("seed api key of %s: %w", b.Slug, err)
		}
		for _, p := range b.Products {
			if _, err := ops.CreateProduct(ctx, b.Slug, p.Slug, p.Name); err != nil && !licensing.IsCode(err, licensing.CodeAlreadyExists) {
				return fmt.Errorf("seed product %s/%s: %w", b.Slug, p.Slug, err)
			}
		}
		listed, err := ops.ListProducts(ctx, b.Slug)
		if err != nil {
			return err
		}
		for _, p := range listed {
			products[b.Slug+"/"+p.Slug] = p
		}
	}
	return seedLicenses(ctx, ops, products)
}
