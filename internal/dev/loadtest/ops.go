package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// op is a kind of request.
type op int

const (
	opCheck op = iota
	opActivate
	opDeactivate
	opActivateStaging
	opMove
	opEDDCheck
	opEDDActivate
	opEDDDeactivate
	opGetLicense
	opListByEmail
	opSuspend
	opResume
	opRenew
	opProvision
	numOps
)

var opNames = [numOps]string{"check", "activate", "deactivate", "activate-staging", "move", "edd-check", "edd-activate", "edd-deactivate",
	"get-license", "list-by-email", "suspend", "resume", "renew", "provision"}

// defaultWeights is the default mix, per mille: 79% check, 5% activate,
// 4.5% deactivate (production, staging and local sites), 2.5% staging and
// local activations, 1.5% site moves, 3.5% EDD requests (2.5% check_license,
// 0.5% each activate_license and deactivate_license), 4% brand requests.
var defaultWeights = [numOps]int{790, 50, 45, 25, 15, 25, 5, 5, 12, 8, 5, 5, 5, 5}

// OpNames are the operations' names, in the order of the report.
func OpNames() []string { return append([]string(nil), opNames[:]...) }

// DefaultMix is the default mix: weights per mille by operation name.
func DefaultMix() map[string]int {
	m := map[string]int{}
	for o, w := range defaultWeights {
		m[opNames[o]] = w
	}
	return m
}

// CheckMix reports whether mix names only known operations, with weights
// that are not negative and not all zero.
func CheckMix(mix map[string]int) error {
	_, err := weights(mix)
	return err
}

// weights turns a mix by name into weights by op.
func weights(mix map[string]int) ([numOps]int, error) {
	var w [numOps]int
	sum := 0
	for name, n := range mix {
		i := slices.Index(opNames[:], name)
		if i < 0 {
			return w, fmt.Errorf("mix: unknown operation %q (one of %s)", name, strings.Join(opNames[:], ", "))
		}
		if n < 0 {
			return w, fmt.Errorf("mix: negative weight %d for %s", n, name)
		}
		w[i] = n
		sum += n
	}
	if sum <= 0 {
		return w, errors.New("mix: no operation has a weight")
	}
	return w, nil
}

func (o op) String() string { return opNames[o] }

func pickOp(rng *rand.Rand, w *[numOps]int) op {
	sum := 0
	for _, n := range w {
		sum += n
	}
	n := rng.IntN(sum)
	for o, x := range w {
		if n < x {
			return op(o)
		}
		n -= x
	}
	panic("unreachable")
}

// outcome is one request as the client saw it.
type outcome struct {
	status   int
	code     string // the error code of an error answer
	latency  time.Duration
	expected bool  // the status is one this request may get
	err      error // transport error or an answer that breaks the contract
}

func (o outcome) describe() string {
	switch {
	case o.status == 0 && o.err != nil:
		return "transport error: " + o.err.Error()
	case o.err != nil:
		return fmt.Sprintf("%d %s: %v", o.status, o.code, o.err)
	default:
		return fmt.Sprintf("%d %s", o.status, o.code)
	}
}

// reply is an answer read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
	code   string // error.code of an error answer
}

