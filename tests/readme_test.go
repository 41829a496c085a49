package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	statusComment = regexp.MustCompile(`#\s*(\d{3})\s*$`)
	statusPrinted = regexp.MustCompile(`\[(\d{3})\]`)
)

// exampleDocs are the pages whose example blocks run, in this order: the
// README's tour first, on the fresh demo data.
var exampleDocs = []string{"README.md", "docs/brands.md", "docs/products.md", "docs/operating.md", "docs/developing.md", "docs/edd.md", "docs/events.md"}

// exampleBlocks are the shell blocks between readme-example markers of the
// example pages, in order.
func exampleBlocks(t *testing.T, root string) []string {
	t.Helper()
	var blocks []string
	for _, page := range exampleDocs {
		text, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(page)))
		require.NoError(t, err)
		rest := string(text)
		for {
			var ok bool
			_, rest, ok = strings.Cut(rest, "<!-- readme-example:begin -->\n```sh\n")
			if !ok {
				break
			}
			var block string
			block, rest, ok = strings.Cut(rest, "```\n<!-- readme-example:end -->")
			require.True(t, ok, "an example block of %s is closed", page)
			blocks = append(blocks, block)
		}
	}
	return blocks
}

// The example blocks of the README and the docs run, in order, against a
// fresh local API, and every request answers the status its comment
// promises.
func TestReadmeExamples(t *testing.T) {
	for _, tool := range []string{"curl", "zip", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			// Locally the examples need these tools; in CI (CI=true) a
			// missing one must not pass the README off as checked.
			if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
				t.Fatalf("%s is not installed, and CI=%q requires the README examples to run: %v", tool, ci, err)
			}
			t.Skip(tool + " is not installed")
		}
	}
	root := filepath.Dir(templatePath(t))
	blocks := exampleBlocks(t, root)
	require.Len(t, blocks, 5, "the tour, the brand, the two release and the product examples")

	// The release example runs the ops CLI, built once.
	licensectl := filepath.Join(t.TempDir(), "licensectl")
	build := exec.Command("go", "build", "-o", licensectl, "./cmd/licensectl")
	build.Dir = root
	built, err := build.CombinedOutput()
	require.NoError(t, err, string(built))

	srv := start(t).srv
	var output strings.Builder
	for i, block := range blocks {
		var want []string
		for line := range strings.SplitSeq(block, "\n") {
			if m := statusComment.FindStringSubmatch(line); m != nil {
				want = append(want, m[1])
			}
		}
		require.NotEmpty(t, want)
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
		cmd.Env = append(os.Environ(), "API="+srv.APIURL, "LICENSECTL="+licensectl,
			"DYNAMODB_ENDPOINT="+srv.DynamoURL, "S3_ENDPOINT="+srv.S3URL, "RELEASE_BUCKET="+srv.Service.Config.ReleaseBucket,
			"TABLE_NAME="+srv.Service.Config.TableName)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		var got []string
		for _, m := range statusPrinted.FindAllStringSubmatch(string(out), -1) {
			got = append(got, m[1])
		}
		assert.Equal(t, want, got, "block %d: statuses in order; output:\n%s", i+1, out)
		output.Write(out)
	}
	out := output.String()
	assert.Regexp(t, `license key: RM(-[2-9A-HJ-NP-Z]{4}){4}`, out)
	assert.Contains(t, out, "Idempotent-Replayed: true")
	assert.Regexp(t, `"customer_email":"tour@example.com"`, out, "the tour's provisioning")
	assert.Contains(t, out, `"is_valid":false,"reason":"license_suspended"`)
	assert.Contains(t, out, `"instance_identifier":"example.com"`)
	// Shipping an update: the downloaded package is the declared one, a
	// site without a seat gets no package, a yanked release is not offered.
	m := regexp.MustCompile(`downloaded sha256: ([0-9a-f]{64}) \(declared ([0-9a-f]{64})\)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	assert.Equal(t, m[2], m[1], "the package's bytes hash to package_sha256")
	assert.Contains(t, out, `"package":null,"reason":"site_inactive"`)
	assert.Contains(t, out, `"new_version":"1.1.0"`)
	assert.Regexp(t, `"update_available":false,"latest":\{"version":"1.0.0"`, out, "after the yank 1.0.0 is offered again")
	assert.Contains(t, out, "Published release 1.1.0 of content-ai")
	assert.Regexp(t, `"product":"content-ai","channel":"stable","current_version":"1.0.0","update_available":true,"latest":\{"version":"1.1.0"`, out)
	assert.Contains(t, out, `"status":"yanked"`)
}
