package apigw

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/telemetry"
)

// Health answers 200 {"status":"ok"} when the service and DynamoDB answer,
// and 503 {"status":"degraded","dynamodb":"unreachable"} when DynamoDB does
// not, with one cheap read.
func (h *API) Health(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.public("health", func(ctx context.Context, _ events.APIGatewayProxyRequest) (result, error) {
		noStore := map[string]string{"Cache-Control": "no-store"}
		if err := h.app.Health(ctx); err != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "health", slog.String("dynamodb", "unreachable"), slog.String("error", err.Error()))
			noStore["Retry-After"] = strconv.Itoa(retryAfterSeconds)
			return result{status: http.StatusServiceUnavailable, outcome: string(licensing.CodeServiceUnavailable), headers: noStore,
				body: map[string]string{"status": "degraded", "dynamodb": "unreachable"}}, nil
		}
		return result{status: http.StatusOK, body: map[string]string{"status": "ok", "dynamodb": "ok"}, headers: noStore}, nil
	})(ctx, req)
}

type createProductRequest struct {
	Name string `json:"name"`
	Slug string `json:"slug"`
	idempotencyBody
}

// CreateProduct is POST /api/v1/brand/products.
func (h *API) CreateProduct(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("create-product", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in createProductRequest
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		idem, err := idempotencyKey(req, in.idempotencyBody)
		if err != nil {
			return result{}, err
		}
		p, replayed, err := h.app.CreateProductOnce(ctx, t, in.Slug, in.Name, idem)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusCreated, body: renderProduct(p)}.replayedIf(replayed), nil
	})(ctx, req)
}

// ListProducts is GET /api/v1/brand/products.
func (h *API) ListProducts(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("list-products", func(ctx context.Context, t licensing.Tenant, _ events.APIGatewayProxyRequest) (result, error) {
		ps, err := h.app.ListProducts(ctx, t)
		if err != nil {
			return result{}, err
		}
		out := make([]productJSON, len(ps))
		for i, p := range ps {
			out[i] = renderProduct(p)
		}
		return result{status: http.StatusOK, body: map[string]any{"products": out}}, nil
	})(ctx, req)
}

type provisionRequest struct {
	CustomerEmail  string   `json:"customer_email"`
	Products       []string `json:"products"`
	ExpirationDate string   `json:"expiration_date"`
	MaxSeats       *int     `json:"max_seats"`
	idempotencyBody
}

// ProvisionLicense is POST /api/v1/brand/licenses/provision (US1).
func (h *API) ProvisionLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("provision-license", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in provisionRequest
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		idem, err := idempotencyKey(req, in.idempotencyBody)
		if err != nil {
			return result{}, err
		}
		p, replayed, err := h.app.Provision(ctx, t, app.ProvisionInput{
			CustomerEmail: in.CustomerEmail, Products: in.Products, ExpirationDate: in.ExpirationDate, MaxSeats: in.MaxSeats,
		}, idem)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusCreated, body: renderProvisioned(p)}.replayedIf(replayed), nil
	})(ctx, req)
}

// ListLicenses is GET /api/v1/brand/licenses?email= (US6).
func (h *API) ListLicenses(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("list-licenses", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		c, err := h.app.LicensesByEmail(ctx, t, req.QueryStringParameters["email"])
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, body: renderCustomer(c, h.app.Now())}, nil
	})(ctx, req)
}

// GetLicense is GET /api/v1/brand/licenses/{id}.
func (h *API) GetLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("get-license", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		limit, err := pageLimit(req, app.MaxActivationsPage)
		if err != nil {
			return result{}, err
		}
		v, err := h.app.License(ctx, t, req.PathParameters["id"], req.QueryStringParameters["cursor"], limit)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, body: renderLicenseDetail(v, h.app.Now())}, nil
	})(ctx, req)
}

type renewRequest struct {
	ExpirationDate string `json:"expiration_date"`
	idempotencyBody
}

type reasonRequest struct {
	Reason string `json:"reason"`
	idempotencyBody
}

