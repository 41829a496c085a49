package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// EDD requests: GET|POST /api/v1/product/edd in the Easy Digital Downloads
// Software Licensing protocol (docs/edd.md), as WordPress plugins built for
// EDD send them: the key as license, the product's slug as item_id, the site
// as url. Every answer about a license is 200; success, license and error
// say what happened, so those are what is judged.

const eddPath = "/api/v1/product/edd"

// eddAnswer is an EDD answer.
type eddAnswer struct {
	Success         bool   `json:"success"`
	License         string `json:"license"`
	ItemID          any    `json:"item_id"`
	Expires         any    `json:"expires"`
	CustomerName    string `json:"customer_name"`
	CustomerEmail   string `json:"customer_email"`
	LicenseLimit    int    `json:"license_limit"`
	SiteCount       int    `json:"site_count"`
	ActivationsLeft int    `json:"activations_left"`
	IsLocal         bool   `json:"is_local"`
	Error           string `json:"error"`
}

// eddVerdict is an answer an EDD request may get: success, license, error,
// and whether it is a refusal (counted under its error code).
type eddVerdict struct {
	success        bool
	license, error string
	refusal        bool
}

var (
	eddCheckVerdicts = []eddVerdict{
		{true, "valid", "", false},
		{true, "site_inactive", "site_inactive", true},
		{true, "disabled", "disabled", true}, // suspended
	}
	eddUnknownKey       = []eddVerdict{{false, "invalid", "missing", true}}
	eddActivateVerdicts = []eddVerdict{
		{true, "valid", "", false},
		{false, "invalid", "no_activations_left", true}, // seat limit or staging cap
		{false, "invalid", "disabled", true},            // suspended
	}
	eddDeactivateVerdicts = []eddVerdict{
		{true, "deactivated", "", false},
		{false, "failed", "site_inactive", true}, // the url holds no seat
	}
)

// eddCall sends an EDD request: a form POST (wp_remote_post), or for checks
// 70% of the time a GET with the parameters in the query string.
func (g *generator) eddCall(ctx context.Context, get bool, params url.Values) (reply, time.Duration, error) {
	if get {
		return g.call(ctx, http.MethodGet, eddPath+"?"+params.Encode(), "", nil)
	}
	return g.call(ctx, http.MethodPost, eddPath, "", params)
}

func eddParams(action, key, product, site string) url.Values {
	return url.Values{"edd_action": {action}, "license": {key}, "item_id": {product}, "url": {site}}
}

// judgeEDD turns an EDD answer into an outcome: a 200 whose success, license
// and error are one of the verdicts, and, for a known license l, figures that
// are l's (license_limit its seats, 0 ≤ site_count ≤ license_limit,
// activations_left the rest, a product id, an expiry, no customer data).
// Any other status, body or verdict is unexpected.
func (g *generator) judgeEDD(r reply, lat time.Duration, err error, l *license, verdicts []eddVerdict) (outcome, eddAnswer) {
	o := expect(r, lat, err, []int{http.StatusOK})
	var a eddAnswer
	if o.status != http.StatusOK || !decode(&o, r, &a) {
		return o, a
	}
	i := slices.IndexFunc(verdicts, func(v eddVerdict) bool {
		return v.success == a.Success && v.license == a.License && v.error == a.Error
	})
	if i < 0 {
		o.err, o.expected = fmt.Errorf("EDD answered success %v, license %q, error %q", a.Success, a.License, a.Error), false
		return o, a
	}
	if verdicts[i].refusal {
		o.code = a.Error
	}
	if err := a.figures(l); err != nil {
		o.err, o.expected = err, false
	}
	return o, a
}

