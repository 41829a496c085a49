package rie

import (
	"testing"
	"time"
)

// Output of aws-lambda-rie for a cold and a warm invoke.
const sampleOutput = "28 Nov 2026 18:32:41,111 [INFO] (rapid) exec '/tmp/rt/health/bootstrap' (cwd=/tmp/rt, handler=)\n" +
	"START RequestId: 6bc4be12 Version: $LATEST\n" +
	"28 Nov 2026 18:32:41,636 [INFO] (rapid) INIT START(type: on-demand, phase: init)\n" +
	"28 Nov 2026 18:32:41,646 [INFO] (rapid) INIT RTDONE(status: success)\n" +
	"28 Nov 2026 18:32:41,646 [INFO] (rapid) INIT REPORT(durationMs: 10.478000)\n" +
	"END RequestId: 6bc4be12\n" +
	"REPORT RequestId: 6bc4be12\tInit Duration: 0.09 ms\tDuration: 11.61 ms\tBilled Duration: 12 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t\n" +
	"START RequestId: 8aacc697 Version: $LATEST\n" +
	"END RequestId: 8aacc697\n" +
	"REPORT RequestId: 8aacc697\tDuration: 0.92 ms\tBilled Duration: 1 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t\n"

func TestParseReport(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want Report
	}{
		{"6bc4be12", Report{InitDuration: 90 * time.Microsecond, Duration: 11610 * time.Microsecond}},
		{"8aacc697", Report{Duration: 920 * time.Microsecond}},
		{"", Report{Duration: 920 * time.Microsecond}},
	} {
		got, ok := ParseReport(sampleOutput, tc.id)
		if !ok || got != tc.want {
			t.Errorf("ParseReport(%q) = %+v, %v; want %+v", tc.id, got, ok, tc.want)
		}
	}
	if _, ok := ParseReport(sampleOutput, "unknown"); ok {
		t.Error("found a REPORT line for an unknown request")
	}
}

func TestParseInitReport(t *testing.T) {
	got, ok := ParseInitReport(sampleOutput)
	if want := 10478 * time.Microsecond; !ok || got != want {
		t.Errorf("ParseInitReport = %v, %v; want %v", got, ok, want)
	}
	if _, ok := ParseInitReport("START RequestId: x\n"); ok {
		t.Error("found an init duration in output without one")
	}
}
