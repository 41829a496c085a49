package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// DeadLetter keeps the events the relay must not retry: malformed event
// items and entries EventBridge rejects. An error from Send makes the relay
// retry the event's record.
type DeadLetter interface {
	Send(ctx context.Context, ev Event, reason string) error
}

// LogDeadLetter only logs dead letters, for local runs.
type LogDeadLetter struct {
	Log *slog.Logger // nil: slog.Default()
}

// Send logs the event and the reason, detail included.
func (d LogDeadLetter) Send(ctx context.Context, ev Event, reason string) error {
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	log.ErrorContext(ctx, "dead letter", slog.String("event_id", ev.ID), slog.String("event_type", ev.Type),
		slog.String("brand", ev.Brand), slog.String("sequence_number", ev.SequenceNumber),
		slog.String("reason", reason), slog.String("detail", ev.Detail))
	return nil
}

// SendMessageAPI is the part of the SQS client SQSDeadLetter uses;
// *sqs.Client satisfies it.
type SendMessageAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQSDeadLetter sends dead letters to an SQS queue, one message each; its
// body is a DeadLetterMessage.
type SQSDeadLetter struct {
	client   SendMessageAPI
	queueURL string
}

// NewSQSDeadLetter returns a dead letter that sends to the queue at queueURL
// (a standard or a FIFO queue).
func NewSQSDeadLetter(client SendMessageAPI, queueURL string) *SQSDeadLetter {
	return &SQSDeadLetter{client: client, queueURL: queueURL}
}

// DeadLetterMessage is the body of the messages of SQSDeadLetter.
type DeadLetterMessage struct {
	EventID        string `json:"event_id"`
	EventType      string `json:"event_type"`
	Brand          string `json:"brand,omitempty"`
	OccurredAt     string `json:"occurred_at,omitempty"`
	SequenceNumber string `json:"sequence_number"`
	Reason         string `json:"reason"`
	// Detail is the event's detail as it was, a string since it need not be
	// JSON; cut to fit the queue's message size when DetailTruncated.
	Detail          string `json:"detail"`
	DetailTruncated bool   `json:"detail_truncated,omitempty"`
	Source          string `json:"source"`
}

// maxMessageBytes is the largest message body SQSDeadLetter sends, under
// SQS's 256 KiB limit with room for the message attributes.
const maxMessageBytes = 250 * 1024

// Send sends the event and the reason to the queue.
func (d *SQSDeadLetter) Send(ctx context.Context, ev Event, reason string) error {
	body, err := deadLetterBody(ev, reason)
	if err != nil {
		return err
	}
	in := &sqs.SendMessageInput{
		QueueUrl:          aws.String(d.queueURL),
		MessageBody:       aws.String(body),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{},
	}
	for name, v := range map[string]string{"event_id": ev.ID, "event_type": ev.Type, "brand": ev.Brand} {
		if v != "" && len(v) <= 256 { // SQS takes no empty attribute values
			in.MessageAttributes[name] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	if strings.HasSuffix(d.queueURL, ".fifo") {
		// One group keeps the dead letters in order; the deduplication id
		// makes a resend after a lost answer harmless.
		sum := sha256.Sum256([]byte(ev.SequenceNumber + "\x00" + ev.ID))
		in.MessageGroupId = aws.String("relay")
		in.MessageDeduplicationId = aws.String(hex.EncodeToString(sum[:]))
	}
	if _, err := d.client.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send dead letter of event %q: %w", ev.ID, err)
	}
	return nil
}

// deadLetterBody is the JSON message of a dead letter, its detail cut to fit
// maxMessageBytes.
func deadLetterBody(ev Event, reason string) (string, error) {
	m := DeadLetterMessage{
		EventID: ev.ID, EventType: ev.Type, Brand: ev.Brand, SequenceNumber: ev.SequenceNumber,
		Reason: reason, Detail: ev.Detail, Source: Source,
	}
	if !ev.OccurredAt.IsZero() {
		m.OccurredAt = ev.OccurredAt.UTC().Format(time.RFC3339Nano)
	}
	for {
		b, err := json.Marshal(m)
		if err != nil {
			return "", fmt.Errorf("encode dead letter of event %q: %w", ev.ID, err)
		}
		if len(b) <= maxMessageBytes || m.Detail == "" {
			return string(b), nil
		}
		// Every byte cut from the detail takes at least one byte off its
		// JSON: cutting the excess is enough.
		cut := len(m.Detail) - (len(b) - maxMessageBytes)
		m.Detail = strings.ToValidUTF8(m.Detail[:max(cut, 0)], "")
		m.DetailTruncated = true
	}
}
