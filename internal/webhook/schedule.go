package webhook

import "time"

// Schedule is how long the delivery waits before each retry of a failed
// request: exponential, then hourly steps, for more than 24 hours in all
// (the delivery adds up to 20% of jitter to each wait). After the last
// attempt the message goes to the dead-letter queue; an endpoint failing for
// 3 days in a row is disabled.
var Schedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// RetryAfter is the wait before retry n (1 is the first retry), and false
// when there is none left.
func RetryAfter(n int) (time.Duration, bool) {
	if n < 1 || n > len(Schedule) {
		return 0, false
	}
	return Schedule[n-1], true
}
