// Command local-api runs the whole license service on this machine (`make
// run`): every route of template.yaml on http://127.0.0.1:3000, on the
// embedded DynamoDB-compatible engine at 127.0.0.1:8000 (or DYNAMODB_ENDPOINT),
// seeded with demo brands, products and local-only API keys, and with the
// embedded S3-compatible server of release packages at 127.0.0.1:9000 (or
// S3_ENDPOINT). The events the
// service commits are relayed as the publish-events function does in AWS: to
// the EventBridge API at EVENTBRIDGE_ENDPOINT, bus EVENT_BUS_NAME (default
// license-events), or without an endpoint printed to stdout as JSON lines.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/service"
)

// withReference serves the API reference, the HTML file at path, on /docs/
// beside the API (whose routes all live under /api/).
func withReference(api http.Handler, path string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.Handle("GET /docs", http.RedirectHandler("/docs/", http.StatusMovedPermanently))
	mux.HandleFunc("GET /docs/{$}", func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(path); err != nil {
			http.Error(w, path+" is not built: run make docs", http.StatusNotFound)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFile(w, r, path)
	})
	return mux
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "local-api:", err)
		os.Exit(1)
	}
}

func run() error {
	o := devserver.Options{
		Config:              service.ConfigFromEnv(),
		EventBridgeEndpoint: os.Getenv("EVENTBRIDGE_ENDPOINT"),
		EventBusName:        os.Getenv("EVENT_BUS_NAME"),
		EventLog:            os.Stdout,
	}
	if o.EventBusName == "" {
		o.EventBusName = devserver.DefaultEventBusName
	}
	flag.StringVar(&o.Template, "template", "template.yaml", "SAM template whose routes and table to serve")
	flag.StringVar(&o.APIAddr, "addr", "127.0.0.1:3000", "address of the API")
	flag.StringVar(&o.DynamoAddr, "dynamodb-addr", "127.0.0.1:8000", "address of the embedded DynamoDB engine (unused with DYNAMODB_ENDPOINT)")
	flag.StringVar(&o.S3Addr, "s3-addr", "127.0.0.1:9000", "address of the embedded S3-compatible server of release packages (unused with S3_ENDPOINT)")
	reference := flag.String("docs", "docs/api.html", "the API reference (make docs) served on /docs/")
	flag.BoolVar(&o.Seed, "seed", devserver.Loopback(o.Config.DynamoDBEndpoint),
		"seed demo brands, products and API keys (default: only into the embedded engine or a loopback DYNAMODB_ENDPOINT; never elsewhere)")
	flag.Parse()
	o.Log = o.Config.Logger(os.Stderr)
	o.Wrap = func(api http.Handler) http.Handler { return withReference(api, *reference) }

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := devserver.Start(ctx, o)
	if err != nil {
		return err
	}
	defer srv.Close()

	fmt.Printf("License service API  %s\n", srv.APIURL)
	fmt.Printf("API reference        %s/docs/ (%s, built by make docs)\n", srv.APIURL, *reference)
	fmt.Printf("OpenAPI document     %s/api/v1/openapi.json\n", srv.APIURL)
	fmt.Printf("DynamoDB endpoint    %s (table %q)\n", srv.DynamoURL, o.Config.TableName)
	fmt.Printf("S3 endpoint          %s (bucket %q)\n", srv.S3URL, srv.Service.Config.ReleaseBucket)
	if o.Seed {
		fmt.Println("Demo brands (local-only API keys):")
		for _, b := range demo.Brands {
			slugs := ""
			for i, p := range b.Products {
				if i > 0 {
					slugs += ", "
				}
				slugs += p.Slug
			}
			fmt.Printf("  %-10s prefix %-4s X-API-Key: %s  products: %s\n", b.Slug, b.Prefix, b.APIKey, slugs)
		}
	}
	if o.Seed {
		fmt.Printf("Demo license keys: %s (rankmath-pro, content-ai), %s (wp-rocket)\n", demo.RankMathKey, demo.WPRocketKey)
		fmt.Printf("Demo releases: %s of every demo product, published; %s holds a seat of rankmath-pro\n", demo.ReleaseVersion, demo.DemoSite)
	}
	if o.EventBridgeEndpoint != "" {
		fmt.Printf("Events: EventBridge at %s, bus %s\n", o.EventBridgeEndpoint, o.EventBusName)
	} else {
		fmt.Println("Events: printed below as JSON lines")
	}
	fmt.Println("Press Ctrl-C to stop.")
	<-ctx.Done()
	o.Log.Info("stopping")
	return nil
}
