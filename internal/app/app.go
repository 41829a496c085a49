package app

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clsvc/license-service/internal/licensing"
)

// Store is everything the use cases need from storage.
type Store interface {
	BrandStore
	ProductStore
	LicenseStore
	IdempotencyStore
	SeatStore
	ReleaseStore
	WebhookStore
	HealthStore
}

// App runs the use cases.
type App struct {
	store Store
	now   func() time.Time
	rand  io.Reader // nil: crypto/rand

	// IdempotencyTTL is how long a completed request is replayed.
	IdempotencyTTL time.Duration
	// InProgressTTL is how long a claimed but unfinished request blocks its key.
	InProgressTTL time.Duration
	// SettingsTTL is how long a brand's settings are cached in process.
	SettingsTTL time.Duration

	mu       sync.Mutex
	settings map[string]cachedSettings

	// packages keeps release packages; nil: the service runs without a
	// release bucket (release routes answer releases_unavailable).
	packages PackageStore
	// webhooks sends webhook deliveries; nil: webhook routes fail.
	webhooks WebhookSender
	// UploadTTL is how long a presigned upload of a package is valid.
	UploadTTL time.Duration
	// PackageTTL is how long a presigned package download is valid.
	PackageTTL time.Duration
}

type cachedSettings struct {
	s  licensing.BrandSettings
	at time.Time
}

// brandSettings reads a brand's settings through a short in-process cache:
// they change rarely, and the hot paths should not pay a read for them.
func (a *App) brandSettings(ctx context.Context, brand string) (licensing.BrandSettings, error) {
	a.mu.Lock()
	c, ok := a.settings[brand]
	a.mu.Unlock()
	if ok && a.now().Sub(c.at) < a.SettingsTTL {
		return c.s, nil
	}
	b, err := a.store.GetBrand(ctx, brand)
	if err != nil {
		return licensing.BrandSettings{}, err
	}
	a.mu.Lock()
	a.settings[brand] = cachedSettings{s: b.Settings, at: a.now()}
	a.mu.Unlock()
	return b.Settings, nil
}

// BrandSettings are a brand's policies, read through the in-process cache.
func (a *App) BrandSettings(ctx context.Context, brand string) (licensing.BrandSettings, error) {
	return a.brandSettings(ctx, brand)
}

// stagingCap is a brand's cap on staging and local sites per license.
func (a *App) stagingCap(ctx context.Context, brand string) (int, error) {
	s, err := a.brandSettings(ctx, brand)
	return s.EffectiveStagingCap(), err
}

// New returns an App over a store. now may be nil (time.Now).
func New(store Store, now func() time.Time) *App {
	if now == nil {
		now = time.Now
	}
	return &App{store: store, now: func() time.Time { return now().UTC() }, IdempotencyTTL: 24 * time.Hour, InProgressTTL: 30 * time.Second,
		SettingsTTL: time.Minute, settings: map[string]cachedSettings{},
		UploadTTL: MaxPresignTTL, PackageTTL: MaxPresignTTL}
}

// Now is the App's clock.
func (a *App) Now() time.Time { return a.now() }

// Health tells "up" from "storage unreachable" with one cheap read.
func (a *App) Health(ctx context.Context) error { return a.store.Ping(ctx) }

// Authenticate resolves a plain brand API key to its tenant.
func (a *App) Authenticate(ctx context.Context, apiKey string) (licensing.Tenant, error) {
	apiKey = strings.TrimSpace(apiKey)
	if apiKey == "" {
		return licensing.Tenant{}, licensing.Errorf(licensing.CodeUnauthorized, "missing API key: send it in the X-API-Key header")
	}
	if len(apiKey) > licensing.MaxAPIKeyLength {
		return licensing.Tenant{}, licensing.Errorf(licensing.CodeUnauthorized, "unknown API key")
	}
	return a.store.TenantForKeyHash(ctx, licensing.HashAPIKey(apiKey))
}

// CreateProduct adds a product to the tenant's catalogue.
func (a *App) CreateProduct(ctx context.Context, t licensing.Tenant, slug, name string) (licensing.Product, error) {
	p, _, err := a.CreateProductOnce(ctx, t, slug, name, "")
	return p, err
}

