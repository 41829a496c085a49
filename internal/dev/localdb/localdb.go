// Package localdb serves the embedded DynamoDB-compatible engine (minidyn in
// its HTTP server mode) for make run and the tests, with failure emulation
// that is safe to switch while requests are in flight.
//
// minidyn guards its table-scoped failure switch with its own lock but not the
// global one, so switching the global failure while another goroutine (the
// local event relay, a concurrent test client) is being served is a data race.
// Engine serialises the switch against the requests it serves: requests share
// a read lock, the switch takes the write lock and so waits for the requests
// in flight, and applies to every request that starts after it returns.
package localdb

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	miniserver "github.com/truora/minidyn/server"
)

// Engine is one embedded engine; serve it with any http.Server.
type Engine struct {
	mu  sync.RWMutex
	srv *miniserver.Server

	keyMu sync.Mutex
	keys  map[string][]string // each table's key attribute names

	feed      atomic.Pointer[EventItems] // receives committed event items (feed.go); nil: none
	writeTurn sync.Mutex                 // writes carrying event items take turns, so they are fed in commit order

	callsMu sync.Mutex
	calls   map[string]int64 // calls answered, by operation
}

// New returns an empty engine (no tables).
func New() *Engine { return &Engine{srv: miniserver.NewServer(), keys: map[string][]string{}} }

// ServeHTTP answers one DynamoDB API call, with the capacity it consumed
// when the call asks for it (see capacity.go).
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	e.callsMu.Lock()
	if e.calls == nil {
		e.calls = map[string]int64{}
	}
	e.calls[op]++
	e.callsMu.Unlock()
	if feed := e.feed.Load(); feed != nil && e.serveFed(w, r, op, *feed) {
		return
	}
	e.serveWithCapacity(w, r, op)
}

// Requests is how many calls the engine has answered.
func (e *Engine) Requests() int64 {
	e.callsMu.Lock()
	defer e.callsMu.Unlock()
	var n int64
	for _, c := range e.calls {
		n += c
	}
	return n
}

// Calls is how many calls of an operation (Scan, Query, …) it has answered.
func (e *Engine) Calls(op string) int64 {
	e.callsMu.Lock()
	defer e.callsMu.Unlock()
	return e.calls[op]
}

// EmulateFailure makes every call on every table fail with the condition's
// error (FailureConditionNone clears it) from the next request on.
func (e *Engine) EmulateFailure(c miniserver.FailureCondition) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.srv.EmulateFailure(c)
}

// EmulateFailureForTable makes calls on one table (or one of its indexes)
// fail with the condition's error; FailureConditionNone clears that scope.
func (e *Engine) EmulateFailureForTable(table string, c miniserver.FailureCondition, index ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.srv.EmulateFailureForTable(table, c, index...)
}

// EmulateCommitThenFailure makes the named writes ("TransactWriteItems", …;
// none: every write) apply, then answer InternalServerError, from the next
// request on; EmulateFailure(FailureConditionNone) clears it.
func (e *Engine) EmulateCommitThenFailure(ops ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.srv.EmulateCommitThenFailure(ops...)
}
