package api_test

import (
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/clsvc/license-service/api"
	"github.com/clsvc/license-service/internal/dev/apidoc"
)

var update = flag.Bool("update", false, "rewrite openapi.json from openapi.yaml")

// The embedded JSON is openapi.yaml converted: `make api-json` rewrites it.
func TestJSONIsTheDocument(t *testing.T) {
	src, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	want, err := apidoc.YAMLToJSON(src)
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile("openapi.json", want, 0o644))
		return
	}
	require.Equal(t, string(want), string(api.JSON), "api/openapi.json is stale: run make api-json")

	// Value for value the YAML, in the YAML's order.
	var fromJSON, fromYAML any
	require.NoError(t, json.Unmarshal(api.JSON, &fromJSON))
	require.NoError(t, yaml.Unmarshal(src, &fromYAML))
	a, err := json.Marshal(fromYAML)
	require.NoError(t, err)
	b, err := json.Marshal(fromJSON)
	require.NoError(t, err)
	assert.JSONEq(t, string(a), string(b))
	assert.Regexp(t, `^\{"openapi":"3\.1\.\d+","info":`, string(api.JSON), "keys keep the document's order")
}
