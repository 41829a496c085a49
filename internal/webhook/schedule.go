package webhook

import (
	"math"
	"time"
)

// The retry schedule of a failed delivery: the wait after the nth failed
// attempt is FirstRetry × 4^(n-1), at most MaxRetryWait, each with up to
// ±Jitter of it at random;
// MaxAttempts attempts in all, then the event goes to the dead-letter queue.
// Even at its shortest (every wait drawn 20% short) it retries for more
// than 24 hours.
const (
	FirstRetry = 30 * time.Second
	// MaxRetryWait is under the 12 hours SQS lets a message stay invisible,
	// counted from its receipt: the delivery has used some of them when it
	// sets the wait (SQS refuses a longer one).
	MaxRetryWait = 12*time.Hour - 5*time.Minute
	MaxAttempts  = 9
	Jitter       = 0.2
)

// RetryAfter is the nominal wait after the nth failed attempt (n from 1);
// ok is false after the last attempt.
func RetryAfter(n int) (d time.Duration, ok bool) {
	if n < 1 || n >= MaxAttempts {
		return 0, false
	}
	wait := float64(FirstRetry) * math.Pow(4, float64(n-1))
	return time.Duration(min(wait, float64(MaxRetryWait))), true
}

// Backoff is RetryAfter(n) with jitter: r, drawn in [0, 1), spreads it
// over ±Jitter (and never past MaxRetryWait), so that endpoints that failed
// together are not retried together.
func Backoff(n int, r float64) (time.Duration, bool) {
	d, ok := RetryAfter(n)
	if !ok {
		return 0, false
	}
	j := time.Duration(float64(d) * (1 - Jitter + 2*Jitter*r))
	return min(j, MaxRetryWait), true
}
