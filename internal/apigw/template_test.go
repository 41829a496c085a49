package apigw_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/apigw"
	"github.com/clsvc/license-service/internal/dev/stack"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
)

// Functions without routes: the brand authorizer (AuthorizeBrand, invoked by
// API Gateway before brand routes) and the event relay (internal/relay,
// triggered by the table's stream), the daily jobs and the webhook
// delivery (internal/webhookqueue, fed by an SQS queue).
var routeless = map[string]bool{"authorize-brand": true, "publish-events": true, "reclaim-seats": true, "notify-expiries": true,
	"deliver-webhooks": true}

// The template, the function directories and the handlers name the same use
// cases; brand routes require an API key, product and health routes do not.
func TestTemplateFunctionsHaveHandlersAndMains(t *testing.T) {
	path := dynamotest.TemplatePath(t)
	tpl, err := stack.Load(path)
	require.NoError(t, err)
	handlers := apigw.New(nil, nil, apigw.Options{}).Handlers()
	root := filepath.Dir(path)

	var declared []string
	for _, fn := range tpl.Functions {
		declared = append(declared, fn.UseCase)
		_, err := os.Stat(filepath.Join(root, "functions", fn.UseCase, "main.go"))
		assert.NoError(t, err, "functions/%s/main.go", fn.UseCase)
		if routeless[fn.UseCase] {
			assert.Empty(t, fn.Routes, "%s serves no route", fn.UseCase)
			continue
		}
		assert.Contains(t, handlers, fn.UseCase, "handler for %s", fn.LogicalID)
		require.NotEmpty(t, fn.Routes, fn.LogicalID)
		for _, r := range fn.Routes {
			assert.True(t, strings.HasPrefix(r.Path, "/api/v1/"), r.Path)
			assert.Equal(t, strings.HasPrefix(r.Path, "/api/v1/brand/"), r.ApiKeyRequired, "%s %s: brand routes and only they need a key", r.Method, r.Path)
		}
	}
	for name := range handlers {
		assert.Contains(t, declared, name, "handler %s is declared in template.yaml", name)
	}
	dirs, err := os.ReadDir(filepath.Join(root, "functions"))
	require.NoError(t, err)
	for _, d := range dirs {
		assert.True(t, slices.Contains(declared, d.Name()), "functions/%s is declared in template.yaml", d.Name())
	}

	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	_, list, found := strings.Cut(string(makefile), "FUNCTIONS := ")
	require.True(t, found, "Makefile defines FUNCTIONS")
	list, _, _ = strings.Cut(list, "\n\n")
	listed := strings.Fields(strings.ReplaceAll(list, "\\", " "))
	assert.ElementsMatch(t, declared, listed, "Makefile FUNCTIONS lists every function")
}

// sam build (BuildMethod: makefile) runs `make build-<LogicalId>` for each
// function: the Makefile has that target for every function of the template,
// building its functions/<USE_CASE> into ARTIFACTS_DIR. `make -n` prints the
// commands without running them.
func TestTemplateMakefileBuildsEveryFunction(t *testing.T) {
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("no make on PATH")
	}
	path := dynamotest.TemplatePath(t)
	tpl, err := stack.Load(path)
	require.NoError(t, err)
	require.NotEmpty(t, tpl.Functions)
	artifacts := filepath.Join(t.TempDir(), "artifacts")
	for _, fn := range tpl.Functions {
		cmd := exec.Command(makeBin, "--no-print-directory", "-n", "-C", filepath.Dir(path), "build-"+fn.LogicalID, "ARTIFACTS_DIR="+artifacts)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "make -n build-%s: %s", fn.LogicalID, out)
		assert.Contains(t, string(out), "-o "+artifacts+"/bootstrap ./functions/"+fn.UseCase+"\n", "build-%s builds functions/%s", fn.LogicalID, fn.UseCase)
		assert.Contains(t, string(out), "GOOS=linux GOARCH=arm64", "build-%s: a Lambda arm64 binary", fn.LogicalID)
	}
}
