// Package api holds the service's contract: openapi.yaml (OpenAPI 3.1), the
// routes of template.yaml with their requests, answers and error codes, and
// openapi.json, the same document as JSON (`make api-json` writes it; a test
// fails when it is stale). The openapi function serves the JSON; the
// end-to-end tests hold every request and answer to the YAML
// (internal/dev/contract).
package api

import _ "embed"

// JSON is the document as JSON, keys in the order of openapi.yaml.
//
//go:embed openapi.json
var JSON []byte
