// Package devserver runs the whole service locally, as `make run` does: the
// embedded DynamoDB-compatible engine (or any DynamoDB endpoint), the table of
// template.yaml, demo data, and every route of template.yaml served by the
// same handlers the Lambda functions run.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/clsvc/license-service/internal/awsconf"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/localapi"
	"github.com/clsvc/license-service/internal/dev/localdb"
	"github.com/clsvc/license-service/internal/dev/locals3"
	"github.com/clsvc/license-service/internal/dev/stack"
	"github.com/clsvc/license-service/internal/service"
	"github.com/clsvc/license-service/internal/webhook"
	"github.com/clsvc/license-service/internal/webhookqueue"
)

// Options configure a local run.
type Options struct {
	Template   string // path of template.yaml
	APIAddr    string // e.g. 127.0.0.1:3000; ":0" style picks a free port
	DynamoAddr string // where the embedded engine listens, e.g. 127.0.0.1:8000
	// S3Addr is where the embedded S3-compatible server listens (e.g.
	// 127.0.0.1:9000; empty: a free loopback port), unless
	// Config.S3Endpoint names another S3 API.
	S3Addr string
	Config service.Config
	Seed   bool
	Log    *slog.Logger
	// Now is the service's clock (time.Now when nil); tests move it to
	// see licenses expire.
	Now func() time.Time

	// EventBridgeEndpoint, when set, is the EventBridge API (an emulator)
	// the relay publishes the outbox's events to. Without it each event is
	// printed to EventLog as one JSON line.
	EventBridgeEndpoint string
	// EventRetryBackoff, when set, is the relay's backoff before it sends
	// failed entries again the first time (doubling each round); the
	// default is the one of AWS (100 ms, up to 2 s).
	EventRetryBackoff time.Duration
	// EventBusName is the bus events are put on (DefaultEventBusName when
	// empty).
	EventBusName string
	// EventLog receives the events as JSON lines when there is no
	// EventBridgeEndpoint; nil discards them.
	EventLog io.Writer
	// WebhookRetry, when set, is the wait after a webhook delivery's nth
	// failed attempt (tests shorten the schedule of AWS, which is the
	// default).
	WebhookRetry func(n int) time.Duration
	// WebhookTimeout, when set, is how long an endpoint has to answer
	// (webhook.Timeout by default).
	WebhookTimeout time.Duration
	// EventPoll is how often committed events are handed to the relay
	// (DefaultEventPoll when zero). Negative: never in the background, only
	// through FlushEvents.
	EventPoll time.Duration
	// Wrap, when set, wraps the API's handler: the contract tests check
	// every request and answer against api/openapi.yaml through it.
	Wrap func(http.Handler) http.Handler
}

// DefaultReleaseBucket is the release bucket of a local run.
const DefaultReleaseBucket = "releases"

// Server is a running local service.
type Server struct {
	APIURL    string
	DynamoURL string
	Engine    *localdb.Engine // nil when an external endpoint is used
	S3URL     string
	S3        *locals3.Server // nil when an external S3 endpoint is used
	Service   *service.Service
	servers   []*http.Server

	events     *tailer // relays the outbox; nil until the API serves
	stopEvents func()  // stops the background tailer and waits; nil without one
	// webhooks delivers the relayed events to the brands' endpoints, as the
	// rule, the queue and deliver-webhooks do in AWS; nil until the API serves.
	webhooks *webhookqueue.Local
}

