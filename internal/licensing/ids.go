package licensing

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a random identifier with a type prefix, such as lic_XXXX: 100
// bits from crypto/rand, lower-case base32.
func NewID(kind string) string {
	var b [13]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return kind + "_" + strings.ToLower(idEncoding.EncodeToString(b[:])[:20])
}

// ID kinds.
const (
	KindBrandKey   = "key"
	KindLicense    = "lic"
	KindLicenseKey = "lk"
	KindProduct    = "prd"
	KindActivation = "act"
	KindEvent      = "evt"
)

// ValidID reports whether s looks like an identifier of the given kind. It
// guards lookups so that arbitrary input never reaches the table.
func ValidID(kind, s string) bool {
	if len(s) != len(kind)+21 || !strings.HasPrefix(s, kind+"_") {
		return false
	}
	for _, c := range s[len(kind)+1:] {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}
