// Command loadgen is a bounded load generator for the license service (`make
// load`). By default it starts the whole local service in-process, as `make
// run` does but on free loopback ports; with -url it targets a running `make
// run` instead (and audits its table through -dynamodb). It provisions license
// keys through the brand API, runs -clients concurrent clients for -duration
// (at most -max-requests requests) with a realistic mix of product requests
// (staging and local sites and site moves among them), EDD requests and brand
// requests (-mix changes it), prints per-operation throughput, latency percentiles and status
// histograms, and audits the table. Every request goes to a loopback address.
//
// Exit status: 0 passed; 1 a 5xx, an unanswered or unexpected answer, a
// violated invariant or a missing or extra event; 2 the run could not be done.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/dev/loadtest"
	"github.com/clsvc/license-service/internal/service"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg      loadtest.Config
		target   = fs.String("url", "", "API of a running `make run`, e.g. http://127.0.0.1:3000 (loopback only); empty: start the service in-process")
		dynamoEP = fs.String("dynamodb", "http://127.0.0.1:8000", "with -url: the DynamoDB endpoint of that service, for the audit (loopback only)")
		table    = fs.String("table", "licenses", "the table")
		template = fs.String("template", "template.yaml", "without -url: the SAM template whose routes and table to serve")
		relay    = fs.Bool("relay", false, "without -url: relay committed events in the background every 250 ms, as `make run` does (it scans the table)")
		markdown = fs.Bool("markdown", false, "also print the figures and the event audit as markdown tables")
		cpuprof  = fs.String("cpuprofile", "", "write a CPU profile of this process (generator and in-process service) to this file")
		mix      = fs.String("mix", "", "weights of the operations, e.g. check=80,move=20 (operations not named do not run); empty: the default mix ("+defaultMix()+")")
	)
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent clients")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "how long the clients send requests")
	fs.Int64Var(&cfg.MaxRequests, "max-requests", 2_000_000, "at most this many requests in the timed phase")
	fs.IntVar(&cfg.Keys, "keys", 200, "license keys provisioned in setup")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the clients' choices")
	fs.DurationVar(&cfg.RequestTimeout, "timeout", 30*time.Second, "timeout of one request")
	fs.IntVar(&cfg.StagingCap, "staging-cap", 3, "the brands' cap on staging and local sites per license (the audit checks it)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *mix != "" {
		m, err := parseMix(*mix)
		if err == nil {
			err = loadtest.CheckMix(m)
		}
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: -%v\n", err)
			return 2
		}
		cfg.Mix = m
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if cfg.Clients < 1 || cfg.Clients > 1024 || cfg.Duration <= 0 || cfg.Duration > time.Hour || cfg.Keys < 1 || cfg.Keys > 100_000 || cfg.MaxRequests < 1 ||
		cfg.StagingCap < 1 || cfg.StagingCap > 100 {
		fmt.Fprintln(stderr, "loadgen: need 1 ≤ -clients ≤ 1024, 0 < -duration ≤ 1h, 1 ≤ -keys ≤ 100000, -max-requests ≥ 1, 1 ≤ -staging-cap ≤ 100")
		return 2
	}
	cfg.Progress = stderr

	fmt.Fprintf(stdout, "command: %s\n", commandLine(args))

	// Everything, setup and audit included, ends within this bound.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+10*time.Minute)
	defer cancel()

	for name, u := range map[string]string{"-url": *target, "-dynamodb": *dynamoEP} {
		if u == "" && name == "-url" {
			continue
		}
		if err := loadtest.CheckLoopbackURL(u); err != nil {
			fmt.Fprintln(stderr, "loadgen:", name, err)
			return 2
		}
	}
	apiURL, dynamoURL := *target, *dynamoEP
	if apiURL == "" {
		poll := time.Duration(-1)
		if *relay {
			poll = 0 // devserver.DefaultEventPoll
		}
		srv, err := devserver.Start(ctx, devserver.Options{
			Template: *template, APIAddr: "127.0.0.1:0", DynamoAddr: "127.0.0.1:0",
			Config: service.Config{TableName: *table}, Seed: true,
			EventPoll: poll, EventLog: io.Discard,
		})
		if err != nil {
			fmt.Fprintln(stderr, "loadgen: start the local service:", err)
			return 2
		}
		defer srv.Close()
		apiURL, dynamoURL = srv.APIURL, srv.DynamoURL
		fmt.Fprintf(stdout, "service: in-process, API %s, embedded DynamoDB %s, background event relay %v\n", apiURL, dynamoURL, *relay)
	} else {
		fmt.Fprintf(stdout, "service: %s, DynamoDB %s (table %q)\n", apiURL, dynamoURL, *table)
	}
	if err := loadtest.CheckLoopbackURL(apiURL); err != nil {
		fmt.Fprintln(stderr, "loadgen: -url", err)
		return 2
	}
	db, err := loadtest.NewDynamoClient(dynamoURL)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	cfg.BaseURL = apiURL
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(stdout, "machine: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())

	rep, err := loadtest.Run(ctx, cfg, db, *table)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	rep.WriteText(stdout)
	if *markdown {
		fmt.Fprintln(stdout)
		rep.WriteMarkdown(stdout)
	}
	fmt.Fprintf(stdout, "\ncommand: %s\n", commandLine(args))
	if rep.Failed() {
		return 1
	}
	return 0
}

// parseMix reads "name=weight,…".
func parseMix(s string) (map[string]int, error) {
	m := map[string]int{}
	for part := range strings.SplitSeq(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("mix: %q: want name=weight", part)
		}
		m[strings.TrimSpace(name)] = n
	}
	return m, nil
}

// defaultMix is the default mix as -mix takes it.
func defaultMix() string {
	m := loadtest.DefaultMix()
	var parts []string
	for _, name := range loadtest.OpNames() {
		parts = append(parts, fmt.Sprintf("%s=%d", name, m[name]))
	}
	return strings.Join(parts, ",")
}

// commandLine is this run's command line, shell-quoted.
func commandLine(args []string) string {
	parts := []string{filepath.Base(os.Args[0])}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
