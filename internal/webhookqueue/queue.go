// Package webhookqueue feeds events to the webhook deliveries: from the SQS
// queue an EventBridge rule fills (the deliver-webhooks function), or, in
// make run, from an in-process queue with the same retry schedule.
//
// A failed delivery is retried by the queue, not by a loop in the
// function: the message is made invisible for the schedule's wait
// (webhook.Backoff, with jitter) and reported failed, so SQS receives it
// again then; after webhook.MaxAttempts receives, SQS moves it to the
// dead-letter queue, which is alarmed.
package webhookqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/awsconf"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/service"
	"github.com/clsvc/license-service/internal/telemetry"
	"github.com/clsvc/license-service/internal/webhook"
)

// Deliverer delivers one event to its brand's endpoints; *app.App is one.
type Deliverer interface {
	DeliverEvent(ctx context.Context, body []byte, final bool) (app.DeliveryReport, error)
}

var _ Deliverer = (*app.App)(nil)

// VisibilityAPI is the part of the SQS client the handler uses.
type VisibilityAPI interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

var _ VisibilityAPI = (*sqs.Client)(nil)

// Metric names (EMF, namespace of telemetry.Metrics).
const (
	MetricDelivered    = "WebhookDelivered"    // endpoints that answered 2xx
	MetricFailed       = "WebhookFailed"       // attempts without a 2xx
	MetricRetried      = "WebhookRetried"      // events put back for a retry
	MetricDisabled     = "WebhookDisabled"     // endpoints disabled (410, or 3 days of failures)
	MetricDeadLettered = "WebhookDeadLettered" // events given up on: to the dead-letter queue
)

// Handler is the deliver-webhooks function: an SQS batch of EventBridge
// events, one per message.
type Handler struct {
	deliver  Deliverer
	sqs      VisibilityAPI
	queueURL string
	log      *slog.Logger
	metrics  *telemetry.Metrics
	random   func() float64
}

// New returns the handler of the queue at queueURL.
func New(d Deliverer, q VisibilityAPI, queueURL string, log *slog.Logger, m *telemetry.Metrics) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{deliver: d, sqs: q, queueURL: queueURL, log: log, metrics: m, random: rand.Float64}
}

// envelope is the part of an EventBridge event the delivery reads.
type envelope struct {
	Detail json.RawMessage `json:"detail"`
}

// outcome is what became of one message.
type outcome int

const (
	done   outcome = iota // delivered, or nothing to deliver: delete it
	retry                 // some endpoint is to be tried again
	giveUp                // failed its last attempt: to the dead-letter queue
)

// Handle delivers the messages' events, all at once (each endpoint has
// webhook.Timeout to answer, so a batch takes about that long, well within
// the function's timeout, and one brand's slow endpoint holds up no other
// message); the messages to try again are reported as batch item
// failures, after their visibility is set to the schedule's wait.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	outs := make([]outcome, len(ev.Records))
	var wg sync.WaitGroup
	for i, m := range ev.Records {
		n, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
		n = max(n, 1)
		var env envelope
		if err := json.Unmarshal([]byte(m.Body), &env); err != nil || len(env.Detail) == 0 {
			h.log.Error("webhook message is not an EventBridge event: dropped", slog.String("message_id", m.MessageId))
			continue
		}
		wg.Go(func() {
			outs[i] = h.one(ctx, env.Detail, n, m.MessageId)
			switch outs[i] {
			case retry:
				wait, _ := webhook.Backoff(n, h.random())
				h.setVisibility(ctx, m.ReceiptHandle, wait)
			case giveUp:
				h.setVisibility(ctx, m.ReceiptHandle, 0) // SQS moves it at the next receive
			}
		})
	}
	wg.Wait()
	var resp events.SQSEventResponse
	for i, m := range ev.Records {
		if outs[i] != done {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

// one delivers an event on its nth attempt, logs and counts what happened.
func (h *Handler) one(ctx context.Context, detail []byte, n int, messageID string) outcome {
	attrs := []slog.Attr{slog.String("message_id", messageID)}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("request_id", lc.AwsRequestID))
	}
	return deliverOnce(ctx, h.deliver, h.log, h.metrics, detail, n, attrs...)
}

