package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// op is a kind of request.
type op int

const (
	opCheck op = iota
	opActivate
	opDeactivate
	opGetLicense
	opListByEmail
	opSuspend
	opResume
	opRenew
	opProvision
	numOps
)

var opNames = [numOps]string{"check", "activate", "deactivate", "get-license", "list-by-email", "suspend", "resume", "renew", "provision"}

// opWeights is the mix, per mille: 85% check, 6% activate, 5% deactivate,
// 4% brand requests.
var opWeights = [numOps]int{850, 60, 50, 12, 8, 5, 5, 5, 5}

func (o op) String() string { return opNames[o] }

func pickOp(rng *rand.Rand) op {
	n := rng.IntN(1000)
	for o, w := range opWeights {
		if n < w {
			return op(o)
		}
		n -= w
	}
	return opCheck
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
func (g *generator) call(ctx context.Context, method, path, apiKey string, body any, header ...string) (reply, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.cfg.BaseURL+path, rd)
	if err != nil {
		return reply{}, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
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
		return g.activateSite(ctx, c.rng, l, l.site(c.rng, 0), &g.loadTally)
	case opDeactivate:
		return c.deactivate(ctx)
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

// Sites: a license's candidate sites are site0 … site<seats+1> (two more
// than its seats, so licenses fill up and refuse), written in several
// spellings that canonicalise to the same instance. Activate picks any of
// them (one already holding a seat answers 200).
func siteName(i int) string { return fmt.Sprintf("site%d.example.com", i) }

func siteSpelling(rng *rand.Rand, i int) string {
	switch rng.IntN(4) {
	case 0:
		return fmt.Sprintf("https://www.site%d.example.com/", i)
	case 1:
		return fmt.Sprintf("http://SITE%d.Example.com", i)
	case 2:
		return fmt.Sprintf("https://site%d.example.com:443/?ver=6.7#top", i)
	}
	return siteName(i)
}

type seatAnswer struct {
	ActivationID   string `json:"activation_id"`
	SeatsUsed      int    `json:"seats_used"`
	SeatsRemaining int    `json:"seats_remaining"`
}

func (a seatAnswer) check(l *license) error {
	if a.SeatsUsed < 0 || a.SeatsUsed > l.seats || a.SeatsUsed+a.SeatsRemaining != l.seats {
		return fmt.Errorf("seats_used %d, seats_remaining %d on a license of %d seats", a.SeatsUsed, a.SeatsRemaining, l.seats)
	}
	return nil
}

func productBody(l *license, rng *rand.Rand, body map[string]any) map[string]any {
	if l.multi || rng.IntN(2) == 0 {
		body["product"] = l.product
	}
	return body
}

// activateSite activates site i of l: 201 a new seat, 200 the site already
// holds one; 409 no_seats_available on a full license and 403
// license_suspended on a suspended one are expected refusals.
func (g *generator) activateSite(ctx context.Context, rng *rand.Rand, l *license, i int, t *tally) outcome {
	body := productBody(l, rng, map[string]any{"license_key": l.key, "instance_identifier": siteSpelling(rng, i)})
	if rng.IntN(4) == 0 {
		body["instance_type"] = "url"
	}
	r, lat, err := g.call(ctx, http.MethodPost, "/api/v1/product/licenses/activate", "", body)
	o := expect(r, lat, err, []int{http.StatusCreated, http.StatusOK}, "409 no_seats_available", "403 license_suspended")
	if o.status == http.StatusCreated {
		// Counted before the body is judged: the seat was taken either way.
		l.activated.Add(1)
		t.activated.Add(1)
	}
	if o.status == http.StatusCreated || o.status == http.StatusOK {
		l.setActive(i, true)
		var a seatAnswer
		if decode(&o, r, &a) {
			if err := a.check(l); err != nil {
				o.err, o.expected = err, false
			}
		}
	}
	return o
}

// deactivate frees a seat, mostly of a site believed to hold one (an
// uninstall); 404 activation_not_found is expected when another client
// freed it first or the site held none.
func (c *client) deactivate(ctx context.Context) outcome {
	g, l := c.g, c.g.fleet.pick(c.rng)
	i := l.site(c.rng, 85)
	body := productBody(l, c.rng, map[string]any{"license_key": l.key, "instance_identifier": siteSpelling(c.rng, i)})
	r, lat, err := g.call(ctx, http.MethodPost, "/api/v1/product/licenses/deactivate", "", body)
	o := expect(r, lat, err, []int{http.StatusOK}, "404 activation_not_found")
	if o.status == http.StatusOK || o.status == http.StatusNotFound {
		l.setActive(i, false)
	}
	if o.status == http.StatusOK {
		l.deactivated.Add(1)
		g.loadTally.deactivated.Add(1)
		var a seatAnswer
		if decode(&o, r, &a) {
			if err := a.check(l); err != nil {
				o.err, o.expected = err, false
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

// check: 3% unknown keys (404 expected), otherwise a known license for one
// of its sites (80% one believed to hold a seat) or, 8% of the time, an
// instance it has never seen; 30% of the repeated ones are conditional
// (If-None-Match → 304).
func (c *client) check(ctx context.Context) outcome {
	g, rng := c.g, c.rng
	q := url.Values{}
	if rng.IntN(100) < 3 {
		b := g.cfg.Brands[rng.IntN(len(g.cfg.Brands))]
		q.Set("license_key", randomKey(rng, b.Prefix))
		q.Set("instance_identifier", siteName(0))
		r, lat, err := g.call(ctx, http.MethodGet, "/api/v1/product/licenses/check?"+q.Encode(), "", nil)
		return expect(r, lat, err, nil, "404 license_not_found")
	}
	l := g.fleet.pick(rng)
	key := l.key
	if rng.IntN(10) == 0 {
		key = strings.ToLower(key)
	}
	q.Set("license_key", key)
	site := siteName(l.site(rng, 80))
	if rng.IntN(100) < 8 {
		site = fmt.Sprintf("probe%d.example.net", rng.IntN(1_000_000))
	}
	q.Set("instance_identifier", site)
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
				ID        string `json:"id"`
				SeatLimit int    `json:"seat_limit"`
				SeatsUsed int    `json:"seats_used"`
			} `json:"license"`
		}
		if decode(&o, r, &a) {
			switch {
			case a.License == nil || a.License.ID != l.id:
				o.err, o.expected = fmt.Errorf("check answered another license than %s", l.id), false
			case a.License.SeatsUsed < 0 || a.License.SeatsUsed > a.License.SeatLimit:
				o.err, o.expected = fmt.Errorf("check: seats_used %d of %d", a.License.SeatsUsed, a.License.SeatLimit), false
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
			seats: x.SeatLimit, active: make([]bool, max(x.SeatLimit, 0)+2)}
		l.expires.Store(expires.Unix())
		if x.SeatLimit != seats {
			o.err, o.expected = fmt.Errorf("provisioned %d seats, asked for %d", x.SeatLimit, seats), false
		}
		k.licenses = append(k.licenses, l)
	}
	g.fleet.add(k)
	return k, o
}
