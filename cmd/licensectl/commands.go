package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dynamo"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/relay"
	"github.com/clsvc/license-service/internal/token"
)

// command is one subcommand: its name ("brand create"), its flags and what
// it does.
type command struct {
	name    string
	summary string
	// flags are required strings.
	flags []flagSpec
	// optional flags may be left out (their value is then ""); one without a
	// meta is a switch, "true" when given.
	optional []flagSpec
	// args are required positional arguments, in order, after the flags (or
	// among them): each is in values under its name, shown as its meta.
	args []flagSpec
	// bucket: the command needs the release bucket (--bucket).
	bucket bool
	run    func(ctx context.Context, ops app.Ops, v values) (result, error)
	// runOn, when set, runs instead of run, for a command that needs more
	// than the use cases (the table itself, another AWS service).
	runOn func(ctx context.Context, g *globals, v values, getenv func(string) string, stderr io.Writer) (result, error)
}

// flagSpec documents a flag: its name, a placeholder for its value and usage.
type flagSpec struct {
	name, meta, usage string
}

// values are a command's parsed flags, by name.
type values map[string]string

// isSwitch reports whether the flag is a switch (a boolean): an optional flag
// without a meta.
func (f flagSpec) isSwitch() bool { return f.meta == "" }

// typed is the flag as typed: --name META, or --name for a switch.
func (f flagSpec) typed() string { return strings.TrimSpace("--" + f.name + " " + f.meta) }

// synopsis is the command with its flags, as typed, optional ones in
// brackets, then its arguments.
func (c command) synopsis() string {
	parts := []string{c.name}
	for _, f := range c.flags {
		parts = append(parts, f.typed())
	}
	for _, f := range c.optional {
		parts = append(parts, "["+f.typed()+"]")
	}
	for _, a := range c.args {
		parts = append(parts, a.meta)
	}
	return strings.Join(parts, " ")
}

var brandFlag = flagSpec{"brand", "SLUG", "the brand's slug"}

