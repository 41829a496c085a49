package main

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/relay/relaytest"
)

// refuseEntries answers a PutEvents call by failing the entries for which
// code names an error code (the others accepted).
func refuseEntries(code func(relaytest.Entry) string) relaytest.Answer {
	return func(_ int, entries []relaytest.Entry) relaytest.Reply {
		errs := map[int]string{}
		for i, e := range entries {
			if c := code(e); c != "" {
				errs[i] = c
			}
		}
		return relaytest.Reply{EntryErrors: errs}
	}
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

	eb := relaytest.NewBus(t, nil)
	env := map[string]string{"EVENTBRIDGE_ENDPOINT": eb.URL}
	// details is the detail of every entry EventBridge took, each put on the
	// bus named by --bus with the service's source.
	details := func() []map[string]any {
		var out []map[string]any
		for _, e := range eb.Delivered() {
			require.Equal(t, "license-events", e.EventBusName)
			require.Equal(t, "license-service", e.Source)
			out = append(out, e.DetailMap(t))
		}
		return out
	}
	args := func(since, until string) []string {
		return []string{"--endpoint", f.eng.URL, "--table", f.eng.Table, "--json", "events", "republish",
			"--since", since, "--until", until, "--bus", "license-events"}
	}

	o := cli(t, env, args("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")...)
	require.Equal(t, 0, o.code, o.stderr)
	assert.JSONEq(t, `{"events_republished":2,"events_dead_lettered":0,"events_found":2,"event_items_unreadable":0,"bus":"license-events"}`, o.stdout)
	got := details()
	require.Len(t, got, 2)
	assert.Equal(t, "ApiKeyCreated", got[0]["event_type"])
	assert.Equal(t, "ApiKeyRevoked", got[1]["event_type"])
	assert.Equal(t, created.ID, got[0]["api_key_id"])

	// A window with no events publishes nothing.
	o = cli(t, env, args("2000-01-01T00:00:00Z", "2000-01-02T00:00:00Z")...)
	require.Equal(t, 0, o.code, o.stderr)
	assert.JSONEq(t, `{"events_republished":0,"events_dead_lettered":0,"events_found":0,"event_items_unreadable":0,"bus":"license-events"}`, o.stdout)

	// An event EventBridge can never take is dead-lettered (logged), not
	// counted as republished, and the run exits 1; the others go through.
	eb.SetAnswer(refuseEntries(func(e relaytest.Entry) string {
		if e.DetailType == "ApiKeyCreated" {
			return "MalformedDetail"
		}
		return ""
	}))
	o = cli(t, env, args("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")...)
	assert.Equal(t, 1, o.code, o.stdout)
	assert.Contains(t, o.stdout, "1 events can never be published")
	assert.Contains(t, o.stderr, "dead letter")
	got = details()
	require.Len(t, got, 3)
	assert.Equal(t, "ApiKeyRevoked", got[2]["event_type"])

	eb.SetAnswer(refuseEntries(func(relaytest.Entry) string { return "ThrottlingException" }))
	o = cli(t, env, args("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")...)
	assert.Equal(t, 1, o.code)
	assert.Contains(t, o.stdout, "republish incomplete")
	assert.Len(t, details(), 3, "nothing more was taken")
	eb.SetAnswer(nil)

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
		assert.Equal(t, 2, o.code, "%v: %s: a bad value is a usage error", bad, o.stdout)
		assert.Contains(t, o.stdout, "validation_error")
	}
}
