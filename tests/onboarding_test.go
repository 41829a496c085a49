package tests

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	onboardingBegin = "<!-- onboarding-example:begin -->\n```sh\n"
	onboardingEnd   = "```\n<!-- onboarding-example:end -->"
)

// onboardingBlock is the shell block between the onboarding-example markers:
// exactly one, in the README or a page of docs/.
func onboardingBlock(t *testing.T, root string) (page, block string) {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	pages = append([]string{filepath.Join(root, "README.md")}, pages...)
	for _, p := range pages {
		text, err := os.ReadFile(p)
		require.NoError(t, err)
		rest := string(text)
		for {
			var ok bool
			if _, rest, ok = strings.Cut(rest, onboardingBegin); !ok {
				break
			}
			require.Empty(t, block, "one onboarding example, found another in %s after %s", p, page)
			block, rest, ok = strings.Cut(rest, onboardingEnd)
			require.True(t, ok, "the onboarding example of %s is closed", p)
			page = p
		}
	}
	require.NotEmpty(t, block, "no onboarding example (%q) in README.md or docs/*.md", strings.TrimSpace(onboardingBegin))
	return page, block
}

// awsShim is an aws command that records each call's arguments (NUL
// separated, one file per call, in order) and answers create-api-key with a
// made-up id: the real AWS is never reached.
const awsShim = `#!/bin/sh
set -eu
n=$(ls "$AWS_SHIM_LOG" | wc -l)
printf '%s\0' "$@" > "$AWS_SHIM_LOG/call-$(printf '%03d' "$n")"
case "$*" in
*create-api-key*) echo shimkey0id1 ;;
esac
`

// The documented onboarding of a brand runs as written against a fresh
// local service, with licensectl built from this tree and aws replaced by a
// shim: the value registered with API Gateway is exactly one API key, the
// one licensectl issued, and that key is accepted on the brand API.
func TestOnboardingExample(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	root := filepath.Dir(templatePath(t))
	page, block := onboardingBlock(t, root)
	require.Contains(t, block, "$LICENSECTL ", "the block runs licensectl through $LICENSECTL, so that the test can give it the built binary")
	require.Contains(t, block, "--print-key", "%s: the key is captured with --print-key", page)

	dir := t.TempDir()
	licensectl := filepath.Join(dir, "licensectl")
	build := exec.Command("go", "build", "-o", licensectl, "./cmd/licensectl")
	build.Dir = root
	built, err := build.CombinedOutput()
	require.NoError(t, err, string(built))
	shimDir, logDir := filepath.Join(dir, "bin"), filepath.Join(dir, "aws-calls")
	require.NoError(t, os.Mkdir(shimDir, 0o755))
	require.NoError(t, os.Mkdir(logDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(shimDir, "aws"), []byte(awsShim), 0o755))

	e := start(t)
	srv := e.srv
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PATH="+shimDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"LICENSECTL="+licensectl, "AWS_SHIM_LOG="+logDir, "USAGE_PLAN_ID=plan0shim",
		"DYNAMODB_ENDPOINT="+srv.DynamoURL, "TABLE_NAME="+srv.Service.Config.TableName)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s's onboarding example failed\nstdout:\n%s\nstderr:\n%s", page, stdout.String(), stderr.String())

	calls := shimCalls(t, logDir)
	require.Len(t, calls, 2, "create-api-key, then create-usage-plan-key")
	create := calls[0]
	require.Equal(t, []string{"apigateway", "create-api-key"}, create[:2])
	i := slices.Index(create, "--value")
	require.True(t, i > 0 && i+1 < len(create), "create-api-key has a --value: %q", create)
	key := create[i+1]
	assert.Regexp(t, regexp.MustCompile(`^cls_[a-z2-7]{32}$`), key, "the value registered with API Gateway is the plain key alone, not a JSON document")
	assert.Equal(t, []string{"apigateway", "create-usage-plan-key", "--usage-plan-id", "plan0shim", "--key-id", "shimkey0id1", "--key-type", "API_KEY"}, calls[1])
	assert.NotContains(t, stdout.String()+stderr.String(), key, "the key goes to API Gateway, not to the terminal")

	// The key API Gateway will meter is the key the service resolves to the
	// new brand.
	var products struct {
		Products []productJSON `json:"products"`
	}
	expectOK(t, e.get(t, "/api/v1/brand/products", key), http.StatusOK, &products)
	require.Len(t, products.Products, 1)
	assert.Equal(t, "acme-pro", products.Products[0].Slug)
	assert.Equal(t, "Acme Pro", products.Products[0].Name)
}

// shimCalls reads the calls the aws shim recorded, in order.
func shimCalls(t *testing.T, dir string) [][]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var calls [][]string
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		require.NoError(t, err)
		calls = append(calls, strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"))
	}
	return calls
}
