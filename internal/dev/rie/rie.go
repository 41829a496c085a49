// Package rie runs a Lambda function's bootstrap under the AWS Lambda Runtime
// Interface Emulator (aws-lambda-rie) on this machine: it starts the emulator
// on free loopback ports, sends it events the way Lambda's Invoke API does and
// reads what the emulator reports about each invoke, such as the function's
// init duration. The emulator is installed by `make bin/tools/aws-lambda-rie`.
package rie

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ToolPath is where `make bin/tools/aws-lambda-rie` installs the emulator,
// relative to the module root.
const ToolPath = "bin/tools/aws-lambda-rie"

// InvokePath is the emulator's endpoint for invocations.
const InvokePath = "/2015-03-31/functions/function/invocations"

// How an init duration was obtained (Result.InitSource).
const (
	// SourceInitReport: the emulator's "INIT REPORT(durationMs: …)" log line,
	// from starting the bootstrap until it first asks the Runtime API for an
	// event: what Lambda reports as Init Duration.
	SourceInitReport = "emulator INIT REPORT"
	// SourceReport: the "Init Duration" of the emulator's REPORT line.
	SourceReport = "emulator REPORT line"
	// SourceWallClock: the emulator reported nothing, so this is the time from
	// starting the emulator to the first response, an upper bound.
	SourceWallClock = "wall clock from emulator start to first response (the emulator reported no init duration)"
)

// Config describes one emulator with one function.
type Config struct {
	// Emulator is the path of the aws-lambda-rie binary.
	Emulator string
	// Bootstrap is the path of the function's bootstrap; the emulator runs it
	// in its directory, as Lambda runs /var/task/bootstrap.
	Bootstrap string
	// Env is the function's environment, KEY=VALUE. The emulator hands its
	// own environment to the function; it gets only PATH and these, so
	// nothing of the caller's environment (AWS profiles, keys) leaks in.
	Env []string
	// LogLevel is the emulator's own log level (its --log-level); "info"
	// when empty, the lowest level at which it logs init durations. The
	// function's LOG_LEVEL, if any, goes in Env.
	LogLevel string
	// Output, if set, receives a copy of everything the emulator and the
	// function print, as it comes.
	Output io.Writer
	// StartTimeout bounds waiting for the emulator to listen (10 s if zero).
	StartTimeout time.Duration
}

// Result is one invocation.
type Result struct {
	// StatusCode is the HTTP status of the emulator's answer (200 unless the
	// function crashed, timed out or failed to init).
	StatusCode int
	// Body is the function's response payload as the emulator returned it.
	Body []byte
	// RequestID is the invocation's request id.
	RequestID string
	// Cold is true for the invocation that ran the function's init.
	Cold bool
	// InitDuration is the function's init duration (zero on warm invokes);
	// InitSource says where it comes from.
	InitDuration time.Duration
	InitSource   string
	// ReportInitDuration is the "Init Duration" field of the REPORT line as
	// printed, zero if absent. This emulator measures there only the time it
	// takes to hand the init to its runtime loop, a fraction of a
	// millisecond, so InitDuration prefers its INIT REPORT log line.
	ReportInitDuration time.Duration
	// Duration is the REPORT line's "Duration"; on a cold invoke the emulator
	// counts waiting for the init in it.
	Duration time.Duration
	// SinceStart is the time from starting the emulator to this response.
	SinceStart time.Duration
}

// Emulator is a running aws-lambda-rie with one function.
type Emulator struct {
	cmd     *exec.Cmd
	out     *output
	url     string
	started time.Time
	done    chan struct{} // closed when the emulator has exited
	client  *http.Client

	mu      sync.Mutex
	invokes int

	closeOnce sync.Once
}

// Start starts the emulator with the function on free loopback ports and
// waits until it accepts connections. The function itself starts with the
// first invoke, as in Lambda. Close stops both.
func Start(ctx context.Context, c Config) (*Emulator, error) {
	if c.Emulator == "" || c.Bootstrap == "" {
		return nil, errors.New("rie: Emulator and Bootstrap are required")
	}
	for _, p := range []string{c.Emulator, c.Bootstrap} {
		if fi, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("rie: %w", err)
		} else if fi.IsDir() {
			return nil, fmt.Errorf("rie: %s is a directory", p)
		}
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 10 * time.Second
	}
	// Two free ports are picked and released before the emulator binds them;
	// should another process take one meanwhile, the emulator exits and a
	// new pair is tried.
	var lastErr error
	for range 3 {
		e, err := start(ctx, c)
		if err == nil {
			return e, nil
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	return nil, lastErr
}

var errAddrInUse = errors.New("address already in use")

func start(ctx context.Context, c Config) (*Emulator, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	bootstrap, err := filepath.Abs(c.Bootstrap)
	if err != nil {
		return nil, err
	}
	emulator, err := filepath.Abs(c.Emulator)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(emulator,
		"--log-level", c.LogLevel,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.Env...)
	out := newOutput(c.Output)
	cmd.Stdout, cmd.Stderr = out, out
	// A bootstrap that outlives the emulator could hold the output pipe open.
	cmd.WaitDelay = 2 * time.Second
	setProcAttr(cmd)

	// No proxy: the emulator is on loopback.
	e := &Emulator{cmd: cmd, out: out, url: "http://" + addr + InvokePath, done: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}}
	e.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rie: start %s: %w", c.Emulator, err)
	}
	go func() {
		_ = cmd.Wait()
		close(e.done)
	}()
	if err := e.awaitListening(ctx, addr, c.StartTimeout); err != nil {
		e.Close()
		if strings.Contains(out.String(), "address already in use") {
			return nil, fmt.Errorf("rie: %w: %v", errAddrInUse, err)
		}
		return nil, fmt.Errorf("rie: %w; emulator output:\n%s", err, out.String())
	}
	return e, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("rie: find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func (e *Emulator) awaitListening(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		conn, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			return conn.Close()
		}
		select {
		case <-e.done:
			return fmt.Errorf("the emulator exited before listening on %s (%v)", addr, e.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the emulator did not listen on %s within %v", addr, timeout)
		}
	}
}

