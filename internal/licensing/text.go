package licensing

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// TextKind says which control characters a text field may hold inside it.
type TextKind int

// Text kinds.
const (
	// SingleLine text holds no control character at all.
	SingleLine TextKind = iota
	// MultiLine text (a Markdown changelog, a reason) may hold TAB, LF and
	// CR (CRLF line ends) inside it; no other control character.
	MultiLine
)

// ParseText is the one rule every text value from outside obeys, before
// any rule of its own: valid UTF-8; no invisible character that could make
// it read other than it is, anywhere, even at its edges (see Invisible);
// surrounding white space trimmed; and inside it no control character but
// those its kind allows. It returns the trimmed value.
//
// Surrounding ASCII white space (a pasted key's trailing newline) is
// trimmed as before; the invisible characters are refused rather than
// trimmed, since strings.TrimSpace would drop U+0085, U+2028 and U+2029
// silently.
func ParseText(field, raw string, kind TextKind) (string, error) {
	if !utf8.ValidString(raw) {
		return "", Invalid(field, "must be UTF-8 text")
	}
	if err := refuseInvisible(field, raw); err != nil {
		return "", err
	}
	s := strings.TrimSpace(raw)
	return s, CheckText(field, s, kind)
}

// CheckText is ParseText on a value kept exactly as sent (nothing trimmed),
// such as a changelog.
func CheckText(field, s string, kind TextKind) error {
	if !utf8.ValidString(s) {
		return Invalid(field, "must be UTF-8 text")
	}
	if err := refuseInvisible(field, s); err != nil {
		return err
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && !allowedControl(r, kind) }) >= 0 {
		return Invalid(field, "must not contain control characters")
	}
	return nil
}

func allowedControl(r rune, kind TextKind) bool {
	return kind == MultiLine && (r == '\t' || r == '\n' || r == '\r')
}

// Invisible reports whether r is refused in every text field: a Unicode
// format character (category Cf: the bidirectional controls U+202A–U+202E
// and U+2066–U+2069, the zero-width U+200B–U+200D and U+2060, U+FEFF, the
// soft hyphen U+00AD, …), the next-line control U+0085 or the line and
// paragraph separators U+2028 and U+2029.
func Invisible(r rune) bool {
	return r == 0x85 || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r)
}

func refuseInvisible(field, s string) error {
	if i := strings.IndexFunc(s, Invisible); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return Invalid(field, "must not contain invisible, bidirectional or line-separator characters (U+%04X)", r)
	}
	return nil
}

// ignorableInHost reports whether r is a character that IDNA mapping drops
// silently (a default-ignorable code point: Cf, variation selectors,
// U+034F, …): in a host name it would make two spellings one site.
func ignorableInHost(r rune) bool {
	return Invisible(r) || unicode.Is(unicode.Variation_Selector, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}
