package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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

func newFixture(t *testing.T, opts ...func(*dynamodb.Options)) *fixture {
	t.Helper()
	eng := dynamotest.Start(t, opts...)
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

	v, err := f.app.License(ctx, f.tenant, res.Licenses[0].ID, "", 0)
	require.NoError(t, err)
	assert.Equal(t, res.Key.Key, v.Key.Key)
	assert.Equal(t, 3, v.License.SeatLimit)
	assert.Equal(t, licensing.StatusValid, v.License.Status)

	c, err := f.app.LicensesByEmail(ctx, f.tenant, "JANE@example.com")
	require.NoError(t, err)
	require.Len(t, c.Keys, 1)
	assert.Len(t, c.Keys[0].Licenses, 2)

	// Another brand sees nothing of it.
	_, err = f.app.License(ctx, f.other, res.Licenses[0].ID, "", 0)
	assert.Equal(t, licensing.CodeLicenseNotFound, licensing.ErrorCode(err))
	c, err = f.app.LicensesByEmail(ctx, f.other, "jane@example.com")
	require.NoError(t, err)
	assert.Empty(t, c.Keys)
}

func TestProvisionValidation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	valid := app.ProvisionInput{CustomerEmail: "jane@example.com", Products: []string{"rankmath-pro"}}
	tests := []struct {
		name  string
		edit  func(*app.ProvisionInput)
		code  licensing.Code
		field string
	}{
		{"no email", func(in *app.ProvisionInput) { in.CustomerEmail = "" }, licensing.CodeValidation, "customer_email"},
		{"bad email", func(in *app.ProvisionInput) { in.CustomerEmail = "jane@" }, licensing.CodeValidation, "customer_email"},
		{"no products", func(in *app.ProvisionInput) { in.Products = nil }, licensing.CodeValidation, "products"},
		{"too many products", func(in *app.ProvisionInput) { in.Products = make([]string, 21) }, licensing.CodeValidation, "products"},
		{"empty product", func(in *app.ProvisionInput) { in.Products = []string{" "} }, licensing.CodeValidation, "products[0]"},
		{"same product twice", func(in *app.ProvisionInput) { in.Products = []string{"rankmath-pro", "rankmath-pro"} }, licensing.CodeValidation, "products[1]"},
		{"same product by id and slug", nil, licensing.CodeValidation, "products"},
		{"unknown product", func(in *app.ProvisionInput) { in.Products = []string{"rankmath-pro", "nope"} }, licensing.CodeProductNotFound, "products"},
		{"another brand's product", func(in *app.ProvisionInput) { in.Products = []string{"wp-rocket"} }, licensing.CodeProductNotFound, "products"},
		{"past expiry", func(in *app.ProvisionInput) { in.ExpirationDate = "2020-01-01T00:00:00Z" }, licensing.CodeValidation, "expiration_date"},
		{"bad expiry", func(in *app.ProvisionInput) { in.ExpirationDate = "tomorrow" }, licensing.CodeValidation, "expiration_date"},
		{"zero seats", func(in *app.ProvisionInput) { in.MaxSeats = seats(0) }, licensing.CodeValidation, "max_seats"},
		{"too many seats", func(in *app.ProvisionInput) { in.MaxSeats = seats(10001) }, licensing.CodeValidation, "max_seats"},
	}
	products, err := f.app.ListProducts(ctx, f.tenant)
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid
			if tt.edit == nil {
				in.Products = []string{"rankmath-pro", products[1].ID}
				require.Equal(t, "rankmath-pro", products[1].Slug)
			} else {
				tt.edit(&in)
			}
			before := f.eng.Dump(t)
			_, _, err := f.app.Provision(ctx, f.tenant, in, "idem-"+tt.name[:3])
			var e *licensing.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.code, e.Code)
			assert.Equal(t, tt.field, e.Field)
			assert.Equal(t, before, f.eng.Dump(t), "a refused request changes nothing, not even an idempotency record")
		})
	}
	_, _, err = f.app.Provision(ctx, f.tenant, valid, "bad key with spaces")
	assert.Equal(t, licensing.CodeValidation, licensing.ErrorCode(err))
}

func TestProvisionByProductID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	products, err := f.app.ListProducts(ctx, f.tenant)
	require.NoError(t, err)
	res, _, err := f.app.Provision(ctx, f.tenant, app.ProvisionInput{CustomerEmail: "a@example.com", Products: []string{products[0].ID, "RANKMATH-PRO"}}, "")
	require.NoError(t, err)
	require.Len(t, res.Licenses, 2)
	assert.Equal(t, products[0].ID, res.Licenses[0].ProductID)
	assert.Equal(t, "rankmath-pro", res.Licenses[1].ProductSlug)
	assert.Equal(t, 1, res.Licenses[0].SeatLimit, "one seat by default")
	assert.Nil(t, res.Licenses[0].ExpiresAt, "perpetual by default")
}

