package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

// settingFlags are brand configure's flags, each a setting it changes only
// when given.
var settingFlags = []flagSpec{
	{"staging-cap", "N", "staging and local sites a license may hold besides its seats (0: the default, 3)"},
	{"stale-days", "N", "free seats not seen for this many days (0: never, the default)"},
	{"token-grace-days", "N", "days a signed license token keeps a product working offline (0: the default, 7)"},
	{"reminder-days", "N,N", `days before expiry at which LicenseExpiringSoon is sent ("": the default, 30,7)`},
}

// configureBrand is brand configure: the settings given change, the others
// keep their stored value.
func configureBrand(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	given := false
	for _, f := range settingFlags {
		_, ok := v[f.name]
		given = given || ok
	}
	if !given {
		return nil, usageErr("brand configure: nothing to change: give one or more of --staging-cap, --stale-days, --token-grace-days, --reminder-days")
	}
	// Every value is read before the table is.
	number := func(name string, dst *int) error {
		s, ok := v[name]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return licensing.Invalid(name, "must be a whole number")
		}
		*dst = n
		return nil
	}
	var cap, stale, grace int
	for name, dst := range map[string]*int{"staging-cap": &cap, "stale-days": &stale, "token-grace-days": &grace} {
		if err := number(name, dst); err != nil {
			return nil, err
		}
	}
	var reminders []int
	if r := v["reminder-days"]; r != "" {
		for part := range strings.SplitSeq(r, ",") {
			d, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil {
				return nil, licensing.Invalid("reminder-days", "must be whole numbers of days, like 30,7")
			}
			reminders = append(reminders, d)
		}
	}

	store, err := g.store(ctx)
	if err != nil {
		return nil, err
	}
	b, err := store.GetBrand(ctx, v["slug"])
	if err != nil {
		return nil, err
	}
	set := b.Settings
	if _, ok := v["staging-cap"]; ok {
		set.StagingCap = cap
	}
	if _, ok := v["stale-days"]; ok {
		set.StaleAfterDays = stale
	}
	if _, ok := v["token-grace-days"]; ok {
		set.TokenGraceDays = grace
	}
	if _, ok := v["reminder-days"]; ok {
		set.ExpiryReminderDays = reminders
	}
	if err := app.New(store, nil).Ops().ConfigureBrand(ctx, b.Slug, set); err != nil {
		return nil, err
	}
	return brandConfigured{Slug: b.Slug, settingsView: toSettingsView(set)}, nil
}

// settingsView is a brand's settings in force (defaults filled in).
type settingsView struct {
	StagingCap         int   `json:"staging_cap"`
	StaleAfterDays     int   `json:"stale_after_days"` // 0: never
	TokenGraceDays     int   `json:"token_grace_days"`
	ExpiryReminderDays []int `json:"expiry_reminder_days"`
}

func toSettingsView(s licensing.BrandSettings) settingsView {
	return settingsView{StagingCap: s.EffectiveStagingCap(), StaleAfterDays: s.StaleAfterDays,
		TokenGraceDays: int(s.TokenGrace().Hours() / 24), ExpiryReminderDays: s.ReminderDays()}
}

func (s settingsView) staleText() string {
	if s.StaleAfterDays > 0 {
		return strconv.Itoa(s.StaleAfterDays) + " days unseen"
	}
	return "never"
}

func (s settingsView) remindersText() string {
	days := make([]string, len(s.ExpiryReminderDays))
	for i, d := range s.ExpiryReminderDays {
		days[i] = strconv.Itoa(d)
	}
	return strings.Join(days, ",") + " days before expiry"
}

type brandConfigured struct {
	Slug string `json:"slug"`
	settingsView
}

func (b brandConfigured) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "Configured brand %s: %d staging/local sites per license; seats freed after: %s; "+
		"license tokens valid offline for %d days; expiry reminders %s.\n",
		b.Slug, b.StagingCap, b.staleText(), b.TokenGraceDays, b.remindersText())
	return err
}

// showBrand is brand show: a brand and its settings in force.
func showBrand(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	store, err := g.store(ctx)
	if err != nil {
		return nil, err
	}
	b, err := store.GetBrand(ctx, v["slug"])
	if err != nil {
		return nil, err
	}
	return brandShown{brandView: toBrandView(b), Settings: toSettingsView(b.Settings)}, nil
}

