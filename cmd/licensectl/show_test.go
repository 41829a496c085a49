package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/licensing"
)

// seeded is a fixture with the local demo data: brands rankmath (products
// rankmath-pro, content-ai; a key with one seat taken) and wp-rocket.
func seeded(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	require.NoError(t, demo.Seed(t.Context(), app.New(f.eng.Store, nil).Ops()))
	return f
}

func TestBrandShow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme Tools", "--prefix", "AT")

	got := fieldsOf(f.ok("brand", "show", "--slug", "acme"))
	assert.Equal(t, "acme", got["slug"])
	assert.Equal(t, "Acme Tools", got["name"])
	assert.Equal(t, "AT", got["prefix"])
	assert.Regexp(t, stampPattern, got["created_at"])
	assert.Equal(t, "3 staging/local sites per license", got["staging_cap"], "the defaults in force")
	assert.Equal(t, "never", got["stale_after_days"])
	assert.Equal(t, "7 days offline", got["token_grace_days"])
	assert.Equal(t, "30,7 days before expiry", got["expiry_reminder_days"])

	var b brandShown
	f.okJSON(&b, "brand", "show", "--slug", "acme")
	assert.Equal(t, "Acme Tools", b.Name)
	assert.Equal(t, settingsView{StagingCap: 3, StaleAfterDays: 0, TokenGraceDays: 7, ExpiryReminderDays: []int{30, 7}}, b.Settings)
	out := f.ok("--json", "brand", "show", "--slug", "acme")
	assert.Contains(t, out, `"settings": {`)

	f.fails(licensing.CodeBrandNotFound, `no brand "ghost"`, "brand", "show", "--slug", "ghost")
}

// brand configure changes the settings given and keeps the others.
func TestBrandConfigureOnlyGiven(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	show := func() settingsView {
		var b brandShown
		f.okJSON(&b, "brand", "show", "--slug", "acme")
		return b.Settings
	}

	var c brandConfigured
	f.okJSON(&c, "brand", "configure", "--slug", "acme", "--stale-days", "30")
	assert.Equal(t, brandConfigured{Slug: "acme", settingsView: settingsView{StagingCap: 3, StaleAfterDays: 30, TokenGraceDays: 7, ExpiryReminderDays: []int{30, 7}}}, c)
	f.ok("brand", "configure", "--slug", "acme", "--token-grace-days", "14", "--reminder-days", "14,3")
	assert.Equal(t, settingsView{StagingCap: 3, StaleAfterDays: 30, TokenGraceDays: 14, ExpiryReminderDays: []int{14, 3}}, show(), "stale-days kept")
	out := f.ok("brand", "configure", "--slug", "acme", "--staging-cap", "5")
	assert.Equal(t, "Configured brand acme: 5 staging/local sites per license; seats freed after: 30 days unseen; "+
		"license tokens valid offline for 14 days; expiry reminders 14,3 days before expiry.\n", out)
	f.ok("brand", "configure", "--slug", "acme", "--reminder-days", "", "--stale-days", "0")
	assert.Equal(t, settingsView{StagingCap: 5, StaleAfterDays: 0, TokenGraceDays: 14, ExpiryReminderDays: []int{30, 7}}, show(),
		"an empty --reminder-days and a 0 go back to the defaults")
	b, err := f.eng.Store.GetBrand(t.Context(), "acme")
	require.NoError(t, err)
	assert.Equal(t, licensing.BrandSettings{StagingCap: 5, TokenGraceDays: 14}, b.Settings)

	// Bad values and nothing to change are usage errors (2); nothing changes.
	f.fails(licensing.CodeValidation, "staging-cap: must be a whole number", "brand", "configure", "--slug", "acme", "--staging-cap", "x")
	f.fails(licensing.CodeValidation, "token_grace_days: must be between 1 and 90 days (0 keeps the default 7)",
		"brand", "configure", "--slug", "acme", "--staging-cap", "1", "--token-grace-days", "91")
	o := f.run("brand", "configure", "--slug", "acme")
	assert.Equal(t, 2, o.code)
	assert.True(t, strings.HasPrefix(o.stderr, "licensectl: brand configure: nothing to change: give one or more of --staging-cap"), o.stderr)
	assert.Empty(t, o.stdout)
	assert.Equal(t, settingsView{StagingCap: 5, StaleAfterDays: 0, TokenGraceDays: 14, ExpiryReminderDays: []int{30, 7}}, show())

	f.fails(licensing.CodeBrandNotFound, `no brand "ghost"`, "brand", "configure", "--slug", "ghost", "--stale-days", "3")
}

