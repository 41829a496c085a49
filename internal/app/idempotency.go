package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/clsvc/license-service/internal/licensing"
)

// mutation names a brand mutation for its idempotency hash: the operation,
// the ids of its path (resolved: a product's id, never its slug) and its
// validated input, so that equivalent requests hash alike and a key reused
// on another operation or resource does not.
type mutation struct {
	Op    string   `json:"op"`
	IDs   []string `json:"ids,omitempty"`
	Input any      `json:"input,omitempty"`
}

func (m mutation) hash() (string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("hash idempotent request: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// SetResult stores v (JSON) as the result to replay; nil-safe, so that a use
// case sets it whether or not it runs under a key. The use case sets it
// right before the store write that commits the mutation, which writes it in
// the same transaction.
func (d *IdempotencyCompletion) SetResult(v any) error {
	if d == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode idempotent result: %w", err)
	}
	d.Result = b
	return nil
}

// once runs a brand mutation under an idempotency key (raw: as sent; ""
// runs it as it is). A completed record of the same request replays its
// stored result (replayed is true) without running anything; one of another
// request fails with CodeIdempotencyKeyReused; one still in progress with
// CodeRequestInProgress. Otherwise run runs with the claim's completion,
// which it fills (SetResult) and hands to the store write that commits the
// mutation, so that the record completes in the mutation's own transaction:
// a write that committed although its answer was lost replays on a retry,
// and one that did not leaves the key to a retry. A failed run releases the
// key. done is nil without a key.
func once[T any](ctx context.Context, a *App, t licensing.Tenant, raw string, m mutation, run func(done *IdempotencyCompletion) (T, error)) (res T, replayed bool, err error) {
	key, err := ParseIdempotencyKey(raw)
	if err != nil {
		return res, false, err
	}
	if key == "" {
		res, err = run(nil)
		return res, false, err
	}
	hash, err := m.hash()
	if err != nil {
		return res, false, err
	}
	now := a.now()
	token := rand.Text()
	rec, err := a.store.Claim(ctx, IdempotencyClaim{
		Brand: t.Brand, Key: key, Hash: hash, Token: token, Now: now,
		LockedUntil: now.Add(a.InProgressTTL), ExpiresAt: now.Add(a.IdempotencyTTL),
	})
	if err != nil {
		return res, false, err
	}
	if rec != nil {
		return replay[T](rec, hash)
	}
	defer func() {
		if err != nil {
			if rerr := a.store.Release(context.WithoutCancel(ctx), t.Brand, key, token); rerr != nil {
				err = errors.Join(err, fmt.Errorf("release idempotency key: %w", rerr))
			}
		}
	}()
	res, err = run(&IdempotencyCompletion{Brand: t.Brand, Key: key, Hash: hash, Token: token, ExpiresAt: now.Add(a.IdempotencyTTL)})
	return res, false, err
}

// replay answers a live record found under the key.
func replay[T any](rec *IdempotencyRecord, hash string) (res T, replayed bool, err error) {
	if rec.Hash != hash {
		return res, false, licensing.Errorf(licensing.CodeIdempotencyKeyReused, "this idempotency key was used with a different request")
	}
	if !rec.Completed {
		return res, false, licensing.Errorf(licensing.CodeRequestInProgress, "a request with this idempotency key is still in progress; retry shortly")
	}
	if err := json.Unmarshal(rec.Result, &res); err != nil {
		return res, false, fmt.Errorf("decode idempotent result: %w", err)
	}
	return res, true, nil
}