// RenewLicense is POST /api/v1/brand/licenses/{id}/renew.
func (h *API) RenewLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("renew-license", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in renewRequest
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		return h.change(ctx, t, req, app.ChangeInput{Action: licensing.ActionRenew, ExpirationDate: in.ExpirationDate}, in.idempotencyBody)
	}, lifecycleChanged(licensing.ActionRenew))(ctx, req)
}

// SuspendLicense is POST /api/v1/brand/licenses/{id}/suspend.
func (h *API) SuspendLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("suspend-license", h.statusChange(licensing.ActionSuspend), lifecycleChanged(licensing.ActionSuspend))(ctx, req)
}

// ResumeLicense is POST /api/v1/brand/licenses/{id}/resume.
func (h *API) ResumeLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("resume-license", h.statusChange(licensing.ActionResume), lifecycleChanged(licensing.ActionResume))(ctx, req)
}

// CancelLicense is POST /api/v1/brand/licenses/{id}/cancel.
func (h *API) CancelLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("cancel-license", h.statusChange(licensing.ActionCancel), lifecycleChanged(licensing.ActionCancel))(ctx, req)
}

// lifecycleChanged reports a lifecycle change made: LifecycleChanges by action.
func lifecycleChanged(a licensing.Action) reportFunc {
	return func(m *telemetry.Metrics, _, _ string, status int) {
		if status == http.StatusOK {
			m.Emit(map[string]string{"Action": string(a)}, telemetry.Metric{Name: "LifecycleChanges", Unit: "Count", Value: 1})
		}
	}
}

func (h *API) statusChange(a licensing.Action) brandFunc {
	return func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in reasonRequest
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		return h.change(ctx, t, req, app.ChangeInput{Action: a, Reason: in.Reason}, in.idempotencyBody)
	}
}

func (h *API) change(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest, in app.ChangeInput, body idempotencyBody) (result, error) {
	idem, err := idempotencyKey(req, body)
	if err != nil {
		return result{}, err
	}
	v, replayed, err := h.app.ChangeLicenseOnce(ctx, t, req.PathParameters["id"], in, idem)
	if err != nil {
		return result{}, err
	}
	return result{status: http.StatusOK, body: renderLicenseDetail(v, h.app.Now())}.replayedIf(replayed), nil
}

type historyJSON struct {
	LicenseID  string      `json:"license_id"`
	Events     []eventJSON `json:"events"`
	NextCursor *string     `json:"next_cursor"`
}

type eventJSON struct {
	EventID    string          `json:"event_id"`
	EventType  string          `json:"event_type"`
	OccurredAt string          `json:"occurred_at"`
	Detail     json.RawMessage `json:"detail"`
}

// LicenseEvents is GET /api/v1/brand/licenses/{id}/events?limit=&cursor=:
// the license's history (its events, newest first), a page at a time.
func (h *API) LicenseEvents(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("license-events", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		id := req.PathParameters["id"]
		limit, err := pageLimit(req, app.MaxHistoryPage)
		if err != nil {
			return result{}, err
		}
		evs, next, err := h.app.LicenseHistory(ctx, t, id, req.QueryStringParameters["cursor"], limit)
		if err != nil {
			return result{}, err
		}
		out := historyJSON{LicenseID: id, Events: make([]eventJSON, len(evs))}
		for i, e := range evs {
			out.Events[i] = eventJSON{EventID: e.ID, EventType: string(e.Type), OccurredAt: e.OccurredAt.UTC().Format(time.RFC3339Nano), Detail: e.Detail}
		}
		if next != "" {
			out.NextCursor = &next
		}
		return result{status: http.StatusOK, body: out}, nil
	})(ctx, req)
}

// pageLimit reads a page's optional limit query parameter (0 when absent).
func pageLimit(req events.APIGatewayProxyRequest, most int) (int, error) {
	raw := req.QueryStringParameters["limit"]
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > most {
		return 0, licensing.Invalid("limit", "must be a whole number between 1 and %d", most)
	}
	return n, nil
}
