package licensing

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// Brand is a tenant: a software brand with its own products, licenses and API
// keys. Its slug is its identity.
type Brand struct {
	Slug      string
	Name      string
	KeyPrefix string
	CreatedAt time.Time
	Settings  BrandSettings
}

// BrandSettings are a brand's choices of policy; zero values mean defaults.
type BrandSettings struct {
	StagingCap     int // staging and local sites per license besides its seats (0: DefaultStagingCap)
	StaleAfterDays int // free seats not seen for this many days (0: never)
	TokenGraceDays int // how long a signed license token keeps a product working offline (0: 7 days)
	// ExpiryReminderDays are the days before expiry at which a license's
	// LicenseExpiringSoon is sent (nil: DefaultExpiryReminderDays).
	ExpiryReminderDays []int
}

// DefaultExpiryReminderDays are the expiry reminders of a brand that set none.
var DefaultExpiryReminderDays = []int{30, 7}

// ReminderDays are the expiry reminders in force, largest first.
func (s BrandSettings) ReminderDays() []int {
	days := s.ExpiryReminderDays
	if len(days) == 0 {
		days = DefaultExpiryReminderDays
	}
	out := slices.Clone(days)
	slices.SortFunc(out, func(a, b int) int { return b - a })
	return slices.Compact(out)
}

// TokenGrace is the offline grace window of license tokens.
func (s BrandSettings) TokenGrace() time.Duration {
	if s.TokenGraceDays <= 0 {
		return 7 * 24 * time.Hour
	}
	return time.Duration(s.TokenGraceDays) * 24 * time.Hour
}

// EffectiveStagingCap is the cap in force.
func (s BrandSettings) EffectiveStagingCap() int {
	if s.StagingCap <= 0 {
		return DefaultStagingCap
	}
	return s.StagingCap
}

// ValidateSettings checks settings an operator sets.
func ValidateSettings(s BrandSettings) error {
	if s.StagingCap < 0 || s.StagingCap > 100 {
		return Invalid("staging_cap", "must be between 1 and 100 (0 keeps the default %d)", DefaultStagingCap)
	}
	if s.TokenGraceDays < 0 || s.TokenGraceDays > 90 {
		return Invalid("token_grace_days", "must be between 1 and 90 days (0 keeps the default 7)")
	}
	if s.StaleAfterDays < 0 || s.StaleAfterDays > 3650 {
		return Invalid("stale_after_days", "must be between 1 and 3650 days (0 never frees stale seats)")
	}
	if len(s.ExpiryReminderDays) > 5 {
		return Invalid("expiry_reminder_days", "at most 5 reminders")
	}
	for _, d := range s.ExpiryReminderDays {
		if d < 1 || d > 365 {
			return Invalid("expiry_reminder_days", "each must be between 1 and 365 days before expiry")
		}
	}
	return nil
}

// NewBrand validates the parts of a new brand.
func NewBrand(slug, name, prefix string, now time.Time) (Brand, error) {
	s, err := ParseSlug("slug", slug)
	if err != nil {
		return Brand{}, err
	}
	n, err := ParseName("name", name)
	if err != nil {
		return Brand{}, err
	}
	p, err := ParsePrefix("prefix", prefix)
	if err != nil {
		return Brand{}, err
	}
	return Brand{Slug: s, Name: n, KeyPrefix: p, CreatedAt: now.UTC()}, nil
}

// APIKey is a brand's credential for the brand API. Only the SHA-256 hash of
// the secret is kept.
type APIKey struct {
	ID        string
	Brand     string
	Hash      string // hex SHA-256 of the plain key
	Hint      string // the last four characters, to tell keys apart
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Active reports whether the key may still be used.
func (k APIKey) Active() bool { return k.RevokedAt == nil }

// Product is something a brand sells licenses for.
type Product struct {
	ID        string
	Brand     string
	Slug      string
	Name      string
	CreatedAt time.Time
}

// NewProduct validates the parts of a new product of a brand.
func NewProduct(brand, slug, name string, now time.Time) (Product, error) {
	s, err := ParseSlug("slug", slug)
	if err != nil {
		return Product{}, err
	}
	n, err := ParseName("name", name)
	if err != nil {
		return Product{}, err
	}
	return Product{ID: NewID(KindProduct), Brand: brand, Slug: s, Name: n, CreatedAt: now.UTC()}, nil
}

// NewAPISecret draws a new plain API key and returns it with its hash. The
// plain key is shown once and never stored.
func NewAPISecret() (plain, hash string) {
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	plain = "cls_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
	return plain, HashAPIKey(plain)
}

// HashAPIKey is the SHA-256 hex digest under which an API key is stored.
func HashAPIKey(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// MaxAPIKeyLength bounds an API key accepted from outside.
const MaxAPIKeyLength = 128