func TestProductList(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	assert.Equal(t, "Brand acme has no products.\n", f.ok("product", "list", "--brand", "acme"))
	var empty productList
	f.okJSON(&empty, "product", "list", "--brand", "acme")
	assert.Equal(t, productList{Brand: "acme", Products: []productCreated{}}, empty)

	var pro, lite productCreated
	f.okJSON(&pro, "product", "create", "--brand", "acme", "--slug", "acme-pro", "--name", "Acme Pro")
	f.okJSON(&lite, "product", "create", "--brand", "acme", "--slug", "acme-lite", "--name", "Acme Lite")
	r := rows(f.ok("product", "list", "--brand", "acme"))
	require.Len(t, r, 3)
	assert.Equal(t, []string{"SLUG", "ID", "NAME", "CREATED_AT"}, r[0])
	assert.Equal(t, []string{"acme-lite", lite.ID, "Acme", "Lite", lite.CreatedAt}, r[1], "by slug")
	assert.Equal(t, []string{"acme-pro", pro.ID, "Acme", "Pro", pro.CreatedAt}, r[2])

	var l productList
	f.okJSON(&l, "product", "list", "--brand", "acme")
	assert.Equal(t, productList{Brand: "acme", Products: []productCreated{lite, pro}}, l)

	f.fails(licensing.CodeBrandNotFound, `no brand "ghost"`, "product", "list", "--brand", "ghost")
}

