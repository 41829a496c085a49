package token_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/token"
)

// A reloader that cannot load its keys answers nil, retries at most once per
// interval, and keeps the signer once a load succeeds.
func TestReloaderHeals(t *testing.T) {
	key, err := token.GenerateKey("2026-11")
	require.NoError(t, err)
	var loads, failures int
	ready := false
	clock := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	r := token.NewReloader(func(context.Context) ([]token.Key, error) {
		loads++
		if !ready {
			return nil, errors.New("secret has no value yet")
		}
		return []token.Key{key}, nil
	}, 30*time.Second, func(error) { failures++ }, func() time.Time { return clock })

	ctx := context.Background()
	assert.Nil(t, r.Current(ctx))
	assert.Nil(t, r.Current(ctx), "within the interval: no new load")
	assert.Equal(t, 1, loads)
	assert.Equal(t, 1, failures)

	ready = true
	clock = clock.Add(29 * time.Second)
	assert.Nil(t, r.Current(ctx), "still within the interval")
	assert.Equal(t, 1, loads)
	clock = clock.Add(time.Second)
	s := r.Current(ctx)
	require.NotNil(t, s)
	assert.Equal(t, "2026-11", s.KID())
	before := loads
	r.Current(ctx)
	assert.Equal(t, before, loads, "a loaded signer is kept")
	assert.Equal(t, 2, loads)
	assert.Equal(t, 1, failures)
}

func TestFixedSignerIsItsOwnSource(t *testing.T) {
	key, err := token.GenerateKey("k")
	require.NoError(t, err)
	s, err := token.NewSigner(key)
	require.NoError(t, err)
	var src token.Source = s
	assert.Same(t, s, src.Current(context.Background()))
}
