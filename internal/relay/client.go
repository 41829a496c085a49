package relay

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/clsvc/license-service/internal/awsconf"
)

// ClientConfig says how to reach EventBridge or SQS.
type ClientConfig struct {
	// Endpoint overrides the AWS endpoint (a local emulator). With an
	// endpoint and no AWS credentials or profile in the environment, static
	// dummy credentials are used.
	Endpoint string
	Region   string
	// MaxAttempts bounds the SDK's retries of a failed call (default 3).
	// Failed entries of a successful PutEvents call are not retried by the
	// SDK but by the relay, through Lambda.
	MaxAttempts int
}

// NewEventBridgeClient builds an EventBridge client from the default AWS
// configuration.
func NewEventBridgeClient(ctx context.Context, c ClientConfig) (*eventbridge.Client, error) {
	cfg, err := loadConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	}), nil
}

// NewSQSClient builds an SQS client from the default AWS configuration.
func NewSQSClient(ctx context.Context, c ClientConfig) (*sqs.Client, error) {
	cfg, err := loadConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	}), nil
}

func loadConfig(ctx context.Context, c ClientConfig) (aws.Config, error) {
	return awsconf.Load(ctx, awsconf.Options{Endpoint: c.Endpoint, Region: c.Region, MaxAttempts: c.MaxAttempts})
}
