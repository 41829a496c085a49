package webhookqueue

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/clsvc/license-service/internal/telemetry"
	"github.com/clsvc/license-service/internal/webhook"
)

// Local is make run's stand-in for the rule, the SQS queue and its
// dead-letter queue: each event pushed is delivered at once, and a failed
// one again after the schedule's wait, up to webhook.MaxAttempts times;
// one that fails its last attempt is logged at ERROR as dead-lettered.
type Local struct {
	deliver Deliverer
	log     *slog.Logger
	metrics *telemetry.Metrics
	// wait is the wait after the nth failed attempt (webhook.Backoff).
	wait func(n int) time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // orders Push's Add before Close's Wait
	closed bool
	wg     sync.WaitGroup
}

// NewLocal starts a local queue; wait nil means the schedule of AWS.
func NewLocal(d Deliverer, log *slog.Logger, m *telemetry.Metrics, wait func(n int) time.Duration) *Local {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if wait == nil {
		wait = func(n int) time.Duration {
			d, _ := webhook.Backoff(n, rand.Float64())
			return d
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Local{deliver: d, log: log, metrics: m, wait: wait, ctx: ctx, cancel: cancel}
}

// Push queues an event's JSON for delivery.
func (q *Local) Push(detail []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.wg.Go(func() { q.run(detail) })
}

// run makes an event's attempts, waiting the schedule between them.
func (q *Local) run(detail []byte) {
	for n := 1; ; n++ {
		ctx, cancel := context.WithTimeout(q.ctx, 2*webhook.Timeout)
		out := deliverOnce(ctx, q.deliver, q.log, q.metrics, detail, n, slog.String("queue", "local"))
		cancel()
		if out != retry {
			return
		}
		select {
		case <-q.ctx.Done():
			return
		case <-time.After(q.wait(n)):
		}
	}
}

// Close stops the retries waiting and waits for the attempts under way.
func (q *Local) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.wg.Wait()
}
