package app

import (
	"time"

	"github.com/clsvc/license-service/internal/licensing"
)

// snapshot is the stored form of a provisioning result, replayed for a
// repeated idempotent request exactly as it was first answered.
type snapshot struct {
	KeyID     string            `json:"key_id"`
	Key       string            `json:"key"`
	Brand     string            `json:"brand"`
	Email     string            `json:"email"`
	CreatedAt time.Time         `json:"created_at"`
	Licenses  []licenseSnapshot `json:"licenses"`
}

type licenseSnapshot struct {
	ID          string     `json:"id"`
	ProductID   string     `json:"product_id"`
	ProductSlug string     `json:"product_slug"`
	ProductName string     `json:"product_name,omitempty"`
	SeatLimit   int        `json:"seat_limit"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

func toSnapshot(p licensing.Provisioned) snapshot {
	s := snapshot{KeyID: p.Key.ID, Key: string(p.Key.Key), Brand: p.Key.Brand, Email: p.Key.CustomerEmail, CreatedAt: p.Key.CreatedAt}
	for _, l := range p.Licenses {
		s.Licenses = append(s.Licenses, licenseSnapshot{ID: l.ID, ProductID: l.ProductID, ProductSlug: l.ProductSlug, ProductName: l.ProductName, SeatLimit: l.SeatLimit, ExpiresAt: l.ExpiresAt})
	}
	return s
}

func (s snapshot) provisioned() licensing.Provisioned {
	key := licensing.LicenseKey(s.Key)
	p := licensing.Provisioned{Key: licensing.KeyRecord{ID: s.KeyID, Key: key, Brand: s.Brand, CustomerEmail: s.Email, CreatedAt: s.CreatedAt}}
	for _, l := range s.Licenses {
		p.Licenses = append(p.Licenses, licensing.License{
			ID: l.ID, Key: key, Brand: s.Brand, ProductID: l.ProductID, ProductSlug: l.ProductSlug, ProductName: l.ProductName,
			Status: licensing.StatusValid, SeatLimit: l.SeatLimit, ExpiresAt: l.ExpiresAt,
			CreatedAt: s.CreatedAt, UpdatedAt: s.CreatedAt, Version: 1,
		})
	}
	return p
}
