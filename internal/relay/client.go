package relay

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
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
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = c.MaxAttempts
				o.MaxBackoff = 500 * time.Millisecond
			})
		}),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.Endpoint != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		// A local emulator takes any credentials; never walk the default
		// chain (it would ask the instance metadata service) for it.
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}
