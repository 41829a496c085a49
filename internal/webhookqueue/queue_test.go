package webhookqueue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/relay"
	"github.com/clsvc/license-service/internal/telemetry"
	"github.com/clsvc/license-service/internal/webhook"
	"github.com/clsvc/license-service/internal/webhookqueue"
)

const queueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/license-webhooks"

// deliverCall is one DeliverEvent call the fake got.
type deliverCall struct {
	Body  []byte
	Final bool
}

// scriptedDeliverer is the app's port: it records its calls and answers
// what answer says (the nth call, from 1, and its body).
type scriptedDeliverer struct {
	mu     sync.Mutex
	calls  []deliverCall
	answer func(n int, body []byte, final bool) (app.DeliveryReport, error)
}

func (d *scriptedDeliverer) DeliverEvent(_ context.Context, body []byte, final bool) (app.DeliveryReport, error) {
	d.mu.Lock()
	d.calls = append(d.calls, deliverCall{Body: bytes.Clone(body), Final: final})
	n := len(d.calls)
	d.mu.Unlock()
	return d.answer(n, body, final)
}

func (d *scriptedDeliverer) got() []deliverCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]deliverCall(nil), d.calls...)
}

func always(rep app.DeliveryReport, err error) *scriptedDeliverer {
	return &scriptedDeliverer{answer: func(int, []byte, bool) (app.DeliveryReport, error) { return rep, err }}
}

var (
	delivered = app.DeliveryReport{Delivered: 1}
	pending   = app.DeliveryReport{Failed: 1, Pending: 1}
	exhausted = app.DeliveryReport{Failed: 1, Exhausted: 1}
)

// visibilityCall is one ChangeMessageVisibility request the fake SQS got.
type visibilityCall struct {
	Target            string
	QueueURL          string `json:"QueueUrl"`
	ReceiptHandle     string
	VisibilityTimeout int
}

// fakeSQS speaks SQS's JSON protocol for ChangeMessageVisibility, to the
// real SDK client.
type fakeSQS struct {
	mu    sync.Mutex
	calls []visibilityCall
	fail  bool
}

