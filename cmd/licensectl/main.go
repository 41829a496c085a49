// Command licensectl is the operator's CLI of the license service: it onboards
// brands, issues, lists and revokes their API keys, adds products, creates,
// uploads, publishes and yanks their releases and manages their webhook
// endpoints, straight on the DynamoDB table (real AWS, DynamoDB Local or the
// embedded engine) and the release bucket (S3 or an S3-compatible server).
//
//	licensectl [global flags] <command> [flags] [ARGUMENTS]
//
// Run `licensectl help` for every command and flag. The exit status is 0 on
// success, 2 on a usage error (an unknown command or flag, a missing flag or
// argument, a value that is not valid: validation_error) and 1 when the
// operation failed (not found, a conflict, the table or AWS unreachable).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dynamo"
	"github.com/clsvc/license-service/internal/licensing"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// codeUsage is the error code of a usage error in --json output.
const codeUsage = "usage_error"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run runs one command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	g := defaultGlobals(getenv)
	out := &output{stdout: stdout, stderr: stderr}

	top := newFlagSet("licensectl")
	g.register(top)
	err := top.Parse(args)
	out.json = g.json
	if errors.Is(err, flag.ErrHelp) {
		writeUsage(stdout)
		return exitOK
	}
	if err != nil {
		return out.usageError(err.Error(), nil)
	}
	rest := top.Args()
	if len(rest) == 0 {
		return out.usageError("missing command", nil)
	}
	if rest[0] == "help" {
		writeUsage(stdout)
		return exitOK
	}
	cmd, rest, msg := lookup(rest)
	if cmd == nil {
		return out.usageError(msg, nil)
	}

	fs := newFlagSet("licensectl " + cmd.name)
	g.register(fs)
	vals := make(map[string]*string, len(cmd.flags))
	for _, f := range cmd.flags {
		vals[f.name] = fs.String(f.name, "", f.usage)
	}
	opts := make(map[string]*string, len(cmd.optional))
	switches := make(map[string]*bool, len(cmd.optional))
	for _, f := range cmd.optional {
		if f.isSwitch() {
			switches[f.name] = fs.Bool(f.name, false, f.usage)
		} else {
			opts[f.name] = fs.String(f.name, "", f.usage)
		}
	}
	positional, err := parseInterspersed(fs, rest)
	out.json = g.json
	if errors.Is(err, flag.ErrHelp) {
		writeUsage(stdout)
		return exitOK
	}
	if err != nil {
		return out.usageError(err.Error(), cmd)
	}
	if len(positional) > len(cmd.args) {
		return out.usageError(fmt.Sprintf("%s: unexpected argument %q", cmd.name, positional[len(cmd.args)]), cmd)
	}
	v := make(values, len(vals)+len(cmd.args))
	var missingArgs []string
	for i, a := range cmd.args {
		s := ""
		if i < len(positional) {
			s = strings.TrimSpace(positional[i])
		}
		if s == "" {
			missingArgs = append(missingArgs, a.meta)
		}
		v[a.name] = s
	}
	var missing []string
	for _, f := range cmd.flags {
		s := strings.TrimSpace(*vals[f.name])
		if s == "" {
			missing = append(missing, "--"+f.name)
		}
		v[f.name] = s
	}
	if len(missing) > 0 {
		return out.usageError(fmt.Sprintf("%s: missing required flag(s) %s", cmd.name, strings.Join(missing, ", ")), cmd)
	}
	if len(missingArgs) > 0 {
		return out.usageError(fmt.Sprintf("%s: missing argument(s) %s", cmd.name, strings.Join(missingArgs, " ")), cmd)
	}
	// An optional flag is in v only when it was given (v[name] is "" when
	// not): a command can tell "--reminder-days ''" from no --reminder-days.
	fs.Visit(func(f *flag.Flag) {
		if s, ok := opts[f.Name]; ok {
			v[f.Name] = strings.TrimSpace(*s)
		}
		if on, ok := switches[f.Name]; ok && *on {
			v[f.Name] = "true"
		}
	})
	if strings.TrimSpace(g.table) == "" {
		return out.usageError("--table must not be empty", cmd)
	}
	if cmd.bucket && strings.TrimSpace(g.bucket) == "" {
		return out.usageError(cmd.name+": no release bucket: set --bucket or $RELEASE_BUCKET", cmd)
	}

	var res result
	if cmd.runOn != nil {
		res, err = cmd.runOn(ctx, g, v, getenv, stderr)
	} else {
		var ops app.Ops
		if ops, err = g.connect(ctx); err == nil {
			res, err = cmd.run(ctx, ops, v)
		}
	}
	if msg, ok := errors.AsType[usageErr](err); ok {
		return out.usageError(string(msg), cmd)
	}
	if err != nil {
		return out.fail(err)
	}
	if err := out.result(res); err != nil {
		fmt.Fprintf(stderr, "licensectl: write output: %v\n", err)
		return exitFail
	}
	return exitOK
}

