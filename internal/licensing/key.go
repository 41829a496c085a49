package licensing

import (
	"crypto/rand"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// KeyAlphabet is the 32-symbol alphabet of license keys: digits and upper-case
// letters without the look-alikes 0, 1, I and O. 32 symbols give exactly five
// bits per character, so sixteen characters carry 80 random bits.
const KeyAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

const (
	keyGroups     = 4
	keyGroupLen   = 4
	keyRandomBits = keyGroups * keyGroupLen * 5
	// MaxKeyLength bounds any license key string accepted from outside.
	MaxKeyLength = MaxPrefixLength + 1 + keyGroups*(keyGroupLen+1) - 1
	// MaxPrefixLength bounds a brand's key prefix.
	MaxPrefixLength = 6
)

var (
	prefixPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,5}$`)
	keyPattern    = regexp.MustCompile(`^([A-Z][A-Z0-9]{1,5})-([` + KeyAlphabet + `]{4})-([` + KeyAlphabet + `]{4})-([` + KeyAlphabet + `]{4})-([` + KeyAlphabet + `]{4})$`)
)

// LicenseKey is a normalised (upper-case) license key: PREFIX-XXXX-XXXX-XXXX-XXXX.
type LicenseKey string

// Prefix returns the brand prefix of the key.
func (k LicenseKey) Prefix() string {
	p, _, _ := strings.Cut(string(k), "-")
	return p
}

// Masked returns the key with all but its prefix and last group hidden, for logs.
func (k LicenseKey) Masked() string {
	s := string(k)
	if len(s) < 5 {
		return "****"
	}
	return k.Prefix() + "-****-****-****-" + s[len(s)-4:]
}

// ParsePrefix validates a brand key prefix: 2..6 upper-case letters or digits,
// starting with a letter. Lower case is accepted and upper-cased.
func ParsePrefix(field, raw string) (string, error) {
	s, err := ParseText(field, raw, SingleLine)
	if err != nil {
		return "", err
	}
	s = strings.ToUpper(s)
	if !prefixPattern.MatchString(s) {
		return "", Invalid(field, "must be 2 to %d letters or digits starting with a letter, like RM", MaxPrefixLength)
	}
	return s, nil
}

// ParseLicenseKey accepts a license key case-insensitively, with surrounding
// white space, and returns its normalised form.
func ParseLicenseKey(field, raw string) (LicenseKey, error) {
	s, err := ParseText(field, raw, SingleLine)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", Invalid(field, "is required")
	}
	if len(s) > MaxKeyLength {
		return "", Invalid(field, "is not a license key of the form PREFIX-XXXX-XXXX-XXXX-XXXX")
	}
	s = strings.ToUpper(s)
	if !keyPattern.MatchString(s) {
		return "", Invalid(field, "is not a license key of the form PREFIX-XXXX-XXXX-XXXX-XXXX")
	}
	return LicenseKey(s), nil
}

// NewLicenseKey draws a new key for a brand prefix from r (crypto/rand.Reader
// when r is nil): 80 random bits in 16 characters of KeyAlphabet.
func NewLicenseKey(prefix string, r io.Reader) (LicenseKey, error) {
	if r == nil {
		r = rand.Reader
	}
	var buf [keyRandomBits / 8]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return "", fmt.Errorf("read random bits: %w", err)
	}
	var sb strings.Builder
	sb.WriteString(prefix)
	// Take the 80 bits five at a time, most significant first.
	var acc uint64
	bits := 0
	n := 0
	for _, b := range buf {
		acc = acc<<8 | uint64(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			if n%keyGroupLen == 0 {
				sb.WriteByte('-')
			}
			sb.WriteByte(KeyAlphabet[(acc>>bits)&31])
			n++
		}
	}
	return LicenseKey(sb.String()), nil
}

// keyLike matches what looks like a license key in any text, in any case
// and with any letters or digits (a mistyped key is a secret too).
var keyLike = regexp.MustCompile(`(?i)([a-z][a-z0-9]{1,5})-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-([a-z0-9]{4})`)

// RedactKeys masks every license key in s as Masked does (RM-****-****-****-GLK7:
// the prefix and the last group kept), for logs of paths and query strings.
// A kept last group is searched again, as the prefix of a key that may follow.
func RedactKeys(s string) string {
	if !strings.Contains(s, "-") {
		return s
	}
	var b strings.Builder
	i := 0
	for i < len(s) {
		m := keyLike.FindStringSubmatchIndex(s[i:])
		if m == nil {
			break
		}
		b.WriteString(s[i : i+m[3]]) // up to the end of the prefix
		b.WriteString("-****-****-****-")
		i += m[4] // the last group, kept
	}
	if i == 0 {
		return s
	}
	b.WriteString(s[i:])
	return b.String()
}