// commands are every command of the CLI, in the order of the help.
var commands = []command{
	{
		name: "brand create", summary: "onboard a brand",
		flags: []flagSpec{
			{"slug", "SLUG", "the brand's slug: lower-case letters, digits and dashes, like acme-tools"},
			{"name", "NAME", "display name"},
			{"prefix", "PREFIX", "license key prefix, 2+ letters or digits, unique across brands, like AT"},
		},
		run: func(ctx context.Context, ops app.Ops, v values) (result, error) {
			b, err := ops.CreateBrand(ctx, v["slug"], v["name"], v["prefix"])
			return brandCreated{toBrandView(b)}, err
		},
	},
	{
		name: "brand list", summary: "list every brand",
		run: func(ctx context.Context, ops app.Ops, _ values) (result, error) {
			bs, err := ops.ListBrands(ctx)
			l := brandList{Brands: make([]brandView, 0, len(bs))}
			for _, b := range bs {
				l.Brands = append(l.Brands, toBrandView(b))
			}
			return l, err
		},
	},
	{
		name: "brand show", summary: "show a brand and its settings in force (defaults filled in)",
		flags: []flagSpec{{"slug", "SLUG", "the brand's slug"}},
		runOn: showBrand,
	},
	{
		name: "brand configure", summary: "change a brand's policies: staging/local sites per license, days before unseen seats are freed, " +
			"token grace, expiry reminders; only the settings given change",
		flags:    []flagSpec{{"slug", "SLUG", "the brand's slug"}},
		optional: settingFlags,
		runOn:    configureBrand,
	},
	{
		name: "signing-key generate", summary: "make a license-token signing keyring (JSON for the SigningKeySecret); the new key signs, --keep keeps older ones",
		flags: []flagSpec{
			{"kid", "KID", "the new key's id, like 2026-11"},
			{"keep", "JSON", "the current keyring document, whose keys keep verifying, or none"},
		},
		run: func(_ context.Context, _ app.Ops, v values) (result, error) {
			k, err := token.GenerateKey(v["kid"])
			if err != nil {
				return nil, licensing.Invalid("kid", "%v", err)
			}
			ring := []token.Key{k}
			if keep := strings.TrimSpace(v["keep"]); keep != "none" {
				old, err := token.ParseKeyring(keep)
				if err != nil {
					return nil, licensing.Invalid("keep", "is not a keyring document")
				}
				ring = append(ring, old...)
			}
			doc, err := token.EncodeKeyring(ring...)
			return keyring(doc), err
		},
	},
	{
		name: "migrate", summary: "bring items written by earlier versions to the current layout (idempotent: a second run changes nothing)",
		runOn: func(ctx context.Context, g *globals, _ values, _ func(string) string, _ io.Writer) (result, error) {
			store, err := g.store(ctx)
			if err != nil {
				return nil, err
			}
			m, err := store.Migrate(ctx)
			return migrated(m), err
		},
	},
	{
		name: "seats reclaim", summary: "free now the seats unseen for each brand's stale-days (what the daily job does)",
		run: func(ctx context.Context, ops app.Ops, _ values) (result, error) {
			done, err := ops.ReclaimStale(ctx)
			out := reclaimed{Brands: []reclaimedBrand{}}
			for _, r := range done {
				out.Brands = append(out.Brands, reclaimedBrand{Brand: r.Brand, Seats: r.Seats})
			}
			return out, err
		},
	},
	{
		name: "licenses expiring", summary: "a brand's valid licenses that expire within a window, soonest first (from the expiry index)",
		flags: []flagSpec{brandFlag, {"within", "DURATION", "the window from now: days like 30d, or a Go duration like 72h"}},
		run: func(ctx context.Context, ops app.Ops, v values) (result, error) {
			within, err := parseWithin(v["within"])
			if err != nil {
				return nil, err
			}
			lics, err := ops.ExpiringWithin(ctx, v["brand"], within)
			out := expiringList{Licenses: make([]expiringLicense, 0, len(lics))}
			for _, l := range lics {
				out.Licenses = append(out.Licenses, expiringLicense{ID: l.ID, LicenseKey: l.Key.Masked(), Product: l.ProductSlug,
					ExpiresAt: stamp(*l.ExpiresAt), SeatsUsed: l.SeatsUsed, SeatLimit: l.SeatLimit})
			}
			return out, err
		},
	},
	{
		name: "events republish", summary: "publish again to EventBridge the stored events that occurred in [since, until), oldest first " +
			"(after the relay gave up on a batch; consumers drop duplicates by event_id); EventBridge at $EVENTBRIDGE_ENDPOINT, else AWS",
		flags: []flagSpec{
			{"since", "TIME", "RFC 3339 start of the window, inclusive"},
			{"until", "TIME", "RFC 3339 end of the window, exclusive"},
			{"bus", "NAME", "the event bus (the stack's EventBusName output)"},
		},
		runOn: republishEvents,
	},
	{
		name: "apikey create", summary: "issue an API key for a brand; the key is shown only once",
		flags:    []flagSpec{brandFlag},
		optional: []flagSpec{{"print-key", "", "print the plain key alone and a newline, nothing else (for KEY=$(licensectl apikey create --brand B --print-key))"}},
		runOn:    createAPIKey,
	},
	{
		name: "apikey list", summary: "list a brand's API keys, revoked ones included",
		flags: []flagSpec{brandFlag},
		run: func(ctx context.Context, ops app.Ops, v values) (result, error) {
			ks, err := ops.ListAPIKeys(ctx, v["brand"])
			l := apiKeyList{Brand: v["brand"], APIKeys: make([]apiKeyView, 0, len(ks))}
			for _, k := range ks {
				l.APIKeys = append(l.APIKeys, toAPIKeyView(k))
			}
			return l, err
		},
	},
	{
		name: "apikey revoke", summary: "revoke one of a brand's API keys; it stops working at once",
		flags: []flagSpec{brandFlag, {"id", "ID", "the key's id (key_...), as listed"}},
		run: func(ctx context.Context, ops app.Ops, v values) (result, error) {
			err := ops.RevokeAPIKey(ctx, v["brand"], v["id"])
			return apiKeyRevoked{ID: v["id"], Brand: v["brand"], Status: statusRevoked}, err
		},
	},
	{
		name: "product create", summary: "add a product to a brand's catalogue",
		flags: []flagSpec{
			brandFlag,
			{"slug", "SLUG", "the product's slug, unique within the brand, like acme-pro"},
			{"name", "NAME", "display name"},
		},
		run: func(ctx context.Context, ops app.Ops, v values) (result, error) {
			p, err := ops.CreateProduct(ctx, v["brand"], v["slug"], v["name"])
			return productCreated{ID: p.ID, Brand: p.Brand, Slug: p.Slug, Name: p.Name, CreatedAt: stamp(p.CreatedAt)}, err
		},
	},
	{
		name: "product list", summary: "list a brand's products by slug",
		flags: []flagSpec{brandFlag},
		runOn: listProducts,
	},
	{
		name: "license show", summary: "show a license, or every license of a key, with status, seats, expiry and activations",
		flags: []flagSpec{brandFlag},
		args:  []flagSpec{{"license", "KEY_OR_ID", "a license key (PREFIX-XXXX-XXXX-XXXX-XXXX, any case) or a license id (lic_...)"}},
		runOn: showLicense,
	},
	{
		name: "release create", summary: "create a release of a product from its local zip (size and SHA-256 computed) and upload the zip " +
			"through the presigned URL, so that it is ready to publish; --no-upload only creates it and prints the upload URL",
		flags:    []flagSpec{brandFlag, productFlag, versionFlag, fileFlag},
		optional: releaseCreateFlags,
		bucket:   true,
		runOn:    createRelease,
	},
	{
		name: "release upload", summary: "upload the zip of a pending_upload release through a fresh presigned URL; " +
			"refused, before uploading, when the file's size or SHA-256 are not the release's",
		flags:  []flagSpec{brandFlag, productFlag, versionFlag, fileFlag},
		bucket: true,
		runOn:  uploadRelease,
	},
	{
		name: "release publish", summary: "offer an uploaded release to sites (its package is read back and checked first)",
		flags:  []flagSpec{brandFlag, productFlag, versionFlag},
		bucket: true,
		runOn:  publishRelease,
	},
	{
		name: "release list", summary: "list a product's releases, newest version first",
		flags: []flagSpec{brandFlag, productFlag},
		runOn: listReleases,
	},
	{
		name: "release yank", summary: "withdraw a release for good: no site is offered it again, its download links stop working",
		flags: []flagSpec{brandFlag, productFlag, versionFlag},
		runOn: yankRelease,
	},
	{
		name: "webhook create", summary: "add an endpoint that receives a brand's events (https; plain http to 127.0.0.1 only against a local table); " +
			"its signing secret is shown only once",
		flags:    []flagSpec{brandFlag, {"url", "URL", "where deliveries are POSTed, like https://example.com/hooks/licenses"}},
		optional: []flagSpec{{"events", "TYPE,TYPE", `the event types it receives, like LicenseActivated,LicenseRenewed (default "*": all)`}},
		runOn:    createWebhook,
	},
	{
		name: "webhook list", summary: "list a brand's webhook endpoints (never their secrets)",
		flags: []flagSpec{brandFlag},
		runOn: listWebhooks,
	},
	{
		name: "webhook delete", summary: "delete one of a brand's webhook endpoints; it receives nothing more",
		flags: []flagSpec{brandFlag},
		args:  []flagSpec{webhookIDArg},
		runOn: deleteWebhook,
	},
	{
		name: "webhook rotate-secret", summary: "give an endpoint a new signing secret, shown only once; the previous one also signs for 24 hours",
		flags: []flagSpec{brandFlag},
		args:  []flagSpec{webhookIDArg},
		runOn: rotateWebhookSecret,
	},
	{
		name: "webhook deliveries", summary: "list an endpoint's deliveries, newest event first (kept 30 days), a page at a time",
		flags: []flagSpec{brandFlag},
		optional: []flagSpec{
			{"limit", "N", "deliveries per page, 1 to 100 (default 20)"},
			{"cursor", "CURSOR", "the next page, as printed after the previous one"},
		},
		args:  []flagSpec{webhookIDArg},
		runOn: listWebhookDeliveries,
	},
	{
		name: "webhook retry", summary: "send a delivery again now, from this machine, whatever its status, and show the attempt",
		flags: []flagSpec{brandFlag},
		args:  []flagSpec{webhookIDArg, {"delivery-id", "DELIVERY_ID", "the delivery's id (dlv_...), as listed by webhook deliveries"}},
		runOn: retryWebhookDelivery,
	},
}

