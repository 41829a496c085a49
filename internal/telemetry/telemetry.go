// Package telemetry holds what requests report about themselves: the count
// of DynamoDB round trips a request made (carried in its context) and
// CloudWatch Embedded Metric Format (EMF) lines for business metrics.
package telemetry

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

type usageKey struct{}

// usage is what one request cost in DynamoDB.
type usage struct {
	trips    atomic.Int64
	mu       sync.Mutex
	rcu, wcu float64
}

// WithRoundTrips returns a context that counts the DynamoDB round trips made
// with it and the capacity they consumed.
func WithRoundTrips(ctx context.Context) context.Context {
	return context.WithValue(ctx, usageKey{}, new(usage))
}

// RoundTrip records one round trip, if ctx counts them.
func RoundTrip(ctx context.Context) {
	if u, ok := ctx.Value(usageKey{}).(*usage); ok {
		u.trips.Add(1)
	}
}

// RoundTrips is the number of round trips recorded in ctx.
func RoundTrips(ctx context.Context) int64 {
	if u, ok := ctx.Value(usageKey{}).(*usage); ok {
		return u.trips.Load()
	}
	return 0
}

// Consume records the read and write capacity units a call consumed, if ctx
// counts them.
func Consume(ctx context.Context, rcu, wcu float64) {
	if u, ok := ctx.Value(usageKey{}).(*usage); ok {
		u.mu.Lock()
		u.rcu += rcu
		u.wcu += wcu
		u.mu.Unlock()
	}
}

// Consumed is the read and write capacity recorded in ctx.
func Consumed(ctx context.Context) (rcu, wcu float64) {
	if u, ok := ctx.Value(usageKey{}).(*usage); ok {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.rcu, u.wcu
	}
	return 0, 0
}

// Namespace is the CloudWatch namespace of the service's metrics.
const Namespace = "LicenseService"

// Metric is one value of an EMF line.
type Metric struct {
	Name  string
	Unit  string // Count, Milliseconds, …
	Value float64
}

// Metrics writes EMF lines; CloudWatch Logs turns each into metric data
// points. A nil *Metrics writes nothing.
type Metrics struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewMetrics writes EMF lines to w (stdout in Lambda).
func NewMetrics(w io.Writer) *Metrics { return &Metrics{w: w, now: time.Now} }

// Emit writes one EMF line with the given dimensions (keep their values few:
// use cases, outcomes, brands — never ids) and metrics.
func (m *Metrics) Emit(dims map[string]string, metrics ...Metric) {
	if m == nil || len(metrics) == 0 {
		return
	}
	names := slices.Sorted(maps.Keys(dims))
	if names == nil {
		names = []string{} // a metric without dimensions: [[]]
	}
	line := map[string]any{}
	for k, v := range dims {
		line[k] = v
	}
	defs := make([]map[string]string, len(metrics))
	for i, mt := range metrics {
		defs[i] = map[string]string{"Name": mt.Name, "Unit": mt.Unit}
		line[mt.Name] = mt.Value
	}
	line["_aws"] = map[string]any{
		"Timestamp": m.now().UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace": Namespace, "Dimensions": [][]string{names}, "Metrics": defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.w.Write(append(b, '\n'))
}