// CreateProductOnce is CreateProduct under an idempotency key (see once).
func (a *App) CreateProductOnce(ctx context.Context, t licensing.Tenant, slug, name, idempotencyKey string) (licensing.Product, bool, error) {
	p, err := licensing.NewProduct(t.Brand, slug, name, a.now())
	if err != nil {
		return licensing.Product{}, false, err
	}
	m := mutation{Op: "create-product", Input: []string{p.Slug, p.Name}}
	return once(ctx, a, t, idempotencyKey, m, func(done *IdempotencyCompletion) (licensing.Product, error) {
		if err := done.SetResult(p); err != nil {
			return p, err
		}
		return p, a.store.CreateProduct(ctx, p, done)
	})
}

// ListProducts lists the tenant's products by slug.
func (a *App) ListProducts(ctx context.Context, t licensing.Tenant) ([]licensing.Product, error) {
	return a.store.ListProducts(ctx, t.Brand)
}

// ProvisionInput is a provisioning request as it arrives.
type ProvisionInput struct {
	CustomerEmail  string
	Products       []string // ids or slugs
	ExpirationDate string   // RFC 3339, empty = perpetual
	MaxSeats       *int     // nil = 1
}

// provisionRequest is a validated ProvisionInput; its JSON, with the
// products resolved to their sorted ids, is what the idempotency hash
// covers, so equivalent requests hash alike.
type provisionRequest struct {
	Email     string     `json:"email"`
	Products  []string   `json:"products"`
	ExpiresAt *time.Time `json:"expires_at"`
	Seats     int        `json:"seats"`
}

func (in ProvisionInput) validate(now time.Time) (provisionRequest, error) {
	var r provisionRequest
	var err error
	if r.Email, err = licensing.ParseEmail("customer_email", in.CustomerEmail); err != nil {
		return r, err
	}
	if len(in.Products) == 0 {
		return r, licensing.Invalid("products", "must name at least one product by id or slug")
	}
	if len(in.Products) > licensing.MaxProductsPerKey {
		return r, licensing.Invalid("products", "must name at most %d products", licensing.MaxProductsPerKey)
	}
	for i, ref := range in.Products {
		ref, err := licensing.ParseText(fmt.Sprintf("products[%d]", i), ref, licensing.SingleLine)
		if err != nil {
			return r, err
		}
		if ref == "" || len(ref) > licensing.MaxSlugLength {
			return r, licensing.Invalid(fmt.Sprintf("products[%d]", i), "must be a product id or slug")
		}
		if slices.Contains(r.Products, ref) {
			return r, licensing.Invalid(fmt.Sprintf("products[%d]", i), "names %q twice", ref)
		}
		r.Products = append(r.Products, ref)
	}
	if in.ExpirationDate != "" {
		t, err := licensing.ParseFutureDate("expiration_date", in.ExpirationDate, now)
		if err != nil {
			return r, err
		}
		r.ExpiresAt = &t
	}
	if r.Seats, err = licensing.ParseSeatLimit("max_seats", in.MaxSeats, 1); err != nil {
		return r, err
	}
	return r, nil
}

// MaxIdempotencyKeyLength bounds an idempotency key.
const MaxIdempotencyKeyLength = 128

// ParseIdempotencyKey validates an optional idempotency key: printable ASCII.
func ParseIdempotencyKey(raw string) (string, error) {
	s, err := licensing.ParseText("idempotency_key", raw, licensing.SingleLine)
	if err != nil {
		return "", err
	}
	if len(s) > MaxIdempotencyKeyLength {
		return "", licensing.Invalid("idempotency_key", "must be at most %d characters", MaxIdempotencyKeyLength)
	}
	for _, c := range s {
		if c < 0x21 || c > 0x7e {
			return "", licensing.Invalid("idempotency_key", "must be printable ASCII without spaces")
		}
	}
	return s, nil
}

