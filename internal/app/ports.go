// Package app holds the use cases of the license service. Each use case takes
// the tenant (the brand resolved from its credential), validates its input into
// domain values and talks to storage through the small interfaces below, which
// the adapters implement.
package app

import (
	"context"
	"time"

	"github.com/clsvc/license-service/internal/licensing"
)

// BrandStore keeps brands and their API keys.
type BrandStore interface {
	// CreateBrand fails with CodeAlreadyExists when the slug or prefix is taken.
	CreateBrand(ctx context.Context, b licensing.Brand) error
	// GetBrand fails with CodeBrandNotFound.
	GetBrand(ctx context.Context, slug string) (licensing.Brand, error)
	ListBrands(ctx context.Context) ([]licensing.Brand, error)
	CreateAPIKey(ctx context.Context, b licensing.Brand, k licensing.APIKey) error
	ListAPIKeys(ctx context.Context, brand string) ([]licensing.APIKey, error)
	// RevokeAPIKey fails with CodeAPIKeyNotFound for an unknown or already revoked key.
	RevokeAPIKey(ctx context.Context, brand, id string, at time.Time) error
	// TenantForKeyHash fails with CodeUnauthorized for an unknown or revoked key.
	TenantForKeyHash(ctx context.Context, hash string) (licensing.Tenant, error)
}

// ProductStore keeps a brand's products.
type ProductStore interface {
	// CreateProduct fails with CodeAlreadyExists when the slug is taken.
	CreateProduct(ctx context.Context, p licensing.Product) error
	ListProducts(ctx context.Context, brand string) ([]licensing.Product, error)
}

// LicenseStore keeps license keys and their licenses.
type LicenseStore interface {
	// Provision writes the key, its licenses, their id pointers and the
	// customer's e-mail index entries — and completes the idempotency record
	// when done is not nil — in one transaction. A key that already exists
	// fails with CodeAlreadyExists and writes nothing.
	Provision(ctx context.Context, p licensing.Provisioned, done *IdempotencyCompletion) error
	// License returns a brand's license by id with its key; another brand's id
	// fails with CodeLicenseNotFound exactly as an unknown one.
	License(ctx context.Context, brand, id string) (licensing.LicenseView, error)
	// UpdateLicense reads the license, applies change and writes the result
	// conditioned on the version it read, retrying on a concurrent change.
	UpdateLicense(ctx context.Context, brand, id string, change func(licensing.License) (licensing.License, error)) (licensing.LicenseView, error)
	// LicensesByEmail returns a brand's keys (oldest first) for a customer.
	LicensesByEmail(ctx context.Context, brand, email string) ([]licensing.KeyLicenses, error)
}

// SeatStore keeps the seats (activations) of licenses.
type SeatStore interface {
	// KeyState reads everything under a license key with one Query, strongly
	// consistent or not; an unknown key fails with CodeLicenseNotFound.
	KeyState(ctx context.Context, key licensing.LicenseKey, consistent bool) (licensing.KeyState, error)
	// Activate takes a seat for the activation's instance on its product's
	// license: one transaction increments seats_used under seats_used <
	// seat_limit, status valid and not expired, and puts the activation under
	// attribute_not_exists. When the instance already holds a seat it returns
	// that activation and created is false. Refusals are typed errors.
	Activate(ctx context.Context, a licensing.Activation, now time.Time) (act licensing.Activation, after licensing.License, created bool, err error)
	// Deactivate frees an instance's seat in one transaction that deletes the
	// activation and decrements seats_used, conditioned so that a seat is
	// never freed twice and seats_used never goes below zero.
	Deactivate(ctx context.Context, key licensing.LicenseKey, productSlug string, inst licensing.Instance) (licensing.License, error)
}

// IdempotencyStore claims and releases idempotency keys. Completion happens
// inside the use case's own transaction (see LicenseStore.Provision).
type IdempotencyStore interface {
	// Claim puts an in-progress record unless a live one exists; then it
	// returns that record and no error.
	Claim(ctx context.Context, c IdempotencyClaim) (*IdempotencyRecord, error)
	// Release deletes an in-progress record with this hash (a failed attempt).
	Release(ctx context.Context, brand, key, hash string) error
}

// IdempotencyClaim is an attempt to start a request under an idempotency key.
type IdempotencyClaim struct {
	Brand       string
	Key         string
	Hash        string
	Now         time.Time
	LockedUntil time.Time // an in-progress record older than this may be taken over
	ExpiresAt   time.Time // the record is forgotten after this
}

// IdempotencyRecord is a live record found under an idempotency key.
type IdempotencyRecord struct {
	Hash      string
	Completed bool
	Result    []byte
}

// IdempotencyCompletion marks a claimed record completed with its result.
type IdempotencyCompletion struct {
	Brand     string
	Key       string
	Hash      string
	Result    []byte
	ExpiresAt time.Time
}
