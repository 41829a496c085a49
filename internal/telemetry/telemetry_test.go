package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrips(t *testing.T) {
	ctx := context.Background()
	RoundTrip(ctx) // not counting: no effect, no panic
	assert.Zero(t, RoundTrips(ctx))
	ctx = WithRoundTrips(ctx)
	RoundTrip(ctx)
	RoundTrip(ctx)
	assert.Equal(t, int64(2), RoundTrips(ctx))
}

func TestEMFLine(t *testing.T) {
	var buf bytes.Buffer
	m := NewMetrics(&buf)
	m.now = func() time.Time { return time.UnixMilli(1795867200000) }
	m.Emit(map[string]string{"UseCase": "check-license", "Outcome": "valid"}, Metric{"Requests", "Count", 1}, Metric{"Latency", "Milliseconds", 12})
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	assert.Equal(t, "check-license", line["UseCase"])
	assert.Equal(t, 1.0, line["Requests"])
	assert.Equal(t, 12.0, line["Latency"])
	aws := line["_aws"].(map[string]any)
	assert.Equal(t, 1795867200000.0, aws["Timestamp"])
	cw := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	assert.Equal(t, Namespace, cw["Namespace"])
	assert.Equal(t, []any{[]any{"Outcome", "UseCase"}}, cw["Dimensions"])
	assert.Len(t, cw["Metrics"], 2)

	var nilMetrics *Metrics
	nilMetrics.Emit(map[string]string{"a": "b"}, Metric{"x", "Count", 1}) // a nil sink is silent
}
