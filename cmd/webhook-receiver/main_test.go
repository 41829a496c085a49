package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/webhook"
)

// The example receiver accepts what the service signs — with one secret or
// two during a rotation — and refuses a changed body, another secret, an
// old timestamp and a request without signature; a retry (same webhook-id)
// is acknowledged but not printed again.
func TestReceiverVerifiesWhatTheServiceSigns(t *testing.T) {
	oldSecret, err := webhook.NewSecret()
	require.NoError(t, err)
	secret, err := webhook.NewSecret()
	require.NoError(t, err)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	h := handler(secret, &out, func() time.Time { return now })
	body := []byte(`{"event_id":"evt_a","event_type":"LicenseRenewed","license_id":"lic_1","sequence":4}`)
	post := func(secrets []string, at time.Time, b []byte) int {
		hd, err := webhook.Sign(secrets, "evt_a", at, body)
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(b))
		r.Header = hd
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, http.StatusNoContent, post([]string{secret}, now, body))
	assert.Equal(t, http.StatusNoContent, post([]string{secret, oldSecret}, now, body), "during a rotation")
	assert.Equal(t, http.StatusNoContent, post([]string{oldSecret, secret}, now.Add(-4*time.Minute), body))
	assert.Equal(t, "evt_a LicenseRenewed license=lic_1 sequence=4\n", out.String(), "printed once")
	assert.Equal(t, http.StatusBadRequest, post([]string{oldSecret}, now, body), "another secret")
	assert.Equal(t, http.StatusBadRequest, post([]string{secret}, now, []byte(strings.Replace(string(body), "4", "5", 1))), "a changed body")
	assert.Equal(t, http.StatusBadRequest, post([]string{secret}, now.Add(-6*time.Minute), body), "too old")
	assert.Equal(t, http.StatusBadRequest, post([]string{secret}, now.Add(6*time.Minute), body), "from the future")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(body)))
	assert.Equal(t, http.StatusBadRequest, w.Code, "unsigned")

	// An older event of the license, arriving late, is acknowledged and not applied.
	out.Reset()
	older := []byte(`{"event_id":"evt_b","event_type":"LicenseSuspended","license_id":"lic_1","sequence":3}`)
	hd, err := webhook.Sign([]string{secret}, "evt_b", now, older)
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(older))
	r.Header = hd
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, "evt_b LicenseSuspended license=lic_1 sequence=3: older than 4, not applied\n", out.String())
}

// docs/brands.md shows verify as it is here.
func TestReadmeShowsVerify(t *testing.T) {
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", src, parser.ParseComments)
	require.NoError(t, err)
	var fn string
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "verify" {
			fn = string(src[fset.Position(fd.Pos()).Offset:fset.Position(fd.End()).Offset])
		}
	}
	require.NotEmpty(t, fn)
	readme, err := os.ReadFile(filepath.Join("..", "..", "docs", "brands.md"))
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(readme), "```go\n"+fn+"\n```"), "docs/brands.md's receiver example is cmd/webhook-receiver's verify:\n%s", fn)
}
