package licensing

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseText(t *testing.T) {
	ok := []struct {
		in, want string
		kind     TextKind
	}{
		{"Rank Math Pro", "Rank Math Pro", SingleLine},
		{"  Rank Math\t\n", "Rank Math", SingleLine},       // surrounding ASCII white space is trimmed
		{"Zürich · 東京 · ✨", "Zürich · 東京 · ✨", SingleLine}, // letters and symbols of any script
		{"line 1\nline 2\r\n\tindented", "line 1\nline 2\r\n\tindented", MultiLine},
		{"", "", SingleLine},
	}
	for _, tt := range ok {
		got, err := ParseText("f", tt.in, tt.kind)
		require.NoError(t, err, "%q", tt.in)
		assert.Equal(t, tt.want, got)
	}
	bad := []struct {
		name, in string
		kind     TextKind
	}{
		{"right-to-left override", "abc\u202Edef", MultiLine},
		{"left-to-right isolate", "\u2066abc", SingleLine},
		{"zero-width space", "exa\u200Bmple", SingleLine},
		{"zero-width joiner", "a\u200Db", SingleLine},
		{"byte order mark", "\uFEFFabc", MultiLine},
		{"soft hyphen", "a\u00ADb", SingleLine},
		{"line separator inside", "a\u2028b", MultiLine},
		{"line separator at the end (TrimSpace would drop it)", "abc\u2028", SingleLine},
		{"paragraph separator at the start", "\u2029abc", SingleLine},
		{"next line U+0085 at the end", "abc\u0085", MultiLine},
		{"next line inside", "a\u0085b", SingleLine},
		{"NUL", "a\x00b", MultiLine},
		{"NUL at the edge (not white space)", "\x00abc", SingleLine},
		{"escape", "a\x1b[31mb", MultiLine},
		{"DEL", "a\x7fb", SingleLine},
		{"C1 control", "a\u009bb", SingleLine},
		{"vertical tab inside", "a\vb", MultiLine},
		{"TAB inside one line", "a\tb", SingleLine},
		{"LF inside one line", "a\nb", SingleLine},
		{"CR inside one line", "a\rb", SingleLine},
		{"invalid UTF-8", "a\xffb", MultiLine},
	}
	for _, tt := range bad {
		_, err := ParseText("name", tt.in, tt.kind)
		var e *Error
		require.ErrorAs(t, err, &e, tt.name)
		assert.Equal(t, CodeValidation, e.Code, tt.name)
		assert.Equal(t, "name", e.Field, tt.name)
		assert.True(t, strings.HasPrefix(e.Message, "name: "), tt.name)
	}
	_, err := ParseText("name", "a\u202Eb", SingleLine)
	assert.Contains(t, err.Error(), "U+202E", "the message names the character")
}

