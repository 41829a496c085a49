package contract

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// answer is what the wrapped handler answers.
type answer struct {
	status int
	ctype  string
	body   string
}

func (a answer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if a.ctype != "" {
		w.Header().Set("Content-Type", a.ctype)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

func TestCheck(t *testing.T) {
	const js = "application/json"
	for _, c := range []struct {
		name   string
		target string
		answer answer
		breach string // "" for none
	}{
		{"documented answer", "/things/t_a", answer{200, js, `{"id":"t_a"}`}, ""},
		{"documented error code", "/things/t_a", answer{404, js, `{"error":{"code":"thing_not_found","message":"no"}}`}, ""},
		{"unchanged", "/things/t_a", answer{304, "", ""}, ""},
		{"unknown route answered as such", "/nothing", answer{404, js, `{"error":{"code":"route_not_found","message":"no"}}`}, ""},
		{"unknown method answered as such", "/things/t_a", answer{405, js, `{"error":{"code":"method_not_allowed","message":"no"}}`}, ""},
		{"undocumented status", "/things/t_a", answer{409, js, `{"error":{"code":"conflict","message":"no"}}`}, "status 409 is not documented"},
		{"undocumented redirect", "/things/t_a", answer{302, "", ""}, "status 302 is not documented"},
		{"undocumented error code", "/things/t_a", answer{404, js, `{"error":{"code":"other","message":"no"}}`}, `error code "other" is not documented`},
		{"undocumented field", "/things/t_a", answer{200, js, `{"id":"t_a","secret":1}`}, "the answer breaks the document"},
		{"missing field", "/things/t_a", answer{200, js, `{}`}, "the answer breaks the document"},
		{"wrong content type", "/things/t_a", answer{200, "text/plain", `{"id":"t_a"}`}, "the answer breaks the document"},
		{"invalid request accepted", "/things/T1", answer{200, js, `{"id":"T1"}`}, "accepted a request the document refuses"},
		{"undocumented query accepted", "/things/t_a?debug=1", answer{200, js, `{"id":"t_a"}`}, "query parameters not in the document: debug"},
		{"invalid request refused", "/things/T1", answer{404, js, `{"error":{"code":"thing_not_found","message":"no"}}`}, ""},
		{"unknown route answered 200", "/nothing", answer{200, js, `{}`}, "the route is not in the document"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ck, err := Load("testdata/mini.yaml")
			require.NoError(t, err)
			var breaches []string
			h := ck.Wrap(c.answer, func(format string, args ...any) {
				breaches = append(breaches, fmt.Sprintf(format, args...))
			})
			method := http.MethodGet
			if c.name == "unknown method answered as such" {
				method = http.MethodPost
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(method, c.target, nil))
			assert.Equal(t, c.answer.status, w.Code, "the client gets the handler's answer")
			assert.Equal(t, c.answer.body, w.Body.String())
			got := ck.Check(httptest.NewRequest(method, c.target, nil), c.answer.status, w.Header(), []byte(c.answer.body))
			if c.breach == "" {
				assert.Empty(t, got)
				assert.Empty(t, breaches)
				return
			}
			require.NotEmpty(t, got)
			assert.Contains(t, strings.Join(got, "\n"), c.breach)
			assert.Len(t, breaches, len(got), "Wrap reports what Check finds")
		})
	}
}

// Untested lists each documented answer no checked request produced.
func TestUntested(t *testing.T) {
	ck, err := Load("testdata/mini.yaml")
	require.NoError(t, err)
	names := func(as []Answer) (out []string) {
		for _, a := range as {
			out = append(out, a.String())
		}
		return out
	}
	all := []string{"GET /things/{id} 200", "GET /things/{id} 304", "GET /things/{id} 404 thing_not_found"}
	assert.Equal(t, all, names(ck.Documented()))
	assert.Equal(t, all, names(ck.Untested()))
	assert.Equal(t, []string{"GET /things/{id}"}, ck.Operations())

	ck.Check(httptest.NewRequest(http.MethodGet, "/things/t_a", nil), 200, http.Header{"Content-Type": {"application/json"}}, []byte(`{"id":"t_a"}`))
	// A breach does not count as exercised.
	ck.Check(httptest.NewRequest(http.MethodGet, "/things/t_a", nil), 404, http.Header{"Content-Type": {"application/json"}}, []byte(`{"error":{"code":"thing_not_found"}}`))
	assert.Equal(t, all[1:], names(ck.Untested()))
}

func TestLoadRefusesAnInvalidDocument(t *testing.T) {
	_, err := Load("testdata/missing.yaml")
	assert.Error(t, err)
	dir := t.TempDir()
	require.NoError(t, writeFile(dir+"/bad.yaml", "openapi: 3.1.0\ninfo: {title: x}\npaths: {}\n"))
	_, err = Load(dir + "/bad.yaml")
	assert.ErrorContains(t, err, "not a valid OpenAPI document")
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
