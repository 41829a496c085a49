package loadtest

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is a finished run.
type Report struct {
	Config     Config
	SetupTime  time.Duration
	SetupStats OpStats // every request of the setup
	Ops        *recorder
	Elapsed    time.Duration // the timed phase, until the last client stopped

	KeysAfter, LicensesAfter int // the generator's keys and licenses at the end
	Audit                    Audit
}

// Figures are the per-operation figures of the timed phase and their total.
func (r *Report) Figures() ([]OpStats, OpStats) { return r.Ops.perOp(r.Elapsed) }

// Problems lists why the run failed: 5xx answers, requests without an
// answer, answers that break the contract, violated invariants and events
// that do not match the confirmed changes. Empty: the run passed.
func (r *Report) Problems() []string {
	var p []string
	_, total := r.Figures()
	if total.ServerErrors > 0 {
		p = append(p, fmt.Sprintf("%d 5xx answers", total.ServerErrors))
	}
	if total.Transport > 0 {
		p = append(p, fmt.Sprintf("%d requests without an answer", total.Transport))
	}
	if n := total.Unexpected - total.ServerErrors - total.Transport; n > 0 {
		p = append(p, fmt.Sprintf("%d unexpected answers", n))
	}
	if n := r.SetupStats.Unexpected; n > 0 {
		p = append(p, fmt.Sprintf("%d unexpected answers during setup", n))
	}
	if n := len(r.Audit.Violations); n > 0 {
		p = append(p, fmt.Sprintf("%d table invariant violations", n))
	}
	if n := len(r.Audit.FleetViolations); n > 0 {
		p = append(p, fmt.Sprintf("%d licenses whose seats or events differ from the confirmed changes", n))
	}
	if n := len(r.Audit.EventMismatches); n > 0 {
		p = append(p, fmt.Sprintf("%d event types whose count differs from the confirmed changes", n))
	}
	return p
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return len(r.Problems()) > 0 }

// WriteText writes the summary for a terminal.
func (r *Report) WriteText(w io.Writer) {
	c := r.Config
	ops, total := r.Figures()
	fmt.Fprintf(w, "\nTarget %s · %d clients · %s (ran %s) · cap %d requests · seed %d · %d CPUs, GOMAXPROCS %d\n",
		c.BaseURL, c.Clients, c.Duration, r.Elapsed.Round(time.Millisecond), c.MaxRequests, c.Seed, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "Setup (not timed): %d requests in %s, %d unexpected; keys at the end: %d with %d licenses\n\n",
		r.SetupStats.Count, r.SetupTime.Round(time.Millisecond), r.SetupStats.Unexpected, r.KeysAfter, r.LicensesAfter)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\treq/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\texpected 4xx\tunexpected\t5xx\t")
	for _, s := range append(ops, total) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t\n",
			s.Name, s.Count, s.Throughput, ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max), s.Expected4xx, s.Unexpected, s.ServerErrors)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nStatus histogram and refusals:")
	for _, s := range append(ops, total) {
		fmt.Fprintf(w, "  %-14s %s", s.Name, histogram(s.Statuses))
		if len(s.Refusals) > 0 && s.Name != "all" {
			fmt.Fprintf(w, "   [%s]", refusals(s.Refusals))
		}
		fmt.Fprintln(w)
	}
	for _, s := range ops {
		for _, x := range s.Samples {
			fmt.Fprintln(w, "  unexpected:", x)
		}
	}
	r.writeAudit(w)
	if p := r.Problems(); len(p) > 0 {
		fmt.Fprintf(w, "\nFAIL: %s\n", strings.Join(p, "; "))
	} else {
		fmt.Fprintln(w, "\nPASS: no 5xx, no unexpected answers, every invariant holds, every confirmed change has its event")
	}
}

func (r *Report) writeAudit(w io.Writer) {
	a := r.Audit
	fmt.Fprintf(w, "\nAudit (full table scan, %d items in %d pages):\n", a.Items, a.Pages)
	fmt.Fprintf(w, "  seats_used == production activation items <= seat_limit, nonprod_used == staging/local activation items <= cap %d, no orphan activation: %d licenses, %d production + %d staging/local activation items: %s\n",
		r.Config.StagingCap, a.Licenses, a.Activations, a.NonProd, okOr(len(a.Violations)))
	for _, v := range limit(a.Violations, 20) {
		fmt.Fprintln(w, "    ", v)
	}
	fmt.Fprintf(w, "  generator's licenses (activation items per environment = confirmed activations − deactivations ± moves; events per license = confirmed changes): %d licenses, %d seats + %d staging/local places held: %s\n",
		a.LicensesAudited, a.ActiveSeatsFinal, a.NonProdFinal, okOr(len(a.FleetViolations)))
	for _, v := range limit(a.FleetViolations, 20) {
		fmt.Fprintln(w, "    ", v)
	}
	fmt.Fprintln(w, "  events written (table delta) vs state changes confirmed by the answers:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    event type\tsetup found/confirmed\tload found/confirmed\t")
	for i, s := range a.SetupEvents {
		l := a.LoadEvents[i]
		fmt.Fprintf(tw, "    %s\t%d/%d\t%d/%d\t%s\n", s.Type, s.Found, s.Expected, l.Found, l.Expected, mark(s.Found == s.Expected && l.Found == l.Expected))
	}
	tw.Flush()
	for _, v := range a.EventMismatches {
		fmt.Fprintln(w, "    ", v)
	}
}

// WriteMarkdown writes the figures of the timed phase and the audit as
// markdown tables.
func (r *Report) WriteMarkdown(w io.Writer) {
	ops, total := r.Figures()
	fmt.Fprintln(w, "| op | count | req/s | p50 ms | p95 ms | p99 ms | max ms | expected 4xx | unexpected | 5xx | statuses |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, s := range append(ops, total) {
		name := s.Name
		if name == "all" {
			name = "**all**"
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %s | %s | %s | %s | %d | %d | %d | %s |\n",
			name, s.Count, s.Throughput, ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max), s.Expected4xx, s.Unexpected, s.ServerErrors, histogram(s.Statuses))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| event | setup: found / confirmed | load: found / confirmed |")
	fmt.Fprintln(w, "| --- | ---: | ---: |")
	for i, s := range r.Audit.SetupEvents {
		l := r.Audit.LoadEvents[i]
		fmt.Fprintf(w, "| %s | %d / %d | %d / %d |\n", s.Type, s.Found, s.Expected, l.Found, l.Expected)
	}
}

func okOr(n int) string {
	if n == 0 {
		return "OK"
	}
	return fmt.Sprintf("%d VIOLATIONS", n)
}

func mark(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISMATCH"
}

func limit(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("… and %d more", len(s)-n))
	}
	return s
}