type brandShown struct {
	brandView
	Settings settingsView `json:"settings"`
}

func (b brandShown) writeText(w io.Writer) error {
	return fields(w, "slug", b.Slug, "name", b.Name, "prefix", b.Prefix, "created_at", b.CreatedAt,
		"staging_cap", strconv.Itoa(b.Settings.StagingCap)+" staging/local sites per license",
		"stale_after_days", b.Settings.staleText(),
		"token_grace_days", strconv.Itoa(b.Settings.TokenGraceDays)+" days offline",
		"expiry_reminder_days", b.Settings.remindersText())
}

// listProducts is product list: a brand's products by slug.
func listProducts(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	a, t, err := g.brandApp(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	ps, err := a.ListProducts(ctx, t)
	if err != nil {
		return nil, err
	}
	l := productList{Brand: t.Brand, Products: make([]productCreated, 0, len(ps))}
	for _, p := range ps {
		l.Products = append(l.Products, productCreated{ID: p.ID, Brand: p.Brand, Slug: p.Slug, Name: p.Name, CreatedAt: stamp(p.CreatedAt)})
	}
	return l, nil
}

type productList struct {
	Brand    string           `json:"brand"`
	Products []productCreated `json:"products"`
}

func (l productList) writeText(w io.Writer) error {
	if len(l.Products) == 0 {
		_, err := fmt.Fprintf(w, "Brand %s has no products.\n", l.Brand)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tID\tNAME\tCREATED_AT")
	for _, p := range l.Products {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Slug, p.ID, p.Name, p.CreatedAt)
	}
	return tw.Flush()
}

// showLicense is license show: a license by its id, or every license of a
// key, with their seats, as the brand's support sees them.
func showLicense(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	arg := v["license"]
	byID := strings.HasPrefix(strings.ToLower(arg), licensing.KindLicense+"_")
	var key licensing.LicenseKey
	if !byID {
		var err error
		if key, err = licensing.ParseLicenseKey("license", arg); err != nil {
			return nil, licensing.Invalid("license", "is neither a license key (PREFIX-XXXX-XXXX-XXXX-XXXX) nor a license id (lic_...)")
		}
	}
	store, err := g.store(ctx)
	if err != nil {
		return nil, err
	}
	b, err := store.GetBrand(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	a, t := app.New(store, nil), licensing.Tenant{Brand: b.Slug, KeyPrefix: b.KeyPrefix}
	ids := []string{strings.ToLower(arg)} // ids are lower-case
	if !byID {
		kl, err := store.KeyLicenses(ctx, key)
		if err != nil {
			return nil, err
		}
		if kl.Key.Brand != b.Slug { // another brand's key: as unknown
			return nil, licensing.Errorf(licensing.CodeLicenseNotFound, "unknown license key")
		}
		ids = ids[:0]
		for _, l := range kl.Licenses {
			ids = append(ids, l.ID)
		}
	}
	var out licenseShown
	for _, id := range ids {
		view, err := allSeats(ctx, a, t, id)
		if err != nil {
			return nil, err
		}
		out.LicenseKey = licenseKeyView{ID: view.Key.ID, Key: string(view.Key.Key), CustomerEmail: view.Key.CustomerEmail, CreatedAt: stamp(view.Key.CreatedAt)}
		out.Licenses = append(out.Licenses, toLicenseView(view, a.Now()))
	}
	return out, nil
}

// allSeats reads a license with every page of its seats.
func allSeats(ctx context.Context, a *app.App, t licensing.Tenant, id string) (licensing.LicenseView, error) {
	view, err := a.License(ctx, t, id, "", 0)
	for err == nil && view.NextActivations != "" {
		var next licensing.LicenseView
		if next, err = a.License(ctx, t, id, view.NextActivations, 0); err == nil {
			view.Activations, view.NextActivations = append(view.Activations, next.Activations...), next.NextActivations
		}
	}
	return view, err
}

type licenseKeyView struct {
	ID            string `json:"id"`
	Key           string `json:"key"`
	CustomerEmail string `json:"customer_email"`
	CreatedAt     string `json:"created_at"`
}

type licenseView struct {
	ID             string           `json:"id"`
	ProductID      string           `json:"product_id"`
	ProductSlug    string           `json:"product_slug"`
	Status         string           `json:"status"` // effective: a valid license past its expiry is expired
	StatusReason   string           `json:"status_reason,omitempty"`
	SeatLimit      int              `json:"seat_limit"`
	SeatsUsed      int              `json:"seats_used"`
	SeatsRemaining int              `json:"seats_remaining"`
	StagingUsed    int              `json:"staging_sites_used"`
	ExpiresAt      *string          `json:"expires_at"` // null: perpetual
	CreatedAt      string           `json:"created_at"`
	UpdatedAt      string           `json:"updated_at"`
	Activations    []activationView `json:"activations"`
}

type activationView struct {
	ID                 string `json:"id"`
	InstanceIdentifier string `json:"instance_identifier"`
	InstanceType       string `json:"instance_type"`
	Environment        string `json:"environment"`
	ActivatedAt        string `json:"activated_at"`
	LastSeenAt         string `json:"last_seen_at"`
}

func toLicenseView(v licensing.LicenseView, now time.Time) licenseView {
	l := v.License
	out := licenseView{ID: l.ID, ProductID: l.ProductID, ProductSlug: l.ProductSlug, StatusReason: l.Reason,
		SeatLimit: l.SeatLimit, SeatsUsed: l.SeatsUsed, SeatsRemaining: l.SeatsRemaining(), StagingUsed: l.NonProdUsed,
		CreatedAt: stamp(l.CreatedAt), UpdatedAt: stamp(l.UpdatedAt), Activations: make([]activationView, 0, len(v.Activations))}
	out.Status = string(l.EffectiveStatus(now))
	if l.ExpiresAt != nil {
		e := stamp(*l.ExpiresAt)
		out.ExpiresAt = &e
	}
	for _, act := range v.Activations {
		out.Activations = append(out.Activations, activationView{ID: act.ID, InstanceIdentifier: act.Instance.ID,
			InstanceType: string(act.Instance.Type), Environment: string(act.Environment),
			ActivatedAt: stamp(act.ActivatedAt), LastSeenAt: stamp(act.LastSeenAt)})
	}
	return out
}

type licenseShown struct {
	LicenseKey licenseKeyView `json:"license_key"`
	Licenses   []licenseView  `json:"licenses"`
}

func (s licenseShown) writeText(w io.Writer) error {
	fmt.Fprintf(w, "License key %s (%s) of %s, created %s\n", s.LicenseKey.Key, s.LicenseKey.ID, s.LicenseKey.CustomerEmail, s.LicenseKey.CreatedAt)
	for _, l := range s.Licenses {
		expires := "never"
		if l.ExpiresAt != nil {
			expires = *l.ExpiresAt
		}
		status := l.Status
		if l.StatusReason != "" {
			status += " (" + l.StatusReason + ")"
		}
		fmt.Fprintf(w, "\nlicense %s: %s\n", l.ID, l.ProductSlug)
		if err := fields(w, "  status", status, "  seats", fmt.Sprintf("%d of %d used, %d remaining; %d staging/local sites", l.SeatsUsed, l.SeatLimit, l.SeatsRemaining, l.StagingUsed),
			"  expires_at", expires, "  created_at", l.CreatedAt, "  updated_at", l.UpdatedAt); err != nil {
			return err
		}
		if len(l.Activations) == 0 {
			fmt.Fprintln(w, "  no activations")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ACTIVATION\tINSTANCE\tTYPE\tENVIRONMENT\tACTIVATED_AT\tLAST_SEEN_AT")
		for _, a := range l.Activations {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.InstanceIdentifier, a.InstanceType, a.Environment, a.ActivatedAt, a.LastSeenAt)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// createAPIKey is apikey create.
func createAPIKey(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	printKey := v["print-key"] == "true"
	if printKey && g.json {
		return nil, usageErr("apikey create: --print-key prints the key alone; it does not go with --json")
	}
	ops, err := g.connect(ctx)
	if err != nil {
		return nil, err
	}
	plain, k, err := ops.CreateAPIKey(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	if printKey {
		return plainKey(plain), nil
	}
	return apiKeyCreated{ID: k.ID, Brand: k.Brand, APIKey: plain, Hint: hint(k.Hint), CreatedAt: stamp(k.CreatedAt)}, nil
}

// plainKey is an API key printed alone, for a script to capture.
type plainKey string

func (k plainKey) writeText(w io.Writer) error {
	_, err := fmt.Fprintln(w, string(k))
	return err
}
