package webhook_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/webhook"
)

func TestRetryScheduleLastsADay(t *testing.T) {
	var shortest, nominal time.Duration
	prev := time.Duration(0)
	for n := 1; n < webhook.MaxAttempts; n++ {
		d, ok := webhook.RetryAfter(n)
		require.True(t, ok, "attempt %d is retried", n)
		assert.GreaterOrEqual(t, d, prev, "waits grow")
		prev = d
		low, _ := webhook.Backoff(n, 0)
		high, _ := webhook.Backoff(n, 0.999999)
		assert.InDelta(t, 0.8*float64(d), float64(low), float64(time.Millisecond))
		assert.LessOrEqual(t, high, webhook.MaxRetryWait, "SQS keeps a message invisible 12 hours at most")
		shortest += low
		nominal += d
	}
	assert.Greater(t, shortest, 24*time.Hour, "even with every wait drawn short, retries last more than a day")
	assert.Less(t, nominal, 3*24*time.Hour, "and end before an endpoint failing for 3 days is disabled")
	_, ok := webhook.RetryAfter(webhook.MaxAttempts)
	assert.False(t, ok, "no retry after the last attempt")
	_, ok = webhook.RetryAfter(0)
	assert.False(t, ok)
}

// scheduleTable is the retry schedule as docs/brands.md's table shows it:
// `go test -run TestRetryScheduleTable -v ./internal/webhook/` prints it.
func scheduleTable() string {
	var b strings.Builder
	b.WriteString("| attempt | wait after the previous attempt failed | with ±20% jitter | time since the event (nominal) |\n")
	b.WriteString("| --- | --- | --- | --- |\n")
	b.WriteString("| 1 | — (at once) | — | 0 |\n")
	var total time.Duration
	for n := 1; n < webhook.MaxAttempts; n++ {
		d, _ := webhook.RetryAfter(n)
		low, _ := webhook.Backoff(n, 0)
		high, _ := webhook.Backoff(n, 0.9999999)
		total += d
		fmt.Fprintf(&b, "| %d | %s | %s – %s | %s |\n", n+1, human(d), human(low), human(high), human(total))
	}
	return b.String()
}

// human writes a duration as "2 h 8 min", "1 min 36 s".
func human(d time.Duration) string {
	d = d.Round(time.Second)
	var parts []string
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "min"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, u.name))
			d -= n * u.unit
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, " ")
}

func TestRetryScheduleTableIsInTheReadme(t *testing.T) {
	table := scheduleTable()
	t.Log("\n" + table)
	readme, err := os.ReadFile(filepath.Join("..", "..", "docs", "brands.md"))
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(readme), table), "docs/brands.md shows the retry schedule:\n%s", table)
}
