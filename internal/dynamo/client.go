package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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
		o.APIOptions = append(o.APIOptions, countRoundTrips, countCapacity)
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

// countCapacity asks DynamoDB for the capacity every call consumes
// (ReturnConsumedCapacity TOTAL) and records it in the request's telemetry,
// for its log line (dynamodb_rcu, dynamodb_wcu).
func countCapacity(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countCapacity",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			askCapacity(in.Parameters)
			out, md, err := next.HandleInitialize(ctx, in)
			if err == nil {
				rcu, wcu := consumedBy(out.Result)
				telemetry.Consume(ctx, rcu, wcu)
			}
			return out, md, err
		}), middleware.After)
}

func askCapacity(params any) {
	total := types.ReturnConsumedCapacityTotal
	switch in := params.(type) {
	case *dynamodb.GetItemInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.BatchGetItemInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.QueryInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.ScanInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.PutItemInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.UpdateItemInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.DeleteItemInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.TransactWriteItemsInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.TransactGetItemsInput:
		in.ReturnConsumedCapacity = total
	case *dynamodb.BatchWriteItemInput:
		in.ReturnConsumedCapacity = total
	}
}

// consumedBy is the read and write capacity a call's answer reports. A read
// call's units are reads and a write call's writes; a transaction's are
// split as DynamoDB reports them (its condition checks read).
func consumedBy(result any) (rcu, wcu float64) {
	var reads, writes []types.ConsumedCapacity
	one := func(c *types.ConsumedCapacity) []types.ConsumedCapacity {
		if c == nil {
			return nil
		}
		return []types.ConsumedCapacity{*c}
	}
	switch out := result.(type) {
	case *dynamodb.GetItemOutput:
		reads = one(out.ConsumedCapacity)
	case *dynamodb.BatchGetItemOutput:
		reads = out.ConsumedCapacity
	case *dynamodb.QueryOutput:
		reads = one(out.ConsumedCapacity)
	case *dynamodb.ScanOutput:
		reads = one(out.ConsumedCapacity)
	case *dynamodb.TransactGetItemsOutput:
		reads = out.ConsumedCapacity
	case *dynamodb.PutItemOutput:
		writes = one(out.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		writes = one(out.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		writes = one(out.ConsumedCapacity)
	case *dynamodb.BatchWriteItemOutput:
		writes = out.ConsumedCapacity
	case *dynamodb.TransactWriteItemsOutput:
		for _, c := range out.ConsumedCapacity {
			r, w := aws.ToFloat64(c.ReadCapacityUnits), aws.ToFloat64(c.WriteCapacityUnits)
			if r == 0 && w == 0 {
				w = aws.ToFloat64(c.CapacityUnits)
			}
			rcu, wcu = rcu+r, wcu+w
		}
	}
	for _, c := range reads {
		rcu += aws.ToFloat64(c.CapacityUnits)
	}
	for _, c := range writes {
		wcu += aws.ToFloat64(c.CapacityUnits)
	}
	return rcu, wcu
}
