package apigw

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

type createWebhookRequest struct {
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
	idempotencyBody
}

type webhookJSON struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	EventTypes     []string `json:"event_types"`
	Status         string   `json:"status"`
	CreatedAt      string   `json:"created_at"`
	DisabledReason *string  `json:"disabled_reason"`
	DisabledAt     *string  `json:"disabled_at"`
	FailingSince   *string  `json:"failing_since"`
	// PreviousSecretUntil is when the secret before the last rotation stops signing.
	PreviousSecretUntil *string `json:"previous_secret_expires_at"`
	// Secret is shown once: when the endpoint is created, and at a rotation.
	Secret string `json:"secret,omitempty"`
}

func renderWebhook(w licensing.WebhookEndpoint, withSecret bool) webhookJSON {
	out := webhookJSON{ID: w.ID, URL: w.URL, EventTypes: w.EventTypes, Status: string(w.Status), CreatedAt: ts(w.CreatedAt),
		DisabledAt: tsOrNil(w.DisabledAt), FailingSince: tsOrNil(w.FailingSince), PreviousSecretUntil: tsOrNil(w.PreviousUntil)}
	if w.DisabledReason != "" {
		out.DisabledReason = &w.DisabledReason
	}
	if withSecret {
		out.Secret = w.Secret
	}
	return out
}

type attemptJSON struct {
	At         string  `json:"at"`
	StatusCode *int    `json:"status_code"`
	LatencyMS  int64   `json:"latency_ms"`
	Error      *string `json:"error"`
	Manual     bool    `json:"manual"`
}

type deliveryJSON struct {
	ID            string        `json:"id"`
	EventID       string        `json:"event_id"`
	EventType     string        `json:"event_type"`
	OccurredAt    string        `json:"occurred_at"`
	Status        string        `json:"status"`
	StatusCode    *int          `json:"status_code"` // of the last attempt
	LatencyMS     *int64        `json:"latency_ms"`  // of the last attempt
	AttemptsCount int           `json:"attempts_count"`
	Attempts      []attemptJSON `json:"attempts"` // the latest, oldest first
}

func renderDelivery(d licensing.WebhookDelivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, EventID: d.EventID, EventType: string(d.EventType), OccurredAt: ts(d.EventAt), Status: string(d.Status),
		AttemptsCount: d.Count, Attempts: make([]attemptJSON, len(d.Attempts))}
	for i, a := range d.Attempts {
		j := attemptJSON{At: ts(a.At), LatencyMS: a.LatencyMS, Manual: a.Manual}
		if a.StatusCode != 0 {
			j.StatusCode = &a.StatusCode
		}
		if a.Error != "" {
			j.Error = &a.Error
		}
		out.Attempts[i] = j
	}
	if n := len(out.Attempts); n > 0 {
		out.StatusCode, out.LatencyMS = out.Attempts[n-1].StatusCode, &out.Attempts[n-1].LatencyMS
	}
	return out
}

// CreateWebhook is POST /api/v1/brand/webhooks: 201 with the endpoint and
// its secret, shown this once.
func (h *API) CreateWebhook(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("create-webhook", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in createWebhookRequest
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		idem, err := idempotencyKey(req, in.idempotencyBody)
		if err != nil {
			return result{}, err
		}
		w, replayed, err := h.app.CreateWebhookOnce(ctx, t, in.URL, in.EventTypes, idem)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusCreated, headers: noStore(), body: renderWebhook(w, true)}.replayedIf(replayed), nil
	})(ctx, req)
}

// ListWebhooks is GET /api/v1/brand/webhooks: the brand's endpoints, no secrets.
func (h *API) ListWebhooks(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("list-webhooks", func(ctx context.Context, t licensing.Tenant, _ events.APIGatewayProxyRequest) (result, error) {
		ws, err := h.app.ListWebhooks(ctx, t)
		if err != nil {
			return result{}, err
		}
		out := make([]webhookJSON, len(ws))
		for i, w := range ws {
			out[i] = renderWebhook(w, false)
		}
		return result{status: http.StatusOK, body: map[string]any{"webhooks": out}}, nil
	})(ctx, req)
}

// DeleteWebhook is DELETE /api/v1/brand/webhooks/{webhook}: 200 with the
// endpoint as it was ("deleted": true).
func (h *API) DeleteWebhook(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("delete-webhook", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		idem, err := idempotencyKey(req, idempotencyBody{})
		if err != nil {
			return result{}, err
		}
		w, replayed, err := h.app.DeleteWebhookOnce(ctx, t, req.PathParameters["webhook"], idem)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, body: map[string]any{"webhook": renderWebhook(w, false), "deleted": true}}.replayedIf(replayed), nil
	})(ctx, req)
}

// RotateWebhookSecret is POST /api/v1/brand/webhooks/{webhook}/rotate-secret:
// the endpoint with its new secret (shown this once); the previous one
// signs too until previous_secret_expires_at.
func (h *API) RotateWebhookSecret(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("rotate-webhook-secret", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in idempotencyBody
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		idem, err := idempotencyKey(req, in)
		if err != nil {
			return result{}, err
		}
		w, replayed, err := h.app.RotateWebhookSecretOnce(ctx, t, req.PathParameters["webhook"], idem)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, headers: noStore(), body: renderWebhook(w, true)}.replayedIf(replayed), nil
	})(ctx, req)
}

// ListWebhookDeliveries is GET /api/v1/brand/webhooks/{webhook}/deliveries?limit=&cursor=:
// the endpoint's deliveries, newest event first, with their latest attempts.
func (h *API) ListWebhookDeliveries(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("list-webhook-deliveries", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		limit, err := pageLimit(req, app.MaxDeliveriesPage)
		if err != nil {
			return result{}, err
		}
		ds, next, err := h.app.WebhookDeliveries(ctx, t, req.PathParameters["webhook"], req.QueryStringParameters["cursor"], limit)
		if err != nil {
			return result{}, err
		}
		out := make([]deliveryJSON, len(ds))
		for i, d := range ds {
			out[i] = renderDelivery(d)
		}
		var cursor *string
		if next != "" {
			cursor = &next
		}
		return result{status: http.StatusOK, body: map[string]any{"deliveries": out, "next_cursor": cursor}}, nil
	})(ctx, req)
}

// RetryWebhookDelivery is POST /api/v1/brand/webhooks/{webhook}/deliveries/{delivery}/retry:
// the delivery is sent again now; 200 with it and the new attempt.
func (h *API) RetryWebhookDelivery(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("retry-webhook-delivery", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in idempotencyBody
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		idem, err := idempotencyKey(req, in)
		if err != nil {
			return result{}, err
		}
		d, replayed, err := h.app.RetryWebhookDeliveryOnce(ctx, t, req.PathParameters["webhook"], req.PathParameters["delivery"], idem)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, body: map[string]any{"delivery": renderDelivery(d)}}.replayedIf(replayed), nil
	})(ctx, req)
}
