package apigw

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/telemetry"
)

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
// work: RequestTimeout (SeatTimeout for a use case that changes seats), and
// DeadlineMargin before the Lambda's own deadline.
func (h *API) requestContext(ctx context.Context, useCase string) (context.Context, context.CancelFunc) {
	ctx = telemetry.WithRoundTrips(ctx)
	timeout := h.opts.RequestTimeout
	if seatUseCases[useCase] {
		timeout = h.opts.SeatTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Add(-h.opts.DeadlineMargin).Before(deadline) {
		deadline = d.Add(-h.opts.DeadlineMargin)
	}
	return context.WithDeadline(ctx, deadline)
}

// seatUseCases change seats: behind many sites of one license activating at
// once they wait their turn (see dynamo's turns), so they get SeatTimeout.
// So does a manual webhook retry, which waits up to webhook.Timeout (10 s)
// for the brand's endpoint.
var seatUseCases = map[string]bool{"activate-license": true, "deactivate-seat": true, "free-seat": true, "edd": true,
	"retry-webhook-delivery": true}

// brandFunc runs a brand use case for an authenticated tenant.
type brandFunc func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error)

// reportFunc emits a use case's own business metrics for one request:
// its brand (once known), its outcome (an error code, or the success's
// outcome) and its status.
type reportFunc func(m *telemetry.Metrics, brand, outcome string, status int)

// brand authenticates the request (the brand comes from its API key alone:
// resolved by the authorizer in AWS, else here from X-API-Key), runs the use
// case, renders the answer, logs one line and reports the request's metrics
// (with the use case's own, when it has a report).
func (h *API) brand(useCase string, run brandFunc, report ...reportFunc) Handler {
	return func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		start := time.Now()
		ctx, cancel := h.requestContext(ctx, useCase)
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
		return h.finish(ctx, req, useCase, t.Brand, start, res, err, report), nil
	}
}

// public runs a use case that needs no API key (the product API, health).
func (h *API) public(useCase string, run func(ctx context.Context, req events.APIGatewayProxyRequest) (result, error), report ...reportFunc) Handler {
	return func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		start := time.Now()
		ctx, cancel := h.requestContext(ctx, useCase)
		defer cancel()
		res, err := run(ctx, req)
		return h.finish(ctx, req, useCase, res.brand, start, res, err, report), nil
	}
}

func (h *API) finish(ctx context.Context, req events.APIGatewayProxyRequest, useCase, brand string, start time.Time, res result, err error, report []reportFunc) events.APIGatewayProxyResponse {
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
		slog.String("path", telemetry.LogPath(req.Path)),
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
	h.emitMetrics(useCase, brand, outcome, resp.StatusCode, time.Since(start), report)
	return resp
}

// emitMetrics writes the metrics every request reports (requests and
// latency by use case and outcome; 503s), then the use case's own. Dimensions
// are use cases, outcomes (error codes), actions and brands: a few values each.
func (h *API) emitMetrics(useCase, brand, outcome string, status int, latency time.Duration, report []reportFunc) {
	m := h.opts.Metrics
	if m == nil {
		return
	}
	m.Emit(map[string]string{"UseCase": useCase, "Outcome": outcome},
		telemetry.Metric{Name: "Requests", Unit: "Count", Value: 1},
		telemetry.Metric{Name: "Latency", Unit: "Milliseconds", Value: float64(latency.Microseconds()) / 1000})
	if status == http.StatusServiceUnavailable {
		m.Emit(nil, telemetry.Metric{Name: "Unavailable", Unit: "Count", Value: 1})
	}
	for _, r := range report {
		r(m, brand, outcome, status)
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
