// Command invoke runs one Lambda function locally the way Lambda runs it
// (`make invoke FN=<function> EVENT=events/<file>.json`): it builds the
// function's bootstrap for this machine into bin/local/<function>/, runs it
// under the AWS Lambda Runtime Interface Emulator, sends it the event and
// prints the response and the function's init duration.
//
// The function talks to the DynamoDB endpoint of `make run`
// (-dynamodb-endpoint: make invoke's DYNAMODB_ADDR, else DYNAMODB_ENDPOINT,
// else http://127.0.0.1:8000; loopback only) and to its S3 API of release
// packages (-s3-endpoint: S3_ADDR, else S3_ENDPOINT, else
// http://127.0.0.1:9000; loopback only). invoke says which endpoint it uses,
// and when nothing answers there it stops with an error before it builds
// anything, unless -standalone (STANDALONE=1) asks it to start the local
// service itself: its embedded engine on that address, its embedded S3 and
// the demo data, for as long as it runs.
//
// The function's environment is what template.yaml gives it, with local
// stand-ins for the stack's resources (see functionEnv); EventBridge is a
// loopback endpoint of invoke's own that accepts PutEvents and prints the
// events the relay (publish-events) put on the bus.
//
// RUNS=n (-runs) repeats the cold start n times, each in a fresh emulator,
// and prints the median init duration.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/dev/rie"
	"github.com/clsvc/license-service/internal/dynamo"
	"github.com/clsvc/license-service/internal/service"
)

const (
	tableName       = "licenses"
	region          = "us-east-1"
	defaultEndpoint = "http://127.0.0.1:8000"
	// defaultS3Endpoint is where `make run` serves its S3 API (local-api's
	// -s3-addr).
	defaultS3Endpoint = "http://127.0.0.1:9000"
)

// usageError is a mistake in how invoke was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	err := run()
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "invoke:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "invoke:", err)
		os.Exit(1)
	}
}

type options struct {
	fn, event, emulator, endpoint, s3Endpoint, logLevel string
	runs                                                int
	verbose, standalone                                 bool
}

