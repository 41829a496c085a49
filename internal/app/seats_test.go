package app_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/apigw"
	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/licensing"
)

func (f *fixture) license(t *testing.T, n int, products ...string) licensing.Provisioned {
	t.Helper()
	if len(products) == 0 {
		products = []string{"rankmath-pro"}
	}
	res, _, err := f.app.Provision(context.Background(), f.tenant, app.ProvisionInput{
		CustomerEmail: "seats@example.com", Products: products, MaxSeats: seats(n), ExpirationDate: "2027-11-28T12:00:00Z",
	}, "")
	require.NoError(t, err)
	return res
}

// keyAudit is a key with its licenses and every one of their seats.
type keyAudit struct {
	licensing.KeyLicenses
	Activations []licensing.Activation
}

// ActivationsOf lists the seats of a product's license.
func (k keyAudit) ActivationsOf(productSlug string) []licensing.Activation {
	var out []licensing.Activation
	for _, a := range k.Activations {
		if a.ProductSlug == productSlug {
			out = append(out, a)
		}
	}
	return out
}

// audit checks the seat invariant of every license under the key: seats_used
// equals the number of activation items and never exceeds the limit. It
// reads the seats a small page at a time, so paging is exercised too.
func (f *fixture) audit(t *testing.T, key licensing.LicenseKey) keyAudit {
	t.Helper()
	ctx := context.Background()
	kl, err := f.eng.Store.KeyLicenses(ctx, key)
	require.NoError(t, err)
	st := keyAudit{KeyLicenses: kl}
	for _, l := range st.Licenses {
		for cursor := ""; ; {
			page, next, err := f.eng.Store.Activations(ctx, key, l.ProductSlug, cursor, 7)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 7)
			st.Activations = append(st.Activations, page...)
			if next == "" {
				break
			}
			cursor = next
		}
		prod, nonProd := 0, 0
		for _, a := range st.ActivationsOf(l.ProductSlug) {
			if a.Environment == licensing.EnvProduction {
				prod++
			} else {
				nonProd++
			}
		}
		assert.Equal(t, prod, l.SeatsUsed, "seats_used of %s", l.ProductSlug)
		assert.Equal(t, nonProd, l.NonProdUsed, "staging sites of %s", l.ProductSlug)
		assert.LessOrEqual(t, l.SeatsUsed, l.SeatLimit)
		assert.GreaterOrEqual(t, l.SeatsUsed, 0)
	}
	return st
}

func seat(key licensing.LicenseKey, site string) app.SeatInput {
	return app.SeatInput{LicenseKey: string(key), InstanceIdentifier: site, InstanceType: "url"}
}

func TestHundredSitesOnFiveSeats(t *testing.T) {
	f := newFixture(t)
	p := f.license(t, 5)
	const n = 100
	var ok, full atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := f.app.Activate(context.Background(), seat(p.Key.Key, fmt.Sprintf("https://site-%d.example.com", i)))
			switch licensing.ErrorCode(err) {
			case "":
				ok.Add(1)
			case licensing.CodeNoSeatsAvailable:
				full.Add(1)
			default:
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int32(5), ok.Load())
	assert.Equal(t, int32(95), full.Load())
	st := f.audit(t, p.Key.Key)
	assert.Equal(t, 5, st.Licenses[0].SeatsUsed)
}

func TestFiftyActivationsOfOneSite(t *testing.T) {
	f := newFixture(t)
	p := f.license(t, 3)
	const n = 50
	ids := make([]string, n)
	created := atomic.Int32{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			// The same site, spelled many ways.
			spelling := []string{"https://www.shop.example.com/", "http://shop.example.com", "SHOP.example.com"}[i%3]
			out, err := f.app.Activate(context.Background(), seat(p.Key.Key, spelling))
			if !assert.NoError(t, err) {
				return
			}
			if out.Created {
				created.Add(1)
			}
			ids[i] = out.Activation.ID
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int32(1), created.Load(), "one activation")
	for _, id := range ids {
		assert.Equal(t, ids[0], id, "every caller gets the same activation id")
	}
	st := f.audit(t, p.Key.Key)
	assert.Equal(t, 1, st.Licenses[0].SeatsUsed, "one seat")
}

func TestActivateDeactivateStorm(t *testing.T) {
	f := newFixture(t)
	p := f.license(t, 4)
	sites := []string{"a.example.com", "b.example.com", "c.example.com", "d.example.com", "e.example.com", "f.example.com"}
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Go(func() {
			for i := range 15 {
				in := seat(p.Key.Key, sites[(g+i)%len(sites)])
				var err error
				if (g+i)%2 == 0 {
					_, err = f.app.Activate(context.Background(), in)
				} else {
					_, _, err = f.app.Deactivate(context.Background(), in)
				}
				switch licensing.ErrorCode(err) {
				case "", licensing.CodeNoSeatsAvailable, licensing.CodeActivationNotFound, licensing.CodeServiceUnavailable:
				default:
					t.Errorf("unexpected: %v", err)
				}
			}
		})
	}
	wg.Wait()
	f.audit(t, p.Key.Key)
}

func TestActivationRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.license(t, 1)
	key := p.Key.Key
	_, err := f.app.Activate(ctx, seat(key, "one.example.com"))
	require.NoError(t, err)

	expect := func(code licensing.Code, in app.SeatInput) {
		t.Helper()
		before := f.eng.Dump(t)
		_, err := f.app.Activate(ctx, in)
		assert.Equal(t, code, licensing.ErrorCode(err), "%v", err)
		assert.Equal(t, before, f.eng.Dump(t))
	}
	expect(licensing.CodeNoSeatsAvailable, seat(key, "two.example.com"))
	expect(licensing.CodeLicenseNotFound, seat("RM-2222-3333-4444-5555", "two.example.com"))
	expect(licensing.CodeProductNotFound, app.SeatInput{LicenseKey: string(key), InstanceIdentifier: "x.com", Product: "content-ai"})
	expect(licensing.CodeValidation, seat("not-a-key", "x.com"))
	expect(licensing.CodeValidation, app.SeatInput{LicenseKey: string(key), InstanceIdentifier: "x.com", InstanceType: "ip"})
	expect(licensing.CodeValidation, app.SeatInput{LicenseKey: string(key), InstanceIdentifier: "x.com", Product: "Bad Slug!"})

	// Re-activating the held seat answers with it, without a new seat.
	again, err := f.app.Activate(ctx, seat(key, "https://www.one.example.com/"))
	require.NoError(t, err)
	assert.False(t, again.Created)
	assert.Equal(t, 1, again.License.SeatsUsed)

	_, err = f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionSuspend})
	require.NoError(t, err)
	expect(licensing.CodeLicenseSuspended, seat(key, "two.example.com"))
	expect(licensing.CodeLicenseSuspended, seat(key, "one.example.com"))
	// A suspended license still frees its seat.
	lic, _, err := f.app.Deactivate(ctx, seat(key, "one.example.com"))
	require.NoError(t, err)
	assert.Equal(t, 0, lic.SeatsUsed)
	_, _, err = f.app.Deactivate(ctx, seat(key, "one.example.com"))
	assert.Equal(t, licensing.CodeActivationNotFound, licensing.ErrorCode(err), "a seat is never freed twice")

	_, err = f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionCancel})
	require.NoError(t, err)
	expect(licensing.CodeLicenseCancelled, seat(key, "two.example.com"))

	q := f.license(t, 2)
	f.clock.Advance(366 * 24 * time.Hour)
	expect(licensing.CodeLicenseExpired, seat(q.Key.Key, "two.example.com"))
	f.audit(t, key)
}

func TestProductChoice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.license(t, 2, "rankmath-pro", "content-ai")
	key := string(p.Key.Key)

	_, err := f.app.Activate(ctx, app.SeatInput{LicenseKey: key, InstanceIdentifier: "x.com"})
	var e *licensing.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, licensing.CodeValidation, e.Code)
	assert.Contains(t, e.Message, "rankmath-pro")
	assert.Contains(t, e.Message, "content-ai")

	byID, err := f.app.Activate(ctx, app.SeatInput{LicenseKey: key, InstanceIdentifier: "x.com", Product: p.Licenses[1].ProductID})
	require.NoError(t, err)
	assert.Equal(t, "content-ai", byID.License.ProductSlug)
	bySlug, err := f.app.Activate(ctx, app.SeatInput{LicenseKey: key, InstanceIdentifier: "x.com", Product: "Rankmath-Pro"})
	require.NoError(t, err)
	assert.Equal(t, "rankmath-pro", bySlug.License.ProductSlug)
	assert.NotEqual(t, byID.Activation.ID, bySlug.Activation.ID, "seats are per product")

	res, err := f.app.Check(ctx, app.SeatInput{LicenseKey: key, InstanceIdentifier: "https://x.com/", Product: "content-ai"})
	require.NoError(t, err)
	assert.True(t, res.Valid)
	require.NotNil(t, res.Activation)
	assert.Equal(t, byID.Activation.ID, res.Activation.ID)
	_, err = f.app.Check(ctx, app.SeatInput{LicenseKey: key})
	assert.Equal(t, licensing.CodeValidation, licensing.ErrorCode(err))
	f.audit(t, p.Key.Key)
}

func TestFreeSeatByBrand(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.license(t, 2)
	out, err := f.app.Activate(ctx, seat(p.Key.Key, "a.example.com"))
	require.NoError(t, err)

	_, err = f.app.FreeSeat(ctx, f.other, p.Licenses[0].ID, out.Activation.ID)
	assert.Equal(t, licensing.CodeLicenseNotFound, licensing.ErrorCode(err), "another brand cannot free it")
	_, err = f.app.FreeSeat(ctx, f.tenant, p.Licenses[0].ID, "act_zzzzzzzzzzzzzzzzzzzz")
	assert.Equal(t, licensing.CodeActivationNotFound, licensing.ErrorCode(err))

	v, err := f.app.FreeSeat(ctx, f.tenant, p.Licenses[0].ID, out.Activation.ID)
	require.NoError(t, err)
	assert.Equal(t, 0, v.License.SeatsUsed)
	assert.Empty(t, v.Activations)
	_, err = f.app.FreeSeat(ctx, f.tenant, p.Licenses[0].ID, out.Activation.ID)
	assert.Equal(t, licensing.CodeActivationNotFound, licensing.ErrorCode(err))
	f.audit(t, p.Key.Key)
}

