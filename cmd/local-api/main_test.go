package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The reference is served on /docs/; everything else reaches the API.
func TestWithReference(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	path := filepath.Join(t.TempDir(), "api.html")
	h := withReference(api, path)
	get := func(target string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		return w
	}
	missing := get("/docs/")
	assert.Equal(t, http.StatusNotFound, missing.Code)
	assert.Contains(t, missing.Body.String(), "make docs")

	require.NoError(t, os.WriteFile(path, []byte("<!DOCTYPE html><title>API</title>"), 0o644))
	w := get("/docs/")
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "<title>API</title>")
	assert.Equal(t, "/docs/", get("/docs").Header().Get("Location"))
	assert.Equal(t, http.StatusTeapot, get("/api/v1/health").Code)
	assert.Equal(t, http.StatusTeapot, get("/docs/other").Code)
}
