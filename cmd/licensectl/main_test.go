package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/token"
)

var (
	stampPattern   = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	plainKeyRegexp = regexp.MustCompile(`cls_[a-z2-7]{32}`)
	keyIDRegexp    = regexp.MustCompile(`key_[a-z2-7]{20}`)
)

// outcome is what one run of the CLI did.
type outcome struct {
	code           int
	stdout, stderr string
}

// cli runs the CLI with an environment of env (nothing else leaks in).
func cli(t *testing.T, env map[string]string, args ...string) outcome {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr, func(k string) string { return env[k] })
	return outcome{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// fixture is an embedded engine the CLI is pointed at with global flags.
type fixture struct {
	t   *testing.T
	eng *dynamotest.Engine
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return &fixture{t: t, eng: dynamotest.Start(t)}
}

// run runs the CLI on the engine, the global flags first.
func (f *fixture) run(args ...string) outcome {
	f.t.Helper()
	return cli(f.t, nil, append([]string{"--endpoint", f.eng.URL, "--table", f.eng.Table}, args...)...)
}

// ok runs a command that must succeed, and returns its stdout.
func (f *fixture) ok(args ...string) string {
	f.t.Helper()
	o := f.run(args...)
	require.Equal(f.t, 0, o.code, "stderr: %s", o.stderr)
	assert.Empty(f.t, o.stderr)
	return o.stdout
}

// okJSON runs a command with --json that must succeed and decodes its stdout.
func (f *fixture) okJSON(v any, args ...string) {
	f.t.Helper()
	out := f.ok(append([]string{"--json"}, args...)...)
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	require.NoError(f.t, dec.Decode(v), out)
	assert.False(f.t, dec.More(), "one JSON document: %s", out)
}

// exitOf is the exit status of a failure with code: 2 for a value that is not
// valid (the command line is wrong), 1 for any other failure.
func exitOf(code licensing.Code) int {
	if code == licensing.CodeValidation {
		return 2
	}
	return 1
}

// fails runs a command that must fail with the given code and stderr message,
// and the exit status of that code; in --json mode stdout must carry the
// same error.
func (f *fixture) fails(code licensing.Code, message string, args ...string) {
	f.t.Helper()
	o := f.run(args...)
	assert.Equal(f.t, exitOf(code), o.code)
	assert.Equal(f.t, "licensectl: "+message+" ("+string(code)+")\n", o.stderr)
	assert.Empty(f.t, o.stdout)

	o = f.run(append([]string{"--json"}, args...)...)
	assert.Equal(f.t, exitOf(code), o.code)
	assert.Equal(f.t, "licensectl: "+message+" ("+string(code)+")\n", o.stderr)
	e := decodeError(f.t, o.stdout)
	assert.Equal(f.t, string(code), e.Code)
	assert.Equal(f.t, message, e.Message)
}

func decodeError(t *testing.T, stdout string) errorDoc {
	t.Helper()
	var body errorBody
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&body), stdout)
	assert.False(t, dec.More(), "one JSON document: %s", stdout)
	return body.Error
}

// fieldsOf parses "label  value" lines into a map.
func fieldsOf(text string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "  "); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// rows splits a table's lines into their cells.
func rows(text string) [][]string {
	var out [][]string
	for line := range strings.Lines(text) {
		out = append(out, strings.Fields(line))
	}
	return out
}

func TestBrandCommandsText(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	assert.Equal(t, "No brands.\n", f.ok("brand", "list"))

	out := f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "ac")
	assert.True(t, strings.HasPrefix(out, "Created brand acme.\n"), out)
	got := fieldsOf(out)
	assert.Equal(t, "acme", got["slug"])
	assert.Equal(t, "Acme", got["name"])
	assert.Equal(t, "AC", got["prefix"], "prefixes are upper-cased")
	assert.Regexp(t, stampPattern, got["created_at"])
	f.ok("brand", "create", "--slug", "big-co", "--name", "Big", "--prefix", "BIG")

	out = f.ok("brand", "list")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3, out)
	r := rows(out)
	assert.Equal(t, []string{"SLUG", "NAME", "PREFIX", "CREATED_AT"}, r[0])
	assert.Equal(t, []string{"acme", "Acme", "AC"}, r[1][:3])
	assert.Equal(t, []string{"big-co", "Big", "BIG"}, r[2][:3])
	assert.Regexp(t, stampPattern, r[1][3])
	// tabwriter aligns the columns.
	col := strings.Index(lines[0], "PREFIX")
	assert.Equal(t, col, strings.Index(lines[1], "AC"))
	assert.Equal(t, col, strings.Index(lines[2], "BIG"))
}

func TestBrandCommandsJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var empty brandList
	f.okJSON(&empty, "brand", "list")
	assert.NotNil(t, empty.Brands, "an empty list is [], not null")
	assert.Contains(t, f.ok("--json", "brand", "list"), `"brands": []`)

	var b brandView
	f.okJSON(&b, "brand", "create", "--slug", "acme", "--name", "Acme Tools", "--prefix", "AC")
	assert.Equal(t, "acme", b.Slug)
	assert.Equal(t, "Acme Tools", b.Name)
	assert.Equal(t, "AC", b.Prefix)
	assert.Regexp(t, stampPattern, b.CreatedAt)

	var l brandList
	f.okJSON(&l, "brand", "list")
	assert.Equal(t, []brandView{b}, l.Brands)
}

func TestBrandDuplicates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	f.fails(licensing.CodeAlreadyExists, `brand "acme" already exists`,
		"brand", "create", "--slug", "acme", "--name", "Other", "--prefix", "OT")
	f.fails(licensing.CodeAlreadyExists, `key prefix "AC" is taken by another brand`,
		"brand", "create", "--slug", "other", "--name", "Other", "--prefix", "ac")
	f.fails(licensing.CodeValidation, "slug: must be 1 to 64 lower-case letters, digits and single dashes, like my-plugin-pro",
		"brand", "create", "--slug", "Not A Slug!", "--name", "X", "--prefix", "XX")

	var l brandList
	f.okJSON(&l, "brand", "list")
	require.Len(t, l.Brands, 1, "nothing was written by the failed commands")
	assert.Equal(t, "Acme", l.Brands[0].Name)
}

func TestAPIKeyLifecycleText(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	a := app.New(f.eng.Store, nil)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	assert.Equal(t, "Brand acme has no API keys.\n", f.ok("apikey", "list", "--brand", "acme"))

	out := f.ok("apikey", "create", "--brand", "acme")
	plain := plainKeyRegexp.FindString(out)
	require.NotEmpty(t, plain, out)
	id := keyIDRegexp.FindString(out)
	require.NotEmpty(t, id, out)
	assert.Contains(t, out, "cannot be shown again")
	got := fieldsOf(out)
	assert.Equal(t, id, got["id"])
	assert.Equal(t, "acme", got["brand"])
	assert.Equal(t, "****"+plain[len(plain)-4:], got["hint"])
	assert.Regexp(t, stampPattern, got["created_at"])
	assert.NotContains(t, out, licensing.HashAPIKey(plain))

	tenant, err := a.Authenticate(ctx, plain)
	require.NoError(t, err)
	assert.Equal(t, "acme", tenant.Brand)
	assert.Equal(t, id, tenant.APIKeyID)

	out = f.ok("apikey", "list", "--brand", "acme")
	assert.NotContains(t, out, plain)
	assert.NotContains(t, out, licensing.HashAPIKey(plain))
	r := rows(out)
	require.Len(t, r, 2, out)
	assert.Equal(t, []string{"ID", "HINT", "STATUS", "CREATED_AT", "REVOKED_AT"}, r[0])
	assert.Equal(t, []string{id, "****" + plain[len(plain)-4:], "active"}, r[1][:3])
	assert.Regexp(t, stampPattern, r[1][3])
	assert.Equal(t, "-", r[1][4])

	out = f.ok("apikey", "revoke", "--brand", "acme", "--id", id)
	assert.Equal(t, "Revoked API key "+id+" of brand acme: it no longer authenticates.\n", out)
	_, err = a.Authenticate(ctx, plain)
	assert.Equal(t, licensing.CodeUnauthorized, licensing.ErrorCode(err))

	msg := `brand "acme" has no active API key "` + id + `"`
	f.fails(licensing.CodeAPIKeyNotFound, msg, "apikey", "revoke", "--brand", "acme", "--id", id)
	f.fails(licensing.CodeAPIKeyNotFound, `brand "acme" has no active API key "key_nope"`,
		"apikey", "revoke", "--brand", "acme", "--id", "key_nope")

	r = rows(f.ok("apikey", "list", "--brand", "acme"))
	require.Len(t, r, 2)
	assert.Equal(t, "revoked", r[1][2])
	assert.Regexp(t, stampPattern, r[1][4])
}

func TestAPIKeyLifecycleJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	a := app.New(f.eng.Store, nil)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")

	out := f.ok("--json", "apikey", "create", "--brand", "acme")
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &raw))
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{"id", "brand", "api_key", "hint", "created_at"}, keys)
	var k apiKeyCreated
	require.NoError(t, json.Unmarshal([]byte(out), &k))
	assert.Regexp(t, plainKeyRegexp, k.APIKey)
	assert.Regexp(t, keyIDRegexp, k.ID)
	assert.Equal(t, "acme", k.Brand)
	assert.Equal(t, "****"+k.APIKey[len(k.APIKey)-4:], k.Hint)
	assert.Regexp(t, stampPattern, k.CreatedAt)
	_, err := a.Authenticate(ctx, k.APIKey)
	require.NoError(t, err)

	var second apiKeyCreated
	f.okJSON(&second, "apikey", "create", "--brand", "acme")
	assert.NotEqual(t, k.APIKey, second.APIKey)

	out = f.ok("--json", "apikey", "list", "--brand", "acme")
	for _, secret := range []string{k.APIKey, second.APIKey, licensing.HashAPIKey(k.APIKey), licensing.HashAPIKey(second.APIKey)} {
		assert.NotContains(t, out, secret)
	}
	var l apiKeyList
	f.okJSON(&l, "apikey", "list", "--brand", "acme")
	assert.Equal(t, "acme", l.Brand)
	require.Len(t, l.APIKeys, 2)
	ids := []string{l.APIKeys[0].ID, l.APIKeys[1].ID}
	assert.ElementsMatch(t, []string{k.ID, second.ID}, ids)
	for _, v := range l.APIKeys {
		assert.Equal(t, statusActive, v.Status)
	}
	assert.NotContains(t, out, `"revoked_at"`, "omitted while active")

	var rv apiKeyRevoked
	f.okJSON(&rv, "apikey", "revoke", "--brand", "acme", "--id", k.ID)
	assert.Equal(t, apiKeyRevoked{ID: k.ID, Brand: "acme", Status: statusRevoked}, rv)
	_, err = a.Authenticate(ctx, k.APIKey)
	assert.Equal(t, licensing.CodeUnauthorized, licensing.ErrorCode(err))
	_, err = a.Authenticate(ctx, second.APIKey)
	assert.NoError(t, err, "the other key still works")

	o := f.run("--json", "apikey", "revoke", "--brand", "acme", "--id", k.ID)
	assert.Equal(t, 1, o.code)
	assert.Equal(t, string(licensing.CodeAPIKeyNotFound), decodeError(t, o.stdout).Code)

	f.okJSON(&l, "apikey", "list", "--brand", "acme")
	for _, v := range l.APIKeys {
		if v.ID == k.ID {
			assert.Equal(t, statusRevoked, v.Status)
			assert.Regexp(t, stampPattern, v.RevokedAt)
		} else {
			assert.Equal(t, statusActive, v.Status)
		}
	}
}

func TestUnknownBrand(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	msg := `no brand "ghost"`
	f.fails(licensing.CodeBrandNotFound, msg, "apikey", "create", "--brand", "ghost")
	f.fails(licensing.CodeBrandNotFound, msg, "apikey", "list", "--brand", "ghost")
	f.fails(licensing.CodeBrandNotFound, msg, "apikey", "revoke", "--brand", "ghost", "--id", "key_aaaaaaaaaaaaaaaaaaaa")
	f.fails(licensing.CodeBrandNotFound, msg, "product", "create", "--brand", "ghost", "--slug", "p", "--name", "P")
}

func TestProductCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")

	out := f.ok("product", "create", "--brand", "acme", "--slug", "acme-pro", "--name", "Acme Pro")
	assert.True(t, strings.HasPrefix(out, "Created product acme-pro for brand acme.\n"), out)
	got := fieldsOf(out)
	assert.Regexp(t, `^prd_[a-z2-7]{20}$`, got["id"])
	assert.Equal(t, "acme", got["brand"])
	assert.Equal(t, "acme-pro", got["slug"])
	assert.Equal(t, "Acme Pro", got["name"])
	assert.Regexp(t, stampPattern, got["created_at"])

	var p productCreated
	f.okJSON(&p, "product", "create", "--brand", "acme", "--slug", "acme-lite", "--name", "Acme Lite")
	assert.Regexp(t, `^prd_[a-z2-7]{20}$`, p.ID)
	assert.Equal(t, productCreated{ID: p.ID, Brand: "acme", Slug: "acme-lite", Name: "Acme Lite", CreatedAt: p.CreatedAt}, p)

	f.fails(licensing.CodeAlreadyExists, `a product with slug "acme-pro" already exists`,
		"product", "create", "--brand", "acme", "--slug", "acme-pro", "--name", "Again")

	products, err := app.New(f.eng.Store, nil).ListProducts(t.Context(), licensing.Tenant{Brand: "acme"})
	require.NoError(t, err)
	require.Len(t, products, 2)
	assert.Equal(t, "acme-lite", products[0].Slug)
	assert.Equal(t, got["id"], products[1].ID)
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	// No engine: a usage error never reaches the store.
	global := []string{"--endpoint", "http://127.0.0.1:1"}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "missing command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"brand"}, "brand: missing subcommand (create, list, show, configure)"},
		{[]string{"brand", "--slug", "x"}, "brand: missing subcommand (create, list, show, configure)"},
		{[]string{"brand", "delete"}, `brand: unknown subcommand "delete" (create, list, show, configure)`},
		{[]string{"apikey", "rotate"}, `apikey: unknown subcommand "rotate" (create, list, revoke)`},
		{[]string{"brand", "create"}, "brand create: missing required flag(s) --slug, --name, --prefix"},
		{[]string{"brand", "create", "--slug", "a", "--name", " ", "--prefix", "AC"}, "brand create: missing required flag(s) --name"},
		{[]string{"apikey", "create"}, "apikey create: missing required flag(s) --brand"},
		{[]string{"apikey", "list"}, "apikey list: missing required flag(s) --brand"},
		{[]string{"apikey", "revoke", "--brand", "acme"}, "apikey revoke: missing required flag(s) --id"},
		{[]string{"product", "create", "--brand", "acme", "--name", "P"}, "product create: missing required flag(s) --slug"},
		{[]string{"brand", "list", "--verbose"}, "flag provided but not defined: -verbose"},
		{[]string{"--verbose", "brand", "list"}, "flag provided but not defined: -verbose"},
		{[]string{"brand", "list", "extra"}, `brand list: unexpected argument "extra"`},
		{[]string{"apikey", "list", "--brand"}, "flag needs an argument: -brand"},
		{[]string{"brand", "list", "--table", ""}, "--table must not be empty"},
		{[]string{"brand", "show"}, "brand show: missing required flag(s) --slug"},
		{[]string{"product", "list"}, "product list: missing required flag(s) --brand"},
		{[]string{"license", "show", "--brand", "acme"}, "license show: missing argument(s) KEY_OR_ID"},
		{[]string{"license", "show", "--brand", "acme", "RM-2222-3333-4444-5555", "lic_x"}, `license show: unexpected argument "lic_x"`},
		{[]string{"brand", "configure", "--slug", "acme"}, "brand configure: nothing to change: give one or more of --staging-cap, --stale-days, --token-grace-days, --reminder-days"},
		{[]string{"apikey", "create", "--brand", "acme", "--print-key=maybe"}, `invalid boolean value "maybe" for -print-key: parse error`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o := cli(t, nil, append(global, tc.args...)...)
			assert.Equal(t, 2, o.code)
			assert.Empty(t, o.stdout)
			assert.True(t, strings.HasPrefix(o.stderr, "licensectl: "+tc.msg+"\n"), o.stderr)
			assert.Contains(t, o.stderr, "licensectl help")

			o = cli(t, nil, append(append([]string{"--json"}, global...), tc.args...)...)
			assert.Equal(t, 2, o.code)
			assert.True(t, strings.HasPrefix(o.stderr, "licensectl: "+tc.msg+"\n"), o.stderr)
			assert.Equal(t, errorDoc{Code: codeUsage, Message: tc.msg}, decodeError(t, o.stdout))
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"--json", "help"}, {"brand", "create", "-h"}, {"apikey", "list", "--help"}} {
		o := cli(t, nil, args...)
		assert.Equal(t, 0, o.code, args)
		assert.Empty(t, o.stderr, args)
		for _, c := range commands {
			assert.Contains(t, o.stdout, "  "+c.synopsis()+"\n", args)
			assert.Contains(t, o.stdout, c.summary, args)
			for _, fl := range c.flags {
				assert.Contains(t, o.stdout, "--"+fl.name+" "+fl.meta+"  ", args)
			}
			for _, fl := range c.optional {
				assert.Contains(t, o.stdout, "["+fl.typed()+"]  ", args)
			}
		}
		for _, g := range []string{"--endpoint URL", "--table NAME", "--region REGION", "--s3-endpoint URL", "--bucket NAME", "--json", "help"} {
			assert.Contains(t, o.stdout, "  "+g, args)
		}
	}
}

