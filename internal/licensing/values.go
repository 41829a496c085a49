package licensing

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on values that come from outside.
const (
	MinSeatLimit      = 1
	MaxSeatLimit      = 10000
	MaxEmailLength    = 254
	MaxNameLength     = 100
	MaxSlugLength     = 64
	MaxReasonLength   = 500
	MaxProductsPerKey = 20
)

var slugPattern = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

// ParseEmail validates an e-mail address and normalises it to lower case.
// Its domain must be a host name (see validEmailDomain): no IP literal, no
// label that starts or ends with a dash, no "#" or other character a host
// name cannot hold. An internationalised domain (bücher.de) is accepted in
// its normal Unicode form and kept so; the local part follows RFC 5322
// (dot-atoms: "#", "+", "!" … allowed, no quoted strings).
func ParseEmail(field, raw string) (string, error) {
	s, err := ParseText(field, raw, SingleLine)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", Invalid(field, "is required")
	}
	if len(s) > MaxEmailLength {
		return "", Invalid(field, "must be a valid e-mail address of at most %d characters", MaxEmailLength)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" || strings.ContainsAny(s, " \t\r\n") {
		return "", Invalid(field, "must be a valid e-mail address like name@example.com")
	}
	s = strings.ToLower(s)
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !validEmailDomain(s[at+1:]) {
		return "", Invalid(field, "must be a valid e-mail address like name@example.com, whose domain is a host name (not an IP address)")
	}
	return s, nil
}

// validEmailDomain reports whether a lower-case domain is a host name: in
// its ASCII (punycode) form at most 253 characters of at least two labels,
// each 1 to 63 letters, digits and dashes, not starting or ending with a
// dash, and a top-level label that is not all digits (so 1.2.3.4 is
// refused, as is [1.2.3.4]). A Unicode domain must be the normal form of
// its punycode: what IDNA mapping would change (full-width letters, dropped
// invisible characters) is refused rather than silently rewritten.
func validEmailDomain(d string) bool {
	ascii := d
	if !isASCII(d) {
		var err error
		if ascii, err = idnaProfile.ToASCII(d); err != nil {
			return false
		}
		if back, err := idnaProfile.ToUnicode(ascii); err != nil || back != d {
			return false
		}
	}
	if len(ascii) > 253 {
		return false
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// ParseSlug validates a slug: lower-case letters, digits and single dashes.
func ParseSlug(field, raw string) (string, error) {
	s, err := ParseText(field, raw, SingleLine)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", Invalid(field, "is required")
	}
	if len(s) > MaxSlugLength || !slugPattern.MatchString(s) {
		return "", Invalid(field, "must be 1 to %d lower-case letters, digits and single dashes, like my-plugin-pro", MaxSlugLength)
	}
	return s, nil
}

// ParseName validates a display name: one line of 1..MaxNameLength
// characters of text (see ParseText).
func ParseName(field, raw string) (string, error) {
	s, err := ParseText(field, raw, SingleLine)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", Invalid(field, "is required")
	}
	if utf8.RuneCountInString(s) > MaxNameLength {
		return "", Invalid(field, "must be valid text of at most %d characters", MaxNameLength)
	}
	return s, nil
}

// ParseReason validates an optional free-text reason for a lifecycle
// change: multi-line text (see ParseText) of at most MaxReasonLength
// characters.
func ParseReason(field, raw string) (string, error) {
	s, err := ParseText(field, raw, MultiLine)
	if err != nil {
		return "", err
	}
	if utf8.RuneCountInString(s) > MaxReasonLength {
		return "", Invalid(field, "must be valid text of at most %d characters", MaxReasonLength)
	}
	return s, nil
}

// ParseFutureDate parses an RFC 3339 timestamp that must lie after now. The
// result is in UTC with second precision.
func ParseFutureDate(field, raw string, now time.Time) (time.Time, error) {
	s, err := ParseText(field, raw, SingleLine)
	if err != nil {
		return time.Time{}, err
	}
	if s == "" {
		return time.Time{}, Invalid(field, "is required")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, Invalid(field, "must be an RFC 3339 timestamp like 2027-01-31T23:59:59Z")
	}
	t = t.UTC().Truncate(time.Second)
	if !t.After(now) {
		return time.Time{}, Invalid(field, "must be in the future")
	}
	if t.Year() > 9999 {
		return time.Time{}, Invalid(field, "must be before the year 10000")
	}
	return t, nil
}

// ParseSeatLimit validates a seat limit; zero means "not given" and yields def.
func ParseSeatLimit(field string, n *int, def int) (int, error) {
	if n == nil {
		return def, nil
	}
	if *n < MinSeatLimit || *n > MaxSeatLimit {
		return 0, Invalid(field, "must be between %d and %d", MinSeatLimit, MaxSeatLimit)
	}
	return *n, nil
}