// globals are the flags every command takes, before or after the command.
type globals struct {
	endpoint   string
	table      string
	region     string
	s3Endpoint string
	bucket     string
	json       bool
}

func defaultGlobals(getenv func(string) string) *globals {
	g := &globals{
		endpoint:   getenv("DYNAMODB_ENDPOINT"),
		table:      getenv("TABLE_NAME"),
		region:     getenv("AWS_REGION"),
		s3Endpoint: getenv("S3_ENDPOINT"),
		bucket:     getenv("RELEASE_BUCKET"),
	}
	if g.table == "" {
		g.table = "licenses"
	}
	return g
}

// globalFlags documents the global flags; register binds them.
var globalFlags = []flagSpec{
	{"endpoint", "URL", "DynamoDB endpoint, such as http://127.0.0.1:8000 (default $DYNAMODB_ENDPOINT; empty: AWS)"},
	{"table", "NAME", `table name (default $TABLE_NAME, else "licenses")`},
	{"region", "REGION", "AWS region (default $AWS_REGION, else the AWS configuration's)"},
	{"s3-endpoint", "URL", "S3 endpoint of the release bucket, such as http://127.0.0.1:9000 (default $S3_ENDPOINT; empty: AWS)"},
	{"bucket", "NAME", "the release bucket, for release create, upload and publish (default $RELEASE_BUCKET)"},
	{"json", "", "print one JSON document on stdout (errors too)"},
}

// register binds the global flags to g in fs. The current values are the
// defaults, so a flag set after the command keeps what was set before it.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.endpoint, "endpoint", g.endpoint, globalFlags[0].usage)
	fs.StringVar(&g.table, "table", g.table, globalFlags[1].usage)
	fs.StringVar(&g.region, "region", g.region, globalFlags[2].usage)
	fs.StringVar(&g.s3Endpoint, "s3-endpoint", g.s3Endpoint, globalFlags[3].usage)
	fs.StringVar(&g.bucket, "bucket", g.bucket, globalFlags[4].usage)
	fs.BoolVar(&g.json, "json", g.json, globalFlags[5].usage)
}

// connect builds the operator use cases on the configured table.
func (g *globals) connect(ctx context.Context) (app.Ops, error) {
	store, err := g.store(ctx)
	if err != nil {
		return app.Ops{}, err
	}
	return app.New(store, nil).Ops(), nil
}

// store is the configured table.
func (g *globals) store(ctx context.Context) (*dynamo.Store, error) {
	db, err := dynamo.NewClient(ctx, dynamo.ClientConfig{Endpoint: g.endpoint, Region: g.region})
	if err != nil {
		return nil, fmt.Errorf("dynamodb client: %w", err)
	}
	return dynamo.New(db, strings.TrimSpace(g.table)), nil
}

// parseInterspersed parses a command's flags, which may come before, between
// or after its arguments, and returns the arguments in order. After "--"
// everything is an argument.
func parseInterspersed(fs *flag.FlagSet, rest []string) ([]string, error) {
	var args []string
	for {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			return args, nil
		}
		if n := len(rest) - len(left); n > 0 && rest[n-1] == "--" {
			return append(args, left...), nil
		}
		args, rest = append(args, left[0]), left[1:]
	}
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are written by run
	return fs
}

// lookup finds the command named by the first one or two arguments and
// returns it with the arguments that follow; or nil and why not.
func lookup(args []string) (*command, []string, string) {
	group := args[0]
	var actions []string
	for i := range commands {
		g, a, _ := strings.Cut(commands[i].name, " ")
		if g != group {
			continue
		}
		if a == "" { // a command of one word, like migrate
			return &commands[i], args[1:], ""
		}
		actions = append(actions, a)
		if len(args) > 1 && args[1] == a {
			return &commands[i], args[2:], ""
		}
	}
	switch {
	case len(actions) == 0:
		return nil, nil, fmt.Sprintf("unknown command %q", group)
	case len(args) < 2 || strings.HasPrefix(args[1], "-"):
		return nil, nil, fmt.Sprintf("%s: missing subcommand (%s)", group, strings.Join(actions, ", "))
	default:
		return nil, nil, fmt.Sprintf("%s: unknown subcommand %q (%s)", group, args[1], strings.Join(actions, ", "))
	}
}

