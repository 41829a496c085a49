package tests

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/api"
	"github.com/clsvc/license-service/internal/dev/contract"
	"github.com/clsvc/license-service/internal/dev/stack"
)

// contractChecker holds every local service the tests start to
// api/openapi.yaml (CONTRACT_DOC names another document).
var contractChecker *contract.Checker

// contractDoc is the path of the OpenAPI document the tests hold the service to.
func contractDoc() string {
	if p := os.Getenv("CONTRACT_DOC"); p != "" {
		return p
	}
	return filepath.Join("..", "api", "openapi.yaml")
}

func TestMain(m *testing.M) {
	flag.Parse()
	c, err := contract.Load(contractDoc())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	contractChecker = c
	code := m.Run()
	// Every documented answer must have been produced by some test; only a
	// run of the whole suite can tell.
	if flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == "" {
		if untested := c.Untested(); len(untested) > 0 {
			fmt.Println("untested in the contract (documented in " + contractDoc() + ", produced by no test):")
			for _, a := range untested {
				fmt.Println("  " + a.String())
			}
			code = 1
		}
	}
	os.Exit(code)
}

// The document's operations are exactly the routes of template.yaml.
func TestContractCoversTheTemplateRoutes(t *testing.T) {
	tpl, err := stack.Load(templatePath(t))
	require.NoError(t, err)
	var routes []string
	for _, fn := range tpl.Functions {
		for _, r := range fn.Routes {
			routes = append(routes, r.Method+" "+r.Path)
		}
	}
	slices.Sort(routes)
	require.Equal(t, strings.Join(routes, "\n"), strings.Join(contractChecker.Operations(), "\n"),
		"api/openapi.yaml's paths and methods (right) must be template.yaml's routes (left)")
}

// The document the openapi function serves is api/openapi.yaml as JSON,
// cacheable, and revalidated with its ETag.
func TestOpenAPIDocumentIsServed(t *testing.T) {
	e := start(t)
	first := e.do(t, call{method: http.MethodGet, path: "/api/v1/openapi.json"})
	require.Equal(t, http.StatusOK, first.status, "body: %s", first.body)
	require.JSONEq(t, string(api.JSON), string(first.body))
	require.Equal(t, "public, max-age=300", first.header.Get("Cache-Control"))
	etag := first.header.Get("ETag")
	require.Regexp(t, `^"[0-9a-f]{32}"$`, etag)

	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(first.body, &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	require.Contains(t, doc.Paths, "/api/v1/openapi.json")

	again := e.do(t, call{method: http.MethodGet, path: "/api/v1/openapi.json", header: map[string]string{"If-None-Match": etag}})
	require.Equal(t, http.StatusNotModified, again.status)
	require.Empty(t, again.body)
	require.Equal(t, etag, again.header.Get("ETag"))

	stale := e.do(t, call{method: http.MethodGet, path: "/api/v1/openapi.json", header: map[string]string{"If-None-Match": `"00000000000000000000000000000000"`}})
	require.Equal(t, http.StatusOK, stale.status)
}
