package app

import (
	"context"
	"strings"
	"time"

	"github.com/clsvc/license-service/internal/licensing"
)

// Ops runs the operator's use cases (the ops CLI, seeding): brands, API keys
// and products on behalf of a brand.
type Ops struct{ app *App }

// Ops returns the operator's use cases over the same store.
func (a *App) Ops() Ops { return Ops{app: a} }

// CreateBrand onboards a brand.
func (o Ops) CreateBrand(ctx context.Context, slug, name, prefix string) (licensing.Brand, error) {
	b, err := licensing.NewBrand(slug, name, prefix, o.app.now())
	if err != nil {
		return b, err
	}
	return b, o.app.store.CreateBrand(ctx, b)
}

// ListBrands lists every brand by slug.
func (o Ops) ListBrands(ctx context.Context) ([]licensing.Brand, error) {
	return o.app.store.ListBrands(ctx)
}

// CreateAPIKey issues a new API key for a brand and returns the plain key,
// which is not stored and cannot be shown again.
func (o Ops) CreateAPIKey(ctx context.Context, brand string) (string, licensing.APIKey, error) {
	plain, hash := licensing.NewAPISecret()
	k, err := o.registerAPIKey(ctx, brand, plain, hash)
	return plain, k, err
}

// ImportAPIKey registers a given plain key (local seeding uses fixed keys).
func (o Ops) ImportAPIKey(ctx context.Context, brand, plain string) (licensing.APIKey, error) {
	if len(plain) < 16 || len(plain) > licensing.MaxAPIKeyLength || strings.ContainsAny(plain, " \t\r\n") {
		return licensing.APIKey{}, licensing.Invalid("api_key", "must be 16 to %d characters without spaces", licensing.MaxAPIKeyLength)
	}
	return o.registerAPIKey(ctx, brand, plain, licensing.HashAPIKey(plain))
}

func (o Ops) registerAPIKey(ctx context.Context, brand, plain, hash string) (licensing.APIKey, error) {
	b, err := o.app.store.GetBrand(ctx, brand)
	if err != nil {
		return licensing.APIKey{}, err
	}
	k := licensing.APIKey{ID: licensing.NewID(licensing.KindBrandKey), Brand: b.Slug, Hash: hash, Hint: plain[len(plain)-4:], CreatedAt: o.app.now()}
	created := licensing.APIKeyEvent(licensing.EventAPIKeyCreated, k, k.CreatedAt, licensing.Actor{Type: licensing.ActorCLI})
	if err := o.app.store.CreateAPIKey(ctx, b, k, created); err != nil {
		return licensing.APIKey{}, err
	}
	return k, nil
}

// ListAPIKeys lists a brand's API keys, revoked ones included.
func (o Ops) ListAPIKeys(ctx context.Context, brand string) ([]licensing.APIKey, error) {
	if _, err := o.app.store.GetBrand(ctx, brand); err != nil {
		return nil, err
	}
	return o.app.store.ListAPIKeys(ctx, brand)
}

// RevokeAPIKey revokes one of a brand's API keys; it stops working at once.
func (o Ops) RevokeAPIKey(ctx context.Context, brand, id string) error {
	if _, err := o.app.store.GetBrand(ctx, brand); err != nil {
		return err
	}
	return o.app.store.RevokeAPIKey(ctx, brand, id, o.app.now(), licensing.Actor{Type: licensing.ActorCLI})
}

// ListProducts lists a brand's products.
func (o Ops) ListProducts(ctx context.Context, brand string) ([]licensing.Product, error) {
	return o.app.store.ListProducts(ctx, brand)
}

// CreateProduct adds a product to a brand's catalogue.
func (o Ops) CreateProduct(ctx context.Context, brand, slug, name string) (licensing.Product, error) {
	b, err := o.app.store.GetBrand(ctx, brand)
	if err != nil {
		return licensing.Product{}, err
	}
	return o.app.CreateProduct(ctx, licensing.Tenant{Brand: b.Slug, KeyPrefix: b.KeyPrefix}, slug, name)
}

// Import writes a provisioned key as given (fixed ids and key) and takes the
// given seats: local demo data that sample events and examples can name.
// What exists already is left as it is.
func (o Ops) Import(ctx context.Context, p licensing.Provisioned, seats []licensing.Activation) error {
	cli := licensing.Actor{Type: licensing.ActorCLI}
	if err := o.app.store.Provision(ctx, p, nil, licensing.ProvisionedEvents(p, cli)); err != nil && !licensing.IsCode(err, licensing.CodeAlreadyExists) {
		return err
	}
	for _, a := range seats {
		a.Environment = licensing.ClassifyInstance(a.Instance)
		q := SeatQuery{Key: a.Key, Product: a.ProductSlug, Instance: &a.Instance}
		if _, err := o.app.takeSeat(ctx, q, a, cli); err != nil {
			return err
		}
	}
	return nil
}

// ConfigureBrand sets a brand's policies: its cap on staging and local sites
// per license and after how many days unseen seats are freed (0: never).
func (o Ops) ConfigureBrand(ctx context.Context, slug string, s licensing.BrandSettings) error {
	if err := licensing.ValidateSettings(s); err != nil {
		return err
	}
	if err := o.app.store.ConfigureBrand(ctx, slug, s); err != nil {
		return err
	}
	o.app.mu.Lock()
	delete(o.app.settings, slug)
	o.app.mu.Unlock()
	return nil
}

// ReclaimStale runs the reclaim of stale seats now (as the schedule does).
func (o Ops) ReclaimStale(ctx context.Context) ([]Reclaimed, error) { return o.app.ReclaimStale(ctx) }

// ExpiringWithin lists a brand's valid licenses expiring within the window.
func (o Ops) ExpiringWithin(ctx context.Context, brand string, within time.Duration) ([]licensing.License, error) {
	return o.app.ExpiringWithin(ctx, brand, within)
}
