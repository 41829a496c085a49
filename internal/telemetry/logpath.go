package telemetry

import (
	"unicode/utf8"

	"github.com/clsvc/license-service/internal/licensing"
)

// MaxLogPath bounds a request path (or path and query) in a log line, in
// bytes: a client chooses it, and a log line is not a place to store it.
const MaxLogPath = 256

// LogPath is a request path (with its query string, if any) as a log line
// shows it: every license key in it masked (RM-****-****-****-GLK7: the
// prefix and last group kept), then cut to MaxLogPath bytes on a character
// boundary, with "…" marking the cut. The keys are masked before the cut,
// so that a cut never leaves a partial key unmasked.
func LogPath(p string) string {
	p = licensing.RedactKeys(p)
	if len(p) <= MaxLogPath {
		return p
	}
	n := MaxLogPath - len("…")
	for n > 0 && !utf8.RuneStart(p[n]) {
		n--
	}
	return p[:n] + "…"
}
