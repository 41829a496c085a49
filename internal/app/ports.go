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
	// CreateProduct fails with CodeAlreadyExists when the slug is taken; it
	// completes done (when not nil) in the same transaction.
	CreateProduct(ctx context.Context, p licensing.Product, done *IdempotencyCompletion) error
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
	// and the change's events (and completes done, when not nil: change sets
	// its result) in one transaction conditioned on the version it read,
	// retrying on a concurrent change.
	UpdateLicense(ctx context.Context, brand, id string, done *IdempotencyCompletion, change func(licensing.LicenseView) (licensing.License, []licensing.Event, error)) (licensing.LicenseView, error)
	// ExpiringOn lists a brand's licenses that expire on the UTC day of
	// day, by a read of that day's entries alone (never a scan).
	ExpiringOn(ctx context.Context, brand string, day time.Time) ([]licensing.License, error)
	// LicenseEvents pages through a license's events, newest first.
	LicenseEvents(ctx context.Context, brand, licenseID, cursor string, limit int) ([]StoredEvent, string, error)
	// LicensesByEmail returns a brand's keys (oldest first) for a customer.
	LicensesByEmail(ctx context.Context, brand, email string) ([]licensing.KeyLicenses, error)
}

// SeatStore keeps the seats (activations) of licenses. Product paths read
// the items they need by key — the license key, the license of the product
// and the seats of the instances named — so that their cost does not depend
// on how many seats a key has.
type SeatStore interface {
	// Seat reads q's seat view by key, strongly consistent or not. An unknown
	// key fails with CodeLicenseNotFound, a product the key has no license
	// for with CodeProductNotFound.
	Seat(ctx context.Context, q SeatQuery, consistent bool) (licensing.SeatView, error)
	// ChangeSeat reads q's seat view (strongly consistent), lets decide
	// return the change (a seat taken, moved or freed, or kept: nothing to
	// write) and writes it with its event in one transaction conditioned on
	// what was read; a concurrent change makes it read and decide again.
	// decide's refusals are returned as they are. done, when not nil, is
	// completed in the same transaction (decide sets its result); with
	// nothing else to write, on its own.
	ChangeSeat(ctx context.Context, q SeatQuery, done *IdempotencyCompletion, decide func(licensing.SeatView) (licensing.SeatChange, error)) (licensing.SeatChange, error)
	// KeyLicenses reads a key and its licenses (not its seats); an unknown
	// key fails with CodeLicenseNotFound.
	KeyLicenses(ctx context.Context, key licensing.LicenseKey) (licensing.KeyLicenses, error)
	// Activations pages through the seats of a key's license for a product:
	// at most limit, and the cursor of the next page ("" after the last).
	Activations(ctx context.Context, key licensing.LicenseKey, productSlug, cursor string, limit int) ([]licensing.Activation, string, error)
	// ActivationByID finds a seat of a key's license by activation id.
	ActivationByID(ctx context.Context, key licensing.LicenseKey, productSlug, id string) (licensing.Activation, bool, error)
	// Touch records that an activation was seen now, unless it was seen
	// since notBefore: one conditional write, at most once a day.
	Touch(ctx context.Context, a licensing.Activation, now, notBefore time.Time) error
	// StaleActivations lists the activations of keys with the brand's prefix
	// last seen before the cutoff.
	StaleActivations(ctx context.Context, keyPrefix string, before time.Time) ([]licensing.Activation, error)
}

// SeatQuery names the items of a seat decision: the license key, the
// product (a slug, an id, or "" for a key's only product), the instance
// (nil: the license alone) and, for a site move, the previous instance.
type SeatQuery struct {
	Key      licensing.LicenseKey
	Product  string
	Instance *licensing.Instance
	Previous *licensing.Instance
}

// IdempotencyStore claims and releases idempotency keys. Completion happens
// inside the use case's own transaction: every store write of a brand
// mutation takes an *IdempotencyCompletion (nil: none), and a transaction
// whose claim was released or taken over meanwhile fails with
// CodeRequestInProgress and writes nothing.
type IdempotencyStore interface {
	// Claim puts an in-progress record unless a live one exists; then it
	// returns that record and no error.
	Claim(ctx context.Context, c IdempotencyClaim) (*IdempotencyRecord, error)
	// Release deletes the in-progress record of this claim (its token): a
	// failed attempt.
	Release(ctx context.Context, brand, key, token string) error
}

// IdempotencyClaim is an attempt to start a request under an idempotency key.
type IdempotencyClaim struct {
	Brand       string
	Key         string
	Hash        string
	Token       string // this claim's own: only it completes or releases the record
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
	Token     string
	Result    []byte
	ExpiresAt time.Time
}

// ReleaseStore keeps products' releases.
type ReleaseStore interface {
	// CreateRelease fails with CodeAlreadyExists when the version exists; it
	// completes done (when not nil) in the same transaction.
	CreateRelease(ctx context.Context, r licensing.Release, done *IdempotencyCompletion) error
	// Releases lists a product's releases, newest version first.
	Releases(ctx context.Context, brand, productID string) ([]licensing.Release, error)
	// GetRelease fails with CodeReleaseNotFound.
	GetRelease(ctx context.Context, brand, productID string, v licensing.Version) (licensing.Release, error)
	// UpdateRelease applies change to a release and writes it, what each
	// channel offers (licensing.LatestRelease over the product's releases
	// after the change) and the events (and completes done, when not nil:
	// change sets its result) in one transaction conditioned on what it
	// read, retrying on a concurrent change.
	UpdateRelease(ctx context.Context, brand, productID string, v licensing.Version, done *IdempotencyCompletion, change func(licensing.Release) (licensing.Release, []licensing.Event, error)) (licensing.Release, error)
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