// Provision creates a license key for a customer with one license per product
// (US1). With an idempotency key, a repeated request replays the first
// result (replayed is true) instead of provisioning again; the request is
// hashed with its products resolved to their ids, in order, so that neither
// their order nor slug-or-id changes it.
func (a *App) Provision(ctx context.Context, t licensing.Tenant, in ProvisionInput, idempotencyKey string) (res licensing.Provisioned, replayed bool, err error) {
	now := a.now()
	req, err := in.validate(now)
	if err != nil {
		return res, false, err
	}
	if _, err := ParseIdempotencyKey(idempotencyKey); err != nil {
		return res, false, err
	}
	products, err := a.resolveProducts(ctx, t.Brand, req.Products)
	if err != nil {
		return res, false, err
	}
	hashed := req
	hashed.Products = make([]string, len(products))
	for i, p := range products {
		hashed.Products[i] = p.ID
	}
	slices.Sort(hashed.Products)
	if hashed.ExpiresAt != nil {
		hashed.ExpiresAt = new(hashed.ExpiresAt.UTC())
	}
	s, replayed, err := once(ctx, a, t, idempotencyKey, mutation{Op: "provision", Input: hashed}, func(done *IdempotencyCompletion) (snapshot, error) {
		// A fresh key collides with an existing one with probability ~2^-80
		// per pair; the conditional put catches it and a new key is drawn.
		for attempt := 0; ; attempt++ {
			p, err := a.newProvisioned(t, req, products, now)
			if err != nil {
				return snapshot{}, err
			}
			s := toSnapshot(p)
			if err := done.SetResult(s); err != nil {
				return s, err
			}
			err = a.store.Provision(ctx, p, done, licensing.ProvisionedEvents(p, licensing.ActorOf(t)))
			if !licensing.IsCode(err, licensing.CodeAlreadyExists) || attempt == 2 {
				return s, err
			}
		}
	})
	if err != nil {
		return res, false, err
	}
	return s.provisioned(), replayed, nil
}

func (a *App) resolveProducts(ctx context.Context, brand string, refs []string) ([]licensing.Product, error) {
	all, err := a.store.ListProducts(ctx, brand)
	if err != nil {
		return nil, err
	}
	out := make([]licensing.Product, 0, len(refs))
	var missing []string
	for _, ref := range refs {
		i := slices.IndexFunc(all, func(p licensing.Product) bool { return p.ID == ref || p.Slug == strings.ToLower(ref) })
		if i < 0 {
			missing = append(missing, ref)
			continue
		}
		if slices.ContainsFunc(out, func(p licensing.Product) bool { return p.ID == all[i].ID }) {
			return nil, licensing.Invalid("products", "names product %q twice", all[i].Slug)
		}
		out = append(out, all[i])
	}
	if len(missing) > 0 {
		e := licensing.Errorf(licensing.CodeProductNotFound, "unknown product(s): %s", strings.Join(missing, ", "))
		e.Field = "products"
		return nil, e
	}
	return out, nil
}

func (a *App) newProvisioned(t licensing.Tenant, req provisionRequest, products []licensing.Product, now time.Time) (licensing.Provisioned, error) {
	key, err := licensing.NewLicenseKey(t.KeyPrefix, a.rand)
	if err != nil {
		return licensing.Provisioned{}, err
	}
	p := licensing.Provisioned{Key: licensing.KeyRecord{
		ID: licensing.NewID(licensing.KindLicenseKey), Key: key, Brand: t.Brand,
		CustomerEmail: req.Email, CreatedAt: now,
	}}
	for _, prod := range products {
		p.Licenses = append(p.Licenses, licensing.License{
			ID: licensing.NewID(licensing.KindLicense), Key: key, Brand: t.Brand,
			ProductID: prod.ID, ProductSlug: prod.Slug, ProductName: prod.Name, Status: licensing.StatusValid,
			SeatLimit: req.Seats, ExpiresAt: req.ExpiresAt, CreatedAt: now, UpdatedAt: now, Version: 1,
		})
	}
	return p, nil
}

// MaxActivationsPage bounds a page of a license's seats; it is also the
// default page.
const MaxActivationsPage = 100

// License returns one of the tenant's licenses with its key and a page of
// its seats: limit of them (0: MaxActivationsPage) from cursor ("" for the
// first page); the view's NextActivations is the next page's cursor.
func (a *App) License(ctx context.Context, t licensing.Tenant, id, cursor string, limit int) (licensing.LicenseView, error) {
	if limit == 0 {
		limit = MaxActivationsPage
	}
	if limit < 1 || limit > MaxActivationsPage {
		return licensing.LicenseView{}, licensing.Invalid("limit", "must be between 1 and %d", MaxActivationsPage)
	}
	if len(cursor) > 512 {
		return licensing.LicenseView{}, licensing.Invalid("cursor", "is not a cursor this API returned")
	}
	if !licensing.ValidID(licensing.KindLicense, id) {
		return licensing.LicenseView{}, licenseNotFound()
	}
	v, err := a.store.License(ctx, t.Brand, id)
	if err != nil {
		return v, err
	}
	return a.withActivations(ctx, v, cursor, limit)
}

// withActivations adds a page of the license's seats to its view.
func (a *App) withActivations(ctx context.Context, v licensing.LicenseView, cursor string, limit int) (licensing.LicenseView, error) {
	acts, next, err := a.store.Activations(ctx, v.Key.Key, v.License.ProductSlug, cursor, limit)
	if err != nil {
		return licensing.LicenseView{}, err
	}
	for i := range acts {
		acts[i].LicenseID, acts[i].Brand = v.License.ID, v.Key.Brand
	}
	v.Activations, v.NextActivations = acts, next
	return v, nil
}

