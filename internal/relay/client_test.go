package relay

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/relay/relaytest"
)

func TestNewEventBridgeClientWithEndpoint(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	bus := relaytest.NewBus(t, func(call int, _ []relaytest.Entry) relaytest.Reply {
		if call == 0 {
			return relaytest.Reply{Status: 500, ErrorType: "InternalException"}
		}
		return relaytest.Reply{}
	})
	c, err := NewEventBridgeClient(context.Background(), ClientConfig{Endpoint: bus.URL})
	require.NoError(t, err)
	assert.Equal(t, "us-east-1", c.Options().Region)

	// The SDK retries a failed call itself (MaxAttempts 3 by default).
	p := New(c, testBus, nil, nil)
	assert.Empty(t, handle(t, p, eventRecords(3, 0)))
	assert.Len(t, bus.Calls(), 2)
	assert.Equal(t, ids(0, 3), bus.DeliveredIDs())

	q := newFakeQueue(t)
	sc, err := NewSQSClient(context.Background(), ClientConfig{Endpoint: q.srv.URL, Region: "eu-west-1", MaxAttempts: 1})
	require.NoError(t, err)
	assert.Equal(t, "eu-west-1", sc.Options().Region)
	require.NoError(t, NewSQSDeadLetter(sc, "https://sqs.example/q").Send(context.Background(), testEvent(), "why"))
	assert.Len(t, q.messages(), 1)
}