func TestLicenseShow(t *testing.T) {
	t.Parallel()
	f := seeded(t)

	// By key, in any case: every license of the key.
	var byKey licenseShown
	f.okJSON(&byKey, "license", "show", "--brand", "rankmath", strings.ToLower(demo.RankMathKey))
	assert.Equal(t, licenseKeyView{ID: "lk_demorankmath222222", Key: demo.RankMathKey, CustomerEmail: demo.DemoCustomer, CreatedAt: "2026-01-01T00:00:00Z"}, byKey.LicenseKey)
	require.Len(t, byKey.Licenses, 2)
	var pro licenseView
	for _, l := range byKey.Licenses {
		if l.ID == demo.RankMathProLicense {
			pro = l
		}
	}
	require.Equal(t, demo.RankMathProLicense, pro.ID)
	exp := "2030-12-31T23:59:59Z"
	assert.Equal(t, "rankmath-pro", pro.ProductSlug)
	assert.Equal(t, "valid", pro.Status)
	assert.Equal(t, 3, pro.SeatLimit)
	assert.Equal(t, 1, pro.SeatsUsed)
	assert.Equal(t, 2, pro.SeatsRemaining)
	assert.Equal(t, &exp, pro.ExpiresAt)
	require.Len(t, pro.Activations, 1)
	assert.Equal(t, demo.DemoActivation, pro.Activations[0].ID)
	assert.Equal(t, demo.DemoSite, pro.Activations[0].InstanceIdentifier)
	assert.Equal(t, "url", pro.Activations[0].InstanceType)
	assert.Regexp(t, stampPattern, pro.Activations[0].LastSeenAt)

	// By id: that license alone, the same document.
	var byID licenseShown
	f.okJSON(&byID, "license", "show", strings.ToUpper(demo.RankMathProLicense), "--brand", "rankmath")
	assert.Equal(t, byKey.LicenseKey, byID.LicenseKey)
	assert.Equal(t, []licenseView{pro}, byID.Licenses)

	out := f.ok("license", "show", "--brand", "rankmath", demo.RankMathProLicense)
	assert.True(t, strings.HasPrefix(out, "License key "+demo.RankMathKey+" (lk_demorankmath222222) of "+demo.DemoCustomer+", created 2026-01-01T00:00:00Z\n"), out)
	assert.Contains(t, out, "license "+demo.RankMathProLicense+": rankmath-pro\n")
	assert.Regexp(t, regexp.MustCompile(`(?m)^  status +valid$`), out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^  seats +1 of 3 used, 2 remaining; 0 staging/local sites$`), out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^  expires_at +2030-12-31T23:59:59Z$`), out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^  `+demo.DemoActivation+` +demo\.example\.com +url +production `), out)

	// Another brand's license or key is not found (no existence leak);
	// something that is neither a key nor an id is a usage error.
	f.fails(licensing.CodeLicenseNotFound, "unknown license key", "license", "show", "--brand", "wp-rocket", demo.RankMathKey)
	f.fails(licensing.CodeLicenseNotFound, "no such license", "license", "show", "--brand", "wp-rocket", demo.RankMathProLicense)
	f.fails(licensing.CodeLicenseNotFound, "unknown license key", "license", "show", "--brand", "rankmath", "RM-2222-3333-4444-5555")
	f.fails(licensing.CodeValidation, "license: is neither a license key (PREFIX-XXXX-XXXX-XXXX-XXXX) nor a license id (lic_...)",
		"license", "show", "--brand", "rankmath", "not-a-key")
	f.fails(licensing.CodeBrandNotFound, `no brand "ghost"`, "license", "show", "--brand", "ghost", demo.RankMathKey)
}

// apikey create --print-key prints the key alone: what a script captures.
func TestAPIKeyPrintKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	out := f.ok("apikey", "create", "--brand", "acme", "--print-key")
	assert.Regexp(t, `^cls_[a-z2-7]{32}\n$`, out)
	tenant, err := app.New(f.eng.Store, nil).Authenticate(t.Context(), strings.TrimSuffix(out, "\n"))
	require.NoError(t, err)
	assert.Equal(t, "acme", tenant.Brand)

	o := f.run("--json", "apikey", "create", "--brand", "acme", "--print-key")
	assert.Equal(t, 2, o.code)
	assert.Equal(t, errorDoc{Code: codeUsage, Message: "apikey create: --print-key prints the key alone; it does not go with --json"}, decodeError(t, o.stdout))
	var l apiKeyList
	f.okJSON(&l, "apikey", "list", "--brand", "acme")
	assert.Len(t, l.APIKeys, 1, "the refused command created no key")
	o = f.run("apikey", "create", "--brand", "ghost", "--print-key")
	assert.Equal(t, 1, o.code)
	assert.Equal(t, "licensectl: no brand \"ghost\" (brand_not_found)\n", o.stderr)
	assert.Empty(t, o.stdout)
}

// Exit statuses: 0 success, 2 the command line is wrong, 1 the operation
// failed; a bad value is a usage error even when the table is unreachable.
func TestExitStatuses(t *testing.T) {
	t.Parallel()
	down := []string{"--endpoint", "http://127.0.0.1:1"}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"brand", "show"}, 2},
		{[]string{"license", "show", "--brand", "acme"}, 2},
		{[]string{"product", "list"}, 2},
		{[]string{"brand", "configure", "--slug", "acme", "--stale-days", "soon"}, 2},
		{[]string{"license", "show", "--brand", "acme", "what?"}, 2},
		{[]string{"brand", "show", "--slug", "acme"}, 1},
		{[]string{"product", "list", "--brand", "acme"}, 1},
		{[]string{"license", "show", "--brand", "acme", "lic_aaaaaaaaaaaaaaaaaaaa"}, 1},
	} {
		o := cli(t, nil, append(down, tc.args...)...)
		assert.Equal(t, tc.code, o.code, "%v: %s", tc.args, o.stderr)
		o = cli(t, nil, append(append([]string{"--json"}, down...), tc.args...)...)
		assert.Equal(t, tc.code, o.code, "%v --json", tc.args)
		var body errorBody
		require.NoError(t, json.Unmarshal([]byte(o.stdout), &body), o.stdout)
		assert.NotEmpty(t, body.Error.Code)
	}
}
