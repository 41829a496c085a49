// Package app holds the use cases of the license service. Each use case takes
// the tenant (the brand resolved from its credential), validates its input into
// domain values and talks to storage through the small interfaces below, which
// the adapters implement.
package app

import (
	"context"
	"encoding/json"
	"time"

	"github.com/clsvc/license-service/internal/licensing"
)

// BrandStore keeps brands and their API keys.
type BrandStore interface {
	// CreateBrand fails with CodeAlreadyExists when the slug or prefix is taken.
	CreateBrand(ctx context.Context, b licensing.Brand) error
	// ConfigureBrand replaces a brand's settings; CodeBrandNotFound if unknown.
	ConfigureBrand(ctx context.Context, slug string, s licensing.BrandSettings) error
	// GetBrand fails with CodeBrandNotFound.
	GetBrand(ctx context.Context, slug string) (licensing.Brand, error)
	ListBrands(ctx context.Context) ([]licensing.Brand, error)
	// CreateAPIKey writes the key and its ApiKeyCreated event in one transaction.
	CreateAPIKey(ctx context.Context, b licensing.Brand, k licensing.APIKey, created licensing.Event) error
	ListAPIKeys(ctx context.Context, brand string) ([]licensing.APIKey, error)
	// RevokeAPIKey revokes a key and writes its ApiKeyRevoked event in one
	// transaction; it fails with CodeAPIKeyNotFound for an unknown or already
	// revoked key.
	RevokeAPIKey(ctx context.Context, brand, id string, at time.Time, actor licensing.Actor) error
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
	// Provision writes the key, its licenses, their id pointers, the
	// customer's e-mail index entries and the events — and completes the
	// idempotency record when done is not nil — in one transaction. A key
	// that already exists fails with CodeAlreadyExists and writes nothing.
	Provision(ctx context.Context, p licensing.Provisioned, done *IdempotencyCompletion, events []licensing.Event) error
	// License returns a brand's license by id with its key; another brand's id
	// fails with CodeLicenseNotFound exactly as an unknown one.
	License(ctx context.Context, brand, id string) (licensing.LicenseView, error)
	// UpdateLicense reads the license, applies change and writes the result
	// and the change's events in one transaction conditioned on the version it
	// read, retrying on a concurrent change.
	UpdateLicense(ctx context.Context, brand, id string, change func(licensing.LicenseView) (licensing.License, []licensing.Event, error)) (licensing.LicenseView, error)
	// LicenseEvents pages through a license's events, newest first.
	LicenseEvents(ctx context.Context, brand, licenseID, cursor string, limit int) ([]StoredEvent, string, error)
	// LicensesByEmail returns a brand's keys (oldest first) for a customer.
	LicensesByEmail(ctx context.Context, brand, email string) ([]licensing.KeyLicenses, error)
}

