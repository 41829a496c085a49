package relay

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/relay/relaytest"
)

// sqsMessage is a SendMessage request as it arrives on the wire.
type sqsMessage struct {
	QueueUrl               string
	MessageBody            string
	MessageGroupId         string
	MessageDeduplicationId string
	MessageAttributes      map[string]struct{ DataType, StringValue string }
}

// fakeQueue is a local endpoint speaking SQS SendMessage (AWS JSON 1.0).
type fakeQueue struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []sqsMessage
	down bool
}

func newFakeQueue(t *testing.T) *fakeQueue {
	q := &fakeQueue{t: t}
	q.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessage" {
			t.Errorf("unexpected target %q", r.Header.Get("X-Amz-Target"))
		}
		var m sqsMessage
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("bad body: %v", err)
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.down {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"__type":"InternalError","message":"down"}`)
			return
		}
		q.msgs = append(q.msgs, m)
		sum := md5.Sum([]byte(m.MessageBody))
		_ = json.NewEncoder(w).Encode(map[string]string{"MessageId": "m-1", "MD5OfMessageBody": hex.EncodeToString(sum[:])})
	}))
	t.Cleanup(q.srv.Close)
	return q
}

func (q *fakeQueue) client() *sqs.Client {
	return sqs.New(sqs.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(q.srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
}

func (q *fakeQueue) messages() []sqsMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]sqsMessage(nil), q.msgs...)
}

func testEvent() Event {
	return Event{ID: "evt_1", Type: "LicenseProvisioned", Brand: "acme", Detail: "not json",
		OccurredAt: baseTime, SequenceNumber: seqOf(1)}
}

func TestSQSDeadLetterSends(t *testing.T) {
	q := newFakeQueue(t)
	url := "https://sqs.us-east-1.amazonaws.com/123456789012/relay-dead-letters"
	d := NewSQSDeadLetter(q.client(), url)

	require.NoError(t, d.Send(context.Background(), testEvent(), "malformed event item: detail is not a JSON object"))

	msgs := q.messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, url, msgs[0].QueueUrl)
	assert.Empty(t, msgs[0].MessageGroupId)
	var body DeadLetterMessage
	require.NoError(t, json.Unmarshal([]byte(msgs[0].MessageBody), &body))
	assert.Equal(t, DeadLetterMessage{
		EventID: "evt_1", EventType: "LicenseProvisioned", Brand: "acme", OccurredAt: "2026-03-14T15:09:26.535897932Z",
		SequenceNumber: seqOf(1), Reason: "malformed event item: detail is not a JSON object", Detail: "not json", Source: Source,
	}, body)
	assert.Equal(t, "evt_1", msgs[0].MessageAttributes["event_id"].StringValue)
	assert.Equal(t, "String", msgs[0].MessageAttributes["event_type"].DataType)
}

func TestSQSDeadLetterFIFOAndEmptyAttributes(t *testing.T) {
	q := newFakeQueue(t)
	d := NewSQSDeadLetter(q.client(), "https://sqs.us-east-1.amazonaws.com/123456789012/relay.fifo")
	ev := testEvent()
	ev.ID, ev.Brand = "", ""

	require.NoError(t, d.Send(context.Background(), ev, "why"))
	require.NoError(t, d.Send(context.Background(), ev, "why"))

	msgs := q.messages()
	require.Len(t, msgs, 2)
	assert.Equal(t, "relay", msgs[0].MessageGroupId)
	assert.NotEmpty(t, msgs[0].MessageDeduplicationId)
	assert.Equal(t, msgs[0].MessageDeduplicationId, msgs[1].MessageDeduplicationId, "a resend is deduplicated")
	assert.NotContains(t, msgs[0].MessageAttributes, "event_id")
	assert.NotContains(t, msgs[0].MessageAttributes, "brand")
}

func TestSQSDeadLetterCutsLargeDetail(t *testing.T) {
	q := newFakeQueue(t)
	d := NewSQSDeadLetter(q.client(), "https://sqs.example/q")
	ev := testEvent()
	ev.Detail = `{"x":"` + strings.Repeat("\"é\n", 100*1024) + `"}` // escapes grow it

	require.NoError(t, d.Send(context.Background(), ev, "EntryTooLarge"))

	msgs := q.messages()
	require.Len(t, msgs, 1)
	assert.LessOrEqual(t, len(msgs[0].MessageBody), maxMessageBytes)
	var body DeadLetterMessage
	require.NoError(t, json.Unmarshal([]byte(msgs[0].MessageBody), &body))
	assert.True(t, body.DetailTruncated)
	assert.True(t, strings.HasPrefix(ev.Detail, body.Detail))
	assert.Greater(t, len(body.Detail), 10*1024)
}

func TestSQSDeadLetterError(t *testing.T) {
	q := newFakeQueue(t)
	q.down = true
	d := NewSQSDeadLetter(q.client(), "https://sqs.example/q")
	err := d.Send(context.Background(), testEvent(), "why")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "evt_1")
}

func TestSQSDeadLetterWithPublisher(t *testing.T) {
	bus := relaytest.NewBus(t, nil)
	q := newFakeQueue(t)
	p := New(bus.Client(), testBus, nil, NewSQSDeadLetter(q.client(), "https://sqs.example/q"))
	recs := eventRecords(3, 0)
	bad := eventItem(1, 0)
	delete(bad, "event_type")
	recs[1] = StreamRecordFromItem(bad, seqOf(1))

	assert.Empty(t, handle(t, p, recs))
	assert.Equal(t, []string{eventID(0), eventID(2)}, bus.DeliveredIDs())
	require.Len(t, q.messages(), 1)
	assert.Contains(t, q.messages()[0].MessageBody, `"event_id":"evt_001"`)

	// A queue that is down makes the record fail, to be retried.
	q.mu.Lock()
	q.down = true
	q.mu.Unlock()
	assert.Equal(t, []string{seqOf(1)}, handle(t, p, recs))
}

func TestLogDeadLetter(t *testing.T) {
	log, logs := newLog()
	require.NoError(t, LogDeadLetter{Log: log}.Send(context.Background(), testEvent(), "why"))
	lines := logs.Lines(t)
	require.Len(t, lines, 1)
	assert.Equal(t, "ERROR", lines[0]["level"])
	assert.Equal(t, "evt_1", lines[0]["event_id"])
	assert.Equal(t, "why", lines[0]["reason"])
	assert.Equal(t, "not json", lines[0]["detail"])
}

func TestNewWithoutDeadLetterLogs(t *testing.T) {
	bus := relaytest.NewBus(t, nil)
	log, logs := newLog()
	p := New(bus.Client(), testBus, log, nil)
	recs := eventRecords(2, 0)
	bad := eventItem(0, 0)
	bad["detail"] = bad["event_id"]
	recs[0] = StreamRecordFromItem(bad, seqOf(0))

	assert.Empty(t, handle(t, p, recs))
	var found bool
	for _, l := range logs.Lines(t) {
		found = found || (l["msg"] == "dead letter" && l["event_id"] == eventID(0))
	}
	assert.True(t, found)
}