func TestGlobalFlagsAfterCommand(t *testing.T) {
	t.Parallel()
	eng := dynamotest.Start(t)
	o := cli(t, nil, "brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC",
		"--endpoint", eng.URL, "--table", eng.Table, "--region", "eu-west-1", "--json")
	require.Equal(t, 0, o.code, o.stderr)
	var b brandView
	require.NoError(t, json.Unmarshal([]byte(o.stdout), &b))
	assert.Equal(t, "acme", b.Slug)

	// Before and after mixed: what comes after the command wins.
	o = cli(t, nil, "--json", "--table", "elsewhere", "--endpoint", eng.URL, "brand", "list", "--table", eng.Table)
	require.Equal(t, 0, o.code, o.stderr)
	var l brandList
	require.NoError(t, json.Unmarshal([]byte(o.stdout), &l))
	require.Len(t, l.Brands, 1)
}

func TestEnvFallback(t *testing.T) {
	t.Parallel()
	eng := dynamotest.Start(t)
	env := map[string]string{"DYNAMODB_ENDPOINT": eng.URL, "TABLE_NAME": eng.Table, "AWS_REGION": "eu-west-1"}
	o := cli(t, env, "brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	require.Equal(t, 0, o.code, o.stderr)
	brands, err := app.New(eng.Store, nil).Ops().ListBrands(t.Context())
	require.NoError(t, err)
	require.Len(t, brands, 1)
	assert.Equal(t, "acme", brands[0].Slug)

	// Without TABLE_NAME the table is "licenses" (the engine's).
	o = cli(t, map[string]string{"DYNAMODB_ENDPOINT": eng.URL}, "brand", "list")
	require.Equal(t, 0, o.code, o.stderr)
	assert.Contains(t, o.stdout, "acme")

	// Flags override the environment.
	o = cli(t, map[string]string{"DYNAMODB_ENDPOINT": "http://127.0.0.1:1", "TABLE_NAME": "nope"},
		"--endpoint", eng.URL, "--table", eng.Table, "brand", "list")
	require.Equal(t, 0, o.code, o.stderr)
	assert.Contains(t, o.stdout, "acme")

	// A table that does not exist is not a domain error: its text is shown.
	env["TABLE_NAME"] = "no-such-table"
	o = cli(t, env, "--json", "brand", "list")
	assert.Equal(t, 1, o.code)
	assert.True(t, strings.HasPrefix(o.stderr, "licensectl: dynamodb list brands: "), o.stderr)
	e := decodeError(t, o.stdout)
	assert.Equal(t, string(licensing.CodeInternal), e.Code)
	assert.Equal(t, strings.TrimSuffix(strings.TrimPrefix(o.stderr, "licensectl: "), "\n"), e.Message)
}

func TestUnreachableEndpoint(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nil)
	url := srv.URL
	srv.Close()
	o := cli(t, nil, "--json", "--endpoint", url, "brand", "list")
	assert.Equal(t, 1, o.code)
	assert.True(t, strings.HasPrefix(o.stderr, "licensectl: the service is temporarily unavailable, retry later (service_unavailable): "), o.stderr)
	e := decodeError(t, o.stdout)
	assert.Equal(t, string(licensing.CodeServiceUnavailable), e.Code)
	assert.NotEmpty(t, e.Detail, "the operator sees why")
}

