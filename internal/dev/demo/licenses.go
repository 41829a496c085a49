package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

// Fixed demo licenses, so that sample events (events/*.json) and examples can
// name them. Local only.
const (
	RankMathKey        = "RM-DEMA-2222-3333-4444"
	RankMathProLicense = "lic_demorankmathpro22222"
	ContentAILicense   = "lic_democontentai2222222"
	DemoActivation     = "act_demosite222222222222"
	DemoSite           = "demo.example.com"
	WPRocketKey        = "WPR-DEMA-5555-6666-7777"
	WPRocketLicense    = "lic_demowprocket22222222"
	DemoCustomer       = "demo@example.com"
)

// seedLicenses writes the fixed demo licenses: a Rank Math key with Rank
// Math Pro (3 seats, one taken by demo.example.com) and Content AI, and a WP
// Rocket key with one seat; all valid until the end of 2030.
func seedLicenses(ctx context.Context, ops app.Ops, products map[string]licensing.Product) error {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	expires := time.Date(2030, 12, 31, 23, 59, 59, 0, time.UTC)
	lic := func(id, brand, product string, key licensing.LicenseKey, seats int) licensing.License {
		p := products[brand+"/"+product]
		return licensing.License{ID: id, Key: key, Brand: brand, ProductID: p.ID, ProductSlug: p.Slug, ProductName: p.Name, Status: licensing.StatusValid,
			SeatLimit: seats, ExpiresAt: &expires, CreatedAt: created, UpdatedAt: created, Version: 1}
	}
	rm := licensing.Provisioned{
		Key: licensing.KeyRecord{ID: "lk_demorankmath222222", Key: RankMathKey, Brand: "rankmath", CustomerEmail: DemoCustomer, CreatedAt: created},
		Licenses: []licensing.License{
			lic(RankMathProLicense, "rankmath", "rankmath-pro", RankMathKey, 3),
			lic(ContentAILicense, "rankmath", "content-ai", RankMathKey, 3),
		},
	}
	seat := licensing.Activation{ID: DemoActivation, Key: RankMathKey, ProductSlug: "rankmath-pro",
		Instance: licensing.Instance{Type: licensing.InstanceURL, ID: DemoSite}, ActivatedAt: created.Add(time.Hour)}
	if err := ops.Import(ctx, rm, []licensing.Activation{seat}); err != nil {
		return fmt.Errorf("seed demo licenses of rankmath: %w", err)
	}
	wpr := licensing.Provisioned{
		Key:      licensing.KeyRecord{ID: "lk_demowprocket2222222", Key: WPRocketKey, Brand: "wp-rocket", CustomerEmail: DemoCustomer, CreatedAt: created},
		Licenses: []licensing.License{lic(WPRocketLicense, "wp-rocket", "wp-rocket", WPRocketKey, 1)},
	}
	if err := ops.Import(ctx, wpr, nil); err != nil {
		return fmt.Errorf("seed demo licenses of wp-rocket: %w", err)
	}
	return nil
}