// URL is the emulator's invocation endpoint.
func (e *Emulator) URL() string { return e.url }

// Output is everything the emulator and the function printed so far.
func (e *Emulator) Output() string { return e.out.String() }

// Invoke sends one event and waits for the function's response and the
// emulator's REPORT line for it.
func (e *Emulator) Invoke(ctx context.Context, event []byte) (*Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := newRequestID()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amzn-RequestId", id)
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w; emulator output:\n%s", err, e.out.String())
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("rie: read response: %w", err)
	}
	r := &Result{StatusCode: resp.StatusCode, Body: body, RequestID: id, SinceStart: time.Since(e.started), Cold: e.invokes == 0}
	e.invokes++

	// The emulator prints REPORT before it answers, but its output reaches
	// us through a pipe: wait a little for the line.
	marker := "REPORT RequestId: " + id
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(e.out.String(), marker) && time.Now().Before(deadline) {
		select {
		case <-e.out.changed():
		case <-e.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
	text := e.out.String()
	if rep, ok := ParseReport(text, id); ok {
		r.ReportInitDuration, r.Duration = rep.InitDuration, rep.Duration
	}
	if r.Cold {
		switch d, ok := ParseInitReport(text); {
		case ok:
			r.InitDuration, r.InitSource = d, SourceInitReport
		case r.ReportInitDuration > 0:
			r.InitDuration, r.InitSource = r.ReportInitDuration, SourceReport
		default:
			r.InitDuration, r.InitSource = r.SinceStart, SourceWallClock
		}
	}
	return r, nil
}

// newRequestID returns a random UUID, the form of Lambda's request ids.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Close stops the emulator and the function: the emulator is asked to shut
// down (it kills its runtime), then its process group is killed, and so is
// any runtime process that outlived it. Close is idempotent.
func (e *Emulator) Close() {
	e.closeOnce.Do(func() {
		e.client.CloseIdleConnections()
		kids := children(e.cmd.Process.Pid)
		// Once the emulator is reaped its pid may be reused: signal only
		// while it has not been.
		select {
		case <-e.done:
		default:
			signalGroup(e.cmd, false)
		}
		select {
		case <-e.done:
		case <-time.After(3 * time.Second):
			signalGroup(e.cmd, true)
			<-e.done
		}
		for _, k := range kids {
			k.kill()
		}
	})
}

// Invoke starts an emulator with the function, sends it one event and stops
// it: a cold start.
func Invoke(ctx context.Context, c Config, event []byte) (*Result, error) {
	e, err := Start(ctx, c)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	return e.Invoke(ctx, event)
}

// Report is what the emulator's REPORT line for one request says.
type Report struct {
	InitDuration time.Duration // zero when the line has none
	Duration     time.Duration
}

var (
	reportLine     = regexp.MustCompile(`REPORT RequestId: (\S+)\s+(?:Init Duration: ([0-9.]+) ms\s+)?Duration: ([0-9.]+) ms`)
	initReportLine = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
)

// ParseReport finds the REPORT line of request id in the emulator's output
// (the last REPORT line if id is empty).
func ParseReport(output, id string) (Report, bool) {
	var rep Report
	found := false
	for _, m := range reportLine.FindAllStringSubmatch(output, -1) {
		if id != "" && m[1] != id {
			continue
		}
		rep = Report{InitDuration: millis(m[2]), Duration: millis(m[3])}
		found = true
	}
	return rep, found
}

// ParseInitReport finds the init duration of the emulator's first
// "INIT REPORT(durationMs: …)" log line.
func ParseInitReport(output string) (time.Duration, bool) {
	m := initReportLine.FindStringSubmatch(output)
	if m == nil {
		return 0, false
	}
	return millis(m[1]), true
}

func millis(s string) time.Duration {
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Millisecond))
}

// output collects what the emulator prints, tees it and signals news.
type output struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	tee    io.Writer
	notify chan struct{}
}

func newOutput(tee io.Writer) *output { return &output{tee: tee, notify: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if o.tee != nil {
		_, _ = o.tee.Write(p)
	}
	close(o.notify)
	o.notify = make(chan struct{})
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// changed is closed at the next write.
func (o *output) changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.notify
}