// MaxHistoryPage bounds a page of license history.
const MaxHistoryPage = 100

// LicenseHistory pages through one of the tenant's licenses' events, newest
// first (the audit log).
func (a *App) LicenseHistory(ctx context.Context, t licensing.Tenant, id, cursor string, limit int) ([]StoredEvent, string, error) {
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > MaxHistoryPage {
		return nil, "", licensing.Invalid("limit", "must be between 1 and %d", MaxHistoryPage)
	}
	if len(cursor) > 512 {
		return nil, "", licensing.Invalid("cursor", "is not a cursor this API returned")
	}
	if !licensing.ValidID(licensing.KindLicense, id) {
		return nil, "", licenseNotFound()
	}
	if _, err := a.store.License(ctx, t.Brand, id); err != nil {
		return nil, "", err
	}
	return a.store.LicenseEvents(ctx, t.Brand, id, cursor, limit)
}

func licenseNotFound() error {
	return licensing.Errorf(licensing.CodeLicenseNotFound, "no such license")
}

// ChangeInput is a lifecycle request as it arrives.
type ChangeInput struct {
	Action         licensing.Action
	Reason         string
	ExpirationDate string // renew only
}

// ChangeLicense suspends, resumes, cancels or renews a license (US2).
func (a *App) ChangeLicense(ctx context.Context, t licensing.Tenant, id string, in ChangeInput) (licensing.LicenseView, error) {
	v, _, err := a.ChangeLicenseOnce(ctx, t, id, in, "")
	return v, err
}

// ChangeLicenseOnce is ChangeLicense under an idempotency key (see once).
// A replay answers the license as the change left it, with its seats as
// they are now.
func (a *App) ChangeLicenseOnce(ctx context.Context, t licensing.Tenant, id string, in ChangeInput, idempotencyKey string) (licensing.LicenseView, bool, error) {
	now := a.now()
	reason, err := licensing.ParseReason("reason", in.Reason)
	if err != nil {
		return licensing.LicenseView{}, false, err
	}
	var expiry *time.Time
	if in.Action == licensing.ActionRenew {
		e, err := licensing.ParseFutureDate("expiration_date", in.ExpirationDate, now)
		if err != nil {
			return licensing.LicenseView{}, false, err
		}
		expiry = new(e.UTC())
	}
	if !licensing.ValidID(licensing.KindLicense, id) {
		return licensing.LicenseView{}, false, licenseNotFound()
	}
	m := mutation{Op: "license-" + string(in.Action), IDs: []string{id}, Input: struct {
		Reason    string     `json:"reason"`
		ExpiresAt *time.Time `json:"expires_at"`
	}{reason, expiry}}
	v, replayed, err := once(ctx, a, t, idempotencyKey, m, func(done *IdempotencyCompletion) (licensing.LicenseView, error) {
		return a.store.UpdateLicense(ctx, t.Brand, id, done, func(v licensing.LicenseView) (licensing.License, []licensing.Event, error) {
			next, err := v.License.Transition(in.Action, reason, expiry, a.now())
			if err != nil {
				return next, nil, err
			}
			if err := done.SetResult(licensing.LicenseView{Key: v.Key, License: next}); err != nil {
				return next, nil, err
			}
			return next, []licensing.Event{licensing.TransitionEvent(in.Action, v.Key, next, licensing.ActorOf(t))}, nil
		})
	})
	if err != nil {
		return v, false, err
	}
	v, err = a.withActivations(ctx, v, "", MaxActivationsPage)
	return v, replayed, err
}

// CustomerLicenses is every key (with its licenses) a customer holds at a brand.
type CustomerLicenses struct {
	Email string
	Keys  []licensing.KeyLicenses
}

// LicensesByEmail lists a customer's keys and licenses at the tenant (US6).
func (a *App) LicensesByEmail(ctx context.Context, t licensing.Tenant, email string) (CustomerLicenses, error) {
	e, err := licensing.ParseEmail("email", email)
	if err != nil {
		return CustomerLicenses{}, err
	}
	keys, err := a.store.LicensesByEmail(ctx, t.Brand, e)
	if err != nil {
		return CustomerLicenses{}, err
	}
	return CustomerLicenses{Email: e, Keys: keys}, nil
}
