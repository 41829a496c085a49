// Command webhook-receiver is an example receiver of the license service's
// webhooks, with the standard library alone: it verifies each request's
// Standard Webhooks signature, drops an event it has seen (by webhook-id)
// and, per license, one at or below the highest sequence it applied (a
// retry can bring a license's events out of order), and prints the rest,
// one line each. A brand's system does the same, in its own database; the
// README shows verify.
//
//	WEBHOOK_SECRET=whsec_… go run ./cmd/webhook-receiver -addr 127.0.0.1:8088
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8088", "where to listen")
	flag.Parse()
	secret := os.Getenv("WEBHOOK_SECRET")
	if secret == "" {
		log.Fatal("WEBHOOK_SECRET is not set (the whsec_… secret shown when the endpoint was created)")
	}
	http.Handle("/hooks", handler(secret, os.Stdout, time.Now))
	log.Printf("receiving webhooks on http://%s/hooks", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// handler answers 204 to a request whose signature verifies (applying the
// event unless it is a repeat or older than what was applied) and 400 to
// any other.
func handler(secret string, out io.Writer, now func() time.Time) http.Handler {
	var mu sync.Mutex
	seen := map[string]bool{}     // webhook-ids handled
	applied := map[string]int64{} // per license, the highest sequence applied
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := verify(secret, r.Header, body, now()); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var ev struct {
			Type      string `json:"event_type"`
			LicenseID string `json:"license_id"`
			Sequence  int64  `json:"sequence"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		id := r.Header.Get("webhook-id")
		mu.Lock()
		defer mu.Unlock()
		switch {
		case seen[id]: // a retry of an event handled already carries the same webhook-id
		case ev.LicenseID != "" && ev.Sequence <= applied[ev.LicenseID]:
			fmt.Fprintf(out, "%s %s license=%s sequence=%d: older than %d, not applied\n", id, ev.Type, ev.LicenseID, ev.Sequence, applied[ev.LicenseID])
		default:
			if ev.LicenseID != "" {
				applied[ev.LicenseID] = ev.Sequence
			}
			fmt.Fprintf(out, "%s %s license=%s sequence=%d\n", id, ev.Type, ev.LicenseID, ev.Sequence)
		}
		seen[id] = true
		w.WriteHeader(http.StatusNoContent)
	})
}

// verify checks a request's Standard Webhooks signature: the base64
// HMAC-SHA256, keyed with the secret's bytes after "whsec_", of
// "<webhook-id>.<webhook-timestamp>.<body>", against each "v1,<signature>"
// of the webhook-signature header (two during a secret's rotation), with
// the timestamp within 5 minutes of now.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("webhook-timestamp is not within 5 minutes")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return errors.New("the secret is not whsec_ and base64")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}