// figures checks an answer's license figures and that it shows no customer
// data; l nil is an unknown key, whose figures are false and 0.
func (a eddAnswer) figures(l *license) error {
	if a.CustomerName != "" || a.CustomerEmail != "" {
		return fmt.Errorf("EDD answer shows customer data %q %q", a.CustomerName, a.CustomerEmail)
	}
	if l == nil {
		if a.ItemID != false || a.Expires != false || a.LicenseLimit != 0 || a.SiteCount != 0 {
			return fmt.Errorf("EDD answer for an unknown key has figures: item_id %v, expires %v, %d of %d", a.ItemID, a.Expires, a.SiteCount, a.LicenseLimit)
		}
		return nil
	}
	id, _ := a.ItemID.(string)
	expires, _ := a.Expires.(string)
	switch {
	case !strings.HasPrefix(id, "prd_"):
		return fmt.Errorf("EDD answer for %s: item_id %v", l.id, a.ItemID)
	case expires == "":
		return fmt.Errorf("EDD answer for %s: expires %v", l.id, a.Expires)
	case a.LicenseLimit != l.seats || a.SiteCount < 0 || a.SiteCount > a.LicenseLimit || a.ActivationsLeft != a.LicenseLimit-a.SiteCount:
		return fmt.Errorf("EDD answer for %s (%d seats): license_limit %d, site_count %d, activations_left %d",
			l.id, l.seats, a.LicenseLimit, a.SiteCount, a.ActivationsLeft)
	}
	return nil
}

// eddCheck is check_license: 3% unknown keys (success false, "missing"),
// otherwise a known license for one of its sites (checkSite) or, 8% of the
// time, a site it has never seen.
func (c *client) eddCheck(ctx context.Context) outcome {
	g, rng := c.g, c.rng
	get := rng.IntN(10) < 7
	if rng.IntN(100) < 3 {
		b := g.cfg.Brands[rng.IntN(len(g.cfg.Brands))]
		r, lat, err := g.eddCall(ctx, get, eddParams("check_license", randomKey(rng, b.Prefix), b.Products[0], site{kind: prodSite}.canonical()))
		o, _ := g.judgeEDD(r, lat, err, nil, eddUnknownKey)
		return o
	}
	l := g.fleet.pick(rng)
	u := l.checkSite(rng).spelling(rng)
	if rng.IntN(100) < 8 {
		u = fmt.Sprintf("https://probe%d.example.net/", rng.IntN(1_000_000))
	}
	r, lat, err := g.eddCall(ctx, get, eddParams("check_license", l.key, l.product, u))
	o, _ := g.judgeEDD(r, lat, err, l, eddCheckVerdicts)
	return o
}

// eddActivate is activate_license for a new site (80% a production site,
// 20% a local one): "valid" is then always a new seat (or staging place),
// with is_local for the local site; no_activations_left and disabled are
// expected refusals.
func (c *client) eddActivate(ctx context.Context) outcome {
	g, l := c.g, c.g.fleet.pick(c.rng)
	s := site{kind: eddSite, n: int(g.seq.Add(1)), local: c.rng.IntN(5) == 0}
	r, lat, err := g.eddCall(ctx, false, eddParams("activate_license", l.key, l.product, s.spelling(c.rng)))
	o, a := g.judgeEDD(r, lat, err, l, eddActivateVerdicts)
	if !a.Success || a.License != "valid" {
		return o
	}
	l.activated.Add(1)
	g.loadTally.activated.Add(1)
	l.confirmed(s, +1)
	l.setActive(s, true)
	if a.IsLocal != s.local {
		o.err, o.expected = fmt.Errorf("EDD activate_license of %s answered is_local %v", s.canonical(), a.IsLocal), false
	}
	return o
}

// eddDeactivate is deactivate_license: 70% of the time an EDD site believed
// to hold a seat (when there is one), otherwise a production site (85% one
// believed to hold a seat); "failed" with site_inactive is expected when
// another client freed it first or the site held none.
func (c *client) eddDeactivate(ctx context.Context) outcome {
	g, l := c.g, c.g.fleet.pick(c.rng)
	s, ok := l.pickEDD(c.rng)
	if !ok || c.rng.IntN(10) >= 7 {
		s = l.site(c.rng, 85)
	}
	r, lat, err := g.eddCall(ctx, false, eddParams("deactivate_license", l.key, l.product, s.spelling(c.rng)))
	o, a := g.judgeEDD(r, lat, err, l, eddDeactivateVerdicts)
	switch {
	case a.Success && a.License == "deactivated":
		l.deactivated.Add(1)
		g.loadTally.deactivated.Add(1)
		l.confirmed(s, -1)
		l.setActive(s, false)
	case !a.Success && a.License == "failed" && a.Error == "site_inactive":
		l.setActive(s, false)
	}
	return o
}
