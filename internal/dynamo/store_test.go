package dynamo_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	miniserver "github.com/truora/minidyn/server"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/licensing"
)

var (
	ctx  = context.Background()
	t0   = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	rm   = licensing.Brand{Slug: "rankmath", Name: "Rank Math", KeyPrefix: "RM", CreatedAt: t0}
	wpr  = licensing.Brand{Slug: "wp-rocket", Name: "WP Rocket", KeyPrefix: "WPR", CreatedAt: t0}
	prod = licensing.Product{ID: "prd_aaaaaaaaaaaaaaaaaaaa", Brand: "rankmath", Slug: "rankmath-pro", Name: "Rank Math Pro", CreatedAt: t0}
)

var cli = licensing.Actor{Type: licensing.ActorCLI}

func keyEvent(k licensing.APIKey) licensing.Event {
	return licensing.APIKeyEvent(licensing.EventAPIKeyCreated, k, k.CreatedAt, cli)
}

func withBrands(t *testing.T) *dynamotest.Engine {
	t.Helper()
	e := dynamotest.Start(t)
	require.NoError(t, e.Store.CreateBrand(ctx, rm))
	require.NoError(t, e.Store.CreateBrand(ctx, wpr))
	return e
}

func TestBrands(t *testing.T) {
	e := withBrands(t)
	got, err := e.Store.GetBrand(ctx, "rankmath")
	require.NoError(t, err)
	assert.Equal(t, rm, got)

	_, err = e.Store.GetBrand(ctx, "nope")
	assert.Equal(t, licensing.CodeBrandNotFound, licensing.ErrorCode(err))

	all, err := e.Store.ListBrands(ctx)
	require.NoError(t, err)
	assert.Equal(t, []licensing.Brand{rm, wpr}, all)

	before := e.Dump(t)
	dupSlug := rm
	dupSlug.KeyPrefix = "NEW"
	err = e.Store.CreateBrand(ctx, dupSlug)
	assert.Equal(t, licensing.CodeAlreadyExists, licensing.ErrorCode(err))
	assert.Contains(t, err.Error(), `brand "rankmath"`)
	dupPrefix := licensing.Brand{Slug: "other", Name: "Other", KeyPrefix: "RM", CreatedAt: t0}
	err = e.Store.CreateBrand(ctx, dupPrefix)
	assert.Equal(t, licensing.CodeAlreadyExists, licensing.ErrorCode(err))
	assert.Contains(t, err.Error(), `prefix "RM"`)
	assert.Equal(t, before, e.Dump(t), "a refused brand leaves nothing behind")
}

