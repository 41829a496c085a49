package apigw

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
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
	}
}

// result is what a use case hands back to be rendered.
type result struct {
	status  int
	body    any
	headers map[string]string
	brand   string  // for the log line of a public route, once known
	raw     *string // a body already rendered (or empty for 304)
	outcome string  // a success's outcome when "ok" says too little (check: valid or why not)
}

// requestContext counts the request's DynamoDB round trips and bounds its
// work: RequestTimeout, and DeadlineMargin before the Lambda's own deadline.
func (h *API) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = telemetry.WithRoundTrips(ctx)
	deadline := time.Now().Add(h.opts.RequestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Add(-h.opts.DeadlineMargin).Before(deadline) {
		deadline = d.Add(-h.opts.DeadlineMargin)
	}
	return context.WithDeadline(ctx, deadline)
}

// brandFunc runs a brand use case for an authenticated tenant.
type brandFunc func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error)

// brand authenticates the request (the brand comes from its API key alone:
// resolved by the authorizer in AWS, else here from X-API-Key), runs the use
// case, renders the answer and logs one line.
func (h *API) brand(useCase string, run brandFunc) Handler {
	return func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		start := time.Now()
		ctx, cancel := h.requestContext(ctx)
		defer cancel()
		t, ok := tenantFromAuthorizer(req)
		var err error
		if !ok {
			t, err = h.app.Authenticate(ctx, header(req, "X-API-Key"))
		}
		var res result
		if err == nil {
			res, err = run(ctx, t, req)
		}
		return h.finish(ctx, req, useCase, t.Brand, start, res, err), nil
	}
}

// public runs a use case that needs no API key (the product API, health).
func (h *API) public(useCase string, run func(ctx context.Context, req events.APIGatewayProxyRequest) (result, error)) Handler {
	return func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		start := time.Now()
		ctx, cancel := h.requestContext(ctx)
		defer cancel()
		res, err := run(ctx, req)
		return h.finish(ctx, req, useCase, res.brand, start, res, err), nil
	}
}

