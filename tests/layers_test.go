package tests

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The Lambda functions link only runtime packages: no development tooling
// (internal/dev/…: the local API, the embedded engines, the demo data, the
// template reader, the load test, the emulator runner) and no YAML parser.
// Local tools create their tables themselves (internal/dev/localdb).
func TestFunctionsLinkNoDevelopmentTooling(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "list", "-deps", "./functions/...")
	cmd.Dir = filepath.Join(filepath.Dir(here), "..")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/clsvc/license-service/internal/dynamo", "the listing is of the functions' dependencies")
	for _, d := range deps {
		require.NotContains(t, d, "/internal/dev/", "a function links development tooling")
		require.NotContains(t, d, "yaml", "a function links a YAML parser")
		if strings.HasPrefix(d, "github.com/clsvc/") {
			require.False(t, strings.HasSuffix(d, "test"), "a function links a test helper: %s", d)
		}
	}
}