func TestBrandConfigure(t *testing.T) {
	f := newFixture(t)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	out := f.ok("brand", "configure", "--slug", "acme", "--staging-cap", "5", "--stale-days", "30", "--token-grace-days", "14")
	assert.Contains(t, out, "5 staging/local sites")
	assert.Contains(t, out, "14 days")
	assert.Contains(t, out, "30 days unseen")
	b, err := app.New(f.eng.Store, nil).Ops().ListBrands(context.Background())
	require.NoError(t, err)
	assert.Equal(t, licensing.BrandSettings{StagingCap: 5, StaleAfterDays: 30, TokenGraceDays: 14}, b[0].Settings)
	f.fails(licensing.CodeValidation, "staging_cap: must be between 1 and 100 (0 keeps the default 3)", "brand", "configure", "--slug", "acme", "--staging-cap", "500", "--stale-days", "0", "--token-grace-days", "0")
	f.fails(licensing.CodeBrandNotFound, `no brand "ghost"`, "brand", "configure", "--slug", "ghost", "--staging-cap", "1", "--stale-days", "0", "--token-grace-days", "0")
}

func TestSigningKeyGenerate(t *testing.T) {
	f := newFixture(t)
	first := f.ok("signing-key", "generate", "--kid", "2026-10", "--keep", "none")
	ring, err := token.ParseKeyring(first)
	require.NoError(t, err)
	require.Len(t, ring, 1)
	assert.Equal(t, "2026-10", ring[0].KID)
	second := f.ok("signing-key", "generate", "--kid", "2026-11", "--keep", first)
	ring, err = token.ParseKeyring(second)
	require.NoError(t, err)
	require.Len(t, ring, 2)
	assert.Equal(t, []string{"2026-11", "2026-10"}, []string{ring[0].KID, ring[1].KID}, "the new key signs, the old one still verifies")
	f.fails(licensing.CodeValidation, "keep: is not a keyring document", "signing-key", "generate", "--kid", "x", "--keep", "{")
}

func TestSeatsReclaim(t *testing.T) {
	f := newFixture(t)
	assert.Contains(t, f.ok("seats", "reclaim"), "No brand frees stale seats")
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	f.ok("brand", "configure", "--slug", "acme", "--staging-cap", "0", "--stale-days", "30", "--token-grace-days", "0")
	assert.Contains(t, f.ok("seats", "reclaim"), "acme: 0 stale seats freed")
}