// SeatStore keeps the seats (activations) of licenses.
type SeatStore interface {
	// KeyState reads everything under a license key with one Query, strongly
	// consistent or not; an unknown key fails with CodeLicenseNotFound.
	KeyState(ctx context.Context, key licensing.LicenseKey, consistent bool) (licensing.KeyState, error)
	// Activate takes a seat for the activation's instance on the license of
	// product (a slug, an id, or empty for a key's only product): it reads the
	// key, then one transaction increments seats_used from the count it read
	// (under seats_used < seat_limit, status valid and not expired), puts the
	// activation under attribute_not_exists and writes the LicenseActivated
	// event; a concurrent change makes it read and try again. When the
	// instance already holds a seat it returns that activation and created is
	// false. Refusals are typed errors.
	// Staging and local sites (a.Environment) count against stagingCap of the
	// key's brand instead of the seat limit.
	// With previous naming a site that holds a seat on the license, the seat
	// moves to the new site in one transaction (SiteMoved).
	Activate(ctx context.Context, a licensing.Activation, product string, previous *licensing.Instance, now time.Time, actor licensing.Actor, stagingCap func(ctx context.Context, brand string) (int, error)) (act licensing.Activation, after licensing.License, created bool, err error)
	// Deactivate frees an instance's seat: one transaction deletes the
	// activation (it must exist), decrements seats_used from the count read
	// (never below zero) and writes the SeatDeactivated event, so a seat is
	// never freed twice.
	// The event is SeatDeactivated, or SeatReclaimed for a stale seat freed
	// by the service. guard narrows which activation may be freed; one that
	// does not match reads as activation_not_found.
	Deactivate(ctx context.Context, key licensing.LicenseKey, product string, inst licensing.Instance, now time.Time, actor licensing.Actor, event licensing.EventType, guard SeatGuard) (licensing.License, error)
	// Touch records that an activation was seen now, unless it was seen
	// since notBefore: one conditional write, at most once a day.
	Touch(ctx context.Context, a licensing.Activation, now, notBefore time.Time) error
	// StaleActivations lists the activations of keys with the brand's prefix
	// last seen before the cutoff.
	StaleActivations(ctx context.Context, keyPrefix string, before time.Time) ([]licensing.Activation, error)
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

// HealthStore tells whether storage answers.
type HealthStore interface {
	// Ping makes the cheapest possible read.
	Ping(ctx context.Context) error
}

// StoredEvent is an event as the license history returns it.
type StoredEvent struct {
	ID         string
	Type       licensing.EventType
	OccurredAt time.Time
	Detail     json.RawMessage
}

// IdempotencyCompletion marks a claimed record completed with its result.
type IdempotencyCompletion struct {
	Brand     string
	Key       string
	Hash      string
	Result    []byte
	ExpiresAt time.Time
}

// SeatGuard narrows the activation Deactivate may free, checked on the read
// and again in the transaction's condition.
type SeatGuard struct {
	// ActivationID, when set, must be the activation's id: support frees the
	// activation it looked at, never a newer one of the same site.
	ActivationID string
	// SeenBefore, when set, is the time the activation must not have been
	// seen since: a stale-seat reclaim never frees a site that called in
	// after the scan found it.
	SeenBefore time.Time
}

// ReleaseStore keeps products' releases.
type ReleaseStore interface {
	// CreateRelease fails with CodeAlreadyExists when the version exists.
	CreateRelease(ctx context.Context, r licensing.Release) error
	// Releases lists a product's releases, newest version first.
	Releases(ctx context.Context, brand, productID string) ([]licensing.Release, error)
	// GetRelease fails with CodeReleaseNotFound.
	GetRelease(ctx context.Context, brand, productID string, v licensing.Version) (licensing.Release, error)
	// UpdateRelease applies change to a release and writes it, what each
	// channel offers (licensing.LatestRelease over the product's releases
	// after the change) and the events in one transaction conditioned on
	// what it read, retrying on a concurrent change.
	UpdateRelease(ctx context.Context, brand, productID string, v licensing.Version, change func(licensing.Release) (licensing.Release, []licensing.Event, error)) (licensing.Release, error)
	// LatestRelease is what a site on the channel is offered, by key.
	LatestRelease(ctx context.Context, brand, productID string, ch licensing.Channel) (licensing.Release, bool, error)
}

// PackageStore keeps release packages (an S3 bucket) and hands them out and
// takes them in through presigned URLs.
type PackageStore interface {
	// PresignUpload is a PUT of exactly size bytes with SHA-256 sum (hex).
	PresignUpload(ctx context.Context, key string, size int64, sum string, ttl time.Duration) (Presigned, error)
	// PresignDownload is a GET of the object, saved as fileName.
	PresignDownload(ctx context.Context, key, fileName string, ttl time.Duration) (Presigned, error)
	// Stat reads an object's size; found is false when there is none.
	Stat(ctx context.Context, key string) (size int64, found bool, err error)
	// Digest reads an object whole and returns its SHA-256 (hex) and size.
	Digest(ctx context.Context, key string) (sum string, size int64, found bool, err error)
}

// Presigned is a request a client makes straight to the package store.
type Presigned struct {
	URL       string
	Method    string
	Headers   map[string]string // to send as they are (they are signed)
	ExpiresAt time.Time
}
