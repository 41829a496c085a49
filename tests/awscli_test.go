package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// awsCLIMarkers open and close the block of AWS CLI calls that the docs
// show against the embedded engine; the test runs exactly that block.
const (
	awsCLIBegin = "<!-- awscli-example:begin -->\n```sh\n"
	awsCLIEnd   = "```\n<!-- awscli-example:end -->"
)

// awsCLIBlock is the one awscli-example block of README.md and docs/*.md.
func awsCLIBlock(t *testing.T, root string) string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	pages = append([]string{filepath.Join(root, "README.md")}, pages...)
	var blocks []string
	for _, page := range pages {
		text, err := os.ReadFile(page)
		require.NoError(t, err)
		rest := string(text)
		for {
			var ok bool
			if _, rest, ok = strings.Cut(rest, awsCLIBegin); !ok {
				break
			}
			var block string
			block, rest, ok = strings.Cut(rest, awsCLIEnd)
			require.True(t, ok, "the awscli-example block of %s is closed", page)
			blocks = append(blocks, block)
		}
	}
	require.Len(t, blocks, 1, "one awscli-example block in README.md or docs/*.md: the AWS CLI calls the docs show against the embedded engine")
	return blocks[0]
}

// awsCLI finds the aws binary. Without it the test skips locally; in CI
// (CI set) it fails, since .ci/run installs it from Debian's awscli package.
func awsCLI(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("aws")
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("the AWS CLI (aws) is not installed, and CI=%q requires the docs' AWS CLI calls to run: apt-get install awscli (.ci/run does)", ci)
		}
		t.Skip("the AWS CLI (aws) is not on PATH, so the docs' AWS CLI calls against the embedded engine are not run: apt-get install awscli")
	}
	return path
}

// The AWS CLI calls the docs show against the embedded engine (the
// awscli-example block) run with the real aws binary against a fresh local
// service's engine, with dummy credentials: list-tables names the table,
// wait table-exists returns, describe-table answers ACTIVE, and
// --select COUNT answers the counts without items.
func TestAWSCLIAgainstTheEmbeddedEngine(t *testing.T) {
	awsPath := awsCLI(t)
	root := filepath.Dir(templatePath(t))
	block := awsCLIBlock(t, root)
	for _, call := range []string{"list-tables", "wait table-exists", "describe-table", "--select COUNT"} {
		require.Contains(t, block, call, "the docs' AWS CLI block shows %s", call)
	}

	e := start(t)
	// What the engine holds, read with the SDK: the scan's COUNT must match.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	items := 0
	pages := dynamodb.NewScanPaginator(e.srv.Service.Store.Client(), &dynamodb.ScanInput{TableName: aws.String(e.srv.Service.Config.TableName)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		require.NoError(t, err)
		items += len(page.Items)
	}
	require.Positive(t, items)

	// The machine's AWS settings and credentials stay out (no AWS_*
	// variable but these, no config or credentials file): the endpoint is
	// the engine's, and nothing else is called. The context bounds a waiter
	// that would poll for minutes if the table never answered ACTIVE.
	dir := t.TempDir()
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "DYNAMODB_ENDPOINT=") {
			environ = append(environ, kv)
		}
	}
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = dir
	cmd.Env = append(environ,
		"DYNAMODB_ENDPOINT="+e.srv.DynamoURL,
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1",
	)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the docs' AWS CLI block fails against the embedded engine at %s:\n%s", e.srv.DynamoURL, out)
	text := string(out)
	t.Logf("aws (%s) against %s:\n%s", awsPath, e.srv.DynamoURL, text)

	assert.Regexp(t, `"TableNames": \[\s*"licenses"\s*\]`, text, "list-tables")
	status := regexp.MustCompile(`(?m)^ACTIVE\s+(\d+)$`).FindStringSubmatch(text)
	require.NotNil(t, status, "describe-table answers ACTIVE and the item count")
	assert.Equal(t, strconv.Itoa(items), status[1], "describe-table's ItemCount")

	// The block's COUNTs, in order: the brands (a Query of pk BRANDS with
	// begins_with(sk, BRAND#): rankmath and wp-rocket), then every item
	// (a Scan).
	counts := regexp.MustCompile(`"Count": (\d+),\s*"ScannedCount": (\d+)`).FindAllStringSubmatch(text, -1)
	require.Len(t, counts, 2, "two --select COUNT calls")
	assert.Equal(t, []string{"2", "2"}, counts[0][1:], "the query's Count and ScannedCount")
	assert.Equal(t, []string{strconv.Itoa(items), strconv.Itoa(items)}, counts[1][1:], "the scan's Count and ScannedCount")
	assert.NotContains(t, text, `"Items"`, "a COUNT answers no items")
	assert.Contains(t, text, "Rank Math", "get-item reads the demo brand")
}
