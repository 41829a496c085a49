package licensing

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
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
func ParseEmail(field, raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", Invalid(field, "is required")
	}
	if len(s) > MaxEmailLength || !utf8.ValidString(s) {
		return "", Invalid(field, "must be a valid e-mail address of at most %d characters", MaxEmailLength)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" || strings.ContainsAny(s, " \t\r\n") {
		return "", Invalid(field, "must be a valid e-mail address like name@example.com")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at+1:], ".") || strings.HasSuffix(s, ".") {
		return "", Invalid(field, "must be a valid e-mail address like name@example.com")
	}
	return strings.ToLower(s), nil
}

// ParseSlug validates a slug: lower-case letters, digits and single dashes.
func ParseSlug(field, raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", Invalid(field, "is required")
	}
	if len(s) > MaxSlugLength || !slugPattern.MatchString(s) {
		return "", Invalid(field, "must be 1 to %d lower-case letters, digits and single dashes, like my-plugin-pro", MaxSlugLength)
	}
	return s, nil
}

// ParseName validates a display name: printable, 1..MaxNameLength characters.
func ParseName(field, raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", Invalid(field, "is required")
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxNameLength {
		return "", Invalid(field, "must be valid text of at most %d characters", MaxNameLength)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", Invalid(field, "must not contain control characters")
	}
	return s, nil
}

// ParseReason validates an optional free-text reason for a lifecycle change.
func ParseReason(field, raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxReasonLength {
		return "", Invalid(field, "must be valid text of at most %d characters", MaxReasonLength)
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0 {
		return "", Invalid(field, "must not contain control characters")
	}
	return s, nil
}

// ParseFutureDate parses an RFC 3339 timestamp that must lie after now. The
// result is in UTC with second precision.
func ParseFutureDate(field, raw string, now time.Time) (time.Time, error) {
	s := strings.TrimSpace(raw)
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