// writeUsage writes the help: every command with its flags, and the global flags.
func writeUsage(w io.Writer) {
	fmt.Fprint(w, `licensectl: the license service's operator CLI (brands, API keys, products, releases, webhooks).

Usage:
  licensectl [global flags] <command> [flags] [ARGUMENTS] [global flags]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		// Lines without a tab end a column block: each command's flags align
		// among themselves.
		fmt.Fprintf(tw, "  %s\n      %s\n", c.synopsis(), c.summary)
		for _, f := range c.flags {
			fmt.Fprintf(tw, "        --%s %s\t%s\n", f.name, f.meta, f.usage)
		}
		for _, f := range c.optional {
			fmt.Fprintf(tw, "        [%s]\t%s\n", f.typed(), f.usage)
		}
		for _, a := range c.args {
			fmt.Fprintf(tw, "        %s\t%s\n", a.meta, a.usage)
		}
	}
	fmt.Fprintf(tw, "  help\n      show this help (also -h, --help)\n")
	_ = tw.Flush()
	fmt.Fprint(w, "\nA command's flags and ARGUMENTS are required, except those in [brackets].\n\nGlobal flags:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range globalFlags {
		fmt.Fprintf(tw, "  --%s\t%s\n", strings.TrimSpace(f.name+" "+f.meta), f.usage)
	}
	_ = tw.Flush()
	fmt.Fprint(w, `
Exit status: 0 success; 2 usage error (unknown command or flag, missing flag or argument,
a value that is not valid: usage_error, validation_error); 1 the operation failed (not found,
conflict, the table or AWS unreachable).
`)
}

// output writes results and errors as text or, with --json, as JSON on stdout.
type output struct {
	stdout, stderr io.Writer
	json           bool
}

// result is what a command prints on success.
type result interface {
	writeText(w io.Writer) error
}

func (o *output) result(r result) error {
	if o.json {
		return writeJSON(o.stdout, r)
	}
	return r.writeText(o.stdout)
}

type errorBody struct {
	Error errorDoc `json:"error"`
}

type errorDoc struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  string `json:"detail,omitempty"`
}

// usageErr is a usage error a command finds in its flags once parsed (flags
// that go together, none of several given).
type usageErr string

func (e usageErr) Error() string { return string(e) }

// fail reports an error and returns its exit status: exitUsage for a value
// that is not valid (validation_error: the command line is wrong, running it
// again as it is cannot work), exitFail for any other. A domain error shows
// its client-safe message and code, never its cause, except that an
// unavailable store shows why (the operator needs it: a wrong endpoint, no
// credentials, throttling). Any other error shows its whole text.
func (o *output) fail(err error) int {
	doc := errorDoc{Code: string(licensing.CodeInternal), Message: err.Error()}
	line := err.Error()
	if e, ok := errors.AsType[*licensing.Error](err); ok {
		doc = errorDoc{Code: string(e.Code), Message: e.Message}
		line = fmt.Sprintf("%s (%s)", e.Message, e.Code)
		if e.Code == licensing.CodeServiceUnavailable && e.Err != nil {
			doc.Detail = e.Err.Error()
			line += ": " + doc.Detail
		}
	}
	fmt.Fprintf(o.stderr, "licensectl: %s\n", line)
	if o.json {
		_ = writeJSON(o.stdout, errorBody{doc})
	}
	if doc.Code == string(licensing.CodeValidation) {
		return exitUsage
	}
	return exitFail
}

// usageError reports a usage error with the command's synopsis (or, without
// a command, the list of commands) and returns exitUsage.
func (o *output) usageError(msg string, cmd *command) int {
	fmt.Fprintf(o.stderr, "licensectl: %s\n", msg)
	if cmd != nil {
		fmt.Fprintf(o.stderr, "usage: licensectl %s [global flags]\nRun 'licensectl help' for every command and flag.\n", cmd.synopsis())
	} else {
		names := make([]string, len(commands))
		for i, c := range commands {
			names[i] = c.name
		}
		fmt.Fprintf(o.stderr, "usage: licensectl [global flags] <command> [flags]\ncommands: %s, help\nRun 'licensectl help' for every command and flag.\n", strings.Join(names, ", "))
	}
	if o.json {
		_ = writeJSON(o.stdout, errorBody{errorDoc{Code: codeUsage, Message: msg}})
	}
	return exitUsage
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