// stamp formats a time for output.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// hint shows the last characters of an API key, never more.
func hint(last4 string) string { return "****" + last4 }

// fields writes label/value pairs as aligned lines.
func fields(w io.Writer, kv ...string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s\t%s\n", kv[i], kv[i+1])
	}
	return tw.Flush()
}

type brandView struct {
	Slug      string `json:"slug"`
	Name      string `json:"name"`
	Prefix    string `json:"prefix"`
	CreatedAt string `json:"created_at"`
}

func toBrandView(b licensing.Brand) brandView {
	return brandView{Slug: b.Slug, Name: b.Name, Prefix: b.KeyPrefix, CreatedAt: stamp(b.CreatedAt)}
}

type brandCreated struct{ brandView }

func (b brandCreated) writeText(w io.Writer) error {
	fmt.Fprintf(w, "Created brand %s.\n", b.Slug)
	return fields(w, "slug", b.Slug, "name", b.Name, "prefix", b.Prefix, "created_at", b.CreatedAt)
}

type brandList struct {
	Brands []brandView `json:"brands"`
}

func (l brandList) writeText(w io.Writer) error {
	if len(l.Brands) == 0 {
		_, err := fmt.Fprintln(w, "No brands.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tNAME\tPREFIX\tCREATED_AT")
	for _, b := range l.Brands {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Slug, b.Name, b.Prefix, b.CreatedAt)
	}
	return tw.Flush()
}

