package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// localBus stands in for EventBridge on loopback: it answers PutEvents (AWS
// JSON 1.1, what the relay's SDK client sends to EVENTBRIDGE_ENDPOINT),
// accepts every entry and keeps it to be printed.
type localBus struct {
	URL string
	srv *http.Server

	mu      sync.Mutex
	entries []busEntry
}

// busEntry is one event put on the local bus, as printed.
type busEntry struct {
	EventBus   string          `json:"event_bus"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail_type"`
	Detail     json.RawMessage `json:"detail"`
}

// startLocalBus listens on a free loopback port.
func startLocalBus() (*localBus, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("local EventBridge: %w", err)
	}
	b := &localBus{URL: "http://" + ln.Addr().String()}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// Close stops the bus.
func (b *localBus) Close() { _ = b.srv.Close() }

// Entries returns the entries put so far and forgets them.
func (b *localBus) Entries() []busEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.entries
	b.entries = nil
	return out
}

func (b *localBus) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if target := r.Header.Get("X-Amz-Target"); r.Method != http.MethodPost || target != "AWSEvents.PutEvents" {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "UnknownOperationException",
			"message": fmt.Sprintf("the local bus of `make invoke` answers PutEvents only, not %q", target)})
		return
	}
	var in struct {
		Entries []struct {
			EventBusName, Source, DetailType, Detail string
		}
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "ValidationException", "message": err.Error()})
		return
	}
	type result struct {
		EventID string `json:"EventId"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{Entries: []result{}}
	b.mu.Lock()
	for _, e := range in.Entries {
		detail := json.RawMessage(e.Detail)
		if !json.Valid(detail) {
			detail, _ = json.Marshal(e.Detail)
		}
		b.entries = append(b.entries, busEntry{EventBus: e.EventBusName, Source: e.Source, DetailType: e.DetailType, Detail: detail})
		out.Entries = append(out.Entries, result{EventID: fmt.Sprintf("local-%d", len(b.entries))})
	}
	b.mu.Unlock()
	_ = json.NewEncoder(w).Encode(out)
}
