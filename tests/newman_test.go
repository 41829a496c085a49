package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// npmTool returns the path of an npm tool of tools/node_modules (make tools
// installs them); without it the test is skipped, except in CI.
func npmTool(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(filepath.Dir(templatePath(t)), "tools", "node_modules", ".bin", name)
	if _, err := os.Stat(path); err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("%s is not installed, and CI=%q requires it: run make tools", name, ci)
		}
		t.Skipf("%s is not installed (make tools installs it)", name)
	}
	return path
}

// The Postman collection made from api/openapi.yaml (tools/postman.js, as
// make postman does) runs with newman against the local service: every
// request gets a status the document gives for it (the collection's own
// tests), and its every answer is held to the document (the contract check
// of every test's local service).
func TestPostmanCollectionRunsWithNewman(t *testing.T) {
	newman := npmTool(t, "newman")
	root := filepath.Dir(templatePath(t))
	dir := t.TempDir()
	collection := filepath.Join(dir, "collection.json")
	gen := exec.Command("node", filepath.Join(root, "tools", "postman.js"), filepath.Join(root, "api", "openapi.yaml"), collection)
	out, err := gen.CombinedOutput()
	require.NoError(t, err, string(out))

	e := start(t)
	report := filepath.Join(dir, "report.json")
	run := exec.Command(newman, "run", collection, "--env-var", "baseUrl="+e.srv.APIURL,
		"--reporters", "cli,json", "--reporter-json-export", report, "--color", "off", "--disable-unicode")
	out, err = run.CombinedOutput()
	require.NoError(t, err, "newman:\n%s", out)

	var r struct {
		Run struct {
			Stats struct {
				Requests, Assertions struct{ Total, Failed int }
			}
			Failures []any
		}
	}
	b, err := os.ReadFile(report)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &r))
	assert.Equal(t, len(contractChecker.Operations()), r.Run.Stats.Requests.Total, "one request per operation of the document")
	assert.Equal(t, r.Run.Stats.Requests.Total, r.Run.Stats.Assertions.Total, "a status test per request")
	assert.Zero(t, r.Run.Stats.Assertions.Failed)
	assert.Empty(t, r.Run.Failures)
}