func TestAPIKeys(t *testing.T) {
	e := withBrands(t)
	k := licensing.APIKey{ID: "key_aaaaaaaaaaaaaaaaaaaa", Brand: "rankmath", Hash: licensing.HashAPIKey("secret-1"), Hint: "t-1", CreatedAt: t0}
	require.NoError(t, e.Store.CreateAPIKey(ctx, rm, k, keyEvent(k)))
	k2 := licensing.APIKey{ID: "key_bbbbbbbbbbbbbbbbbbbb", Brand: "rankmath", Hash: licensing.HashAPIKey("secret-2"), Hint: "t-2", CreatedAt: t0.Add(time.Second)}
	require.NoError(t, e.Store.CreateAPIKey(ctx, rm, k2, keyEvent(k2)))

	for _, secret := range []string{"secret-1", "secret-2"} {
		tenant, err := e.Store.TenantForKeyHash(ctx, licensing.HashAPIKey(secret))
		require.NoError(t, err)
		assert.Equal(t, licensing.Tenant{Brand: "rankmath", KeyPrefix: "RM", APIKeyID: map[string]string{"secret-1": k.ID, "secret-2": k2.ID}[secret]}, tenant)
	}
	_, err := e.Store.TenantForKeyHash(ctx, licensing.HashAPIKey("unknown"))
	assert.Equal(t, licensing.CodeUnauthorized, licensing.ErrorCode(err))

	keys, err := e.Store.ListAPIKeys(ctx, "rankmath")
	require.NoError(t, err)
	assert.Equal(t, []licensing.APIKey{k, k2}, keys)
	other, err := e.Store.ListAPIKeys(ctx, "wp-rocket")
	require.NoError(t, err)
	assert.Empty(t, other)

	// The same secret cannot be registered twice, nor for an unknown brand.
	before := e.Dump(t)
	err = e.Store.CreateAPIKey(ctx, wpr, licensing.APIKey{ID: "key_cccccccccccccccccccc", Hash: k.Hash, CreatedAt: t0}, keyEvent(k))
	assert.Equal(t, licensing.CodeAlreadyExists, licensing.ErrorCode(err))
	err = e.Store.CreateAPIKey(ctx, licensing.Brand{Slug: "ghost", KeyPrefix: "GH"}, licensing.APIKey{ID: "key_dddddddddddddddddddd", Hash: "x", CreatedAt: t0}, keyEvent(k))
	assert.Equal(t, licensing.CodeBrandNotFound, licensing.ErrorCode(err))
	assert.Equal(t, before, e.Dump(t))

	// Revoking stops the key at once and keeps the other working.
	require.NoError(t, e.Store.RevokeAPIKey(ctx, "rankmath", k.ID, t0.Add(time.Hour), cli))
	_, err = e.Store.TenantForKeyHash(ctx, k.Hash)
	assert.Equal(t, licensing.CodeUnauthorized, licensing.ErrorCode(err))
	_, err = e.Store.TenantForKeyHash(ctx, k2.Hash)
	assert.NoError(t, err)
	keys, err = e.Store.ListAPIKeys(ctx, "rankmath")
	require.NoError(t, err)
	require.NotNil(t, keys[0].RevokedAt)
	assert.False(t, keys[0].Active())
	assert.True(t, keys[1].Active())

	err = e.Store.RevokeAPIKey(ctx, "rankmath", k.ID, t0, cli)
	assert.Equal(t, licensing.CodeAPIKeyNotFound, licensing.ErrorCode(err), "revoking twice")
	err = e.Store.RevokeAPIKey(ctx, "wp-rocket", k2.ID, t0, cli)
	assert.Equal(t, licensing.CodeAPIKeyNotFound, licensing.ErrorCode(err), "another brand's key")
	_, err = e.Store.TenantForKeyHash(ctx, k2.Hash)
	assert.NoError(t, err)
}

func TestProducts(t *testing.T) {
	e := withBrands(t)
	require.NoError(t, e.Store.CreateProduct(ctx, prod, nil))
	before := e.Dump(t)
	dup := prod
	dup.ID = "prd_bbbbbbbbbbbbbbbbbbbb"
	err := e.Store.CreateProduct(ctx, dup, nil)
	assert.Equal(t, licensing.CodeAlreadyExists, licensing.ErrorCode(err))
	assert.Equal(t, before, e.Dump(t))
	// The same slug is free in another brand.
	other := prod
	other.Brand, other.ID = "wp-rocket", "prd_cccccccccccccccccccc"
	require.NoError(t, e.Store.CreateProduct(ctx, other, nil))

	ps, err := e.Store.ListProducts(ctx, "rankmath")
	require.NoError(t, err)
	assert.Equal(t, []licensing.Product{prod}, ps)
}

func provisioned(key string, email string, created time.Time, products ...string) licensing.Provisioned {
	k := licensing.LicenseKey(key)
	exp := created.Add(365 * 24 * time.Hour)
	p := licensing.Provisioned{Key: licensing.KeyRecord{ID: licensing.NewID(licensing.KindLicenseKey), Key: k, Brand: "rankmath", CustomerEmail: email, CreatedAt: created}}
	for _, pid := range products {
		p.Licenses = append(p.Licenses, licensing.License{
			ID: licensing.NewID(licensing.KindLicense), Key: k, Brand: "rankmath", ProductID: pid, ProductSlug: "slug-" + pid,
			Status: licensing.StatusValid, SeatLimit: 3, ExpiresAt: &exp, CreatedAt: created, UpdatedAt: created, Version: 1,
		})
	}
	return p
}

