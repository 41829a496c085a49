// Package service wires the service together from its environment: the
// DynamoDB client and store, the use cases, the HTTP adapter and the logger.
// Every Lambda main and the local server build through it, once, at start.
package service

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clsvc/license-service/internal/apigw"
	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/awsconf"
	"github.com/clsvc/license-service/internal/bucket"
	"github.com/clsvc/license-service/internal/dynamo"
	"github.com/clsvc/license-service/internal/telemetry"
	"github.com/clsvc/license-service/internal/token"
	"github.com/clsvc/license-service/internal/token/secret"
	"github.com/clsvc/license-service/internal/webhook"
)

// Config is the service's configuration, read from the environment.
type Config struct {
	TableName        string        // TABLE_NAME, default "licenses"
	DynamoDBEndpoint string        // DYNAMODB_ENDPOINT: DynamoDB Local or the embedded engine
	Region           string        // AWS_REGION
	LogLevel         string        // LOG_LEVEL: DEBUG, INFO, WARN, ERROR
	UseCase          string        // USE_CASE: the function's use case, logged with every line
	CheckMaxAge      time.Duration // CHECK_CACHE_MAX_AGE (seconds): Cache-Control max-age of check answers
	// Metrics receives EMF metric lines (stdout in Lambda); nil: none.
	Metrics io.Writer
	// SigningKeySecret (SIGNING_KEY_SECRET_ID) names the Secrets Manager
	// secret holding the license tokens' signing keys; without it a fresh
	// local key is generated at start (make run).
	SigningKeySecret string
	// ReleaseBucket (RELEASE_BUCKET) is the S3 bucket of release packages;
	// empty: the release routes answer releases_unavailable.
	ReleaseBucket string
	// S3Endpoint (S3_ENDPOINT) points at another S3 API (the embedded one
	// of make run); empty: AWS.
	S3Endpoint string
	// WebhooksLocal lets webhook endpoints be plain http on this machine's
	// loopback: set by make run's server only (no variable sets it, so no
	// function in AWS can).
	WebhooksLocal bool
	// SigningKeysRetry is how often a failed read of that secret is tried
	// again (on a request); zero: DefaultSigningKeysRetry.
	SigningKeysRetry time.Duration
}

// ConfigFromEnv reads Config from the environment.
func ConfigFromEnv() Config {
	c := Config{
		TableName:        os.Getenv("TABLE_NAME"),
		DynamoDBEndpoint: os.Getenv("DYNAMODB_ENDPOINT"),
		Region:           os.Getenv("AWS_REGION"),
		LogLevel:         os.Getenv("LOG_LEVEL"),
		UseCase:          os.Getenv("USE_CASE"),
		SigningKeySecret: os.Getenv("SIGNING_KEY_SECRET_ID"),
		ReleaseBucket:    os.Getenv("RELEASE_BUCKET"),
		S3Endpoint:       os.Getenv("S3_ENDPOINT"),
	}
	if c.TableName == "" {
		c.TableName = "licenses"
	}
	if n, err := strconv.Atoi(os.Getenv("CHECK_CACHE_MAX_AGE")); err == nil && n > 0 {
		c.CheckMaxAge = time.Duration(n) * time.Second
	}
	return c
}

// Logger returns a JSON logger at the configured level.
func (c Config) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(c.LogLevel))); err != nil {
		level = slog.LevelInfo
	}
	l := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	if c.UseCase != "" {
		l = l.With(slog.String("function", c.UseCase))
	}
	return l
}

// Service is the wired service.
type Service struct {
	Config Config
	Store  *dynamo.Store
	App    *app.App
	API    *apigw.API
	Log    *slog.Logger
	// Metrics receives the business metrics (nil: none).
	Metrics *telemetry.Metrics
}

// New wires the service for a configuration; now is its clock (nil: time.Now).
func New(ctx context.Context, c Config, log *slog.Logger, now func() time.Time) (*Service, error) {
	db, err := dynamo.NewClient(ctx, dynamo.ClientConfig{Endpoint: c.DynamoDBEndpoint, Region: c.Region})
	if err != nil {
		return nil, fmt.Errorf("dynamodb client: %w", err)
	}
	store := dynamo.New(db, c.TableName)
	a := app.New(store, now)
	if c.ReleaseBucket != "" {
		packages, err := bucket.New(ctx, bucket.Config{Bucket: c.ReleaseBucket, Endpoint: c.S3Endpoint, Region: c.Region})
		if err != nil {
			return nil, fmt.Errorf("s3 client: %w", err)
		}
		a.UsePackages(packages)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	metrics := metricsTo(c.Metrics)
	signer, err := signerFor(ctx, c, log, metrics)
	if err != nil {
		return nil, err
	}
	a.UseWebhooks(webhook.NewSender(c.WebhooksLocal))
	return &Service{Config: c, Store: store, App: a, Log: log, Metrics: metrics,
		API: apigw.New(a, log, apigw.Options{CheckMaxAge: c.CheckMaxAge, Metrics: metrics, Signer: signer})}, nil
}

// SigningKeysUnavailableMetric counts failed reads of the signing key secret;
// the template alarms on it.
const SigningKeysUnavailableMetric = "SigningKeysUnavailable"

// DefaultSigningKeysRetry is how often a function whose signing keys could
// not be read tries again (on a request; never more often).
const DefaultSigningKeysRetry = time.Minute

// signerFor is the source of the token signer: a local key made now (make
// run), or the keyring of the Secrets Manager secret. The secret is read at
// start; when that fails the function still starts (failing closed would
// take the product API down for every customer site): answers carry no
// license_token, the keys route answers 503, and each failure is logged at
// ERROR and counted in the SigningKeysUnavailable metric (alarmed), while
// the read is tried again at most once per SigningKeysRetry until it works.
func signerFor(ctx context.Context, c Config, log *slog.Logger, metrics *telemetry.Metrics) (token.Source, error) {
	if c.SigningKeySecret == "" {
		keys, err := token.LocalKeyring()
		if err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
		return token.NewSigner(keys...)
	}
	cfg, err := awsconf.Load(ctx, awsconf.Options{Region: c.Region})
	if err != nil {
		return nil, err
	}
	client := secretsmanager.NewFromConfig(cfg)
	r := token.NewReloader(func(ctx context.Context) ([]token.Key, error) {
		return secret.LoadFromSecretsManager(ctx, client, c.SigningKeySecret)
	}, cmp.Or(c.SigningKeysRetry, DefaultSigningKeysRetry), func(err error) {
		log.Error("signing keys unavailable: answers carry no license_token", slog.String("error", err.Error()),
			slog.String("outcome", "signing_keys_unavailable"))
		if metrics != nil {
			metrics.Emit(nil, telemetry.Metric{Name: SigningKeysUnavailableMetric, Unit: "Count", Value: 1})
		}
	}, nil)
	r.Current(ctx) // read at start, as a cold start should
	return r, nil
}

func metricsTo(w io.Writer) *telemetry.Metrics {
	if w == nil {
		return nil
	}
	return telemetry.NewMetrics(w)
}

// Must wires the service for a Lambda function from its environment; a
// function that cannot start logs why and exits, which Lambda reports as an
// init error.
func Must() *Service {
	c := ConfigFromEnv()
	c.Metrics = os.Stdout // CloudWatch Logs extracts the EMF lines
	log := c.Logger(os.Stdout)
	s, err := New(context.Background(), c, log, nil)
	if err != nil {
		log.Error("init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	return s
}

// MustAPI is Must's HTTP face, for the API functions.
func MustAPI() *apigw.API { return Must().API }