type apiKeyCreated struct {
	ID        string `json:"id"`
	Brand     string `json:"brand"`
	APIKey    string `json:"api_key"`
	Hint      string `json:"hint"`
	CreatedAt string `json:"created_at"`
}

func (k apiKeyCreated) writeText(w io.Writer) error {
	fmt.Fprintf(w, "Created API key %s for brand %s.\n", k.ID, k.Brand)
	if err := fields(w, "id", k.ID, "brand", k.Brand, "hint", k.Hint, "created_at", k.CreatedAt); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n    %s\n\nStore this key now: it cannot be shown again (only its hash is kept).\n", k.APIKey)
	return err
}

// API key statuses.
const (
	statusActive  = "active"
	statusRevoked = "revoked"
)

type apiKeyView struct {
	ID        string `json:"id"`
	Hint      string `json:"hint"`
	Status    string `json:"status"`
	CreatedAt string `json:"created_at"`
	RevokedAt string `json:"revoked_at,omitempty"`
}

func toAPIKeyView(k licensing.APIKey) apiKeyView {
	v := apiKeyView{ID: k.ID, Hint: hint(k.Hint), Status: statusActive, CreatedAt: stamp(k.CreatedAt)}
	if !k.Active() {
		v.Status, v.RevokedAt = statusRevoked, stamp(*k.RevokedAt)
	}
	return v
}

type apiKeyList struct {
	Brand   string       `json:"brand"`
	APIKeys []apiKeyView `json:"api_keys"`
}

func (l apiKeyList) writeText(w io.Writer) error {
	if len(l.APIKeys) == 0 {
		_, err := fmt.Fprintf(w, "Brand %s has no API keys.\n", l.Brand)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHINT\tSTATUS\tCREATED_AT\tREVOKED_AT")
	for _, k := range l.APIKeys {
		revoked := k.RevokedAt
		if revoked == "" {
			revoked = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Hint, k.Status, k.CreatedAt, revoked)
	}
	return tw.Flush()
}

type apiKeyRevoked struct {
	ID     string `json:"id"`
	Brand  string `json:"brand"`
	Status string `json:"status"`
}

func (k apiKeyRevoked) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "Revoked API key %s of brand %s: it no longer authenticates.\n", k.ID, k.Brand)
	return err
}