// Every text field runs the rule before its own: none of them lets an
// invisible character through, not even at its edges where TrimSpace would
// have dropped it.
func TestEveryParserRefusesInvisibleCharacters(t *testing.T) {
	parsers := map[string]func(string) error{
		"email":      func(s string) error { _, err := ParseEmail("f", s); return err },
		"slug":       func(s string) error { _, err := ParseSlug("f", s); return err },
		"name":       func(s string) error { _, err := ParseName("f", s); return err },
		"reason":     func(s string) error { _, err := ParseReason("f", s); return err },
		"date":       func(s string) error { _, err := ParseFutureDate("f", s, now); return err },
		"key":        func(s string) error { _, err := ParseLicenseKey("f", s); return err },
		"prefix":     func(s string) error { _, err := ParsePrefix("f", s); return err },
		"version":    func(s string) error { _, err := ParseVersion("f", s); return err },
		"installed":  func(s string) error { _, err := ParseInstalledVersion("f", s); return err },
		"channel":    func(s string) error { _, err := ParseChannel("f", s); return err },
		"url":        func(s string) error { _, err := ParseInstance("url", s); return err },
		"hostname":   func(s string) error { _, err := ParseInstance("hostname", s); return err },
		"machine_id": func(s string) error { _, err := ParseInstance("machine_id", s); return err },
		"webhook": func(s string) error {
			_, err := NewWebhookEndpoint("b", s, []string{AllEvents}, "whsec_x", now)
			return err
		},
	}
	valid := map[string]string{
		"email": "jane@example.com", "slug": "rankmath-pro", "name": "Rank Math", "reason": "chargeback",
		"date": "2027-01-01T00:00:00Z", "key": "RM-ABCD-EFGH-JKLM-NPQR", "prefix": "RM", "version": "1.2.3",
		"installed": "1.2", "channel": "beta", "url": "https://example.com", "hostname": "build.example.com",
		"machine_id": "ABC-123", "webhook": "https://hooks.example.com/x",
	}
	for name, parse := range parsers {
		v := valid[name]
		require.NoError(t, parse(v), "%s: the valid value %q", name, v)
		for _, c := range []string{"\u202E", "\u200B", "\u2028", "\u2029", "\u0085", "\uFEFF", "\x01"} {
			for _, in := range []string{v + c, c + v, v[:1] + c + v[1:]} {
				assert.Equal(t, CodeValidation, ErrorCode(parse(in)), "%s accepted %q", name, in)
			}
		}
	}
	release := func(mod func(*ReleaseInput)) error {
		size := int64(10)
		in := ReleaseInput{Version: "1.0.0", Changelog: "# 1.0.0\n\n- first\r\n\t- nested", PackageSHA256: strings.Repeat("a", 64), PackageSize: &size}
		mod(&in)
		_, err := NewRelease(Product{Brand: "b", ID: "prd_x", Slug: "x"}, in, now)
		return err
	}
	require.NoError(t, release(func(*ReleaseInput) {}), "a changelog keeps TAB, LF and CR")
	for field, mod := range map[string]func(*ReleaseInput){
		"changelog":      func(in *ReleaseInput) { in.Changelog = "- fixed \u202Eevil" },
		"requires_wp":    func(in *ReleaseInput) { in.RequiresWP = "6.1\u2028" },
		"package_sha256": func(in *ReleaseInput) { in.PackageSHA256 += "\u200B" },
	} {
		var e *Error
		require.ErrorAs(t, release(mod), &e, field)
		assert.Equal(t, field, e.Field)
	}
}

// FuzzParseText: never panics; refuses with a validation error naming the
// field; what it accepts is trimmed valid UTF-8 without any invisible
// character and without controls but those its kind allows, and is a fixed
// point.
func FuzzParseText(f *testing.F) {
	for _, s := range []string{"Rank Math", " a\n", "a\u202Eb", "\u2028", "a\tb", "a\r\nb", "\xff", "\x00", "\u0085x", "x\u00a0", ""} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, multi bool) {
		kind := SingleLine
		if multi {
			kind = MultiLine
		}
		got, err := ParseText("f", s, kind)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeValidation || e.Field != "f" || e.Message == "" {
				t.Fatalf("ParseText(%q): %#v", s, err)
			}
			return
		}
		if !utf8.ValidString(got) || got != strings.TrimSpace(got) {
			t.Fatalf("ParseText(%q) = %q: not trimmed UTF-8", s, got)
		}
		for _, r := range s {
			if Invisible(r) {
				t.Fatalf("ParseText(%q) accepted U+%04X", s, r)
			}
		}
		for _, r := range got {
			if unicode.IsControl(r) && !(multi && (r == '\t' || r == '\n' || r == '\r')) {
				t.Fatalf("ParseText(%q) kept the control U+%04X", s, r)
			}
		}
		if again, err := ParseText("f", got, kind); err != nil || again != got {
			t.Fatalf("not a fixed point: %q -> %q -> %q (%v)", s, got, again, err)
		}
		if CheckText("f", got, kind) != nil {
			t.Fatalf("CheckText refuses what ParseText accepted: %q", got)
		}
	})
}
