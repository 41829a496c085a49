package licensing

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCanonicalURLs(t *testing.T) {
	same := map[string]string{
		"https://www.Example.com/":            "example.com",
		"https://www.www.shop.com":            "shop.com",
		"WWW.www.Shop.com/blog/":              "shop.com/blog",
		"http://example.com":                  "example.com",
		"example.com":                         "example.com",
		"EXAMPLE.COM/":                        "example.com",
		"https://example.com:443/":            "example.com",
		"http://example.com:80":               "example.com",
		"example.com:443":                     "example.com",
		"https://example.com/?ref=x#top":      "example.com",
		"https://user:pw@example.com/":        "example.com",
		"https://example.com.":                "example.com",
		"  https://example.com  ":             "example.com",
		"HTTPS://WWW.EXAMPLE.COM/blog/":       "example.com/blog",
		"example.com/blog":                    "example.com/blog",
		"example.com/Blog//":                  "example.com/Blog",
		"https://example.com:8443/shop":       "example.com:8443/shop",
		"http://example.com:443":              "example.com:443",
		"https://example.com:80":              "example.com:80",
		"https://bücher.de/":                  "xn--bcher-kva.de",
		"https://www.BÜCHER.de/shop":          "xn--bcher-kva.de/shop",
		"http://127.0.0.1:8080/wp":            "127.0.0.1:8080/wp",
		"http://[::1]/":                       "[::1]",
		"https://staging.example.com/wp/":     "staging.example.com/wp",
		"https://www2.example.com":            "www2.example.com",
		"https://example.com/a%20b/":          "example.com/a%20b",
		"https://wwwexample.com":              "wwwexample.com",
		"https://sub.www.example.com":         "sub.www.example.com",
		"https://example.com/path?x=1&y=2#f/": "example.com/path",
	}
	for in, want := range same {
		got, err := ParseInstance("url", in)
		require.NoError(t, err, in)
		assert.Equal(t, Instance{Type: InstanceURL, ID: want}, got, in)
	}
	a, _ := ParseInstance("url", "example.com/blog")
	b, _ := ParseInstance("url", "example.com")
	assert.NotEqual(t, a, b, "the path tells sites apart")
}

func TestInstanceRejects(t *testing.T) {
	tests := []struct{ typ, id, field string }{
		{"url", "", "instance_identifier"},
		{"url", "   ", "instance_identifier"},
		{"url", "ftp://example.com", "instance_identifier"},
		{"url", "https://", "instance_identifier"},
		{"url", "https://exa mple.com", "instance_identifier"},
		{"url", "https://example.com/\x00", "instance_identifier"},
		{"url", "example.com\n", "instance_identifier"},
		{"url", "https://" + strings.Repeat("a", 250) + ".com", "instance_identifier"},
		{"hostname", "my host", "instance_identifier"},
		{"hostname", "shop\u00a0example.com", "instance_identifier"},
		{"hostname", "a\u2003b", "instance_identifier"},
		{"machine_id", "\x7f", "instance_identifier"},
		{"machine_id", strings.Repeat("m", 256), "instance_identifier"},
		{"ip", "1.2.3.4", "instance_type"},
		{"url\u202E", "example.com", "instance_type"},
		{"url", "example.com:99999", "instance_identifier"},
		{"url", "https://example.com:0/", "instance_identifier"},
		{"url", "http://[::1]:65536", "instance_identifier"},
		{"url", "exa\u200Bmple.com", "instance_identifier"},
		{"url", "http://exa%E2%80%8Bmple.com/", "instance_identifier"},
		{"url", "exa\u00ADmple.com", "instance_identifier"},
		{"url", "exa\u034Fmple.com", "instance_identifier"},
		{"url", "exa\uFE0Fmple.com", "instance_identifier"},
		{"url", "\u202Eexample.com", "instance_identifier"},
		{"url", "example.com\u2028", "instance_identifier"},
		{"url", "https://example.com/\u202Eblog", "instance_identifier"},
		{"hostname", "example.com:99999", "instance_identifier"},
		{"hostname", "example.com:0", "instance_identifier"},
		{"hostname", "example.com:", "instance_identifier"},
		{"hostname", "exa\u200Bmple.com", "instance_identifier"},
		{"hostname", "\u2066example.com", "instance_identifier"},
		{"machine_id", "ABC\u200B123", "instance_identifier"},
		{"machine_id", "ABC-123\u0085", "instance_identifier"},
	}
	for _, tt := range tests {
		_, err := ParseInstance(tt.typ, tt.id)
		var e *Error
		require.ErrorAs(t, err, &e, "%s %q", tt.typ, tt.id)
		assert.Equal(t, CodeValidation, e.Code)
		assert.Equal(t, tt.field, e.Field, "%s %q", tt.typ, tt.id)
	}
}

