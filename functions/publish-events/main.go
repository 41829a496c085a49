// Command publish-events is the Lambda function of the outbox relay: the
// table's stream (NEW_IMAGE) invokes it with batches of records, and it
// publishes the event items among them to the EventBridge bus.
//
// Environment: EVENT_BUS_NAME (required), AWS_REGION, EVENTBRIDGE_ENDPOINT
// (an emulator), DEAD_LETTER_QUEUE_URL (the SQS queue of events that cannot
// be published; empty: they are only logged), SQS_ENDPOINT (an emulator),
// LOG_LEVEL (DEBUG, INFO, WARN, ERROR), USE_CASE (logged with every line).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/relay"
	"github.com/clsvc/license-service/internal/telemetry"
)

func main() {
	log := logger()
	p, err := setup(context.Background(), log)
	if err != nil {
		log.Error("init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(p.Handle)
}

// logger is a JSON logger to stdout at LOG_LEVEL.
func logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(os.Getenv("LOG_LEVEL")))); err != nil {
		level = slog.LevelInfo
	}
	fn := os.Getenv("USE_CASE")
	if fn == "" {
		fn = "publish-events"
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level})).With(slog.String("function", fn))
}

// setup wires the publisher from the environment.
func setup(ctx context.Context, log *slog.Logger) (*relay.Publisher, error) {
	bus := os.Getenv("EVENT_BUS_NAME")
	if bus == "" {
		return nil, errors.New("EVENT_BUS_NAME is not set")
	}
	region := os.Getenv("AWS_REGION")
	eb, err := relay.NewEventBridgeClient(ctx, relay.ClientConfig{Endpoint: os.Getenv("EVENTBRIDGE_ENDPOINT"), Region: region})
	if err != nil {
		return nil, fmt.Errorf("eventbridge client: %w", err)
	}
	var dead relay.DeadLetter = relay.LogDeadLetter{Log: log}
	if url := os.Getenv("DEAD_LETTER_QUEUE_URL"); url != "" {
		q, err := relay.NewSQSClient(ctx, relay.ClientConfig{Endpoint: os.Getenv("SQS_ENDPOINT"), Region: region})
		if err != nil {
			return nil, fmt.Errorf("sqs client: %w", err)
		}
		dead = relay.NewSQSDeadLetter(q, url)
	}
	return relay.New(eb, bus, log, dead).WithMetrics(telemetry.NewMetrics(os.Stdout)), nil
}
