package apigw

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/telemetry"
	"github.com/clsvc/license-service/internal/token"
)

// seatRequest is the body of activate and deactivate.
type seatRequest struct {
	LicenseKey         string `json:"license_key"`
	InstanceIdentifier string `json:"instance_identifier"`
	InstanceType       string `json:"instance_type"`
	Product            string `json:"product"`
}

func (r seatRequest) input() app.SeatInput {
	return app.SeatInput{LicenseKey: r.LicenseKey, InstanceIdentifier: r.InstanceIdentifier, InstanceType: r.InstanceType, Product: r.Product}
}

// activateRequest is the body of activate: a seat, and optionally the site
// it replaces.
type activateRequest struct {
	seatRequest
	PreviousInstanceIdentifier string `json:"previous_instance_identifier"`
}

type activationJSONResponse struct {
	ActivationID       string `json:"activation_id"`
	Status             string `json:"status"`
	LicenseID          string `json:"license_id"`
	Product            string `json:"product"`
	InstanceIdentifier string `json:"instance_identifier"`
	InstanceType       string `json:"instance_type"`
	Environment        string `json:"environment"`
	SeatsUsed          int    `json:"seats_used"`
	SeatsRemaining     int    `json:"seats_remaining"`
	StagingUsed        int    `json:"staging_sites_used"`
	ActivatedAt        string `json:"activated_at"`
	MovedFrom          string `json:"moved_from,omitempty"` // a site move: the site whose seat this one took
	LicenseToken       string `json:"license_token,omitempty"`
}

// licenseToken signs what a product may trust offline about a license and
// the seat of one instance, for the brand's grace window; empty without a
// signer or without a seat (a site that holds none has nothing to keep on).
func (h *API) licenseToken(ctx context.Context, l licensing.License, act *licensing.Activation) (string, error) {
	if h.opts.Signer == nil || act == nil {
		return "", nil
	}
	signer := h.opts.Signer.Current(ctx)
	if signer == nil {
		return "", nil // its keys could not be read yet: answer without a token
	}
	set, err := h.app.BrandSettings(ctx, l.Brand)
	if err != nil {
		return "", err
	}
	now := h.app.Now()
	return signer.Sign(token.NewClaims(token.License{
		Brand: l.Brand, ID: l.ID, Product: l.ProductSlug, Instance: act.Instance.ID, Activation: act.ID,
		Status: string(l.EffectiveStatus(now)), ExpiresAt: l.ExpiresAt,
	}, now, set.TokenGrace(), h.opts.CheckMaxAge))
}

// ActivateLicense is POST /api/v1/product/licenses/activate (US3): 201 for a
// new seat, 200 with the same activation for an instance that holds one.
func (h *API) ActivateLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.public("activate-license", func(ctx context.Context, req events.APIGatewayProxyRequest) (result, error) {
		var in activateRequest
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		seat := in.input()
		seat.PreviousInstanceIdentifier = in.PreviousInstanceIdentifier
		out, err := h.app.Activate(ctx, seat)
		if err != nil {
			return result{}, err
		}
		a, l := out.Activation, out.License
		status, outcome := http.StatusOK, "already_active"
		if out.Created {
			status, outcome = http.StatusCreated, "activated_"+string(a.Environment)
		}
		if a.MovedFrom != "" {
			outcome = "site_moved"
		}
		tok, err := h.licenseToken(ctx, l, &a)
		if err != nil {
			return result{}, err
		}
		return result{status: status, brand: l.Brand, outcome: outcome, body: activationJSONResponse{
			ActivationID: a.ID, Status: "active", LicenseID: l.ID, Product: l.ProductSlug,
			InstanceIdentifier: a.Instance.ID, InstanceType: string(a.Instance.Type), Environment: string(a.Environment),
			SeatsUsed: l.SeatsUsed, SeatsRemaining: l.SeatsRemaining(), StagingUsed: l.NonProdUsed, ActivatedAt: ts(a.ActivatedAt),
			MovedFrom: a.MovedFrom, LicenseToken: tok,
		}}, nil
	}, reportActivation)(ctx, req)
}

// reportActivation reports what an activation did: a site move (SiteMoves
// by brand), a new seat (Activations by brand and environment) or a refusal
// for want of seats (SeatLimitRejections).
func reportActivation(m *telemetry.Metrics, brand, outcome string, status int) {
	switch {
	case outcome == "site_moved":
		m.Emit(map[string]string{"Brand": brand}, telemetry.Metric{Name: "SiteMoves", Unit: "Count", Value: 1})
	case status == http.StatusCreated:
		// Outcome is activated_<environment>: production, staging or local.
		m.Emit(map[string]string{"Brand": brand, "Environment": strings.TrimPrefix(outcome, "activated_")},
			telemetry.Metric{Name: "Activations", Unit: "Count", Value: 1})
	case outcome == string(licensing.CodeNoSeatsAvailable):
		m.Emit(nil, telemetry.Metric{Name: "SeatLimitRejections", Unit: "Count", Value: 1})
	}
}

type checkJSON struct {
	IsValid     bool           `json:"is_valid"`
	Reason      licensing.Code `json:"reason,omitempty"`
	License     checkLicense   `json:"license"`
	IsActivated bool           `json:"is_activated"`
	Activation  *checkSeat     `json:"activation"`
	Instance    *checkInstance `json:"instance,omitempty"`
	Token       string         `json:"license_token,omitempty"`
}

