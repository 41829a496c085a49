package apigw

import (
	"time"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

// The JSON shapes of the API contract (shared/design.md).

type productJSON struct {
	ID        string `json:"id"`
	Slug      string `json:"slug"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
}

type keyJSON struct {
	ID            string `json:"id"`
	Key           string `json:"key"`
	CustomerEmail string `json:"customer_email,omitempty"`
	CreatedAt     string `json:"created_at"`
}

type licenseJSON struct {
	ID             string  `json:"id"`
	ProductID      string  `json:"product_id"`
	ProductSlug    string  `json:"product_slug"`
	Status         string  `json:"status"`
	StatusReason   string  `json:"status_reason,omitempty"`
	SeatLimit      int     `json:"seat_limit"`
	SeatsUsed      int     `json:"seats_used"`
	SeatsRemaining int     `json:"seats_remaining"`
	StagingUsed    int     `json:"staging_sites_used"`
	ExpiresAt      *string `json:"expires_at"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
}

type licenseDetailJSON struct {
	licenseJSON
	LicenseKey  keyJSON          `json:"license_key"`
	Activations []activationJSON `json:"activations"`
	// ActivationsNext is the cursor of the next page of seats
	// (GET …/licenses/{id}?cursor=), null after the last.
	ActivationsNext *string `json:"activations_next_cursor"`
}

type activationJSON struct {
	ID                 string `json:"id"`
	InstanceIdentifier string `json:"instance_identifier"`
	InstanceType       string `json:"instance_type"`
	Environment        string `json:"environment"`
	ActivatedAt        string `json:"activated_at"`
	LastSeenAt         string `json:"last_seen_at"`
}

type provisionJSON struct {
	LicenseKey keyJSON       `json:"license_key"`
	Licenses   []licenseJSON `json:"licenses"`
}

type customerJSON struct {
	CustomerEmail string            `json:"customer_email"`
	LicenseKeys   []customerKeyJSON `json:"license_keys"`
}

type customerKeyJSON struct {
	ID        string        `json:"id"`
	Key       string        `json:"key"`
	CreatedAt string        `json:"created_at"`
	Licenses  []licenseJSON `json:"licenses"`
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func renderProduct(p licensing.Product) productJSON {
	return productJSON{ID: p.ID, Slug: p.Slug, Name: p.Name, CreatedAt: ts(p.CreatedAt)}
}

func renderKey(k licensing.KeyRecord) keyJSON {
	return keyJSON{ID: k.ID, Key: string(k.Key), CustomerEmail: k.CustomerEmail, CreatedAt: ts(k.CreatedAt)}
}

func renderLicense(l licensing.License, now time.Time) licenseJSON {
	out := licenseJSON{
		ID: l.ID, ProductID: l.ProductID, ProductSlug: l.ProductSlug,
		Status: string(l.EffectiveStatus(now)), StatusReason: l.Reason,
		SeatLimit: l.SeatLimit, SeatsUsed: l.SeatsUsed, SeatsRemaining: l.SeatsRemaining(), StagingUsed: l.NonProdUsed,
		CreatedAt: ts(l.CreatedAt), UpdatedAt: ts(l.UpdatedAt),
	}
	if l.ExpiresAt != nil {
		e := ts(*l.ExpiresAt)
		out.ExpiresAt = &e
	}
	return out
}

func renderLicenseDetail(v licensing.LicenseView, now time.Time) licenseDetailJSON {
	out := licenseDetailJSON{licenseJSON: renderLicense(v.License, now), LicenseKey: renderKey(v.Key), Activations: make([]activationJSON, len(v.Activations))}
	if v.NextActivations != "" {
		out.ActivationsNext = &v.NextActivations
	}
	for i, a := range v.Activations {
		seen := a.LastSeenAt
		if seen.IsZero() {
			seen = a.ActivatedAt
		}
		out.Activations[i] = activationJSON{ID: a.ID, InstanceIdentifier: a.Instance.ID, InstanceType: string(a.Instance.Type),
			Environment: string(a.Environment), ActivatedAt: ts(a.ActivatedAt), LastSeenAt: ts(seen)}
	}
	return out
}

// renderProvisioned renders a provisioning result as first answered; a replay
// renders the stored result the same way, so the bodies are identical.
func renderProvisioned(p licensing.Provisioned) provisionJSON {
	out := provisionJSON{LicenseKey: renderKey(p.Key), Licenses: make([]licenseJSON, len(p.Licenses))}
	for i, l := range p.Licenses {
		out.Licenses[i] = renderLicense(l, p.Key.CreatedAt)
	}
	return out
}

func renderCustomer(c app.CustomerLicenses, now time.Time) customerJSON {
	out := customerJSON{CustomerEmail: c.Email, LicenseKeys: make([]customerKeyJSON, len(c.Keys))}
	for i, k := range c.Keys {
		ck := customerKeyJSON{ID: k.Key.ID, Key: string(k.Key.Key), CreatedAt: ts(k.Key.CreatedAt), Licenses: make([]licenseJSON, len(k.Licenses))}
		for j, l := range k.Licenses {
			ck.Licenses[j] = renderLicense(l, now)
		}
		out.LicenseKeys[i] = ck
	}
	return out
}