func run() error {
	var o options
	flag.StringVar(&o.fn, "fn", "", "function to invoke: its directory name under functions/ (make invoke FN=...)")
	flag.StringVar(&o.event, "event", "", "file with the event JSON (make invoke EVENT=...)")
	flag.StringVar(&o.emulator, "rie", "", "aws-lambda-rie binary (default: "+rie.ToolPath+", else on PATH)")
	flag.StringVar(&o.endpoint, "dynamodb-endpoint", envOr("DYNAMODB_ENDPOINT", defaultEndpoint), "DynamoDB endpoint of the function")
	flag.StringVar(&o.s3Endpoint, "s3-endpoint", envOr("S3_ENDPOINT", defaultS3Endpoint), "S3 endpoint of the function (release packages)")
	flag.StringVar(&o.logLevel, "log-level", envOr("LOG_LEVEL", "INFO"), "the function's LOG_LEVEL")
	flag.IntVar(&o.runs, "runs", 1, "cold starts to run, each in a fresh emulator; more than one prints the median init duration")
	flag.BoolVar(&o.verbose, "v", false, "show the emulator's own log lines too, as they come")
	flag.BoolVar(&o.standalone, "standalone", false, "when nothing answers at the DynamoDB endpoint, start the local service there for this invoke (make invoke STANDALONE=1) instead of failing")
	flag.Parse()

	root, err := rie.ModuleRoot(".")
	if err != nil {
		return err
	}
	fns, err := rie.Functions(root)
	if err != nil {
		return err
	}
	event, err := checkArgs(o, root, fns)
	if err != nil {
		return err
	}
	if o.emulator == "" {
		if o.emulator, err = rie.Find(root); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	endpoint, s3Endpoint, stopDB, err := ensureDynamo(ctx, root, o.endpoint, o.s3Endpoint, o.standalone)
	if err != nil {
		return err
	}
	defer stopDB()

	began := time.Now()
	dir := filepath.Join(root, "bin", "local", o.fn)
	bootstrap, err := rie.Build(ctx, root, o.fn, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "built %s for %s/%s (%s) in %.1fs\n",
		rel(root, bootstrap), runtime.GOOS, runtime.GOARCH, fileSize(bootstrap), time.Since(began).Seconds())

	bus, err := startLocalBus()
	if err != nil {
		return err
	}
	defer bus.Close()

	cfg := rie.Config{
		Emulator:  o.emulator,
		Bootstrap: bootstrap,
		Env:       functionEnv(o.fn, endpoint, bus.URL, s3Endpoint, o.logLevel),
	}
	if o.verbose {
		cfg.Output = os.Stderr
	}
	var inits []time.Duration
	failed := false
	for i := range o.runs {
		res, out, err := invokeOnce(ctx, cfg, event)
		if err != nil {
			return err
		}
		inits = append(inits, res.InitDuration)
		if i == 0 {
			if !o.verbose {
				printFunctionOutput(out)
			}
			failed = printResponse(res)
			printEvents(bus.Entries())
			fmt.Printf("init duration: %s (%s)\n", ms(res.InitDuration), res.InitSource)
			if res.InitSource == rie.SourceInitReport {
				fmt.Printf("  the REPORT line's \"Init Duration: %s\" is only the emulator handing the init to its runtime loop;\n"+
					"  first response %s after the emulator started, REPORT Duration %s\n",
					ms(res.ReportInitDuration), ms(res.SinceStart), ms(res.Duration))
			}
		}
		if o.runs > 1 {
			fmt.Printf("run %d/%d: status %d, init duration %s (%s)\n", i+1, o.runs, res.StatusCode, ms(res.InitDuration), res.InitSource)
		}
	}
	if o.runs > 1 {
		fmt.Printf("%s: median init duration over %d cold starts: %s (min %s, max %s)\n",
			o.fn, len(inits), ms(median(inits)), ms(slices.Min(inits)), ms(slices.Max(inits)))
	}
	if failed {
		return errors.New("the function failed (see above)")
	}
	return nil
}

// localEnv is the local value of each variable template.yaml sets for the
// functions (Globals and their own), or "" for those left unset locally, with
// why. functionEnv sets them; a test holds it to the template.
var localEnv = map[string]string{
	"TABLE_NAME":            tableName,                      // !Ref LicensesTable: the local engine's table
	"EVENT_BUS_NAME":        devserver.DefaultEventBusName,  // !Ref LicenseEventBus: the bus of `make run`
	"STAGE":                 "local",                        // !Ref Stage
	"USE_CASE":              "",                             // the function's own: FN
	"LOG_LEVEL":             "",                             // !Ref LogLevel: LOG_LEVEL (-log-level)
	"CHECK_CACHE_MAX_AGE":   "",                             // unset: the default, 60 s
	"SIGNING_KEY_SECRET_ID": "",                             // unset: a fresh local signing key at start
	"DEAD_LETTER_QUEUE_URL": "",                             // unset: the relay logs the events it cannot publish
	"RELEASE_BUCKET":        devserver.DefaultReleaseBucket, // !Ref ReleaseBucket: the bucket of `make run`, at S3_ENDPOINT
	// !Ref WebhookQueue: the demo data has no webhook endpoint, so nothing
	// is retried; a retry's wait is asked of the local bus (SQS_ENDPOINT),
	// which refuses it, and logged — never of AWS.
	"WEBHOOK_QUEUE_URL": "http://127.0.0.1/000000000000/local-webhooks",
}

// functionEnv is the process environment of the function under the
// emulator: template.yaml's variables with their local values, and the
// endpoints of the local engine, the local EventBridge bus and the local S3.
func functionEnv(fn, dynamoEndpoint, busEndpoint, s3Endpoint, logLevel string) []string {
	env := []string{
		"USE_CASE=" + fn,
		"LOG_LEVEL=" + logLevel,
		"DYNAMODB_ENDPOINT=" + dynamoEndpoint,
		"EVENTBRIDGE_ENDPOINT=" + busEndpoint,
		"SQS_ENDPOINT=" + busEndpoint, // no SQS here: the webhook delivery's waits are refused, never sent to AWS
		"S3_ENDPOINT=" + s3Endpoint,
		"AWS_REGION=" + region,
		"AWS_LAMBDA_FUNCTION_NAME=" + fn,
	}
	for _, name := range slices.Sorted(maps.Keys(localEnv)) {
		if v := localEnv[name]; v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// printEvents prints the events the function put on the local bus.
func printEvents(entries []busEntry) {
	if len(entries) == 0 {
		return
	}
	fmt.Printf("--- %d event(s) put on the local EventBridge bus\n", len(entries))
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			continue
		}
		fmt.Println(string(b))
	}
}

// checkArgs validates FN and EVENT and returns the event.
func checkArgs(o options, root string, fns []string) ([]byte, error) {
	example := "make invoke FN=health EVENT=events/health.json"
	if o.fn == "" {
		return nil, usageError{fmt.Sprintf("FN is missing: name the function to invoke, e.g. `%s`; the functions are: %s",
			example, strings.Join(fns, ", "))}
	}
	if !slices.Contains(fns, o.fn) {
		return nil, usageError{fmt.Sprintf("FN=%s is not a function (a directory under functions/); the functions are: %s",
			o.fn, strings.Join(fns, ", "))}
	}
	if o.event == "" {
		hint := ""
		if p := filepath.Join("events", o.fn+".json"); exists(filepath.Join(root, p)) {
			hint = fmt.Sprintf(" (its sample event is %s)", p)
		}
		return nil, usageError{fmt.Sprintf("EVENT is missing: name the event JSON file to send, e.g. `make invoke FN=%s EVENT=events/%s.json`%s",
			o.fn, o.fn, hint)}
	}
	if o.runs < 1 {
		return nil, usageError{"RUNS must be at least 1"}
	}
	event, err := os.ReadFile(o.event)
	if err != nil {
		return nil, usageError{fmt.Sprintf("EVENT=%s: %v", o.event, err)}
	}
	if !json.Valid(event) {
		return nil, usageError{fmt.Sprintf("EVENT=%s is not valid JSON", o.event)}
	}
	return event, nil
}

// ensureDynamo makes sure a DynamoDB engine with the table answers at
// endpoint: the one of `make run` if it is up (with its S3 API at
// s3Endpoint), else, with standalone, the local service started here (with
// its own embedded S3); without standalone, nothing answering there is an
// error (errNothingAnswers). It returns the DynamoDB and S3 endpoints for the
// function and how to stop what it started.
func ensureDynamo(ctx context.Context, root, endpoint, s3Endpoint string, standalone bool) (string, string, func(), error) {
	addr, err := loopbackAddr("DYNAMODB_ENDPOINT", endpoint, defaultEndpoint, "engine")
	if err != nil {
		return "", "", nil, err
	}
	s3Addr, err := loopbackAddr("S3_ENDPOINT", s3Endpoint, defaultS3Endpoint, "S3 API")
	if err != nil {
		return "", "", nil, err
	}
	if answers(addr) {
		if err := checkTable(ctx, endpoint); err != nil {
			return "", "", nil, fmt.Errorf("something answers at %s, but not a DynamoDB engine with table %q (is `make run` running?): %w",
				endpoint, tableName, err)
		}
		fmt.Fprintf(os.Stderr, "DynamoDB endpoint: %s (table %q is there)\n", endpoint, tableName)
		if answers(s3Addr) {
			fmt.Fprintf(os.Stderr, "S3 endpoint: %s (bucket %q)\n", s3Endpoint, devserver.DefaultReleaseBucket)
		} else {
			fmt.Fprintf(os.Stderr, "S3 endpoint: %s: nothing answers there (S3_ADDR, else S3_ENDPOINT): the release functions will answer 503\n", s3Endpoint)
		}
		return endpoint, s3Endpoint, func() {}, nil
	}
	if !standalone {
		return "", "", nil, errNothingAnswers(endpoint, addr)
	}
	srv, err := devserver.Start(ctx, devserver.Options{
		Template:   filepath.Join(root, "template.yaml"),
		APIAddr:    "127.0.0.1:0",
		DynamoAddr: addr,
		// Its embedded S3 on a free port: the function gets its URL.
		S3Addr: "127.0.0.1:0",
		Config: service.Config{TableName: tableName},
		Seed:   true,
	})
	if err != nil {
		return "", "", nil, fmt.Errorf("nothing answers at %s, and starting the local service there failed: %w", endpoint, err)
	}
	fmt.Fprintf(os.Stderr, "DynamoDB endpoint: %s (nothing answered there, so with STANDALONE=1 the local service runs in this process "+
		"for this invoke: its embedded engine, table %q, demo data seeded; S3 at %s, bucket %q; `make run` keeps one up between invokes)\n",
		srv.DynamoURL, tableName, srv.S3URL, srv.Service.Config.ReleaseBucket)
	return srv.DynamoURL, srv.S3URL, srv.Close, nil
}

// errNothingAnswers is the error when no DynamoDB engine answers at
// endpoint (host:port addr) and invoke is not to start one.
func errNothingAnswers(endpoint, addr string) error {
	return fmt.Errorf("DynamoDB endpoint %s: nothing answers there (no TCP connection to %s). "+
		"make invoke uses DYNAMODB_ADDR, else DYNAMODB_ENDPOINT, else 127.0.0.1:8000, make run's default. "+
		"Start the local service there first, in another terminal (`make run DYNAMODB_ADDR=%s`), "+
		"point DYNAMODB_ADDR at the engine of the `make run` that is up, "+
		"or add STANDALONE=1 to start the local service in this process for this invoke", endpoint, addr, addr)
}

// loopbackAddr is the host:port of a local endpoint, which must be a
// loopback URL.
func loopbackAddr(name, endpoint, example, what string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", usageError{fmt.Sprintf("%s=%q is not a URL like %s", name, endpoint, example)}
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if !isLoopback(u.Hostname()) {
		return "", usageError{fmt.Sprintf("%s=%s is not a loopback address: invoke runs functions against a local %s only", name, endpoint, what)}
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// answers tells whether something accepts TCP connections at addr.
func answers(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

func checkTable(ctx context.Context, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	db, err := dynamo.NewClient(ctx, dynamo.ClientConfig{Endpoint: endpoint, Region: region, MaxAttempts: 1})
	if err != nil {
		return err
	}
	_, err = db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tableName)})
	return err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// invokeOnce runs one cold start and returns what the emulator printed.
func invokeOnce(ctx context.Context, cfg rie.Config, event []byte) (*rie.Result, string, error) {
	e, err := rie.Start(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := e.Invoke(ctx, event)
	return res, e.Output(), err
}

// printFunctionOutput shows what the function printed and the emulator's
// START/END/REPORT lines, without the emulator's own log lines.
func printFunctionOutput(out string) {
	fmt.Fprintln(os.Stderr, "--- function output")
	for line := range strings.SplitSeq(strings.TrimRight(out, "\n"), "\n") {
		if !strings.Contains(line, "(rapid)") {
			fmt.Fprintln(os.Stderr, line)
		}
	}
}

// printResponse prints the response, pretty, and the body of an API Gateway
// proxy response on its own; it reports whether the invoke failed.
func printResponse(res *rie.Result) (failed bool) {
	fmt.Printf("--- response (emulator status %d)\n", res.StatusCode)
	fmt.Println(pretty(res.Body))
	var proxy struct {
		StatusCode int     `json:"statusCode"`
		Body       *string `json:"body"`
		ErrorType  string  `json:"errorType"`
	}
	if err := json.Unmarshal(res.Body, &proxy); err == nil && proxy.Body != nil && json.Valid([]byte(*proxy.Body)) {
		fmt.Printf("--- body (statusCode %d)\n", proxy.StatusCode)
		fmt.Println(pretty([]byte(*proxy.Body)))
	}
	return res.StatusCode != 200 || proxy.ErrorType != ""
}

func pretty(b []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return string(b)
	}
	return buf.String()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func fileSize(p string) string {
	fi, err := os.Stat(p)
	if err != nil {
		return "size unknown"
	}
	return fmt.Sprintf("%.2f MiB", float64(fi.Size())/(1<<20))
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
