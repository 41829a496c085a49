// Package loadtest is a bounded load generator for the license service.
//
// It provisions license keys through the brand API (setup, not timed), then
// runs concurrent clients for a fixed time — and at most a fixed number of
// requests — with a realistic mix of product requests (check, activate,
// deactivate, staging and local activations, site moves), EDD requests
// (check_license, activate_license, deactivate_license) and brand requests
// (get, list by e-mail, suspend, resume, renew, provision), and finally
// audits the whole table: seat and staging counts against activation items,
// and the events in the table against the state changes the clients saw
// succeed. Every request goes to a loopback address.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/clsvc/license-service/internal/dev/demo"
)

// Brand is a brand the generator acts for: its API key and products.
type Brand struct {
	Slug, Prefix, APIKey string
	Products             []string
}

// DemoBrands are the brands `make run` seeds (local-only API keys).
func DemoBrands() []Brand {
	var out []Brand
	for _, b := range demo.Brands {
		br := Brand{Slug: b.Slug, Prefix: b.Prefix, APIKey: b.APIKey}
		for _, p := range b.Products {
			br.Products = append(br.Products, p.Slug)
		}
		out = append(out, br)
	}
	return out
}

// Config says what to run.
type Config struct {
	// BaseURL is the API, e.g. http://127.0.0.1:3000; it must be loopback.
	BaseURL string
	// Brands the keys are provisioned for (DemoBrands when empty). The
	// first brand gets about 60% of the keys.
	Brands []Brand
	// Clients is the number of concurrent clients (default 16).
	Clients int
	// Duration is how long the clients send requests (default 20s); a
	// request in flight at the deadline is finished and counted.
	Duration time.Duration
	// MaxRequests caps the requests of the timed phase (default 2,000,000).
	MaxRequests int64
	// Keys is the number of license keys provisioned in setup (default 200).
	Keys int
	// Seed seeds each client's choices (the mix, not the timing).
	Seed uint64
	// RequestTimeout bounds every request (default 30s).
	RequestTimeout time.Duration
	// StagingCap is the brands' cap on staging and local sites per license
	// (default 3, the service's default and the demo brands' cap).
	StagingCap int
	// Mix weighs the operations by name (see OpNames); nil is the default
	// mix (DefaultMix). Operations it does not name do not run.
	Mix map[string]int
	// Progress receives a line per phase; nil discards them.
	Progress io.Writer
}

func (c *Config) defaults() error {
	if c.Clients <= 0 {
		c.Clients = 16
	}
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = 2_000_000
	}
	if c.Keys <= 0 {
		c.Keys = 200
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.StagingCap <= 0 {
		c.StagingCap = 3
	}
	if c.Mix == nil {
		c.Mix = DefaultMix()
	}
	if _, err := weights(c.Mix); err != nil {
		return err
	}
	if len(c.Brands) == 0 {
		c.Brands = DemoBrands()
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if err := CheckLoopbackURL(c.BaseURL); err != nil {
		return fmt.Errorf("api url %w", err)
	}
	for _, b := range c.Brands {
		if b.Slug == "" || b.APIKey == "" || b.Prefix == "" || len(b.Products) == 0 {
			return fmt.Errorf("brand %q: slug, prefix, API key and products are required", b.Slug)
		}
	}
	return nil
}

// Run provisions the keys, runs the load and audits the table db/table (the
// service's table, reachable on a loopback endpoint). The report says
// whether anything failed; err is for a run that could not be done at all.
func Run(ctx context.Context, cfg Config, db *dynamodb.Client, table string) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	g := &generator{cfg: cfg, http: NewHTTPClient(cfg.Clients, cfg.RequestTimeout), fleet: newFleet(cfg.Brands)}
	g.weights, _ = weights(cfg.Mix)
	rep := &Report{Config: cfg}

	before, err := scanTable(ctx, db, table)
	if err != nil {
		return nil, fmt.Errorf("scan before setup: %w", err)
	}
	fmt.Fprintf(cfg.Progress, "setup: provisioning %d license keys through the brand API, activating about half their seats and a staging or local site on a third of the licenses\n", cfg.Keys)
	start := time.Now()
	if err := g.setup(ctx); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	rep.SetupTime = time.Since(start)
	rep.SetupStats = g.setupStats.stats()
	afterSetup, err := scanTable(ctx, db, table)
	if err != nil {
		return nil, fmt.Errorf("scan after setup: %w", err)
	}
	n, l := g.fleet.size()
	fmt.Fprintf(cfg.Progress, "setup: %d keys, %d licenses in %s; load: %d clients for %s (at most %d requests)\n",
		n, l, rep.SetupTime.Round(time.Millisecond), cfg.Clients, cfg.Duration, cfg.MaxRequests)

	rep.Ops, rep.Elapsed = g.load(ctx)
	rep.KeysAfter, rep.LicensesAfter = g.fleet.size()
	fmt.Fprintf(cfg.Progress, "load: done in %s; auditing the table\n", rep.Elapsed.Round(time.Millisecond))

	after, err := scanTable(ctx, db, table)
	if err != nil {
		return nil, fmt.Errorf("scan after load: %w", err)
	}
	rep.Audit = g.audit(before, afterSetup, after)
	return rep, nil
}