type checkLicense struct {
	ID             string  `json:"id"`
	Product        string  `json:"product"`
	Status         string  `json:"status"`
	SeatLimit      int     `json:"seat_limit"`
	SeatsUsed      int     `json:"seats_used"`
	SeatsRemaining int     `json:"seats_remaining"`
	StagingUsed    int     `json:"staging_sites_used"`
	ExpiresAt      *string `json:"expires_at"`
}

type checkSeat struct {
	ID          string `json:"id"`
	ActivatedAt string `json:"activated_at"`
}

type checkInstance struct {
	Identifier string `json:"identifier"`
	Type       string `json:"type"`
}

// CheckLicense is GET /api/v1/product/licenses/check (US4). A known license
// answers 200 whether valid or not; the answer may be cached at the edge for
// CheckMaxAge, carries an ETag and honours If-None-Match with 304. It never
// shows the customer's e-mail or other instances.
func (h *API) CheckLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.public("check-license", func(ctx context.Context, req events.APIGatewayProxyRequest) (result, error) {
		q := req.QueryStringParameters
		res, err := h.app.Check(ctx, app.SeatInput{
			LicenseKey: q["license_key"], InstanceIdentifier: q["instance_identifier"], InstanceType: q["instance_type"], Product: q["product"],
		})
		if err != nil {
			return result{}, err
		}
		l := res.License
		lj := renderLicense(l, h.app.Now())
		body := checkJSON{
			IsValid: res.Valid, Reason: res.Reason, IsActivated: res.Activation != nil,
			License: checkLicense{ID: l.ID, Product: l.ProductSlug, Status: lj.Status, SeatLimit: l.SeatLimit,
				SeatsUsed: l.SeatsUsed, SeatsRemaining: l.SeatsRemaining(), StagingUsed: l.NonProdUsed, ExpiresAt: lj.ExpiresAt},
		}
		if res.Activation != nil {
			body.Activation = &checkSeat{ID: res.Activation.ID, ActivatedAt: ts(res.Activation.ActivatedAt)}
		}
		if res.Instance != nil {
			body.Instance = &checkInstance{Identifier: res.Instance.ID, Type: string(res.Instance.Type)}
		}
		// The ETag covers the answer but not its token, whose iat moves every
		// second: an unchanged answer is still 304, and a cached token stays
		// valid until its valid_until.
		b, err := json.Marshal(body)
		if err != nil {
			return result{}, err
		}
		etag := etagOf(b)
		headers := map[string]string{
			"Cache-Control": "public, max-age=" + strconv.Itoa(int(h.opts.CheckMaxAge.Seconds())),
			"ETag":          etag,
		}
		outcome := "valid"
		if !res.Valid {
			outcome = string(res.Reason)
		}
		raw := ""
		if matchesETag(header(req, "If-None-Match"), etag) {
			// A 304 has no body: no token is signed for it.
			return result{status: http.StatusNotModified, raw: &raw, headers: headers, brand: l.Brand, outcome: outcome}, nil
		}
		if body.Token, err = h.licenseToken(ctx, l, res.Activation); err != nil {
			return result{}, err
		}
		if body.Token != "" {
			if b, err = json.Marshal(body); err != nil {
				return result{}, err
			}
		}
		raw = string(b)
		return result{status: http.StatusOK, raw: &raw, headers: headers, brand: l.Brand, outcome: outcome}, nil
	}, reportCheck)(ctx, req)
}

// reportCheck counts checks by outcome: valid, why not, or the error.
func reportCheck(m *telemetry.Metrics, _, outcome string, _ int) {
	m.Emit(map[string]string{"Outcome": outcome}, telemetry.Metric{Name: "Checks", Unit: "Count", Value: 1})
}

// etagOf is a strong validator of a rendered body.
func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// matchesETag reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func matchesETag(ifNoneMatch, etag string) bool {
	for tag := range strings.SplitSeq(ifNoneMatch, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

type deactivationJSON struct {
	Status             string `json:"status"`
	LicenseID          string `json:"license_id"`
	Product            string `json:"product"`
	InstanceIdentifier string `json:"instance_identifier"`
	SeatsUsed          int    `json:"seats_used"`
	SeatsRemaining     int    `json:"seats_remaining"`
	StagingUsed        int    `json:"staging_sites_used"`
}

// DeactivateSeat is POST /api/v1/product/licenses/deactivate (US5).
func (h *API) DeactivateSeat(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.public("deactivate-seat", func(ctx context.Context, req events.APIGatewayProxyRequest) (result, error) {
		var in seatRequest
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		l, inst, err := h.app.Deactivate(ctx, in.input())
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, brand: l.Brand, body: deactivationJSON{
			Status: "deactivated", LicenseID: l.ID, Product: l.ProductSlug, InstanceIdentifier: inst.ID,
			SeatsUsed: l.SeatsUsed, SeatsRemaining: l.SeatsRemaining(), StagingUsed: l.NonProdUsed,
		}}, nil
	})(ctx, req)
}

// FreeSeat is DELETE /api/v1/brand/licenses/{id}/activations/{activation_id}:
// support frees a seat; the answer is the license with its remaining seats.
func (h *API) FreeSeat(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("free-seat", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		idem, err := idempotencyKey(req, idempotencyBody{})
		if err != nil {
			return result{}, err
		}
		v, replayed, err := h.app.FreeSeatOnce(ctx, t, req.PathParameters["id"], req.PathParameters["activation_id"], idem)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, body: renderLicenseDetail(v, h.app.Now())}.replayedIf(replayed), nil
	})(ctx, req)
}
