package apigw

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/telemetry"
	"github.com/clsvc/license-service/internal/token"
)

// Handler is a Lambda handler for an API Gateway REST proxy event.
type Handler = func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// API holds the HTTP face of every use case.
type API struct {
	app  *app.App
	log  *slog.Logger
	opts Options
	keys Handler
}

// Options tune the HTTP face.
type Options struct {
	// CheckMaxAge is the Cache-Control max-age of check answers (default 60s):
	// how long an edge cache may serve one, so how late a change shows.
	CheckMaxAge time.Duration
	// RequestTimeout bounds a request's work (default 5s); in Lambda the
	// deadline is also kept DeadlineMargin before the invocation's own, so
	// that a slow DynamoDB answers 503 rather than a killed function.
	RequestTimeout time.Duration
	// SeatTimeout bounds the work of a request that changes a seat
	// (default DefaultSeatTimeout): when hundreds of sites of one license
	// activate at once they take turns, and a site waits its turn rather
	// than answer 503.
	SeatTimeout    time.Duration
	DeadlineMargin time.Duration
	// Metrics receives the business metrics (EMF); nil emits none.
	Metrics *telemetry.Metrics
	// Signer gives the signer of the license tokens of check and activate
	// answers (a *token.Signer, or a token.Reloader that heals after a
	// failed load); nil, or a source without a signer now, leaves them out.
	Signer token.Source
}

// DefaultCheckMaxAge is the default Cache-Control max-age of check answers.
const DefaultCheckMaxAge = 60 * time.Second

// DefaultSeatTimeout is the default SeatTimeout: under the 15 s that
// WordPress's EDD license clients wait for an activation, and under the
// Lambda timeout of the seat functions in template.yaml (15 s).
const DefaultSeatTimeout = 12 * time.Second

// New returns the API over the use cases; log may be nil.
func New(a *app.App, log *slog.Logger, o Options) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.CheckMaxAge <= 0 {
		o.CheckMaxAge = DefaultCheckMaxAge
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.SeatTimeout <= 0 {
		o.SeatTimeout = DefaultSeatTimeout
	}
	if o.DeadlineMargin <= 0 {
		o.DeadlineMargin = 300 * time.Millisecond
	}
	return &API{app: a, log: log, opts: o, keys: KeysHandler(o.Signer, DefaultKeysMaxAge)}
}

// ProductKeys is GET /api/v1/product/keys: the JWKS of the license tokens'
// signing keys, for products to verify tokens offline.
func (h *API) ProductKeys(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.keys(ctx, req)
}

// Handlers returns every handler by use case, as named by USE_CASE in template.yaml.
func (h *API) Handlers() map[string]Handler {
	return map[string]Handler{
		"health":            h.Health,
		"create-product":    h.CreateProduct,
		"list-products":     h.ListProducts,
		"provision-license": h.ProvisionLicense,
		"list-licenses":     h.ListLicenses,
		"get-license":       h.GetLicense,
		"renew-license":     h.RenewLicense,
		"suspend-license":   h.SuspendLicense,
		"resume-license":    h.ResumeLicense,
		"cancel-license":    h.CancelLicense,
		"free-seat":         h.FreeSeat,
		"license-events":    h.LicenseEvents,
		"activate-license":  h.ActivateLicense,
		"check-license":     h.CheckLicense,
		"deactivate-seat":   h.DeactivateSeat,
		"product-keys":      h.ProductKeys,
		"edd":               h.EDD,
		"create-release":    h.CreateRelease,
		"list-releases":     h.ListReleases,
		"publish-release":   h.PublishRelease,
		"yank-release":      h.YankRelease,
		"product-updates":   h.ProductUpdates,
		"openapi":           h.OpenAPI,

		"create-webhook":          h.CreateWebhook,
		"list-webhooks":           h.ListWebhooks,
		"delete-webhook":          h.DeleteWebhook,
		"rotate-webhook-secret":   h.RotateWebhookSecret,
		"list-webhook-deliveries": h.ListWebhookDeliveries,
		"retry-webhook-delivery":  h.RetryWebhookDelivery,
	}
}