// generator holds what the clients share.
type generator struct {
	cfg     Config
	weights [numOps]int // the mix
	http    *http.Client
	fleet   *fleet
	seq     atomic.Int64 // unique suffixes (idempotency keys, EDD sites)

	setupTally, loadTally tally
	setupStats            *recorder
}

// tally counts the state changes the service confirmed; each has exactly one
// event in the table.
type tally struct {
	keysCreated, provisioned, activated, deactivated, moved, suspended, resumed, renewed atomic.Int64
}

// Event types, as docs/events.md names them.
const (
	evKeyCreated   = "LicenseKeyCreated"
	evProvisioned  = "LicenseProvisioned"
	evActivated    = "LicenseActivated"
	evDeactivated  = "SeatDeactivated"
	evMoved        = "SiteMoved"
	evSuspended    = "LicenseSuspended"
	evResumed      = "LicenseResumed"
	evRenewed      = "LicenseRenewed"
	evCancelled    = "LicenseCancelled"
	evAPIKeyCreate = "ApiKeyCreated"
	evAPIKeyRevoke = "ApiKeyRevoked"
)

func (t *tally) events() map[string]int64 {
	return map[string]int64{
		evKeyCreated: t.keysCreated.Load(), evProvisioned: t.provisioned.Load(),
		evActivated: t.activated.Load(), evDeactivated: t.deactivated.Load(), evMoved: t.moved.Load(),
		evSuspended: t.suspended.Load(), evResumed: t.resumed.Load(), evRenewed: t.renewed.Load(),
	}
}

// license is one license of a provisioned key, with what the generator
// learnt about it.
type license struct {
	id, key, brand, product string
	apiKey                  string
	multi                   bool // its key covers several products
	seats                   int

	expires atomic.Int64 // unix seconds; renewals move it on

	// confirmed state changes of this license (setup and load): events …
	activated, deactivated, moved, suspends, resumes, renewals atomic.Int64
	// … and the activation items they leave: production sites (seats_used)
	// and staging and local sites (nonprod_used)
	prodItems, nonprodItems atomic.Int64

	// Sites (sites.go), as last answered.
	mu      sync.Mutex
	active  []bool       // production candidate i holds a seat; len seats+2
	nonprod []bool       // staging/local candidate j holds a place; len StagingCap+2
	edd     map[int]site // EDD sites that hold a seat or place, by number
}

// keyRecord is a provisioned license key.
type keyRecord struct {
	key, brand, email string
	licenses          []*license
}

// fleet is every key the generator provisioned; clients add to it.
type fleet struct {
	brands []Brand

	mu       sync.RWMutex
	keys     []*keyRecord
	licenses []*license
	emails   map[string][]string // brand → customer e-mails holding keys
	seen     map[string]bool     // brand/e-mail pairs in emails

	suspended []*license // suspended, as last answered
}

