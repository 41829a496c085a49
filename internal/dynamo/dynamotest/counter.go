package dynamotest

import (
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Counter counts the HTTP round trips a DynamoDB client makes, by operation:
// the cost model of a request. Install it with Start(t, counter.Option()).
type Counter struct {
	mu   sync.Mutex
	byOp map[string]int
}

// NewCounter returns an empty counter.
func NewCounter() *Counter { return &Counter{byOp: map[string]int{}} }

// Option wraps the client's HTTP client so that every request is counted.
func (c *Counter) Option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.HTTPClient = countingClient{next: o.HTTPClient, c: c}
	}
}

// Reset forgets what was counted.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byOp = map[string]int{}
}

// Total is the number of round trips since the last Reset.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.byOp {
		n += v
	}
	return n
}

// ByOperation is the round trips per DynamoDB operation since the last Reset.
func (c *Counter) ByOperation() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.byOp))
	for k, v := range c.byOp {
		out[k] = v
	}
	return out
}

type countingClient struct {
	next interface {
		Do(*http.Request) (*http.Response, error)
	}
	c *Counter
}

func (cc countingClient) Do(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	cc.c.mu.Lock()
	cc.c.byOp[op]++
	cc.c.mu.Unlock()
	return cc.next.Do(r)
}