func TestIdempotentProvisioning(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := app.ProvisionInput{CustomerEmail: "jane@example.com", Products: []string{"rankmath-pro"}, MaxSeats: seats(2)}
	first, replayed, err := f.app.Provision(ctx, f.tenant, in, "order-42")
	require.NoError(t, err)
	assert.False(t, replayed)

	// Equivalent input (case, spacing) replays the first result.
	again := in
	again.CustomerEmail = " JANE@example.com"
	second, replayed, err := f.app.Provision(ctx, f.tenant, again, "order-42")
	require.NoError(t, err)
	assert.True(t, replayed)
	assert.Equal(t, first, second)

	// Another body under the same key is refused and changes nothing.
	before := f.eng.Dump(t)
	changed := in
	changed.MaxSeats = seats(3)
	_, _, err = f.app.Provision(ctx, f.tenant, changed, "order-42")
	assert.Equal(t, licensing.CodeIdempotencyKeyReused, licensing.ErrorCode(err))
	assert.Equal(t, before, f.eng.Dump(t))

	// The same key in another brand is unrelated.
	_, replayed, err = f.app.Provision(ctx, f.other, app.ProvisionInput{CustomerEmail: "jane@example.com", Products: []string{"wp-rocket"}}, "order-42")
	require.NoError(t, err)
	assert.False(t, replayed)

	// After the record expires the key provisions anew.
	f.clock.Advance(25 * time.Hour)
	third, replayed, err := f.app.Provision(ctx, f.tenant, in, "order-42")
	require.NoError(t, err)
	assert.False(t, replayed)
	assert.NotEqual(t, first.Key.Key, third.Key.Key)
}

func TestFailedProvisionReleasesTheClaim(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := app.ProvisionInput{CustomerEmail: "jane@example.com", Products: []string{"content-ai"}}
	// Make the product lookup fail with an unknown product after the claim:
	// the claim is released and the same key works once the product exists.
	in.Products = []string{"seo-suite"}
	before := f.eng.Dump(t)
	_, _, err := f.app.Provision(ctx, f.tenant, in, "order-7")
	assert.Equal(t, licensing.CodeProductNotFound, licensing.ErrorCode(err))
	assert.Equal(t, before, f.eng.Dump(t), "the claim was released")

	_, err = f.app.Ops().CreateProduct(ctx, "rankmath", "seo-suite", "SEO Suite")
	require.NoError(t, err)
	res, replayed, err := f.app.Provision(ctx, f.tenant, in, "order-7")
	require.NoError(t, err)
	assert.False(t, replayed)
	assert.Equal(t, "seo-suite", res.Licenses[0].ProductSlug)
}

func TestConcurrentProvisionsWithOneIdempotencyKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := app.ProvisionInput{CustomerEmail: "race@example.com", Products: []string{"rankmath-pro", "content-ai"}, MaxSeats: seats(5)}
	const n = 20
	type outcome struct {
		res      licensing.Provisioned
		replayed bool
		err      error
	}
	outcomes := make([]outcome, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			res, replayed, err := f.app.Provision(ctx, f.tenant, in, "race-1")
			outcomes[i] = outcome{res, replayed, err}
		})
	}
	close(start)
	wg.Wait()

	var winner *licensing.Provisioned
	created, inProgress := 0, 0
	for _, o := range outcomes {
		if o.err != nil {
			assert.Equal(t, licensing.CodeRequestInProgress, licensing.ErrorCode(o.err))
			inProgress++
			continue
		}
		if !o.replayed {
			created++
		}
		if winner == nil {
			winner = &o.res
		}
		assert.Equal(t, *winner, o.res, "every success answers the same key")
	}
	assert.Equal(t, 1, created, "exactly one request provisions")
	assert.Equal(t, n, created+inProgress+countReplays(outcomes, func(o outcome) bool { return o.err == nil && o.replayed }))
	c, err := f.app.LicensesByEmail(ctx, f.tenant, "race@example.com")
	require.NoError(t, err)
	assert.Len(t, c.Keys, 1, "exactly one license key exists")
}

func countReplays[T any](xs []T, pred func(T) bool) int {
	n := 0
	for _, x := range xs {
		if pred(x) {
			n++
		}
	}
	return n
}