func TestProvisionAndReadBack(t *testing.T) {
	e := withBrands(t)
	p := provisioned("RM-AAAA-BBBB-CCCC-DDDD", "jane@example.com", t0, "prd_1", "prd_2")
	require.NoError(t, e.Store.Provision(ctx, p, nil, nil))

	for _, l := range p.Licenses {
		v, err := e.Store.License(ctx, "rankmath", l.ID)
		require.NoError(t, err)
		assert.Equal(t, p.Key, v.Key)
		assert.Equal(t, l, v.License)
		_, err = e.Store.License(ctx, "wp-rocket", l.ID)
		assert.Equal(t, licensing.CodeLicenseNotFound, licensing.ErrorCode(err), "another brand's id reads as unknown")
	}
	_, err := e.Store.License(ctx, "rankmath", "lic_zzzzzzzzzzzzzzzzzzzz")
	assert.Equal(t, licensing.CodeLicenseNotFound, licensing.ErrorCode(err))

	// Keys list oldest first, and only within the brand.
	p2 := provisioned("RM-EEEE-FFFF-GGGG-HHHH", "jane@example.com", t0.Add(time.Minute), "prd_1")
	require.NoError(t, e.Store.Provision(ctx, p2, nil, nil))
	p3 := provisioned("RM-JJJJ-KKKK-MMMM-NNNN", "john@example.com", t0, "prd_1")
	require.NoError(t, e.Store.Provision(ctx, p3, nil, nil))
	keys, err := e.Store.LicensesByEmail(ctx, "rankmath", "jane@example.com")
	require.NoError(t, err)
	require.Len(t, keys, 2)
	assert.Equal(t, p.Key, keys[0].Key)
	assert.ElementsMatch(t, p.Licenses, keys[0].Licenses)
	assert.Equal(t, p2.Key, keys[1].Key)
	none, err := e.Store.LicensesByEmail(ctx, "wp-rocket", "jane@example.com")
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestFailedProvisionLeavesNothingBehind(t *testing.T) {
	e := withBrands(t)
	first := provisioned("RM-AAAA-BBBB-CCCC-DDDD", "jane@example.com", t0, "prd_1")
	require.NoError(t, e.Store.Provision(ctx, first, nil, nil))
	before := e.Dump(t)

	// The same key again: the transaction's first condition fails.
	collision := provisioned("RM-AAAA-BBBB-CCCC-DDDD", "john@example.com", t0, "prd_1", "prd_2")
	err := e.Store.Provision(ctx, collision, nil, nil)
	assert.Equal(t, licensing.CodeAlreadyExists, licensing.ErrorCode(err))
	assert.Equal(t, before, e.Dump(t))

	// An idempotency completion without a claim: the last condition fails
	// after every other write was staged, and all of them roll back.
	fresh := provisioned("RM-EEEE-FFFF-GGGG-HHHH", "john@example.com", t0, "prd_1", "prd_2")
	err = e.Store.Provision(ctx, fresh, &app.IdempotencyCompletion{Brand: "rankmath", Key: "k", Hash: "h", Result: []byte("{}"), ExpiresAt: t0.Add(time.Hour)}, licensing.ProvisionedEvents(fresh, cli))
	assert.Equal(t, licensing.CodeRequestInProgress, licensing.ErrorCode(err))
	assert.Equal(t, before, e.Dump(t))

	// The engine failing: service_unavailable, nothing written.
	e.Server.EmulateFailure(miniserver.FailureConditionInternalServerError)
	err = e.Store.Provision(ctx, fresh, nil, nil)
	e.Server.EmulateFailure(miniserver.FailureConditionNone)
	assert.Equal(t, licensing.CodeServiceUnavailable, licensing.ErrorCode(err))
	assert.Equal(t, before, e.Dump(t))
}

func TestUpdateLicenseIsConditionalOnVersion(t *testing.T) {
	e := withBrands(t)
	p := provisioned("RM-AAAA-BBBB-CCCC-DDDD", "jane@example.com", t0, "prd_1")
	require.NoError(t, e.Store.Provision(ctx, p, nil, nil))
	id := p.Licenses[0].ID

	v, err := e.Store.UpdateLicense(ctx, "rankmath", id, nil, func(v licensing.LicenseView) (licensing.License, []licensing.Event, error) {
		l, err := v.License.Transition(licensing.ActionSuspend, "chargeback", nil, t0)
		return l, nil, err
	})
	require.NoError(t, err)
	assert.Equal(t, licensing.StatusSuspended, v.License.Status)
	got, err := e.Store.License(ctx, "rankmath", id)
	require.NoError(t, err)
	assert.Equal(t, v.License, got.License)
	assert.Equal(t, "chargeback", got.License.Reason)
	assert.Equal(t, int64(2), got.License.Version)

	// A refused change writes nothing; another brand cannot change it.
	before := e.Dump(t)
	_, err = e.Store.UpdateLicense(ctx, "rankmath", id, nil, func(v licensing.LicenseView) (licensing.License, []licensing.Event, error) {
		l, err := v.License.Transition(licensing.ActionSuspend, "", nil, t0)
		return l, nil, err
	})
	assert.Equal(t, licensing.CodeInvalidTransition, licensing.ErrorCode(err))
	_, err = e.Store.UpdateLicense(ctx, "wp-rocket", id, nil, func(v licensing.LicenseView) (licensing.License, []licensing.Event, error) {
		t.Fatal("another brand's change must not run")
		return v.License, nil, nil
	})
	assert.Equal(t, licensing.CodeLicenseNotFound, licensing.ErrorCode(err))
	assert.Equal(t, before, e.Dump(t))

	// Concurrent renewals by an hour each: every one lands exactly once, or
	// is told the license was too busy; none is lost.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 10 {
		wg.Go(func() {
			_, err := e.Store.UpdateLicense(ctx, "rankmath", id, nil, func(v licensing.LicenseView) (licensing.License, []licensing.Event, error) {
				l, err := v.License.Transition(licensing.ActionRenew, "", new(v.License.ExpiresAt.Add(time.Hour)), t0)
				return l, nil, err
			})
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
				return
			}
			assert.Equal(t, licensing.CodeServiceUnavailable, licensing.ErrorCode(err))
		})
	}
	wg.Wait()
	got, err = e.Store.License(ctx, "rankmath", id)
	require.NoError(t, err)
	assert.Equal(t, p.Licenses[0].ExpiresAt.Add(time.Duration(ok)*time.Hour), *got.License.ExpiresAt, "no lost update")
	assert.Equal(t, int64(2+ok), got.License.Version)
	assert.Positive(t, ok)
}

