package token

import (
	"context"
	"sync"
	"time"
)

// Source gives the signer to use now; nil when there is none (yet). A
// *Signer is a Source of itself.
type Source interface {
	Current(ctx context.Context) *Signer
}

// Current returns s: a fixed signer never changes.
func (s *Signer) Current(context.Context) *Signer { return s }

// Reloader is a Source that loads its keyring on demand and, while loading
// fails, tries again at most once per interval, so a function whose keys
// could not be read at start (a secret not filled yet, Secrets Manager
// throttling) heals without a restart and without a call per request.
type Reloader struct {
	load     func(ctx context.Context) ([]Key, error)
	interval time.Duration
	failed   func(error) // told of every failed load; nil: nothing

	mu     sync.Mutex
	signer *Signer
	next   time.Time // earliest next attempt after a failure
	now    func() time.Time
}

// NewReloader returns a Reloader that calls load at most once per interval
// (by the clock now; nil: time.Now) until it succeeds, telling failed of
// each failure.
func NewReloader(load func(ctx context.Context) ([]Key, error), interval time.Duration, failed func(error), now func() time.Time) *Reloader {
	if now == nil {
		now = time.Now
	}
	return &Reloader{load: load, interval: interval, failed: failed, now: now}
}

// Current returns the signer once a load succeeded; before that it tries a
// load when the interval since the last failure has passed, and answers nil
// when it fails.
func (r *Reloader) Current(ctx context.Context) *Signer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.signer != nil || r.now().Before(r.next) {
		return r.signer
	}
	keys, err := r.load(ctx)
	var s *Signer
	if err == nil {
		s, err = NewSigner(keys...)
	}
	if err != nil {
		r.next = r.now().Add(r.interval)
		if r.failed != nil {
			r.failed(err)
		}
		return nil
	}
	r.signer = s
	return s
}
