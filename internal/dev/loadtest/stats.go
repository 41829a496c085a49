package loadtest

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// recorder collects outcomes per operation; one goroutine uses one recorder,
// and recorders are merged at the end.
type recorder struct {
	ops [numOps]*opRecord
}

type opRecord struct {
	latencies []time.Duration
	statuses  map[int]int64    // by HTTP status; 0 = transport error
	refusals  map[string]int64 // "status code" of every 4xx/5xx answer and EDD refusal
	expected  int64            // answered a 4xx that this request may get
	bad       int64            // unexpected: wrong status, broken answer or transport error
	samples   []string         // the first few unexpected outcomes
}

func newRecorder() *recorder {
	r := &recorder{}
	for i := range r.ops {
		r.ops[i] = &opRecord{statuses: map[int]int64{}, refusals: map[string]int64{}}
	}
	return r
}

const maxSamples = 8

func (r *recorder) add(o op, out outcome) {
	rec := r.ops[o]
	rec.latencies = append(rec.latencies, out.latency)
	rec.statuses[out.status]++
	if out.status >= 400 || out.code != "" { // EDD refusals are 200s with an error code
		rec.refusals[fmt.Sprintf("%d %s", out.status, out.code)]++
	}
	switch {
	case !out.expected:
		rec.bad++
		if len(rec.samples) < maxSamples {
			rec.samples = append(rec.samples, o.String()+": "+out.describe())
		}
	case out.status >= 400:
		rec.expected++
	}
}

func (r *recorder) merge(from *recorder) {
	for i, f := range from.ops {
		to := r.ops[i]
		to.latencies = append(to.latencies, f.latencies...)
		for k, v := range f.statuses {
			to.statuses[k] += v
		}
		for k, v := range f.refusals {
			to.refusals[k] += v
		}
		to.expected += f.expected
		to.bad += f.bad
		for _, s := range f.samples {
			if len(to.samples) < maxSamples {
				to.samples = append(to.samples, s)
			}
		}
	}
}

// OpStats are the figures of one operation (or of all of them).
type OpStats struct {
	Name          string
	Count         int64
	Throughput    float64 // requests per second of the timed phase
	P50, P95, P99 time.Duration
	Max           time.Duration
	Statuses      map[int]int64    // by HTTP status; 0 = transport error
	Refusals      map[string]int64 // "status code" → count, for 4xx, 5xx and EDD refusals (200 with an error)
	Expected4xx   int64            // refusals this request may get (409 no seats, 404 after deactivate, …)
	ServerErrors  int64            // 5xx answers
	Transport     int64            // requests without an answer
	Unexpected    int64            // answers that break the contract (5xx and transport errors included)
	Samples       []string
}

func statsOf(name string, recs []*opRecord, elapsed time.Duration) OpStats {
	s := OpStats{Name: name, Statuses: map[int]int64{}, Refusals: map[string]int64{}}
	var lat []time.Duration
	for _, r := range recs {
		lat = append(lat, r.latencies...)
		for k, v := range r.statuses {
			s.Statuses[k] += v
			switch {
			case k == 0:
				s.Transport += v
			case k >= 500:
				s.ServerErrors += v
			}
		}
		for k, v := range r.refusals {
			s.Refusals[k] += v
		}
		s.Expected4xx += r.expected
		s.Unexpected += r.bad
		for _, x := range r.samples {
			if len(s.Samples) < maxSamples {
				s.Samples = append(s.Samples, x)
			}
		}
	}
	s.Count = int64(len(lat))
	if elapsed > 0 {
		s.Throughput = float64(s.Count) / elapsed.Seconds()
	}
	slices.Sort(lat)
	s.P50, s.P95, s.P99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	if len(lat) > 0 {
		s.Max = lat[len(lat)-1]
	}
	return s
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n)
	return sorted[max(rank, 1)-1]
}

// perOp returns the figures of every operation that ran, then the total.
func (r *recorder) perOp(elapsed time.Duration) (ops []OpStats, total OpStats) {
	for i, rec := range r.ops {
		if len(rec.latencies) > 0 {
			ops = append(ops, statsOf(op(i).String(), []*opRecord{rec}, elapsed))
		}
	}
	return ops, statsOf("all", r.ops[:], elapsed)
}

func (r *recorder) stats() OpStats {
	_, total := r.perOp(0)
	return total
}

// histogram writes statuses as "200:123 404:4".
func histogram(m map[int]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := fmt.Sprint(k)
		if k == 0 {
			name = "no-answer"
		}
		parts = append(parts, fmt.Sprintf("%s:%d", name, m[k]))
	}
	return strings.Join(parts, " ")
}

// refusals writes the 4xx/5xx answers by code, most frequent first.
func refusals(m map[string]int64) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
