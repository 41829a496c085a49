// Package relaytest is a loopback EventBridge for tests: an HTTP endpoint
// speaking PutEvents (AWS JSON 1.1) that the real SDK client is aimed at. It
// records every call, accepts entries or fails them as a test decides, and
// fails the test on any request that is not a signed PutEvents call.
package relaytest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
)

// Entry is a PutEvents request entry as it arrives on the wire.
type Entry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Time         *float64 // epoch seconds, as AWS JSON 1.1 sends timestamps
}

// EventID is the event_id of the entry's detail; the detail must be JSON.
func (e Entry) EventID(t testing.TB) string {
	t.Helper()
	var d struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
		t.Fatalf("entry detail is not JSON: %v: %s", err, e.Detail)
	}
	return d.EventID
}

// DetailMap is the entry's detail decoded; the detail must be a JSON object.
func (e Entry) DetailMap(t testing.TB) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
		t.Fatalf("entry detail is not a JSON object: %v: %s", err, e.Detail)
	}
	return d
}

// Reply is how the bus answers one call: the whole call failing (Status
// and the error's __type), or per-entry error codes by index, the other
// entries accepted. The zero Reply accepts every entry.
type Reply struct {
	Status      int
	ErrorType   string
	EntryErrors map[int]string
}

// Answer decides the reply to a call (0-based) with its entries.
type Answer func(call int, entries []Entry) Reply

// Bus is a running loopback EventBridge; it stops with the test.
type Bus struct {
	URL string
	t   testing.TB

	mu        sync.Mutex
	answer    Answer
	calls     [][]Entry // every call's entries, failed calls included
	delivered []Entry   // the accepted entries, in order of acceptance
	taken     int       // delivered entries handed out by Take
}

// NewBus starts a bus answering with answer (nil: accept everything).
func NewBus(t testing.TB, answer Answer) *Bus {
	t.Helper()
	b := &Bus{t: t, answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(srv.Close)
	b.URL = srv.URL
	return b
}

// SetAnswer changes how the following calls are answered (nil: accept).
func (b *Bus) SetAnswer(answer Answer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.answer = answer
}

func (b *Bus) serve(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, body any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	fail := func(status int, typ, msg string) {
		reply(status, map[string]string{"__type": typ, "message": msg})
	}
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
		b.t.Errorf("unexpected request %s %s, X-Amz-Target %q", r.Method, r.URL.Path, r.Header.Get("X-Amz-Target"))
		fail(http.StatusBadRequest, "UnknownOperationException", "no such operation")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		b.t.Errorf("PutEvents with Content-Type %q", ct)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		b.t.Errorf("PutEvents without a SigV4 signature: %q", r.Header.Get("Authorization"))
	}
	var in struct{ Entries []Entry }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Entries) == 0 {
		b.t.Errorf("PutEvents body: err %v, %d entries", err, len(in.Entries))
		fail(http.StatusBadRequest, "ValidationException", "bad body")
		return
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	call := len(b.calls)
	b.calls = append(b.calls, in.Entries)
	var rep Reply
	if b.answer != nil {
		rep = b.answer(call, in.Entries)
	}
	if rep.Status != 0 {
		fail(rep.Status, rep.ErrorType, "injected failure")
		return
	}
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{Entries: []result{}}
	for i, e := range in.Entries {
		if code := rep.EntryErrors[i]; code != "" {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: code, ErrorMessage: "injected " + code})
			continue
		}
		b.delivered = append(b.delivered, e)
		out.Entries = append(out.Entries, result{EventId: fmt.Sprintf("eb-%d-%d", call, i)})
	}
	reply(http.StatusOK, out)
}

// Calls is every call's entries so far, failed calls included.
func (b *Bus) Calls() [][]Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// Received is every entry of every call so far, failed calls included: what
// a consumer may have seen of a call that failed after publishing in part.
func (b *Bus) Received() []Entry {
	return slices.Concat(b.Calls()...)
}

// Delivered is every accepted entry so far, in order of acceptance.
func (b *Bus) Delivered() []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.delivered)
}

// Take is the entries accepted since the last Take.
func (b *Bus) Take() []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Clone(b.delivered[b.taken:])
	b.taken = len(b.delivered)
	return out
}

// DeliveredIDs is the event ids of the accepted entries, duplicates and all.
func (b *Bus) DeliveredIDs() []string {
	var ids []string
	for _, e := range b.Delivered() {
		ids = append(ids, e.EventID(b.t))
	}
	return ids
}

// Consumed is what a consumer that drops repeated event ids sees: each event
// once, in order of first delivery.
func (b *Bus) Consumed() []string {
	seen := map[string]bool{}
	var ids []string
	for _, id := range b.DeliveredIDs() {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// Client is the real EventBridge client aimed at the bus, without retries.
func (b *Bus) Client() *eventbridge.Client {
	return eventbridge.New(eventbridge.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(b.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
}

// RandomFailures answers like an EventBridge in trouble, at random from
// seed: each call fails as a whole (500) with probability 1/3, and each
// entry of the other calls fails (throttled) with probability 1/4. It is
// safe for concurrent calls.
func RandomFailures(seed uint64) Answer {
	var mu sync.Mutex
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	return func(_ int, entries []Entry) Reply {
		mu.Lock()
		defer mu.Unlock()
		if rnd.IntN(3) == 0 {
			return Reply{Status: http.StatusInternalServerError, ErrorType: "InternalException"}
		}
		errs := map[int]string{}
		for i := range entries {
			if rnd.IntN(4) == 0 {
				errs[i] = "ThrottlingException"
			}
		}
		return Reply{EntryErrors: errs}
	}
}