// Support frees the activation it looked at: when the site is deactivated and
// activated again between support's read and the transaction, the new
// activation is not freed (activation_not_found, the new seat stays).
func TestFreeSeatFreesOnlyTheActivationSeen(t *testing.T) {
	var between dynamotest.Interleave
	f := newFixture(t, between.Option())
	ctx := context.Background()
	p := f.license(t, 2)
	key := p.Key.Key
	old, err := f.app.Activate(ctx, seat(key, "a.example.com"))
	require.NoError(t, err)

	var renewed app.Activation
	between.Next(func() {
		_, _, err := f.app.Deactivate(ctx, seat(key, "a.example.com"))
		require.NoError(t, err)
		renewed, err = f.app.Activate(ctx, seat(key, "a.example.com"))
		require.NoError(t, err)
	})
	_, err = f.app.FreeSeat(ctx, f.tenant, p.Licenses[0].ID, old.Activation.ID)
	assert.Equal(t, licensing.CodeActivationNotFound, licensing.ErrorCode(err))
	st := f.audit(t, key)
	require.Len(t, st.Activations, 1)
	assert.NotEqual(t, old.Activation.ID, renewed.Activation.ID)
	assert.Equal(t, renewed.Activation.ID, st.Activations[0].ID, "the newer activation keeps its seat")
}

// The seat transaction's own conditions hold the invariants, not the read
// before it: a license suspended, or its last seat taken, between the read
// and the transaction cancels it, and the answer is the precise refusal.
func TestSeatConditionsCatchChangesAfterTheRead(t *testing.T) {
	var between dynamotest.Interleave
	f := newFixture(t, between.Option())
	ctx := context.Background()

	p := f.license(t, 2)
	between.Next(func() {
		_, err := f.app.ChangeLicense(ctx, f.tenant, p.Licenses[0].ID, app.ChangeInput{Action: licensing.ActionSuspend})
		require.NoError(t, err)
	})
	_, err := f.app.Activate(ctx, seat(p.Key.Key, "late.example.com"))
	assert.Equal(t, licensing.CodeLicenseSuspended, licensing.ErrorCode(err), "%v", err)
	st := f.audit(t, p.Key.Key)
	assert.Empty(t, st.Activations)
	assert.Equal(t, 0, st.Licenses[0].SeatsUsed)

	full := f.license(t, 1)
	between.Next(func() {
		_, err := f.app.Activate(ctx, seat(full.Key.Key, "first.example.com"))
		require.NoError(t, err)
	})
	_, err = f.app.Activate(ctx, seat(full.Key.Key, "second.example.com"))
	assert.Equal(t, licensing.CodeNoSeatsAvailable, licensing.ErrorCode(err), "%v", err)
	st = f.audit(t, full.Key.Key)
	require.Len(t, st.Activations, 1)
	assert.Equal(t, "first.example.com", st.Activations[0].Instance.ID)
	assert.Equal(t, 1, st.Licenses[0].SeatsUsed)
}

// hotKeySites is how many sites TestParallelActivationsOnABigKey activates
// at once: 50 in make test (under the race detector, where every call costs
// several times more), 400 with make hot-key.
var hotKeySites = flag.Int("hot-key-sites", 50, "sites activated at once on a key with 2,000 seats")

// An agency key with 2,000 sites takes many more at once: every one gets its
// seat within the deadline of a seat change behind the API (none answers
// 503, contended or late), and the counter equals the seats. Each
// activation reads the key, the license and its own site by key, so the
// 2,000 seats already taken cost nothing to read; the writers to the one
// license, each conditioned on the counts it read, take numbered turns once
// contended (see dynamo's turns).
func TestParallelActivationsOnABigKey(t *testing.T) {
	f := newFixture(t)
	n := *hotKeySites
	p := f.license(t, 2000+n+10)
	f.eng.SeedSeats(t, string(p.Key.Key), "rankmath-pro", 2000)
	var failed atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	took := make([]time.Duration, n)
	for i := range n {
		wg.Go(func() {
			<-start
			began := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), apigw.DefaultSeatTimeout)
			defer cancel()
			_, err := f.app.Activate(ctx, seat(p.Key.Key, fmt.Sprintf("https://agency-%d.example.com", i)))
			took[i] = time.Since(began)
			if err != nil {
				failed.Add(1)
				t.Errorf("activation %d after %v: %v", i, took[i], err)
			}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	slices.Sort(took)
	t.Logf("%d parallel activations on a key with 2,000 seats: all done in %v; each took p50 %v, p90 %v, max %v",
		n, time.Since(began).Round(time.Millisecond), took[n/2].Round(time.Millisecond), took[n*9/10].Round(time.Millisecond), took[n-1].Round(time.Millisecond))
	require.Zero(t, failed.Load())
	st := f.audit(t, p.Key.Key)
	require.Len(t, st.Activations, 2000+n)
}
