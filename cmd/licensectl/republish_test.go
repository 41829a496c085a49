package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// putEvents is a loopback EventBridge endpoint that records the entries of
// PutEvents calls; while refuse is set it fails every entry as throttled.
type putEvents struct {
	mu      sync.Mutex
	details []map[string]any
	refuse  bool   // every entry throttled: try again later
	reject  string // the event type whose entries are refused as malformed: never publishable
}

func (p *putEvents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Entries []struct{ Detail, DetailType, EventBusName, Source string }
	}
	if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" || json.NewDecoder(r.Body).Decode(&in) != nil {
		http.Error(w, "not PutEvents", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	type result struct{ EventId, ErrorCode, ErrorMessage string }
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{}
	for _, e := range in.Entries {
		if p.refuse {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: "ThrottlingException", ErrorMessage: "slow down"})
			continue
		}
		var d map[string]any
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil || e.EventBusName != "license-events" || e.Source != "license-service" {
			http.Error(w, "bad entry", http.StatusBadRequest)
			return
		}
		if e.DetailType == p.reject {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: "MalformedDetail", ErrorMessage: "refused"})
			continue
		}
		p.details = append(p.details, d)
		out.Entries = append(out.Entries, result{EventId: "eb-" + e.DetailType})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

// Stored events of a window go to EventBridge again, oldest first, through
// the relay's publisher; a refusal exits 1 and says to run it again.
func TestEventsRepublish(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	var created struct {
		ID, Brand, Hint string
		Key             string `json:"api_key"`
		CreatedAt       string `json:"created_at"`
	}
	f.okJSON(&created, "apikey", "create", "--brand", "acme")
	f.ok("apikey", "revoke", "--brand", "acme", "--id", created.ID)

	eb := &putEvents{}
	srv := httptest.NewServer(eb)
	defer srv.Close()
	env := map[string]string{"EVENTBRIDGE_ENDPOINT": srv.URL}
	args := func(since, until string) []string {
		return []string{"--endpoint", f.eng.URL, "--table", f.eng.Table, "--json", "events", "republish",
			"--since", since, "--until", until, "--bus", "license-events"}
	}

	o := cli(t, env, args("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")...)
	require.Equal(t, 0, o.code, o.stderr)
	assert.JSONEq(t, `{"events_republished":2,"events_dead_lettered":0,"events_found":2,"event_items_unreadable":0,"bus":"license-events"}`, o.stdout)
	require.Len(t, eb.details, 2)
	assert.Equal(t, "ApiKeyCreated", eb.details[0]["event_type"])
	assert.Equal(t, "ApiKeyRevoked", eb.details[1]["event_type"])
	assert.Equal(t, created.ID, eb.details[0]["api_key_id"])

	// A window with no events publishes nothing.
	o = cli(t, env, args("2000-01-01T00:00:00Z", "2000-01-02T00:00:00Z")...)
	require.Equal(t, 0, o.code, o.stderr)
	assert.JSONEq(t, `{"events_republished":0,"events_dead_lettered":0,"events_found":0,"event_items_unreadable":0,"bus":"license-events"}`, o.stdout)

	// An event EventBridge can never take is dead-lettered (logged), not
	// counted as republished, and the run exits 1; the others go through.
	eb.reject = "ApiKeyCreated"
	o = cli(t, env, args("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")...)
	assert.Equal(t, 1, o.code, o.stdout)
	assert.Contains(t, o.stdout, "1 events can never be published")
	assert.Contains(t, o.stderr, "dead letter")
	require.Len(t, eb.details, 3)
	assert.Equal(t, "ApiKeyRevoked", eb.details[2]["event_type"])
	eb.reject = ""

	eb.refuse = true
	o = cli(t, env, args("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")...)
	assert.Equal(t, 1, o.code)
	assert.Contains(t, o.stdout, "republish incomplete")
	assert.Len(t, eb.details, 3, "nothing more was taken")
	eb.refuse = false

	// An event item whose time cannot be read fits no window: it is counted.
	_, err := f.eng.Client.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(f.eng.Table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "BRAND#acme#EVT"}, "sk": &types.AttributeValueMemberS{Value: "EVT#broken"},
		"type": &types.AttributeValueMemberS{Value: "event"}, "occurred_at": &types.AttributeValueMemberS{Value: "yesterday"},
	}})
	require.NoError(t, err)
	o = cli(t, env, args("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")...)
	require.Equal(t, 0, o.code, o.stdout)
	assert.JSONEq(t, `{"events_republished":2,"events_dead_lettered":0,"events_found":2,"event_items_unreadable":1,"bus":"license-events"}`, o.stdout)

	for _, bad := range [][2]string{{"yesterday", "2100-01-01T00:00:00Z"}, {"2100-01-01T00:00:00Z", "2000-01-01T00:00:00Z"}} {
		o = cli(t, env, args(bad[0], bad[1])...)
		assert.Equal(t, 1, o.code, "%v: %s", bad, o.stdout)
		assert.Contains(t, o.stdout, "validation_error")
	}
}