func (h *API) finish(ctx context.Context, req events.APIGatewayProxyRequest, useCase, brand string, start time.Time, res result, err error) events.APIGatewayProxyResponse {
	var resp events.APIGatewayProxyResponse
	outcome := "ok"
	level := slog.LevelInfo
	if err != nil {
		resp = errorResponse(err)
		outcome = string(licensing.ErrorCode(err))
		if resp.StatusCode >= 500 {
			level = slog.LevelError
		}
	} else {
		if res.outcome != "" {
			outcome = res.outcome
		}
		if res.raw != nil {
			resp = events.APIGatewayProxyResponse{StatusCode: res.status, Headers: map[string]string{"Content-Type": "application/json"}, Body: *res.raw}
		} else {
			resp = jsonResponse(res.status, res.body)
		}
		for k, v := range res.headers {
			resp.Headers[k] = v
		}
	}
	rcu, wcu := telemetry.Consumed(ctx)
	attrs := []slog.Attr{
		slog.String("request_id", requestID(ctx, req)),
		slog.String("use_case", useCase),
		slog.String("brand", brand),
		slog.String("method", req.HTTPMethod),
		slog.String("path", req.Path),
		slog.Int("status", resp.StatusCode),
		slog.String("outcome", outcome),
		slog.Int64("latency_ms", time.Since(start).Milliseconds()),
		slog.Int64("dynamodb_round_trips", telemetry.RoundTrips(ctx)),
		slog.Float64("dynamodb_rcu", rcu), slog.Float64("dynamodb_wcu", wcu),
	}
	if err != nil && resp.StatusCode >= 500 {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	h.log.LogAttrs(ctx, level, "request", attrs...)
	h.emitMetrics(useCase, brand, outcome, resp.StatusCode, time.Since(start))
	return resp
}

// lifecycleActions names the lifecycle use cases' actions, for metrics.
var lifecycleActions = map[string]string{
	"renew-license": "renew", "suspend-license": "suspend", "resume-license": "resume", "cancel-license": "cancel",
}

// emitMetrics writes the request's business metrics. Dimensions are use
// cases, outcomes (error codes), actions and brands: a few values each.
func (h *API) emitMetrics(useCase, brand, outcome string, status int, latency time.Duration) {
	m := h.opts.Metrics
	if m == nil {
		return
	}
	m.Emit(map[string]string{"UseCase": useCase, "Outcome": outcome},
		telemetry.Metric{Name: "Requests", Unit: "Count", Value: 1},
		telemetry.Metric{Name: "Latency", Unit: "Milliseconds", Value: float64(latency.Microseconds()) / 1000})
	switch {
	case useCase == "check-license":
		m.Emit(map[string]string{"Outcome": outcome}, telemetry.Metric{Name: "Checks", Unit: "Count", Value: 1})
	case useCase == "activate-license" && outcome == "site_moved":
		m.Emit(map[string]string{"Brand": brand}, telemetry.Metric{Name: "SiteMoves", Unit: "Count", Value: 1})
	case useCase == "activate-license" && status == http.StatusCreated:
		// Outcome is activated_<environment>: production, staging or local.
		m.Emit(map[string]string{"Brand": brand, "Environment": strings.TrimPrefix(outcome, "activated_")},
			telemetry.Metric{Name: "Activations", Unit: "Count", Value: 1})
	case useCase == "activate-license" && outcome == string(licensing.CodeNoSeatsAvailable):
		m.Emit(nil, telemetry.Metric{Name: "SeatLimitRejections", Unit: "Count", Value: 1})
	case lifecycleActions[useCase] != "" && status == http.StatusOK:
		m.Emit(map[string]string{"Action": lifecycleActions[useCase]}, telemetry.Metric{Name: "LifecycleChanges", Unit: "Count", Value: 1})
	}
	if status == http.StatusServiceUnavailable {
		m.Emit(nil, telemetry.Metric{Name: "Unavailable", Unit: "Count", Value: 1})
	}
}

func requestID(ctx context.Context, req events.APIGatewayProxyRequest) string {
	if req.RequestContext.RequestID != "" {
		return req.RequestContext.RequestID
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}

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
}

// CreateProduct is POST /api/v1/brand/products.
func (h *API) CreateProduct(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("create-product", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in createProductRequest
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		p, err := h.app.CreateProduct(ctx, t, in.Slug, in.Name)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusCreated, body: renderProduct(p)}, nil
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
	IdempotencyKey string   `json:"idempotency_key"`
}

// ProvisionLicense is POST /api/v1/brand/licenses/provision (US1).
func (h *API) ProvisionLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("provision-license", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in provisionRequest
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		idem := strings.TrimSpace(header(req, "Idempotency-Key"))
		if body := strings.TrimSpace(in.IdempotencyKey); body != "" {
			if idem != "" && idem != body {
				return result{}, licensing.Invalid("idempotency_key", "differs from the Idempotency-Key header")
			}
			idem = body
		}
		p, replayed, err := h.app.Provision(ctx, t, app.ProvisionInput{
			CustomerEmail: in.CustomerEmail, Products: in.Products, ExpirationDate: in.ExpirationDate, MaxSeats: in.MaxSeats,
		}, idem)
		if err != nil {
			return result{}, err
		}
		res := result{status: http.StatusCreated, body: renderProvisioned(p)}
		if replayed {
			res.headers = map[string]string{"Idempotent-Replayed": "true"}
		}
		return res, nil
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
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

// RenewLicense is POST /api/v1/brand/licenses/{id}/renew.
func (h *API) RenewLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("renew-license", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in renewRequest
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		return h.change(ctx, t, req, app.ChangeInput{Action: licensing.ActionRenew, ExpirationDate: in.ExpirationDate})
	})(ctx, req)
}

// SuspendLicense is POST /api/v1/brand/licenses/{id}/suspend.
func (h *API) SuspendLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("suspend-license", h.statusChange(licensing.ActionSuspend))(ctx, req)
}

// ResumeLicense is POST /api/v1/brand/licenses/{id}/resume.
func (h *API) ResumeLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("resume-license", h.statusChange(licensing.ActionResume))(ctx, req)
}

// CancelLicense is POST /api/v1/brand/licenses/{id}/cancel.
func (h *API) CancelLicense(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("cancel-license", h.statusChange(licensing.ActionCancel))(ctx, req)
}

func (h *API) statusChange(a licensing.Action) brandFunc {
	return func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in reasonRequest
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		return h.change(ctx, t, req, app.ChangeInput{Action: a, Reason: in.Reason})
	}
}

func (h *API) change(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest, in app.ChangeInput) (result, error) {
	v, err := h.app.ChangeLicense(ctx, t, req.PathParameters["id"], in)
	if err != nil {
		return result{}, err
	}
	return result{status: http.StatusOK, body: renderLicenseDetail(v, h.app.Now())}, nil
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