func (f *fakeSQS) serve(w http.ResponseWriter, r *http.Request) {
	var c visibilityCall
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.Target = r.Header.Get("X-Amz-Target")
	f.mu.Lock()
	f.calls = append(f.calls, c)
	fail := f.fail
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch {
	case c.Target != "AmazonSQS.ChangeMessageVisibility":
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazon.coral.service#UnknownOperationException","message":"unexpected"}`))
	case fail:
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"__type":"InternalError","message":"x"}`))
	default:
		_, _ = w.Write([]byte(`{}`))
	}
}

func (f *fakeSQS) got() []visibilityCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]visibilityCall(nil), f.calls...)
}

// queueWorld is a handler over a fake deliverer and the real SQS client
// talking to a fake SQS; logs and metrics are kept.
type queueWorld struct {
	h       *webhookqueue.Handler
	sqs     *fakeSQS
	logs    bytes.Buffer
	metrics bytes.Buffer
}

func newQueueWorld(t *testing.T, d webhookqueue.Deliverer) *queueWorld {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CA_BUNDLE": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_SQS": "",
	} {
		t.Setenv(k, v)
	}
	w := &queueWorld{sqs: &fakeSQS{}}
	srv := httptest.NewServer(http.HandlerFunc(w.sqs.serve))
	t.Cleanup(srv.Close)
	client, err := relay.NewSQSClient(context.Background(), relay.ClientConfig{Endpoint: srv.URL, Region: "us-east-1", MaxAttempts: 1})
	require.NoError(t, err)
	w.h = webhookqueue.New(d, client, queueURL, slog.New(slog.NewJSONHandler(&w.logs, nil)), telemetry.NewMetrics(&w.metrics))
	return w
}

func (w *queueWorld) handle(t *testing.T, records ...events.SQSMessage) []string {
	t.Helper()
	resp, err := w.h.Handle(context.Background(), events.SQSEvent{Records: records})
	require.NoError(t, err)
	ids := []string{}
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

// emf is the metric values of the EMF lines written.
func (w *queueWorld) emf(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for l := range strings.Lines(w.metrics.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines = append(lines, m)
	}
	return lines
}

func detail(eventID string) string {
	return fmt.Sprintf(`{"event_id":%q,"event_type":"LicenseSuspended","brand":"acme","occurred_at":"2026-03-04T05:06:07Z","license_key":"ACME-1234","reason":"chargeback"}`, eventID)
}

// message is an SQS record holding an EventBridge event whose detail is
// body, received for the nth time.
func message(id string, n int, body string) events.SQSMessage {
	envelope := `{"version":"0","id":"eb-` + id + `","detail-type":"LicenseSuspended","source":"license-service",` +
		`"account":"123456789012","time":"2026-03-04T05:06:07Z","region":"us-east-1","resources":[],"detail":` + body + `}`
	return events.SQSMessage{
		MessageId: id, ReceiptHandle: "receipt-" + id, Body: envelope, EventSource: "aws:sqs",
		Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(n)},
	}
}

// assertWaitAfter checks a visibility timeout, in whole seconds, is the
// schedule's wait after attempt n, within its jitter, and one SQS accepts.
func assertWaitAfter(t *testing.T, n, got int) {
	t.Helper()
	d, ok := webhook.RetryAfter(n)
	require.True(t, ok, "attempt %d is retried", n)
	secs := d.Seconds()
	assert.GreaterOrEqual(t, got, int(math.Floor(secs*(1-webhook.Jitter)))-1, "attempt %d: %ds is too short for a nominal %s", n, got, d)
	assert.LessOrEqual(t, got, int(math.Ceil(secs*(1+webhook.Jitter))), "attempt %d: %ds is too long for a nominal %s", n, got, d)
	assert.LessOrEqual(t, got, 43200, "attempt %d: SQS refuses a visibility timeout over 12 hours", n)
	assert.Positive(t, got, "attempt %d", n)
}

func TestDeliveredMessageIsDone(t *testing.T) {
	d := always(delivered, nil)
	w := newQueueWorld(t, d)
	body := detail("evt_00000000000000000001")
	assert.Empty(t, w.handle(t, message("m-1", 1, body)))
	assert.Empty(t, w.sqs.got(), "no visibility change")
	calls := d.got()
	require.Len(t, calls, 1)
	assert.JSONEq(t, body, string(calls[0].Body), "the deliverer gets the event, not the envelope")
	assert.False(t, calls[0].Final)
}

func TestPendingMessageWaitsTheSchedule(t *testing.T) {
	for _, n := range []int{1, 5, webhook.MaxAttempts - 1} {
		t.Run(fmt.Sprintf("receive %d", n), func(t *testing.T) {
			d := always(pending, nil)
			w := newQueueWorld(t, d)
			assert.Equal(t, []string{"m-1"}, w.handle(t, message("m-1", n, detail("evt_00000000000000000001"))))
			calls := d.got()
			require.Len(t, calls, 1)
			assert.False(t, calls[0].Final, "attempt %d of %d is not the last", n, webhook.MaxAttempts)
			vis := w.sqs.got()
			require.Len(t, vis, 1)
			assert.Equal(t, "AmazonSQS.ChangeMessageVisibility", vis[0].Target)
			assert.Equal(t, queueURL, vis[0].QueueURL)
			assert.Equal(t, "receipt-m-1", vis[0].ReceiptHandle)
			assertWaitAfter(t, n, vis[0].VisibilityTimeout)
		})
	}
}

func TestEveryRetryWaitIsOneSQSAccepts(t *testing.T) {
	w := newQueueWorld(t, always(pending, nil))
	for round := range 10 { // the jitter is random: a few draws of each
		var records []events.SQSMessage
		for n := 1; n < webhook.MaxAttempts; n++ {
			records = append(records, message(fmt.Sprintf("m-%d-%d", round, n), n, detail("evt_00000000000000000001")))
		}
		assert.Len(t, w.handle(t, records...), len(records))
	}
	vis := w.sqs.got()
	require.Len(t, vis, 10*(webhook.MaxAttempts-1))
	for _, c := range vis {
		n, err := strconv.Atoi(c.ReceiptHandle[strings.LastIndex(c.ReceiptHandle, "-")+1:])
		require.NoError(t, err)
		assertWaitAfter(t, n, c.VisibilityTimeout)
	}
}

// functionTimeout is the deliver-webhooks function's timeout (template.yaml):
// how long, at most, a message has been in flight when its visibility is set.
const functionTimeout = 30

// SQS counts a message's 12 hours of invisibility from its receive: "if you
// attempt to set the VisibilityTimeout to an amount more than the maximum
// time left, Amazon SQS returns an error" (ChangeMessageVisibility). A wait
// of 12 hours, set after the message has been in flight for a while, is
// refused, and the retry comes after the queue's visibility timeout (3
// minutes) instead.
func TestLateRetryWaitsLeaveRoomForTheTimeInFlight(t *testing.T) {
	w := newQueueWorld(t, always(pending, nil))
	var records []events.SQSMessage
	for i := range 20 { // the jitter is random: half its draws reach the cap
		records = append(records, message(fmt.Sprintf("m-%d", i), webhook.MaxAttempts-1, detail("evt_00000000000000000001")))
	}
	w.handle(t, records...)
	vis := w.sqs.got()
	require.Len(t, vis, len(records))
	for _, c := range vis {
		assert.LessOrEqual(t, c.VisibilityTimeout, 43200-functionTimeout, "%s: SQS refuses more than the 12 hours left since the receive", c.ReceiptHandle)
	}
}

func TestMissingReceiveCountIsTheFirstReceive(t *testing.T) {
	d := always(pending, nil)
	w := newQueueWorld(t, d)
	m := message("m-1", 1, detail("evt_00000000000000000001"))
	m.Attributes = nil
	assert.Equal(t, []string{"m-1"}, w.handle(t, m))
	require.Len(t, d.got(), 1)
	assert.False(t, d.got()[0].Final)
	vis := w.sqs.got()
	require.Len(t, vis, 1)
	assertWaitAfter(t, 1, vis[0].VisibilityTimeout)
}

func TestFinalReceive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rep    app.DeliveryReport
		err    error
		failed bool
	}{
		{"exhausted", exhausted, nil, true},
		{"still pending", pending, nil, true},
		{"store down", app.DeliveryReport{}, errors.New("dynamodb down"), true},
		{"delivered", delivered, nil, false},
		{"disabled by a 410", app.DeliveryReport{Failed: 1, Disabled: 1}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := always(tc.rep, tc.err)
			w := newQueueWorld(t, d)
			failures := w.handle(t, message("m-9", webhook.MaxAttempts, detail("evt_00000000000000000009")))
			calls := d.got()
			require.Len(t, calls, 1)
			assert.True(t, calls[0].Final, "receive %d is the last attempt", webhook.MaxAttempts)
			vis := w.sqs.got()
			if !tc.failed {
				assert.Empty(t, failures)
				assert.Empty(t, vis)
				return
			}
			assert.Equal(t, []string{"m-9"}, failures)
			require.Len(t, vis, 1)
			assert.Equal(t, "receipt-m-9", vis[0].ReceiptHandle)
			assert.Zero(t, vis[0].VisibilityTimeout, "visible at once: SQS moves it to the dead-letter queue")
		})
	}
}

func TestDelivererErrors(t *testing.T) {
	t.Run("an outage is retried", func(t *testing.T) {
		w := newQueueWorld(t, always(app.DeliveryReport{}, errors.New("dynamodb down")))
		assert.Equal(t, []string{"m-1"}, w.handle(t, message("m-1", 2, detail("evt_00000000000000000001"))))
		vis := w.sqs.got()
		require.Len(t, vis, 1)
		assert.Equal(t, "receipt-m-1", vis[0].ReceiptHandle)
		assertWaitAfter(t, 2, vis[0].VisibilityTimeout)
		assert.Contains(t, w.logs.String(), "dynamodb down")
	})
	t.Run("a malformed event is dropped", func(t *testing.T) {
		d := always(app.DeliveryReport{}, licensing.Invalid("event", "is not an event of this service"))
		w := newQueueWorld(t, d)
		assert.Empty(t, w.handle(t, message("m-1", 2, `{"what":"ever"}`)))
		assert.Len(t, d.got(), 1)
		assert.Empty(t, w.sqs.got())
		assert.Contains(t, w.logs.String(), "webhook event malformed: dropped")
		assert.Contains(t, w.logs.String(), `"message_id":"m-1"`)
	})
}

func TestNotAnEventBridgeEventIsDropped(t *testing.T) {
	d := always(pending, nil)
	w := newQueueWorld(t, d)
	var records []events.SQSMessage
	for i, body := range []string{"not json", `{}`, `{"version":"0","detail-type":"LicenseSuspended"}`, ``} {
		m := message(fmt.Sprintf("m-%d", i), 1, "{}")
		m.Body = body
		records = append(records, m)
	}
	assert.Empty(t, w.handle(t, records...))
	assert.Empty(t, d.got(), "nothing to deliver")
	assert.Empty(t, w.sqs.got())
	assert.Contains(t, w.logs.String(), "not an EventBridge event")
}

func TestOnlyTheFailedMessageOfABatchIsRetried(t *testing.T) {
	d := &scriptedDeliverer{answer: func(_ int, body []byte, _ bool) (app.DeliveryReport, error) {
		if bytes.Contains(body, []byte("evt_00000000000000000002")) {
			return pending, nil
		}
		return delivered, nil
	}}
	w := newQueueWorld(t, d)
	failures := w.handle(t,
		message("m-1", 1, detail("evt_00000000000000000001")),
		message("m-2", 3, detail("evt_00000000000000000002")),
		message("m-3", 1, detail("evt_00000000000000000003")),
	)
	assert.Equal(t, []string{"m-2"}, failures)
	assert.Len(t, d.got(), 3)
	vis := w.sqs.got()
	require.Len(t, vis, 1)
	assert.Equal(t, "receipt-m-2", vis[0].ReceiptHandle)
	assertWaitAfter(t, 3, vis[0].VisibilityTimeout)
}

func TestVisibilityFailureStillRetries(t *testing.T) {
	w := newQueueWorld(t, always(pending, nil))
	w.sqs.fail = true
	resp, err := w.h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{message("m-1", 2, detail("evt_00000000000000000001"))}})
	require.NoError(t, err)
	assert.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "m-1"}}, resp.BatchItemFailures,
		"retried after the queue's own visibility timeout")
	assert.NotEmpty(t, w.sqs.got(), "the change was asked for")
	assert.Contains(t, w.logs.String(), "setting the retry delay failed")
}

func TestDeliveryMetrics(t *testing.T) {
	names := []string{webhookqueue.MetricDelivered, webhookqueue.MetricFailed, webhookqueue.MetricRetried,
		webhookqueue.MetricDisabled, webhookqueue.MetricDeadLettered}
	for _, tc := range []struct {
		name string
		n    int
		rep  app.DeliveryReport
		want map[string]float64
	}{
		{"pending", 1, app.DeliveryReport{Delivered: 2, Failed: 1, Pending: 1}, map[string]float64{
			webhookqueue.MetricDelivered: 2, webhookqueue.MetricFailed: 1, webhookqueue.MetricRetried: 1,
			webhookqueue.MetricDisabled: 0, webhookqueue.MetricDeadLettered: 0}},
		{"dead-lettered", webhook.MaxAttempts, app.DeliveryReport{Delivered: 1, Failed: 2, Exhausted: 1, Disabled: 1}, map[string]float64{
			webhookqueue.MetricDelivered: 1, webhookqueue.MetricFailed: 2, webhookqueue.MetricRetried: 0,
			webhookqueue.MetricDisabled: 1, webhookqueue.MetricDeadLettered: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newQueueWorld(t, always(tc.rep, nil))
			assert.Len(t, w.handle(t, message("m-1", tc.n, detail("evt_00000000000000000001"))), 1)
			lines := w.emf(t)
			require.Len(t, lines, 1, "one EMF line per delivery")
			line := lines[0]
			for _, name := range names {
				assert.Equal(t, tc.want[name], line[name], name)
			}
			aws, ok := line["_aws"].(map[string]any)
			require.True(t, ok, "an EMF line: %v", line)
			defs, _ := json.Marshal(aws["CloudWatchMetrics"])
			for _, name := range names {
				assert.Contains(t, string(defs), `"Name":"`+name+`"`, "%s is declared as a metric", name)
			}
		})
	}
}

// The local queue: the same schedule, in process.

func TestLocalRetriesUntilDelivered(t *testing.T) {
	d := &scriptedDeliverer{answer: func(n int, _ []byte, _ bool) (app.DeliveryReport, error) {
		if n <= 2 {
			return pending, nil
		}
		return delivered, nil
	}}
	q := webhookqueue.NewLocal(d, nil, nil, func(int) time.Duration { return time.Millisecond })
	t.Cleanup(q.Close)
	body := []byte(detail("evt_00000000000000000001"))
	q.Push(body)
	require.Eventually(t, func() bool { return len(d.got()) >= 3 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // room for an attempt too many
	calls := d.got()
	require.Len(t, calls, 3, "no attempt after the delivery")
	for _, c := range calls {
		assert.Equal(t, body, c.Body)
		assert.False(t, c.Final)
	}
}

func TestLocalGivesUpAfterMaxAttempts(t *testing.T) {
	d := always(pending, nil)
	q := webhookqueue.NewLocal(d, nil, nil, func(int) time.Duration { return time.Millisecond })
	t.Cleanup(q.Close)
	body := []byte(detail("evt_00000000000000000001"))
	q.Push(body)
	require.Eventually(t, func() bool { return len(d.got()) >= webhook.MaxAttempts }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // room for an attempt too many
	calls := d.got()
	require.Len(t, calls, webhook.MaxAttempts)
	for i, c := range calls {
		assert.Equal(t, body, c.Body)
		assert.Equal(t, i == webhook.MaxAttempts-1, c.Final, "attempt %d", i+1)
	}
}

func TestLocalCloseStopsTheWaits(t *testing.T) {
	d := always(pending, nil)
	q := webhookqueue.NewLocal(d, nil, nil, func(int) time.Duration { return time.Hour })
	q.Push([]byte(detail("evt_00000000000000000001")))
	require.Eventually(t, func() bool { return len(d.got()) == 1 }, 5*time.Second, time.Millisecond)
	closed := make(chan struct{})
	go func() {
		q.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: it waits out the retry's wait")
	}
	q.Push([]byte(detail("evt_00000000000000000002")))
	time.Sleep(20 * time.Millisecond)
	assert.Len(t, d.got(), 1, "a closed queue delivers nothing more")
}

// blockingDeliverer's attempts last until their context ends.
type blockingDeliverer struct {
	started, finished chan struct{}
}

func (d *blockingDeliverer) DeliverEvent(ctx context.Context, _ []byte, _ bool) (app.DeliveryReport, error) {
	close(d.started)
	<-ctx.Done()
	time.Sleep(20 * time.Millisecond) // an attempt winding down
	close(d.finished)
	return app.DeliveryReport{}, ctx.Err()
}

func TestLocalCloseWaitsForTheAttemptUnderWay(t *testing.T) {
	d := &blockingDeliverer{started: make(chan struct{}), finished: make(chan struct{})}
	q := webhookqueue.NewLocal(d, nil, nil, func(int) time.Duration { return time.Hour })
	q.Push([]byte(detail("evt_00000000000000000001")))
	select {
	case <-d.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the event was not delivered")
	}
	closed := make(chan struct{})
	go func() {
		q.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: the attempt's context was not cancelled")
	}
	select {
	case <-d.finished:
	default:
		t.Fatal("Close returned before the attempt under way ended")
	}
}

// barrierDeliverer answers only once all of its n callers are in at the
// same time: a handler that delivers a batch's messages one after another
// never gets there (each call gives up after 5 s, a failure).
type barrierDeliverer struct {
	n       int
	arrived chan struct{}
	all     chan struct{}
	once    sync.Once
}

func (d *barrierDeliverer) DeliverEvent(context.Context, []byte, bool) (app.DeliveryReport, error) {
	d.arrived <- struct{}{}
	if len(d.arrived) == d.n {
		d.once.Do(func() { close(d.all) })
	}
	select {
	case <-d.all:
		return app.DeliveryReport{Delivered: 1}, nil
	case <-time.After(5 * time.Second):
		return app.DeliveryReport{}, errors.New("the batch's messages were not delivered at once")
	}
}

// A batch's messages are delivered at once: a slow endpoint of one message
// does not hold up the others, and a batch of slow ones takes one timeout,
// not ten, within the function's.
func TestBatchMessagesAreDeliveredAtOnce(t *testing.T) {
	const n = 10
	d := &barrierDeliverer{n: n, arrived: make(chan struct{}, n), all: make(chan struct{})}
	w := newQueueWorld(t, d)
	var records []events.SQSMessage
	for i := range n {
		records = append(records, message(fmt.Sprintf("m-%d", i), 1, detail("evt_00000000000000000001")))
	}
	assert.Empty(t, w.handle(t, records...), "all delivered")
}