func TestIdempotencyClaims(t *testing.T) {
	e := withBrands(t)
	claim := app.IdempotencyClaim{Brand: "rankmath", Key: "order-1", Hash: "h1", Token: "tok-1", Now: t0, LockedUntil: t0.Add(30 * time.Second), ExpiresAt: t0.Add(24 * time.Hour)}

	rec, err := e.Store.Claim(ctx, claim)
	require.NoError(t, err)
	assert.Nil(t, rec, "a fresh key is claimed")

	rec, err = e.Store.Claim(ctx, claim)
	require.NoError(t, err)
	assert.Equal(t, &app.IdempotencyRecord{Hash: "h1", Completed: false, Result: []byte{}}, normalise(rec), "a live in-progress record is returned")

	// The same key in another brand is another record.
	other := claim
	other.Brand = "wp-rocket"
	rec, err = e.Store.Claim(ctx, other)
	require.NoError(t, err)
	assert.Nil(t, rec)

	// A release of another claim (token) does nothing; with the claim's own it frees the key.
	require.NoError(t, e.Store.Release(ctx, "rankmath", "order-1", "tok-other"))
	rec, err = e.Store.Claim(ctx, claim)
	require.NoError(t, err)
	assert.NotNil(t, rec)
	require.NoError(t, e.Store.Release(ctx, "rankmath", "order-1", "tok-1"))
	rec, err = e.Store.Claim(ctx, claim)
	require.NoError(t, err)
	assert.Nil(t, rec)

	// An in-progress record past its lock (a crashed attempt) is taken over.
	late := claim
	late.Hash, late.Token = "h2", "tok-2"
	late.Now = t0.Add(31 * time.Second)
	late.LockedUntil = late.Now.Add(30 * time.Second)
	rec, err = e.Store.Claim(ctx, late)
	require.NoError(t, err)
	assert.Nil(t, rec)

	// Completion inside the provisioning transaction; then it replays.
	p := provisioned("RM-AAAA-BBBB-CCCC-DDDD", "jane@example.com", t0, "prd_1")
	// The attempt whose claim was taken over (its token is no longer the
	// record's) cannot complete it: its transaction writes nothing.
	err = e.Store.Provision(ctx, p, &app.IdempotencyCompletion{Brand: "rankmath", Key: "order-1", Hash: "h2", Token: "tok-1", Result: []byte(`{"x":1}`), ExpiresAt: t0.Add(24 * time.Hour)}, nil)
	require.True(t, licensing.IsCode(err, licensing.CodeRequestInProgress), "%v", err)
	require.NoError(t, e.Store.Provision(ctx, p, &app.IdempotencyCompletion{Brand: "rankmath", Key: "order-1", Hash: "h2", Token: "tok-2", Result: []byte(`{"x":1}`), ExpiresAt: t0.Add(24 * time.Hour)}, nil))
	rec, err = e.Store.Claim(ctx, late)
	require.NoError(t, err)
	assert.Equal(t, &app.IdempotencyRecord{Hash: "h2", Completed: true, Result: []byte(`{"x":1}`)}, rec)
	// A completed record is not taken over when its lock time passes...
	afterLock := late
	afterLock.Now = t0.Add(time.Hour)
	rec, err = e.Store.Claim(ctx, afterLock)
	require.NoError(t, err)
	assert.True(t, rec.Completed)
	// ...but it is once it expired, even before the engine's TTL removes it.
	expired := late
	expired.Now = t0.Add(25 * time.Hour)
	rec, err = e.Store.Claim(ctx, expired)
	require.NoError(t, err)
	assert.Nil(t, rec)
}

