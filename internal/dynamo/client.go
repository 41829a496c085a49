package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/clsvc/license-service/internal/awsconf"
	"github.com/clsvc/license-service/internal/telemetry"
)

// ClientConfig says how to reach DynamoDB.
type ClientConfig struct {
	// Endpoint overrides the AWS endpoint (DynamoDB Local, the embedded
	// engine). With an endpoint and no AWS credentials or profile in the
	// environment, static dummy credentials are used.
	Endpoint string
	Region   string
	// MaxAttempts bounds the SDK's retries of throttled or failed calls.
	MaxAttempts int
}

// NewClient builds a DynamoDB client from the default AWS configuration.
func NewClient(ctx context.Context, c ClientConfig) (*dynamodb.Client, error) {
	cfg, err := awsconf.Load(ctx, awsconf.Options{Endpoint: c.Endpoint, Region: c.Region, MaxAttempts: c.MaxAttempts})
	if err != nil {
		return nil, err
	}
	var clientOpts []func(*dynamodb.Options)
	if c.Endpoint != "" {
		clientOpts = append(clientOpts, func(o *dynamodb.Options) {
			o.BaseEndpoint = aws.String(c.Endpoint)
			// Local engines do not all send the CRC32 of their answers.
			o.DisableValidateResponseChecksum = true
		})
	}
	clientOpts = append(clientOpts, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, countRoundTrips)
	})
	return dynamodb.NewFromConfig(cfg, clientOpts...), nil
}

// countRoundTrips records every HTTP attempt (retries included) in the
// request's telemetry, for its log line.
func countRoundTrips(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("countRoundTrips",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			telemetry.RoundTrip(ctx)
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}