// Start starts the engine (unless Config.DynamoDBEndpoint names another),
// ensures the table, seeds the demo data, serves the API and starts relaying
// the committed events (see FlushEvents).
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Seed && !Loopback(o.Config.DynamoDBEndpoint) {
		return nil, fmt.Errorf("refusing to seed the demo data (public API and license keys) into %s: only the embedded engine or a loopback endpoint is seeded", o.Config.DynamoDBEndpoint)
	}
	tpl, err := stack.Load(o.Template)
	if err != nil {
		return nil, err
	}
	s := &Server{}
	if o.Config.DynamoDBEndpoint == "" {
		s.Engine = localdb.New()
		url, err := s.serve(o.DynamoAddr, s.Engine)
		if err != nil {
			return nil, fmt.Errorf("start embedded DynamoDB: %w", err)
		}
		o.Config.DynamoDBEndpoint = url
	}
	s.DynamoURL = o.Config.DynamoDBEndpoint
	if o.Config.ReleaseBucket == "" {
		o.Config.ReleaseBucket = DefaultReleaseBucket
	}
	if o.Config.S3Endpoint == "" {
		if s.S3, err = locals3.New(o.Config.ReleaseBucket); err != nil {
			s.Close()
			return nil, err
		}
		if o.S3Addr == "" {
			o.S3Addr = "127.0.0.1:0"
		}
		url, err := s.serve(o.S3Addr, s.S3)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("start embedded S3: %w", err)
		}
		o.Config.S3Endpoint = url
	}
	s.S3URL = o.Config.S3Endpoint
	o.Config.WebhooksLocal = true // a receiver on this machine, over http
	s.Service, err = service.New(ctx, o.Config, o.Log, o.Now)
	if err != nil {
		s.Close()
		return nil, err
	}
	if o.WebhookTimeout > 0 {
		s.Service.App.UseWebhooks(webhook.NewSender(true).WithTimeout(o.WebhookTimeout))
	}
	if _, err := localdb.EnsureTable(ctx, s.dynamoClient(), o.Config.TableName, tpl.Table); err != nil {
		s.Close()
		return nil, err
	}
	if o.Seed {
		if err := demo.Seed(ctx, s.Service.App.Ops()); err != nil {
			s.Close()
			return nil, err
		}
		if err := demo.SeedReleases(ctx, s.Service.App, nil); err != nil {
			s.Close()
			return nil, err
		}
	}
	handlers := map[string]localapi.Handler{}
	for name, h := range s.Service.API.Handlers() {
		handlers[name] = h
	}
	// The handlers log every request; the gateway emulation adds nothing.
	api, err := localapi.New(tpl.Functions, handlers, localapi.Options{})
	if err != nil {
		s.Close()
		return nil, err
	}
	if o.Wrap != nil {
		api = o.Wrap(api)
	}
	if s.APIURL, err = s.serve(o.APIAddr, api); err != nil {
		s.Close()
		return nil, fmt.Errorf("start API: %w", err)
	}
	if err := s.startEvents(ctx, o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) dynamoClient() *dynamodb.Client { return s.Service.Store.Client() }

// serve listens on addr and serves h in the background; it returns the base URL.
func (s *Server) serve(addr string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

// Close stops the background event tailer, then the API, letting requests
// in flight finish for up to five seconds; with the tailer running it relays
// the events those requests committed (within the same five seconds), then
// stops the engine. Connections that never carried a request are closed at
// once rather than waited for.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	polling := s.stopEvents != nil
	if polling {
		s.stopEvents()
		s.stopEvents = nil
	}
	for i := len(s.servers) - 1; i >= 0; i-- {
		if i == len(s.servers)-1 {
			_ = s.servers[i].Shutdown(ctx)
			if polling {
				if err := s.events.pass(ctx); err != nil {
					s.events.log.Warn("relaying the last local events failed", slog.String("error", err.Error()))
				}
			}
		}
		_ = s.servers[i].Close()
	}
	if s.webhooks != nil {
		s.webhooks.Close()
	}
}

// Loopback reports whether a DynamoDB endpoint is the embedded engine (empty)
// or on this machine (localhost, 127.0.0.0/8, ::1): the only places the
// demo data, whose keys are printed in the README, may be seeded.
func Loopback(endpoint string) bool {
	return endpoint == "" || awsconf.LoopbackEndpoint(endpoint)
}
