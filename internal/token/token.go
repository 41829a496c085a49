// Package token issues and checks the signed answers that let a product run
// offline: a compact JWS (RFC 7515) signed with Ed25519 ("alg":"EdDSA",
// RFC 8037) whose claims say what the service answered for a license, when,
// and until when a product may trust that answer without asking again.
//
// The service signs with the first key of an ordered keyring and publishes
// the public half of every key of the ring as a JWKS document, so a key can
// be rotated in (first, signing) while tokens of the older keys still verify.
// Verify is a reference verifier: what a product does offline.
//
// The package imports nothing of AWS; the Secrets Manager loader of the
// keyring is in the subpackage secret.
package token

import (
	"time"
)

// Issuer is the "iss" claim of every token.
const Issuer = "license-service"

// DefaultGrace is how long after issue a token keeps a product's premium
// features on when the service cannot be reached (valid_until - iat), unless
// the brand configures another window.
const DefaultGrace = 7 * 24 * time.Hour

// DefaultRecheck is how long after issue a product should ask again
// (recheck_after - iat): the check answers' cache max-age by default.
const DefaultRecheck = 60 * time.Second

// The statuses a token may carry: a license's effective status.
const (
	StatusValid     = "valid"
	StatusSuspended = "suspended"
	StatusCancelled = "cancelled"
	StatusExpired   = "expired"
)

// Claims are a token's payload. A token speaks of one seat: the instance that
// holds it and its activation id are always present, and ExpiresAt is null
// for a perpetual license. exp repeats valid_until so that a generic JWT
// library stops trusting the token when a product should.
type Claims struct {
	Issuer       string  `json:"iss"`
	Brand        string  `json:"brand"`
	LicenseID    string  `json:"lid"`
	Product      string  `json:"product"`
	Instance     string  `json:"instance"`
	ActivationID string  `json:"activation_id"`
	Status       string  `json:"status"`
	ExpiresAt    *string `json:"expires_at"`    // RFC 3339, UTC; nil when perpetual
	IssuedAt     int64   `json:"iat"`           // unix seconds
	ValidUntil   int64   `json:"valid_until"`   // unix seconds: iat + grace window
	RecheckAfter int64   `json:"recheck_after"` // unix seconds: iat + check max-age
	Expiry       int64   `json:"exp"`           // RFC 7519 exp: valid_until
}

// License is what a token speaks of, as check or activate found it.
type License struct {
	Brand      string
	ID         string
	Product    string // the product's slug
	Instance   string // canonical identifier of the instance that holds the seat
	Activation string // the seat's activation id
	Status     string // the effective status at issue: one of the Status constants
	ExpiresAt  *time.Time
}

// NewClaims returns the claims of a token issued at now for l: valid_until
// is now + grace and recheck_after now + recheck, in whole seconds. A grace
// or recheck of zero or less takes DefaultGrace or DefaultRecheck.
func NewClaims(l License, now time.Time, grace, recheck time.Duration) Claims {
	if grace <= 0 {
		grace = DefaultGrace
	}
	if recheck <= 0 {
		recheck = DefaultRecheck
	}
	iat := now.Unix()
	c := Claims{
		Issuer: Issuer, Brand: l.Brand, LicenseID: l.ID, Product: l.Product, Instance: l.Instance, ActivationID: l.Activation,
		Status: l.Status, IssuedAt: iat, ValidUntil: iat + int64(grace/time.Second), RecheckAfter: iat + int64(recheck/time.Second),
	}
	c.Expiry = c.ValidUntil
	if l.ExpiresAt != nil {
		e := l.ExpiresAt.UTC().Format(time.RFC3339)
		c.ExpiresAt = &e
	}
	return c
}

// Entitled reports whether a product holding these (verified) claims may keep
// its premium features on at now: the license was valid when the token was
// issued, the token's grace window has not passed, and the license has not
// expired since.
func (c Claims) Entitled(now time.Time) bool {
	if c.Status != StatusValid || now.Unix() > c.ValidUntil {
		return false
	}
	if c.ExpiresAt == nil {
		return true
	}
	exp, err := time.Parse(time.RFC3339, *c.ExpiresAt)
	return err == nil && now.Before(exp)
}

func knownStatus(s string) bool {
	switch s {
	case StatusValid, StatusSuspended, StatusCancelled, StatusExpired:
		return true
	}
	return false
}