func newFleet(brands []Brand) *fleet {
	return &fleet{brands: brands, emails: map[string][]string{}, seen: map[string]bool{}}
}

// setSuspended records whether l is suspended, as last answered.
func (f *fleet) setSuspended(l *license, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.suspended, l)
	switch {
	case on && i < 0:
		f.suspended = append(f.suspended, l)
	case !on && i >= 0:
		f.suspended = slices.Delete(f.suspended, i, i+1)
	}
}

// pickStatus picks a license believed suspended (suspended true) or valid.
func (f *fleet) pickStatus(rng *rand.Rand, suspended bool) *license {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if suspended {
		if len(f.suspended) == 0 {
			return f.licenses[rng.IntN(len(f.licenses))]
		}
		return f.suspended[rng.IntN(len(f.suspended))]
	}
	for range 16 {
		l := f.licenses[rng.IntN(len(f.licenses))]
		if !slices.Contains(f.suspended, l) {
			return l
		}
	}
	return f.licenses[rng.IntN(len(f.licenses))]
}

func (f *fleet) add(k *keyRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, k)
	f.licenses = append(f.licenses, k.licenses...)
	if id := k.brand + "/" + k.email; !f.seen[id] {
		f.seen[id] = true
		f.emails[k.brand] = append(f.emails[k.brand], k.email)
	}
}

func (f *fleet) size() (keys, licenses int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.keys), len(f.licenses)
}

func (f *fleet) pick(rng *rand.Rand) *license {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.licenses[rng.IntN(len(f.licenses))]
}

func (f *fleet) pickEmail(rng *rand.Rand, brand string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	list := f.emails[brand]
	if len(list) == 0 {
		return "nobody@load.example.com"
	}
	return list[rng.IntN(len(list))]
}

func (f *fleet) all() []*license {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return append([]*license(nil), f.licenses...)
}

// setup provisions cfg.Keys keys with a few workers and activates about half
// of every license's seats.
func (g *generator) setup(ctx context.Context) error {
	workers := min(g.cfg.Clients, 8)
	g.setupStats = newRecorder()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(g.cfg.Seed, uint64(1000+w)))
			rec := newRecorder()
			defer func() {
				mu.Lock()
				g.setupStats.merge(rec)
				mu.Unlock()
			}()
			for {
				i := int(next.Add(1)) - 1
				if i >= g.cfg.Keys || ctx.Err() != nil {
					return
				}
				k, o := g.provision(ctx, rng, &g.setupTally, i)
				rec.add(opProvision, o)
				if k == nil {
					fail(fmt.Errorf("provision key %d: %s", i+1, o.describe()))
					return
				}
				for _, l := range k.licenses {
					sites := make([]site, 0, l.seats/2+1)
					for s := range l.seats / 2 {
						sites = append(sites, site{kind: prodSite, n: s})
					}
					if rng.IntN(3) == 0 {
						sites = append(sites, site{kind: nonprodSite, n: rng.IntN(len(l.nonprod))})
					}
					for _, s := range sites {
						o := g.activate(ctx, rng, l, s, nil, &g.setupTally)
						rec.add(opActivate, o)
						if o.status != http.StatusCreated {
							fail(fmt.Errorf("activate %s on %s: %s", s.canonical(), l.id, o.describe()))
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// load runs the clients until the deadline or the request cap.
func (g *generator) load(ctx context.Context) (*recorder, time.Duration) {
	var (
		budget atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		total  = newRecorder()
	)
	start := time.Now()
	deadline := start.Add(g.cfg.Duration)
	for c := range g.cfg.Clients {
		wg.Go(func() {
			cl := &client{g: g, rng: rand.New(rand.NewPCG(g.cfg.Seed, uint64(c+1))), etags: map[string]string{}}
			rec := newRecorder()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if budget.Add(1) > g.cfg.MaxRequests {
					break
				}
				op := pickOp(cl.rng, &g.weights)
				rec.add(op, cl.run(ctx, op))
			}
			mu.Lock()
			total.merge(rec)
			mu.Unlock()
		})
	}
	wg.Wait()
	return total, time.Since(start)
}

var errNoBody = errors.New("empty body")