func TestConcurrentSuspendResume(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, _, err := f.app.Provision(ctx, f.tenant, app.ProvisionInput{CustomerEmail: "a@example.com", Products: []string{"rankmath-pro"}}, "")
	require.NoError(t, err)
	id := res.Licenses[0].ID

	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied := map[licensing.Action]int{}
	for i := range n {
		action := licensing.ActionSuspend
		if i%2 == 1 {
			action = licensing.ActionResume
		}
		wg.Go(func() {
			_, err := f.app.ChangeLicense(ctx, f.tenant, id, app.ChangeInput{Action: action})
			switch licensing.ErrorCode(err) {
			case "":
				mu.Lock()
				applied[action]++
				mu.Unlock()
			case licensing.CodeInvalidTransition, licensing.CodeServiceUnavailable:
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()
	v, err := f.app.License(ctx, f.tenant, id, "", 0)
	require.NoError(t, err)
	// Suspends and resumes strictly alternate from valid, so the final state
	// follows from how many of each were applied.
	s, r := applied[licensing.ActionSuspend], applied[licensing.ActionResume]
	require.True(t, s == r || s == r+1, "suspends %d, resumes %d", s, r)
	want := licensing.StatusValid
	if s == r+1 {
		want = licensing.StatusSuspended
	}
	assert.Equal(t, want, v.License.Status)
	assert.Equal(t, int64(1+s+r), v.License.Version, "every applied change bumped the version once")
}

func TestLifecycleThroughTheApp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, _, err := f.app.Provision(ctx, f.tenant, app.ProvisionInput{CustomerEmail: "a@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: "2026-12-28T12:00:00Z"}, "")
	require.NoError(t, err)
	id := res.Licenses[0].ID

	v, err := f.app.ChangeLicense(ctx, f.tenant, id, app.ChangeInput{Action: licensing.ActionSuspend, Reason: "chargeback"})
	require.NoError(t, err)
	assert.Equal(t, licensing.StatusSuspended, v.License.Status)
	_, err = f.app.ChangeLicense(ctx, f.other, id, app.ChangeInput{Action: licensing.ActionResume})
	assert.Equal(t, licensing.CodeLicenseNotFound, licensing.ErrorCode(err), "another brand cannot touch it")
	v, err = f.app.ChangeLicense(ctx, f.tenant, id, app.ChangeInput{Action: licensing.ActionResume})
	require.NoError(t, err)
	assert.Equal(t, licensing.StatusValid, v.License.Status)

	// Past its expiry it reads as expired and can be renewed.
	f.clock.Advance(31 * 24 * time.Hour)
	v, err = f.app.License(ctx, f.tenant, id, "", 0)
	require.NoError(t, err)
	assert.Equal(t, licensing.StatusExpired, v.License.EffectiveStatus(f.clock.Now()))
	_, err = f.app.ChangeLicense(ctx, f.tenant, id, app.ChangeInput{Action: licensing.ActionSuspend})
	assert.Equal(t, licensing.CodeInvalidTransition, licensing.ErrorCode(err))
	_, err = f.app.ChangeLicense(ctx, f.tenant, id, app.ChangeInput{Action: licensing.ActionRenew, ExpirationDate: "2026-12-01T00:00:00Z"})
	assert.Equal(t, licensing.CodeValidation, licensing.ErrorCode(err), "a renewal date in the past")
	v, err = f.app.ChangeLicense(ctx, f.tenant, id, app.ChangeInput{Action: licensing.ActionRenew, ExpirationDate: "2027-12-31T00:00:00Z"})
	require.NoError(t, err)
	assert.Equal(t, licensing.StatusValid, v.License.EffectiveStatus(f.clock.Now()))

	v, err = f.app.ChangeLicense(ctx, f.tenant, id, app.ChangeInput{Action: licensing.ActionCancel, Reason: "refund"})
	require.NoError(t, err)
	assert.Equal(t, licensing.StatusCancelled, v.License.Status)
	for _, a := range []licensing.Action{licensing.ActionSuspend, licensing.ActionResume, licensing.ActionCancel} {
		_, err = f.app.ChangeLicense(ctx, f.tenant, id, app.ChangeInput{Action: a})
		assert.Equal(t, licensing.CodeInvalidTransition, licensing.ErrorCode(err), a)
	}
	_, err = f.app.ChangeLicense(ctx, f.tenant, id, app.ChangeInput{Action: licensing.ActionRenew, ExpirationDate: "2028-01-01T00:00:00Z"})
	assert.Equal(t, licensing.CodeInvalidTransition, licensing.ErrorCode(err))
	_, err = f.app.ChangeLicense(ctx, f.tenant, "not-an-id", app.ChangeInput{Action: licensing.ActionCancel})
	assert.Equal(t, licensing.CodeLicenseNotFound, licensing.ErrorCode(err))
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	plain, key, err := f.app.Ops().CreateAPIKey(ctx, "rankmath")
	require.NoError(t, err)
	tenant, err := f.app.Authenticate(ctx, plain)
	require.NoError(t, err)
	assert.Equal(t, licensing.Tenant{Brand: "rankmath", KeyPrefix: "RM", APIKeyID: key.ID}, tenant)
	for _, bad := range []string{"", "  ", "cls_unknown", plain + "x", string(make([]byte, 500))} {
		_, err := f.app.Authenticate(ctx, bad)
		assert.Equal(t, licensing.CodeUnauthorized, licensing.ErrorCode(err))
	}
	require.NoError(t, f.app.Ops().RevokeAPIKey(ctx, "rankmath", key.ID))
	_, err = f.app.Authenticate(ctx, plain)
	assert.Equal(t, licensing.CodeUnauthorized, licensing.ErrorCode(err))
}