// IDNA mapping drops zero-width characters without a word: exa<U+200B>mple
// would be example.com's seat. The identifier is refused before mapping,
// percent-encoded or not.
func TestIDNAWouldDropZeroWidth(t *testing.T) {
	ascii, err := idnaProfile.ToASCII("exa\u200Bmple.com")
	require.NoError(t, err)
	require.Equal(t, "example.com", ascii, "the mapping this test guards against")
	for _, in := range []string{"exa\u200Bmple.com", "https://exa%E2%80%8Bmple.com", "exa\u00ADmple.com"} {
		_, err := ParseInstance("url", in)
		assert.Equal(t, CodeValidation, ErrorCode(err), in)
	}
}

func TestInstancePorts(t *testing.T) {
	for in, want := range map[string]string{
		"example.com:1":              "example.com:1",
		"example.com:65535":          "example.com:65535",
		"https://example.com:08443/": "example.com:8443",
		"example.com:0080":           "example.com",
		"http://[::1]:8080":          "[::1]:8080",
	} {
		got, err := ParseInstance("url", in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got.ID, in)
	}
	got, err := ParseInstance("hostname", "Build.Example.com:08080")
	require.NoError(t, err)
	assert.Equal(t, "build.example.com:8080", got.ID)
	got, err = ParseInstance("hostname", "::1")
	require.NoError(t, err, "an IPv6 address is not a host and port")
	assert.Equal(t, "::1", got.ID)
	for _, in := range []string{"example.com:99999", "example.com:0", "example.com:65536", "example.com:99999999999999999999999"} {
		for _, typ := range []string{"url", "hostname"} {
			_, err := ParseInstance(typ, in)
			var e *Error
			require.ErrorAs(t, err, &e, "%s %q", typ, in)
			assert.Equal(t, "instance_identifier", e.Field)
			assert.Contains(t, e.Message, "port")
		}
	}
}

func TestHostnameAndMachineID(t *testing.T) {
	got, err := ParseInstance("hostname", "  Build-01.Example.COM ")
	require.NoError(t, err)
	assert.Equal(t, Instance{Type: InstanceHostname, ID: "build-01.example.com"}, got)
	got, err = ParseInstance("machine_id", " ABC-123 ")
	require.NoError(t, err)
	assert.Equal(t, Instance{Type: InstanceMachineID, ID: " ABC-123 "}, got, "machine ids are exact")
	got, err = ParseInstance("", "https://www.example.com")
	require.NoError(t, err)
	assert.Equal(t, Instance{Type: InstanceURL, ID: "example.com"}, got, "url is the default type")
}

func FuzzParseInstanceURL(f *testing.F) {
	for _, s := range []string{"https://www.Example.com/", "example.com/blog", "http://[::1]:80/", "https://bücher.de", "http://a:b@c.d:8080/e?f#g", "www.", "://", "%zz", "http://[::1", "https://www.www.shop.com",
		"example.com:99999", "example.com:0", "example.com:00443", "exa\u200bmple.com", "http://exa%E2%80%8Bmple.com", "\u202eexample.com", "exa\u034fmple.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		inst, err := ParseInstance("url", s)
		if err != nil {
			if ErrorCode(err) != CodeValidation {
				t.Fatalf("unexpected error kind %v", err)
			}
			return
		}
		if inst.ID == "" || len(inst.ID) > MaxInstanceLength || strings.ContainsAny(inst.ID, "?#") || strings.HasSuffix(inst.ID, "/") {
			t.Fatalf("bad canonical form %q of %q", inst.ID, s)
		}
		if strings.HasPrefix(inst.ID, "www.") {
			t.Fatalf("www. kept in %q", inst.ID)
		}
		if strings.IndexFunc(s, Invisible) >= 0 {
			t.Fatalf("accepted %q, which holds an invisible character", s)
		}
		checkPort(t, s, inst.ID)
		// Canonical forms are fixed points.
		again, err := ParseInstance("url", inst.ID)
		if err != nil || again != inst {
			t.Fatalf("not a fixed point: %q -> %q -> %+v (%v)", s, inst.ID, again, err)
		}
	})
}

// checkPort fails when the canonical id of raw carries a port that is not
// 1 to 65535 written without leading zeros.
func checkPort(t *testing.T, raw, id string) {
	t.Helper()
	host, _, _ := strings.Cut(id, "/")
	var port string
	if strings.HasPrefix(host, "[") {
		i := strings.LastIndex(host, "]:")
		if i < 0 {
			return // [IPv6] without a port
		}
		port = host[i+2:]
	} else {
		if strings.Count(host, ":") != 1 {
			return // no port, or an IPv6 hostname
		}
		_, port, _ = strings.Cut(host, ":")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		t.Fatalf("%q has the canonical id %q, with a bad port", raw, id)
	}
}
