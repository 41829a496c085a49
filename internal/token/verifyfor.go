package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/clsvc/license-service/internal/licensing"
)

// Why VerifyFor refuses a genuine token; test with errors.Is. ErrSuspended,
// ErrCancelled and ErrLicenseExpired are each also ErrNotValid.
var (
	// ErrNotBound: the token is genuine but speaks of another license,
	// product or instance (a token copied from another site).
	ErrNotBound = errors.New("token: not for this license, product and instance")
	// ErrNotValid: the license was not in good standing when the token was
	// issued, or has expired since.
	ErrNotValid = errors.New("token: license not valid")
	// ErrSuspended: the brand suspended the license.
	ErrSuspended = fmt.Errorf("%w: suspended", ErrNotValid)
	// ErrCancelled: the brand cancelled the license (final).
	ErrCancelled = fmt.Errorf("%w: cancelled", ErrNotValid)
	// ErrLicenseExpired: the license's expires_at has passed (at issue, or
	// since).
	ErrLicenseExpired = fmt.Errorf("%w: license expired", ErrNotValid)
)

// Instance is the instance a product runs on, as it names it to activate:
// its instance_type ("url", "hostname" or "machine_id"; empty is "url") and
// its instance_identifier, raw: VerifyFor canonicalises it as the service
// does, so https://www.Example.com/ matches a token for example.com.
type Instance struct {
	Type       string
	Identifier string
}

// URL is the instance of a site known by its URL (instance_type "url", what a
// WordPress plugin sends).
func URL(raw string) Instance { return Instance{Type: string(licensing.InstanceURL), Identifier: raw} }

// Hostname is the instance of a host known by its name (instance_type "hostname").
func Hostname(raw string) Instance {
	return Instance{Type: string(licensing.InstanceHostname), Identifier: raw}
}

// MachineID is the instance of a machine known by its id (instance_type
// "machine_id", compared exactly).
func MachineID(raw string) Instance {
	return Instance{Type: string(licensing.InstanceMachineID), Identifier: raw}
}

// VerifyFor is the one call a product makes before trusting a license token
// offline. It returns the token's claims when the product may keep its
// premium features on at now, and otherwise says why:
//
//   - the token is genuine (see Verify: the header exactly
//     {"alg":"EdDSA","kid":..,"typ":"JWT"}, an Ed25519 signature by a key of
//     jwks, the JSON of GET /api/v1/product/keys, and exactly the claims of
//     Claims, names compared exactly, none twice), else ErrMalformed,
//     ErrAlgorithm, ErrUnknownKey, ErrBadKey, ErrSignature, ErrClaims or
//     ErrNotYetValid;
//   - it is for this license (licenseID: the id activate and check answer,
//     lic_...), this product (its slug) and this instance (compared in
//     canonical form), else ErrNotBound;
//   - now is not past its valid_until, else ErrExpired: ask the service
//     again (check) for a fresh token;
//   - the license is valid: not suspended (ErrSuspended), cancelled
//     (ErrCancelled) or expired (ErrLicenseExpired), each an ErrNotValid.
//
// With ErrExpired and the ErrNotValid errors the claims of the genuine,
// bound token come back too; with any other error they are zero. A product
// asks again after recheck_after whatever this answers.
func VerifyFor(tok string, jwks []byte, licenseID, product string, instance Instance, now time.Time) (Claims, error) {
	c, err := Verify(tok, jwks, now)
	if err != nil && !errors.Is(err, ErrExpired) {
		return Claims{}, err
	}
	if berr := c.boundTo(licenseID, product, instance); berr != nil {
		return Claims{}, berr
	}
	if err != nil {
		return c, err
	}
	switch c.Status {
	case StatusSuspended:
		return c, ErrSuspended
	case StatusCancelled:
		return c, ErrCancelled
	case StatusExpired:
		return c, ErrLicenseExpired
	}
	if !c.Entitled(now) {
		return c, fmt.Errorf("%w: on %s", ErrLicenseExpired, *c.ExpiresAt)
	}
	return c, nil
}

// boundTo tells whether verified claims speak of this license, product and
// instance.
func (c Claims) boundTo(licenseID, product string, instance Instance) error {
	if licenseID == "" || c.LicenseID != licenseID {
		return fmt.Errorf("%w: the token is for license %q", ErrNotBound, c.LicenseID)
	}
	if product == "" || c.Product != product {
		return fmt.Errorf("%w: the token is for product %q", ErrNotBound, c.Product)
	}
	in, err := licensing.ParseInstance(instance.Type, instance.Identifier)
	if err != nil {
		return fmt.Errorf("%w: this instance is not a valid identifier: %v", ErrNotBound, err)
	}
	if c.Instance != in.ID {
		return fmt.Errorf("%w: the token is for instance %q, not %q", ErrNotBound, c.Instance, in.ID)
	}
	return nil
}
