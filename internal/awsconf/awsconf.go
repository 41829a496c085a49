// Package awsconf loads the AWS SDK configuration every client of the
// service shares: a bounded standard retryer and, for local endpoints, static
// credentials so that the default chain (and the instance metadata service)
// is never asked.
package awsconf

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Options say how to reach an AWS service.
type Options struct {
	// Endpoint overrides the service's endpoint (a local engine or
	// emulator). With it and no AWS credentials or profile in the
	// environment, static dummy credentials are used.
	Endpoint string
	Region   string // default: the environment's, else us-east-1
	// MaxAttempts bounds the SDK's attempts at a call (default 3), with
	// jittered backoff capped at 500 ms.
	MaxAttempts int
}

// Load returns the SDK configuration for o.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(r *retry.StandardOptions) {
				r.MaxAttempts = o.MaxAttempts
				r.MaxBackoff = 500 * time.Millisecond
			})
		}),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Endpoint != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
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

// LoopbackEndpoint reports whether an endpoint URL names this machine
// (localhost, 127.0.0.0/8, ::1); an empty endpoint (AWS) does not.
func LoopbackEndpoint(endpoint string) bool {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if endpoint == "" || err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}
