package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/licensing"
)

// fixture is an App on a fresh embedded engine with one brand and products.
type fixture struct {
	eng    *dynamotest.Engine
	app    *app.App
	tenant licensing.Tenant
	other  licensing.Tenant
	clock  *clock
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	eng := dynamotest.Start(t)
	c := &clock{now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	a := app.New(eng.Store, c.Now)
	ctx := context.Background()
	ops := a.Ops()
	for _, b := range []struct{ slug, prefix string }{{"rankmath", "RM"}, {"wp-rocket", "WPR"}} {
		_, err := ops.CreateBrand(ctx, b.slug, b.slug, b.prefix)
		require.NoError(t, err)
	}
	for _, p := range []struct{ brand, slug string }{{"rankmath", "rankmath-pro"}, {"rankmath", "content-ai"}, {"wp-rocket", "wp-rocket"}} {
		_, err := ops.CreateProduct(ctx, p.brand, p.slug, p.slug)
		require.NoError(t, err)
	}
	return &fixture{eng: eng, app: a, clock: c,
		tenant: licensing.Tenant{Brand: "rankmath", KeyPrefix: "RM"},
		other:  licensing.Tenant{Brand: "wp-rocket", KeyPrefix: "WPR"}}
}

func seats(n int) *int { return &n }

func TestProvisionAndRead(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, replayed, err := f.app.Provision(ctx, f.tenant, app.ProvisionInput{
		CustomerEmail: "Jane@Example.com", Products: []string{"rankmath-pro", "content-ai"},
		ExpirationDate: "2027-11-28T00:00:00Z", MaxSeats: seats(3),
	}, "")
	require.NoError(t, err)
	assert.False(t, replayed)
	assert.Equal(t, "jane@example.com", res.Key.CustomerEmail)
	assert.Regexp(t, `^RM(-[2-9A-HJ-NP-Z]{4}){4}$`, string(res.Key.Key))
	require.Len(t, res.Licenses, 2)

	v, err := f.app.License(ctx, f.tenant, res.Licenses[0].ID)
	require.NoError(t, err)
	assert.Equal(t, res.Key.Key, v.Key.Key)
	assert.Equal(t, 3, v.License.SeatLimit)
	assert.Equal(t, licensing.StatusValid, v.License.Status)

	c, err := f.app.LicensesByEmail(ctx, f.tenant, "JANE@example.com")
	require.NoError(t, err)
	require.Len(t, c.Keys, 1)
	assert.Len(t, c.Keys[0].Licenses, 2)

	// Another brand sees nothing of it.
	_, err = f.app.License(ctx, f.other, res.Licenses[0].ID)
	assert.Equal(t, licensing.CodeLicenseNotFound, licensing.ErrorCode(err))
	c, err = f.app.LicensesByEmail(ctx, f.other, "jane@example.com")
	require.NoError(t, err)
	assert.Empty(t, c.Keys)
}