// deliverOnce is one attempt of an event, as the AWS and local queues make it.
func deliverOnce(ctx context.Context, d Deliverer, log *slog.Logger, metrics *telemetry.Metrics, detail []byte, n int, attrs ...slog.Attr) outcome {
	final := n >= webhook.MaxAttempts
	rep, err := d.DeliverEvent(ctx, detail, final)
	out := done
	switch {
	case licensing.IsCode(err, licensing.CodeValidation):
		log.LogAttrs(ctx, slog.LevelError, "webhook event malformed: dropped", attrs...)
		return done
	case (err != nil || rep.Pending > 0) && !final:
		out = retry
	case err != nil || rep.Pending > 0 || rep.Exhausted > 0:
		out = giveUp
	}
	attrs = append(attrs, slog.String("use_case", "deliver-webhooks"), slog.String("brand", rep.Brand), slog.String("event_id", rep.EventID),
		slog.String("event_type", string(rep.EventType)), slog.Int("attempt", n), slog.Int("delivered", rep.Delivered),
		slog.Int("failed", rep.Failed), slog.Int("disabled", rep.Disabled))
	level := slog.LevelInfo
	switch out {
	case retry:
		attrs = append(attrs, slog.String("outcome", "retry"))
	case giveUp:
		level = slog.LevelError
		attrs = append(attrs, slog.String("outcome", "dead_lettered"))
	default:
		attrs = append(attrs, slog.String("outcome", "done"))
	}
	if err != nil {
		level = max(level, slog.LevelWarn)
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	log.LogAttrs(ctx, level, "webhook delivery", attrs...)
	metrics.Emit(nil,
		telemetry.Metric{Name: MetricDelivered, Unit: "Count", Value: float64(rep.Delivered)},
		telemetry.Metric{Name: MetricFailed, Unit: "Count", Value: float64(rep.Failed)},
		telemetry.Metric{Name: MetricRetried, Unit: "Count", Value: b2f(out == retry)},
		telemetry.Metric{Name: MetricDisabled, Unit: "Count", Value: float64(rep.Disabled)},
		telemetry.Metric{Name: MetricDeadLettered, Unit: "Count", Value: b2f(out == giveUp)},
	)
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// setVisibility makes a message visible again after wait; when that fails
// the queue's own visibility timeout applies (a sooner retry), and the
// receive count still bounds the retries.
func (h *Handler) setVisibility(ctx context.Context, receipt string, wait time.Duration) {
	_, err := h.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(h.queueURL), ReceiptHandle: aws.String(receipt), VisibilityTimeout: int32(wait / time.Second),
	})
	if err != nil {
		h.log.Warn("setting the retry delay failed: the queue's visibility timeout applies", slog.String("error", err.Error()))
	}
}

// FromEnv wires the handler of a service from the environment:
// WEBHOOK_QUEUE_URL (required), SQS_ENDPOINT (an emulator), AWS_REGION.
func FromEnv(ctx context.Context, s *service.Service) (*Handler, error) {
	url := os.Getenv("WEBHOOK_QUEUE_URL")
	if url == "" {
		return nil, errors.New("WEBHOOK_QUEUE_URL is not set")
	}
	endpoint := os.Getenv("SQS_ENDPOINT")
	cfg, err := awsconf.Load(ctx, awsconf.Options{Endpoint: endpoint, Region: s.Config.Region})
	if err != nil {
		return nil, fmt.Errorf("sqs client: %w", err)
	}
	q := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return New(s.App, q, url, s.Log, s.Metrics), nil
}

// MustHandler is FromEnv for a Lambda main: a function that cannot start
// logs why and exits, which Lambda reports as an init error.
func MustHandler(s *service.Service) *Handler {
	h, err := FromEnv(context.Background(), s)
	if err != nil {
		s.Log.Error("init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	return h
}