// call sends one request and reads the answer; only the exchange is timed.
// A body is sent as JSON, or as a form when it is url.Values (as WordPress'
// wp_remote_post sends it).
func (g *generator) call(ctx context.Context, method, path, apiKey string, body any, header ...string) (reply, time.Duration, error) {
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, contentType = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return reply{}, 0, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.cfg.BaseURL+path, rd)
	if err != nil {
		return reply{}, 0, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if apiKey != "" {
		req.Header.Set("X-API-Key", apiKey)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	start := time.Now()
	resp, err := g.http.Do(req)
	if err != nil {
		return reply{}, time.Since(start), err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	lat := time.Since(start)
	if err != nil {
		return reply{}, lat, err
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: data}
	if r.status >= 400 {
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil {
			r.code = e.Error.Code
		}
	}
	return r, lat, nil
}

// expect turns an answer into an outcome: ok are the success statuses,
// allowed the "status code" pairs that are expected refusals.
func expect(r reply, lat time.Duration, err error, ok []int, allowed ...string) outcome {
	o := outcome{status: r.status, code: r.code, latency: lat, err: err}
	if err != nil {
		return o
	}
	for _, s := range ok {
		if r.status == s {
			o.expected = true
			return o
		}
	}
	key := fmt.Sprintf("%d %s", r.status, r.code)
	for _, a := range allowed {
		if key == a {
			o.expected = true
			return o
		}
	}
	return o
}

// decode reads a success body into v; a body that does not decode breaks the
// contract.
func decode(o *outcome, r reply, v any) bool {
	if len(r.body) == 0 {
		o.err, o.expected = errNoBody, false
		return false
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		o.err, o.expected = fmt.Errorf("decode answer: %w", err), false
		return false
	}
	return true
}

// client is one simulated caller; it is used by one goroutine.
type client struct {
	g     *generator
	rng   *rand.Rand
	etags map[string]string // license id|site → ETag of the last check answer
}

func (c *client) run(ctx context.Context, o op) outcome {
	g := c.g
	switch o {
	case opCheck:
		return c.check(ctx)
	case opActivate:
		l := g.fleet.pick(c.rng)
		return g.activate(ctx, c.rng, l, l.site(c.rng, 0), nil, &g.loadTally)
	case opDeactivate:
		return c.deactivate(ctx)
	case opActivateStaging:
		l := g.fleet.pick(c.rng)
		return g.activate(ctx, c.rng, l, l.pick(c.rng, nonprodSite, 0, 0), nil, &g.loadTally)
	case opMove:
		return c.move(ctx)
	case opEDDCheck:
		return c.eddCheck(ctx)
	case opEDDActivate:
		return c.eddActivate(ctx)
	case opEDDDeactivate:
		return c.eddDeactivate(ctx)
	case opGetLicense:
		return c.getLicense(ctx)
	case opListByEmail:
		return c.listByEmail(ctx)
	case opSuspend, opResume:
		return c.suspendResume(ctx, o)
	case opRenew:
		return c.renew(ctx)
	case opProvision:
		_, out := g.provision(ctx, c.rng, &g.loadTally, int(g.seq.Add(1)))
		return out
	}
	panic("unknown op")
}

// seatAnswer is the answer of activate and deactivate.
type seatAnswer struct {
	ActivationID   string `json:"activation_id"`
	Instance       string `json:"instance_identifier"`
	Environment    string `json:"environment"`
	SeatsUsed      int    `json:"seats_used"`
	SeatsRemaining int    `json:"seats_remaining"`
	StagingUsed    int    `json:"staging_sites_used"`
	MovedFrom      string `json:"moved_from"`
}

// check judges the figures of an answer about l: 0 ≤ seats_used ≤ seat
// limit, seats_remaining the rest, 0 ≤ staging_sites_used ≤ staging cap.
func (a seatAnswer) check(l *license, stagingCap int) error {
	if a.SeatsUsed < 0 || a.SeatsUsed > l.seats || a.SeatsUsed+a.SeatsRemaining != l.seats {
		return fmt.Errorf("seats_used %d, seats_remaining %d on a license of %d seats", a.SeatsUsed, a.SeatsRemaining, l.seats)
	}
	if a.StagingUsed < 0 || a.StagingUsed > stagingCap {
		return fmt.Errorf("staging_sites_used %d outside 0..%d", a.StagingUsed, stagingCap)
	}
	return nil
}

// activation judges an activate answer for site s: its identifier and
// environment, its figures, and moved_from only when asked to move from prev.
func (a seatAnswer) activation(l *license, s site, prev *site, stagingCap int) error {
	switch {
	case a.ActivationID == "":
		return errors.New("activate answered no activation_id")
	case a.Instance != s.canonical():
		return fmt.Errorf("activate %s answered instance %q", s.canonical(), a.Instance)
	case a.Environment != s.env():
		return fmt.Errorf("activate %s answered environment %q, want %s", s.canonical(), a.Environment, s.env())
	case a.MovedFrom != "" && (prev == nil || a.MovedFrom != prev.canonical()):
		return fmt.Errorf("activate %s answered moved_from %q", s.canonical(), a.MovedFrom)
	}
	return a.check(l, stagingCap)
}

func productBody(l *license, rng *rand.Rand, body map[string]any) map[string]any {
	if l.multi || rng.IntN(2) == 0 {
		body["product"] = l.product
	}
	return body
}

// activate activates site s of l, moving the seat of prev to it when prev is
// given (previous_instance_identifier). 201 is a new seat or place, or a
// move when the answer has moved_from; 200 the site already holds one (and
// nothing moved). 409 no_seats_available (a full license, or the staging
// cap reached) and 403 license_suspended are expected refusals.
func (g *generator) activate(ctx context.Context, rng *rand.Rand, l *license, s site, prev *site, t *tally) outcome {
	body := productBody(l, rng, map[string]any{"license_key": l.key, "instance_identifier": s.spelling(rng)})
	if rng.IntN(4) == 0 {
		body["instance_type"] = "url"
	}
	if prev != nil {
		body["previous_instance_identifier"] = prev.spelling(rng)
	}
	r, lat, err := g.call(ctx, http.MethodPost, "/api/v1/product/licenses/activate", "", body)
	o := expect(r, lat, err, []int{http.StatusCreated, http.StatusOK}, "409 no_seats_available", "403 license_suspended")
	if o.status != http.StatusCreated && o.status != http.StatusOK {
		return o
	}
	var a seatAnswer
	if !decode(&o, r, &a) {
		// A 201 whose body is unreadable changed something the tally cannot
		// name (a new seat or a move); the run fails on this answer anyway.
		return o
	}
	if err := a.activation(l, s, prev, g.cfg.StagingCap); err != nil {
		o.err, o.expected = err, false
	}
	switch {
	case o.status == http.StatusOK && a.MovedFrom != "":
		o.err, o.expected = fmt.Errorf("activate %s: 200 with moved_from %q", s.canonical(), a.MovedFrom), false
	case o.status == http.StatusCreated && a.MovedFrom != "":
		// The seat moved: the old site's activation went, the new one came;
		// the counters change only when the two count differently.
		l.moved.Add(1)
		t.moved.Add(1)
		l.confirmed(*prev, -1)
		l.confirmed(s, +1)
		l.setActive(*prev, false)
	case o.status == http.StatusCreated:
		l.activated.Add(1)
		t.activated.Add(1)
		l.confirmed(s, +1)
		if prev != nil {
			l.setActive(*prev, false) // it held no seat, or the move would have said so
		}
	}
	l.setActive(s, true)
	return o
}

// move is a site move (a migration, or a staging copy going live): the seat
// of a site believed to hold one — a production site, or 30% of the time a
// staging or local one — moves to a production site believed to hold none.
func (c *client) move(ctx context.Context) outcome {
	g, l := c.g, c.g.fleet.pick(c.rng)
	from := l.pick(c.rng, prodSite, 100, 0)
	if c.rng.IntN(100) < 30 {
		from = l.pick(c.rng, nonprodSite, 100, 0)
	}
	to := l.pick(c.rng, prodSite, 0, 100)
	if to == from {
		to.n = (to.n + 1) % l.candidates(prodSite)
	}
	return g.activate(ctx, c.rng, l, to, &from, &g.loadTally)
}

// deactivate frees a seat or place, mostly of a site believed to hold one
// (an uninstall): 75% a production site, 25% a staging or local one; 404
// activation_not_found is expected when another client freed it first or the
// site held none.
func (c *client) deactivate(ctx context.Context) outcome {
	g, l := c.g, c.g.fleet.pick(c.rng)
	s := l.site(c.rng, 85)
	if c.rng.IntN(4) == 0 {
		s = l.pick(c.rng, nonprodSite, 85, 0)
	}
	body := productBody(l, c.rng, map[string]any{"license_key": l.key, "instance_identifier": s.spelling(c.rng)})
	r, lat, err := g.call(ctx, http.MethodPost, "/api/v1/product/licenses/deactivate", "", body)
	o := expect(r, lat, err, []int{http.StatusOK}, "404 activation_not_found")
	if o.status == http.StatusOK || o.status == http.StatusNotFound {
		l.setActive(s, false)
	}
	if o.status == http.StatusOK {
		l.deactivated.Add(1)
		g.loadTally.deactivated.Add(1)
		l.confirmed(s, -1)
		var a seatAnswer
		if decode(&o, r, &a) {
			if err := a.check(l, g.cfg.StagingCap); err != nil {
				o.err, o.expected = err, false
			} else if a.Instance != s.canonical() {
				o.err, o.expected = fmt.Errorf("deactivate %s answered instance %q", s.canonical(), a.Instance), false
			}
		}
	}
	return o
}

const keyAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

func randomKey(rng *rand.Rand, prefix string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for range 4 {
		b.WriteByte('-')
		for range 4 {
			b.WriteByte(keyAlphabet[rng.IntN(len(keyAlphabet))])
		}
	}
	return b.String()
}

// checkSite picks the site a check (or an EDD check) asks about: 85% a
// production candidate (80% one believed to hold a seat), 10% a staging or
// local one, 5% an EDD site believed active (when there is one).
func (l *license) checkSite(rng *rand.Rand) site {
	switch n := rng.IntN(100); {
	case n < 85:
		return l.site(rng, 80)
	case n < 95:
		return l.pick(rng, nonprodSite, 80, 0)
	}
	if s, ok := l.pickEDD(rng); ok {
		return s
	}
	return l.site(rng, 80)
}

// check: 3% unknown keys (404 expected), otherwise a known license for one
// of its sites (checkSite) or, 8% of the time, an instance it has never
// seen; 30% of the repeated ones are conditional (If-None-Match → 304).
func (c *client) check(ctx context.Context) outcome {
	g, rng := c.g, c.rng
	q := url.Values{}
	if rng.IntN(100) < 3 {
		b := g.cfg.Brands[rng.IntN(len(g.cfg.Brands))]
		q.Set("license_key", randomKey(rng, b.Prefix))
		q.Set("instance_identifier", site{kind: prodSite}.canonical())
		r, lat, err := g.call(ctx, http.MethodGet, "/api/v1/product/licenses/check?"+q.Encode(), "", nil)
		return expect(r, lat, err, nil, "404 license_not_found")
	}
	l := g.fleet.pick(rng)
	key := l.key
	if rng.IntN(10) == 0 {
		key = strings.ToLower(key)
	}
	q.Set("license_key", key)
	instance := l.checkSite(rng).canonical()
	if rng.IntN(100) < 8 {
		instance = fmt.Sprintf("probe%d.example.net", rng.IntN(1_000_000))
	}
	q.Set("instance_identifier", instance)
	if l.multi || rng.IntN(2) == 0 {
		q.Set("product", l.product)
	}
	path := "/api/v1/product/licenses/check?" + q.Encode()
	// The ETag is remembered per request URL, as a cache would.
	var hdr []string
	etag, seen := c.etags[path]
	if seen && rng.IntN(100) < 30 {
		hdr = []string{"If-None-Match", etag}
	}
	r, lat, err := g.call(ctx, http.MethodGet, path, "", nil, hdr...)
	ok := []int{http.StatusOK}
	if hdr != nil {
		ok = append(ok, http.StatusNotModified)
	}
	o := expect(r, lat, err, ok)
	if o.status == http.StatusOK {
		var a struct {
			License *struct {
				ID          string `json:"id"`
				SeatLimit   int    `json:"seat_limit"`
				SeatsUsed   int    `json:"seats_used"`
				StagingUsed int    `json:"staging_sites_used"`
			} `json:"license"`
		}
		if decode(&o, r, &a) {
			switch {
			case a.License == nil || a.License.ID != l.id:
				o.err, o.expected = fmt.Errorf("check answered another license than %s", l.id), false
			case a.License.SeatsUsed < 0 || a.License.SeatsUsed > a.License.SeatLimit:
				o.err, o.expected = fmt.Errorf("check: seats_used %d of %d", a.License.SeatsUsed, a.License.SeatLimit), false
			case a.License.StagingUsed < 0 || a.License.StagingUsed > g.cfg.StagingCap:
				o.err, o.expected = fmt.Errorf("check: staging_sites_used %d, cap %d", a.License.StagingUsed, g.cfg.StagingCap), false
			}
		}
		if e := r.header.Get("ETag"); e != "" && len(c.etags) < 50_000 {
			c.etags[path] = e
		}
	}
	return o
}

type licenseAnswer struct {
	ID        string  `json:"id"`
	Status    string  `json:"status"`
	SeatLimit int     `json:"seat_limit"`
	SeatsUsed int     `json:"seats_used"`
	ExpiresAt *string `json:"expires_at"`
}

func (a licenseAnswer) check(l *license) error {
	if a.ID != l.id || a.SeatLimit != l.seats || a.SeatsUsed < 0 || a.SeatsUsed > a.SeatLimit {
		return fmt.Errorf("license %s answered as %s with %d of %d seats", l.id, a.ID, a.SeatsUsed, a.SeatLimit)
	}
	return nil
}

// getLicense reads a license; 5% of the time with another brand's API key,
// which must answer 404 (no existence leak).
func (c *client) getLicense(ctx context.Context) outcome {
	g, l := c.g, c.g.fleet.pick(c.rng)
	if c.rng.IntN(20) == 0 && len(g.cfg.Brands) > 1 {
		for _, b := range g.cfg.Brands {
			if b.Slug != l.brand {
				r, lat, err := g.call(ctx, http.MethodGet, "/api/v1/brand/licenses/"+l.id, b.APIKey, nil)
				return expect(r, lat, err, nil, "404 license_not_found")
			}
		}
	}
	r, lat, err := g.call(ctx, http.MethodGet, "/api/v1/brand/licenses/"+l.id, l.apiKey, nil)
	o := expect(r, lat, err, []int{http.StatusOK})
	if o.status == http.StatusOK {
		var a licenseAnswer
		if decode(&o, r, &a) {
			if err := a.check(l); err != nil {
				o.err, o.expected = err, false
			}
			g.fleet.setSuspended(l, a.Status == "suspended")
		}
	}
	return o
}

func (c *client) listByEmail(ctx context.Context) outcome {
	g := c.g
	b := g.cfg.Brands[c.rng.IntN(len(g.cfg.Brands))]
	email := g.fleet.pickEmail(c.rng, b.Slug)
	r, lat, err := g.call(ctx, http.MethodGet, "/api/v1/brand/licenses?email="+url.QueryEscape(email), b.APIKey, nil)
	o := expect(r, lat, err, []int{http.StatusOK})
	if o.status == http.StatusOK {
		var a struct {
			Email string `json:"customer_email"`
			Keys  []struct {
				Key string `json:"key"`
			} `json:"license_keys"`
		}
		if decode(&o, r, &a) && (a.Email != email || len(a.Keys) == 0) {
			o.err, o.expected = fmt.Errorf("list of %s: %d keys for %q", email, len(a.Keys), a.Email), false
		}
	}
	return o
}

// suspendResume suspends a license believed valid, or resumes one believed
// suspended (any license when none is). Races between clients make 409
// invalid_transition an expected answer.
func (c *client) suspendResume(ctx context.Context, o op) outcome {
	g := c.g
	l := g.fleet.pickStatus(c.rng, o == opResume)
	var body any
	if o == opSuspend {
		body = map[string]string{"reason": "load test: payment failed"}
	}
	r, lat, err := g.call(ctx, http.MethodPost, "/api/v1/brand/licenses/"+l.id+"/"+o.String(), l.apiKey, body)
	out := expect(r, lat, err, []int{http.StatusOK}, "409 invalid_transition")
	switch {
	case out.status == http.StatusOK && o == opSuspend:
		l.suspends.Add(1)
		g.loadTally.suspended.Add(1)
		g.fleet.setSuspended(l, true)
	case out.status == http.StatusOK:
		l.resumes.Add(1)
		g.loadTally.resumed.Add(1)
		g.fleet.setSuspended(l, false)
	case out.status == http.StatusConflict:
		g.fleet.setSuspended(l, o == opSuspend) // someone else got there first
	}
	if out.status == http.StatusOK {
		var a licenseAnswer
		if decode(&out, r, &a) {
			if err := a.check(l); err != nil {
				out.err, out.expected = err, false
			} else if want := map[op]string{opSuspend: "suspended", opResume: "valid"}[o]; a.Status != want {
				out.err, out.expected = fmt.Errorf("%s answered status %q", o, a.Status), false
			}
		}
	}
	return out
}

// renew moves a license's expiry one day past the latest the generator asked
// for; when two renewals of one license cross, the one asking for the earlier
// date answers 400 (must be later than the current expiry), as expected.
func (c *client) renew(ctx context.Context) outcome {
	g, l := c.g, c.g.fleet.pick(c.rng)
	next := time.Unix(l.expires.Add(86400), 0).UTC().Format(time.RFC3339)
	r, lat, err := g.call(ctx, http.MethodPost, "/api/v1/brand/licenses/"+l.id+"/renew", l.apiKey, map[string]string{"expiration_date": next})
	o := expect(r, lat, err, []int{http.StatusOK}, "400 validation_error")
	if o.status == http.StatusOK {
		l.renewals.Add(1)
		g.loadTally.renewed.Add(1)
		var a licenseAnswer
		if decode(&o, r, &a) {
			if err := a.check(l); err != nil {
				o.err, o.expected = err, false
			}
		}
	}
	return o
}

// provision creates key number i: 60% for the first brand; for a brand with
// several products a third of its keys cover two of them; 1–10 seats; an
// expiry one to three years away; a unique Idempotency-Key.
func (g *generator) provision(ctx context.Context, rng *rand.Rand, t *tally, i int) (*keyRecord, outcome) {
	b := g.cfg.Brands[0]
	if len(g.cfg.Brands) > 1 && rng.IntN(100) >= 60 {
		b = g.cfg.Brands[1+rng.IntN(len(g.cfg.Brands)-1)]
	}
	products := []string{b.Products[rng.IntN(len(b.Products))]}
	if len(b.Products) > 1 && rng.IntN(3) == 0 {
		products = b.Products[:2]
	}
	seats := 1 + rng.IntN(10)
	expires := time.Now().UTC().Add(time.Duration(365+rng.IntN(730)) * 24 * time.Hour).Truncate(time.Second)
	email := fmt.Sprintf("customer%03d@load.example.com", rng.IntN(max(g.cfg.Keys/3, 1)))
	body := map[string]any{
		"customer_email": email, "products": products, "max_seats": seats,
		"expiration_date": expires.Format(time.RFC3339),
	}
	idem := fmt.Sprintf("load-%d-%d-%d", i, g.seq.Add(1), rng.Uint64())
	r, lat, err := g.call(ctx, http.MethodPost, "/api/v1/brand/licenses/provision", b.APIKey, body, "Idempotency-Key", idem)
	o := expect(r, lat, err, []int{http.StatusCreated})
	if o.status != http.StatusCreated {
		return nil, o
	}
	var a struct {
		Key struct {
			Key   string `json:"key"`
			Email string `json:"customer_email"`
		} `json:"license_key"`
		Licenses []struct {
			ID        string `json:"id"`
			Product   string `json:"product_slug"`
			SeatLimit int    `json:"seat_limit"`
		} `json:"licenses"`
	}
	if !decode(&o, r, &a) {
		return nil, o
	}
	if r.header.Get("Idempotent-Replayed") == "true" || a.Key.Key == "" || len(a.Licenses) != len(products) {
		o.err, o.expected = fmt.Errorf("provision answered a replay or %d licenses for %d products", len(a.Licenses), len(products)), false
		return nil, o
	}
	t.keysCreated.Add(1)
	t.provisioned.Add(int64(len(a.Licenses)))
	k := &keyRecord{key: a.Key.Key, brand: b.Slug, email: a.Key.Email}
	for _, x := range a.Licenses {
		l := &license{id: x.ID, key: a.Key.Key, brand: b.Slug, product: x.Product, apiKey: b.APIKey, multi: len(products) > 1,
			seats: x.SeatLimit, active: make([]bool, max(x.SeatLimit, 0)+2), nonprod: make([]bool, g.cfg.StagingCap+2), edd: map[int]site{}}
		l.expires.Store(expires.Unix())
		if x.SeatLimit != seats {
			o.err, o.expected = fmt.Errorf("provisioned %d seats, asked for %d", x.SeatLimit, seats), false
		}
		k.licenses = append(k.licenses, l)
	}
	g.fleet.add(k)
	return k, o
}