func normalise(r *app.IdempotencyRecord) *app.IdempotencyRecord {
	if r != nil && r.Result == nil {
		r.Result = []byte{}
	}
	return r
}

func TestEngineFailuresAreUnavailable(t *testing.T) {
	e := withBrands(t)
	for name, cond := range map[string]func(){
		"global": func() { e.Server.EmulateFailure(miniserver.FailureConditionInternalServerError) },
		"table":  func() { e.Server.EmulateFailureForTable(e.Table, miniserver.FailureConditionInternalServerError) },
	} {
		t.Run(name, func(t *testing.T) {
			cond()
			defer e.Server.EmulateFailure(miniserver.FailureConditionNone)
			defer e.Server.EmulateFailureForTable(e.Table, miniserver.FailureConditionNone)
			calls := map[string]error{}
			_, calls["get brand"] = e.Store.GetBrand(ctx, "rankmath")
			_, calls["tenant"] = e.Store.TenantForKeyHash(ctx, "x")
			_, calls["products"] = e.Store.ListProducts(ctx, "rankmath")
			_, calls["license"] = e.Store.License(ctx, "rankmath", "lic_zzzzzzzzzzzzzzzzzzzz")
			_, calls["by email"] = e.Store.LicensesByEmail(ctx, "rankmath", "a@b.co")
			_, calls["claim"] = e.Store.Claim(ctx, app.IdempotencyClaim{Brand: "rankmath", Key: "k", Hash: "h", Now: t0})
			calls["create product"] = e.Store.CreateProduct(ctx, prod, nil)
			for op, err := range calls {
				assert.Equal(t, licensing.CodeServiceUnavailable, licensing.ErrorCode(err), fmt.Sprintf("%s: %v", op, err))
			}
		})
	}
}
