package licensing

import (
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func TestParseEmail(t *testing.T) {
	ok := map[string]string{
		"jane@example.com":        "jane@example.com",
		" Jane.Doe@Example.COM ":  "jane.doe@example.com",
		"a+tag@sub.example.co.uk": "a+tag@sub.example.co.uk",
	}
	for in, want := range ok {
		got, err := ParseEmail("customer_email", in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	bad := []string{"", "jane", "jane@", "@example.com", "jane@example", "Jane <jane@example.com>", "jane@example.com.", "ja ne@example.com", "jane@exa\nmple.com", strings.Repeat("a", 250) + "@example.com", "jane@\xff.com"}
	for _, in := range bad {
		_, err := ParseEmail("customer_email", in)
		var e *Error
		require.ErrorAs(t, err, &e, "%q", in)
		assert.Equal(t, CodeValidation, e.Code)
		assert.Equal(t, "customer_email", e.Field)
	}
}

// The domain of an address is a host name: IP literals, dashes at the edge
// of a label, "#" and other characters a host name cannot hold are
// refused; an IDN is kept in its normal Unicode form, and a spelling that
// IDNA mapping would rewrite is refused. "#" stays allowed in the local
// part, as RFC 5322 has it.
func TestParseEmailDomain(t *testing.T) {
	ok := map[string]string{
		"a#b@example.com":                          "a#b@example.com",
		"jane@bücher.de":                           "jane@bücher.de",
		"Jane@BÜCHER.de":                           "jane@bücher.de",
		"jane@xn--bcher-kva.de":                    "jane@xn--bcher-kva.de",
		"jane@a-b.example.co.uk":                   "jane@a-b.example.co.uk",
		"jane@123.example.com":                     "jane@123.example.com",
		"jane@example.xn--p1ai":                    "jane@example.xn--p1ai",
		"jane@" + strings.Repeat("a", 63) + ".com": "jane@" + strings.Repeat("a", 63) + ".com",
	}
	for in, want := range ok {
		got, err := ParseEmail("customer_email", in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{
		"jane@1.2.3.4", "jane@[1.2.3.4]", "jane@[IPv6:2001:db8::1]", "jane@-x.com", "jane@x-.com", "jane@x.-com",
		"jane@a#b.com", "jane@x_y.com", "jane@example.123", "jane@" + strings.Repeat("a", 64) + ".com",
		"jane@ｅｘａｍｐｌｅ.com", "jane@exa\u200Bmple.com", "jane@\u202Eexample.com", "jane@example.com\u2028",
		"ja\u0085ne@example.com", "ja\x01ne@example.com", "jane@exa..mple.com", "jane@.example.com",
	} {
		_, err := ParseEmail("customer_email", in)
		var e *Error
		require.ErrorAs(t, err, &e, "%q", in)
		assert.Equal(t, CodeValidation, e.Code, in)
		assert.Equal(t, "customer_email", e.Field, in)
	}
}

func TestParseSlugAndName(t *testing.T) {
	for _, in := range []string{"rankmath-pro", "a", "seo2"} {
		got, err := ParseSlug("slug", in)
		require.NoError(t, err)
		assert.Equal(t, in, got)
	}
	for _, in := range []string{"", "Rank", "a--b", "-a", "a-", "a_b", "é", strings.Repeat("a", 65)} {
		_, err := ParseSlug("slug", in)
		assert.Equal(t, CodeValidation, ErrorCode(err), in)
	}
	_, err := ParseName("name", "Rank Math Pro")
	assert.NoError(t, err)
	for _, in := range []string{"", "  ", "a\x00b", strings.Repeat("x", 101), "\xff"} {
		_, err := ParseName("name", in)
		assert.Equal(t, CodeValidation, ErrorCode(err), "%q", in)
	}
}

func TestParseFutureDate(t *testing.T) {
	got, err := ParseFutureDate("expiration_date", "2027-01-31T23:59:59+02:00", now)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2027, 1, 31, 21, 59, 59, 0, time.UTC), got)
	for _, in := range []string{"", "2027-01-31", "31/01/2027", "2025-01-01T00:00:00Z", now.Format(time.RFC3339), "2027-13-01T00:00:00Z"} {
		_, err := ParseFutureDate("expiration_date", in, now)
		assert.Equal(t, CodeValidation, ErrorCode(err), in)
	}
}

func TestParseSeatLimit(t *testing.T) {
	n, err := ParseSeatLimit("max_seats", nil, 1)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	for _, v := range []int{1, 5, 10000} {
		n, err := ParseSeatLimit("max_seats", &v, 1)
		require.NoError(t, err)
		assert.Equal(t, v, n)
	}
	for _, v := range []int{0, -1, 10001} {
		_, err := ParseSeatLimit("max_seats", &v, 1)
		assert.Equal(t, CodeValidation, ErrorCode(err), v)
	}
}

func TestValidID(t *testing.T) {
	id := NewID(KindLicense)
	assert.True(t, ValidID(KindLicense, id), id)
	assert.False(t, ValidID(KindProduct, id))
	for _, s := range []string{"", "lic_", "lic_ABCDEFGHIJKLMNOPQRST", "lic_abcdefghijklmnopqrs1", "lic_abcdefghijklmnopqr"} {
		assert.False(t, ValidID(KindLicense, s), s)
	}
}

func TestErrorCodes(t *testing.T) {
	assert.Equal(t, Code(""), ErrorCode(nil))
	assert.Equal(t, CodeInternal, ErrorCode(assert.AnError))
	wrapped := Unavailable(assert.AnError)
	assert.Equal(t, CodeServiceUnavailable, ErrorCode(wrapped))
	assert.ErrorIs(t, wrapped, assert.AnError)
	assert.NotContains(t, wrapped.Message, assert.AnError.Error(), "the cause never reaches the client message")
}

func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{"jane@example.com", "JANE@EXAMPLE.COM", "a@b", "", "\x00@x.y", "\"a b\"@example.com",
		"jane@1.2.3.4", "jane@[1.2.3.4]", "jane@-x.com", "jane@x-.com", "jane@a#b.com", "a#b@example.com", "jane@bücher.de",
		"jane@exa\u200bmple.com", "jane@example.com\u2028", "jane@ＥＸＡＭＰＬＥ.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEmail("email", s)
		if err != nil {
			if ErrorCode(err) != CodeValidation {
				t.Fatalf("unexpected error kind %v", err)
			}
			return
		}
		if e != strings.ToLower(e) || len(e) > MaxEmailLength || !strings.Contains(e, "@") {
			t.Fatalf("bad normalised email %q from %q", e, s)
		}
		if again, err := ParseEmail("email", e); err != nil || again != e {
			t.Fatalf("not idempotent: %q -> %q (%v)", e, again, err)
		}
		at := strings.LastIndexByte(e, '@')
		if !validEmailDomain(e[at+1:]) || strings.IndexFunc(s, Invisible) >= 0 || strings.IndexFunc(e, unicode.IsControl) >= 0 {
			t.Fatalf("accepted %q as %q: its domain is not a host name, or it holds an invisible or control character", s, e)
		}
		if domain := e[at+1:]; strings.Trim(domain[strings.LastIndexByte(domain, '.')+1:], "0123456789") == "" || strings.ContainsAny(domain, "#[]_") {
			t.Fatalf("accepted the domain of %q", e)
		}
	})
}

func FuzzParseFutureDate(f *testing.F) {
	for _, s := range []string{"2027-01-31T23:59:59Z", "2027-01-31T23:59:59+02:00", "2020-01-01T00:00:00Z", "", "9999-12-31T23:59:59-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseFutureDate("expiration_date", s, now)
		if err != nil {
			if ErrorCode(err) != CodeValidation {
				t.Fatalf("unexpected error kind %v", err)
			}
			return
		}
		if !d.After(now) || d.Location() != time.UTC {
			t.Fatalf("accepted %q as %v", s, d)
		}
	})
}