// migrate names the products of licenses written before licenses carried
// the name, once: the second run finds nothing to do.
func TestMigrate(t *testing.T) {
	f := newFixture(t)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	var prod struct {
		ID        string `json:"id"`
		Slug      string `json:"slug"`
		Name      string `json:"name"`
		CreatedAt string `json:"created_at"`
		Brand     string `json:"brand"`
	}
	f.okJSON(&prod, "product", "create", "--brand", "acme", "--slug", "acme-pro", "--name", "Acme Pro")
	key := licensing.LicenseKey("AC-AAAA-BBBB-CCCC-DDDD")
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	require.NoError(t, f.eng.Store.Provision(context.Background(), licensing.Provisioned{
		Key: licensing.KeyRecord{ID: licensing.NewID(licensing.KindLicenseKey), Key: key, Brand: "acme", CustomerEmail: "old@example.com", CreatedAt: now},
		Licenses: []licensing.License{{ID: licensing.NewID(licensing.KindLicense), Key: key, Brand: "acme", ProductID: prod.ID, ProductSlug: "acme-pro",
			Status: licensing.StatusValid, SeatLimit: 1, CreatedAt: now, UpdatedAt: now, Version: 1}}, // no ProductName: the old layout
	}, nil, nil))

	var m struct {
		Licenses int `json:"licenses_read"`
		Named    int `json:"licenses_updated"`
		Orphans  int `json:"licenses_orphan"`
		Indexed  int `json:"licenses_indexed_by_expiry"`
	}
	f.okJSON(&m, "migrate")
	assert.Equal(t, 1, m.Licenses)
	assert.Equal(t, 1, m.Named)
	kl, err := f.eng.Store.KeyLicenses(context.Background(), key)
	require.NoError(t, err)
	assert.Equal(t, "Acme Pro", kl.Licenses[0].ProductName)

	assert.Equal(t, "0 licenses without their product's name: 0 named, 0 of products that no longer exist left as they are\n"+
		"0 licenses that expire given their expiry index entry\n", f.ok("migrate"))
}

// licenses expiring lists a brand's licenses expiring within the window,
// soonest first; brand configure sets the expiry reminders.
func TestLicensesExpiring(t *testing.T) {
	f := newFixture(t)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	f.ok("brand", "configure", "--slug", "acme", "--staging-cap", "0", "--stale-days", "0", "--token-grace-days", "0", "--reminder-days", "14,3")
	b, err := f.eng.Store.ListBrands(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []int{14, 3}, b[0].Settings.ReminderDays())
	f.fails(licensing.CodeValidation, "expiry_reminder_days: each must be between 1 and 365 days before expiry",
		"brand", "configure", "--slug", "acme", "--staging-cap", "0", "--stale-days", "0", "--token-grace-days", "0", "--reminder-days", "400")

	assert.Contains(t, f.ok("licenses", "expiring", "--brand", "acme", "--within", "30d"), "No license expires in that window.")
	now := time.Now().UTC()
	for i, in := range []time.Duration{20 * 24 * time.Hour, 3 * 24 * time.Hour, 90 * 24 * time.Hour} {
		exp := now.Add(in)
		key := licensing.LicenseKey(fmt.Sprintf("AC-AAAA-BBBB-CCCC-DDD%d", i))
		require.NoError(t, f.eng.Store.Provision(context.Background(), licensing.Provisioned{
			Key: licensing.KeyRecord{ID: licensing.NewID(licensing.KindLicenseKey), Key: key, Brand: "acme", CustomerEmail: "x@example.com", CreatedAt: now},
			Licenses: []licensing.License{{ID: fmt.Sprintf("lic_expiring%012d", i), Key: key, Brand: "acme", ProductID: "prd_x", ProductSlug: "acme-pro",
				Status: licensing.StatusValid, SeatLimit: 1, ExpiresAt: &exp, CreatedAt: now, UpdatedAt: now, Version: 1}},
		}, nil, nil))
	}
	var out struct {
		Licenses []struct {
			ID         string `json:"id"`
			LicenseKey string `json:"license_key"`
			Product    string `json:"product"`
			ExpiresAt  string `json:"expires_at"`
			SeatsUsed  int    `json:"seats_used"`
			SeatLimit  int    `json:"seat_limit"`
		} `json:"licenses"`
	}
	f.okJSON(&out, "licenses", "expiring", "--brand", "acme", "--within", "30d")
	require.Len(t, out.Licenses, 2)
	assert.Equal(t, "lic_expiring000000000001", out.Licenses[0].ID, "soonest first")
	assert.Equal(t, "lic_expiring000000000000", out.Licenses[1].ID)
	assert.NotContains(t, out.Licenses[0].LicenseKey, "BBBB", "the key is masked")
	f.fails(licensing.CodeValidation, "within: must be a number of days like 30d, or a duration like 72h", "licenses", "expiring", "--brand", "acme", "--within", "soon")
}
