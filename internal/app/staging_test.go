package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/licensing"
)

// Staging and local copies do not take seats: a full one-seat license still
// activates them, up to the brand's cap, and they free their own counter.
func TestStagingSitesBeyondTheSeatLimit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.license(t, 1)
	key := p.Key.Key

	prod, err := f.app.Activate(ctx, seat(key, "https://shop.com"))
	require.NoError(t, err)
	assert.Equal(t, licensing.EnvProduction, prod.Activation.Environment)
	_, err = f.app.Activate(ctx, seat(key, "https://other-shop.com"))
	assert.Equal(t, licensing.CodeNoSeatsAvailable, licensing.ErrorCode(err), "the one seat is taken")

	for i, site := range []string{"https://staging.shop.com", "http://localhost:8080", "https://shop.wpengine.com"} {
		out, err := f.app.Activate(ctx, seat(key, site))
		require.NoError(t, err, site)
		assert.NotEqual(t, licensing.EnvProduction, out.Activation.Environment, site)
		assert.Equal(t, 1, out.License.SeatsUsed, "no seat taken by %s", site)
		assert.Equal(t, i+1, out.License.NonProdUsed)
	}
	before := f.eng.Dump(t)
	_, err = f.app.Activate(ctx, seat(key, "https://dev.shop.com"))
	var e *licensing.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, licensing.CodeNoSeatsAvailable, e.Code, "the staging cap (3 by default) is reached")
	assert.Contains(t, e.Message, "staging")
	assert.Equal(t, before, f.eng.Dump(t))

	lic, _, err := f.app.Deactivate(ctx, seat(key, "https://staging.shop.com"))
	require.NoError(t, err)
	assert.Equal(t, 1, lic.SeatsUsed)
	assert.Equal(t, 2, lic.NonProdUsed)
	_, err = f.app.Activate(ctx, seat(key, "https://dev.shop.com"))
	require.NoError(t, err, "a freed staging place is taken again")
	f.audit(t, key)
}

func TestStagingCapPerBrand(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	require.NoError(t, f.app.Ops().ConfigureBrand(ctx, "rankmath", licensing.BrandSettings{StagingCap: 1}))
	p := f.license(t, 1)
	_, err := f.app.Activate(ctx, seat(p.Key.Key, "https://staging.a.com"))
	require.NoError(t, err)
	_, err = f.app.Activate(ctx, seat(p.Key.Key, "https://staging.b.com"))
	assert.Equal(t, licensing.CodeNoSeatsAvailable, licensing.ErrorCode(err))

	err = f.app.Ops().ConfigureBrand(ctx, "rankmath", licensing.BrandSettings{StagingCap: 101})
	assert.Equal(t, licensing.CodeValidation, licensing.ErrorCode(err))
	err = f.app.Ops().ConfigureBrand(ctx, "nobody", licensing.BrandSettings{StagingCap: 2})
	assert.Equal(t, licensing.CodeBrandNotFound, licensing.ErrorCode(err))
}

func TestConcurrentStagingActivations(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.license(t, 1)
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			_, err := f.app.Activate(ctx, seat(p.Key.Key, fmt.Sprintf("https://site%d.test", i)))
			errs <- err
		}()
	}
	ok := 0
	for range 20 {
		if err := <-errs; err == nil {
			ok++
		} else {
			assert.Contains(t, []licensing.Code{licensing.CodeNoSeatsAvailable, licensing.CodeServiceUnavailable}, licensing.ErrorCode(err))
		}
	}
	assert.Equal(t, licensing.DefaultStagingCap, ok, "exactly the cap")
	st := f.audit(t, p.Key.Key)
	assert.Equal(t, 0, st.Licenses[0].SeatsUsed)
	assert.Equal(t, licensing.DefaultStagingCap, st.Licenses[0].NonProdUsed)
}