type productCreated struct {
	ID        string `json:"id"`
	Brand     string `json:"brand"`
	Slug      string `json:"slug"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
}

func (p productCreated) writeText(w io.Writer) error {
	fmt.Fprintf(w, "Created product %s for brand %s.\n", p.Slug, p.Brand)
	return fields(w, "id", p.ID, "brand", p.Brand, "slug", p.Slug, "name", p.Name, "created_at", p.CreatedAt)
}

// keyring is a signing keyring document, printed as is (it is JSON).
type keyring string

func (k keyring) writeText(w io.Writer) error {
	_, err := fmt.Fprintln(w, string(k))
	return err
}

func (k keyring) MarshalJSON() ([]byte, error) { return []byte(k), nil }

type reclaimed struct {
	Brands []reclaimedBrand `json:"brands"`
}

type reclaimedBrand struct {
	Brand string `json:"brand"`
	Seats int    `json:"seats_reclaimed"`
}

func (r reclaimed) writeText(w io.Writer) error {
	if len(r.Brands) == 0 {
		_, err := fmt.Fprintln(w, "No brand frees stale seats (licensectl brand configure --stale-days N).")
		return err
	}
	for _, b := range r.Brands {
		if _, err := fmt.Fprintf(w, "%s: %d stale seats freed\n", b.Brand, b.Seats); err != nil {
			return err
		}
	}
	return nil
}

// republishEvents is events republish: the stored events of a time window
// handed to the relay's own publisher again.
func republishEvents(ctx context.Context, g *globals, v values, getenv func(string) string, stderr io.Writer) (result, error) {
	since, err := time.Parse(time.RFC3339, v["since"])
	if err != nil {
		return nil, licensing.Invalid("since", "must be an RFC 3339 time, like 2026-11-28T00:00:00Z")
	}
	until, err := time.Parse(time.RFC3339, v["until"])
	if err != nil {
		return nil, licensing.Invalid("until", "must be an RFC 3339 time, like 2026-11-29T00:00:00Z")
	}
	if !since.Before(until) {
		return nil, licensing.Invalid("until", "must be after since")
	}
	store, err := g.store(ctx)
	if err != nil {
		return nil, err
	}
	items, unreadable, err := store.EventItems(ctx, since, until)
	if err != nil {
		return nil, err
	}
	eb, err := relay.NewEventBridgeClient(ctx, relay.ClientConfig{Endpoint: getenv("EVENTBRIDGE_ENDPOINT"), Region: g.region})
	if err != nil {
		return nil, fmt.Errorf("eventbridge client: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dead := &countingDeadLetter{next: relay.LogDeadLetter{Log: log}}
	done, err := relay.New(eb, v["bus"], log, dead).Republish(ctx, items)
	res := republished{Events: done - dead.n, DeadLettered: dead.n, Found: len(items), Unreadable: unreadable, Bus: v["bus"]}
	if err == nil && dead.n > 0 {
		err = fmt.Errorf("%d events can never be published (EventBridge refused them as invalid); their dead letters are logged on stderr", dead.n)
	}
	return res, err
}

// countingDeadLetter counts the events sent to the dead letter it wraps.
type countingDeadLetter struct {
	next relay.DeadLetter
	n    int
}

func (d *countingDeadLetter) Send(ctx context.Context, ev relay.Event, reason string) error {
	d.n++
	return d.next.Send(ctx, ev, reason)
}

type republished struct {
	Events       int    `json:"events_republished"`
	DeadLettered int    `json:"events_dead_lettered"`
	Found        int    `json:"events_found"`
	Unreadable   int    `json:"event_items_unreadable"`
	Bus          string `json:"bus"`
}

func (r republished) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%d of %d stored events republished to %s; %d dead-lettered; %d event items unreadable\n",
		r.Events, r.Found, r.Bus, r.DeadLettered, r.Unreadable)
	return err
}

type migrated dynamo.Migrated

func (m migrated) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%d licenses without their product's name: %d named, %d of products that no longer exist left as they are\n"+
		"%d licenses that expire given their expiry index entry\n",
		m.Licenses, m.Named, m.Orphans, m.Indexed)
	return err
}

// parseWithin reads --within: 30d (days) or a Go duration (72h).
func parseWithin(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, licensing.Invalid("within", "must be a number of days like 30d, or a duration like 72h")
}

type expiringLicense struct {
	ID         string `json:"id"`
	LicenseKey string `json:"license_key"` // masked
	Product    string `json:"product"`
	ExpiresAt  string `json:"expires_at"`
	SeatsUsed  int    `json:"seats_used"`
	SeatLimit  int    `json:"seat_limit"`
}

type expiringList struct {
	Licenses []expiringLicense `json:"licenses"`
}

func (l expiringList) writeText(w io.Writer) error {
	if len(l.Licenses) == 0 {
		_, err := fmt.Fprintln(w, "No license expires in that window.")
		return err
	}
	for _, e := range l.Licenses {
		if _, err := fmt.Fprintf(w, "%s  %s  %s  expires %s  (%d/%d seats)\n", e.ID, e.LicenseKey, e.Product, e.ExpiresAt, e.SeatsUsed, e.SeatLimit); err != nil {
			return err
		}
	}
	return nil
}
