package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/awsconf"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/webhook"
)

var webhookIDArg = flagSpec{"webhook-id", "WEBHOOK_ID", "the endpoint's id (wh_...), as listed by webhook list"}

// webhooks returns the webhook use cases on the configured table, with a
// sender that makes deliveries from this machine, and the tenant of brand.
func (g *globals) webhooks(ctx context.Context, brand string) (*app.App, licensing.Tenant, error) {
	a, t, err := g.brandApp(ctx, brand)
	if err != nil {
		return nil, licensing.Tenant{}, err
	}
	// Plain http receivers on this machine only against a table on it (make run).
	a.UseWebhooks(webhook.NewSender(awsconf.LoopbackEndpoint(g.endpoint)))
	return a, t, nil
}

// eventTypesOf splits --events; left out, it is every event type.
func eventTypesOf(s string) []string {
	if s == "" {
		return []string{licensing.AllEvents}
	}
	types := strings.Split(s, ",")
	for i, t := range types {
		types[i] = strings.TrimSpace(t)
	}
	return types
}

// createWebhook is webhook create.
func createWebhook(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	a, t, err := g.webhooks(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	w, err := a.CreateWebhook(ctx, t, v["url"], eventTypesOf(v["events"]))
	if err != nil {
		return nil, err
	}
	return webhookCreated{toWebhookView(w, true)}, nil
}

// listWebhooks is webhook list.
func listWebhooks(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	a, t, err := g.webhooks(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	ws, err := a.ListWebhooks(ctx, t)
	if err != nil {
		return nil, err
	}
	l := webhookList{Brand: t.Brand, Webhooks: make([]webhookView, 0, len(ws))}
	for _, w := range ws {
		l.Webhooks = append(l.Webhooks, toWebhookView(w, false))
	}
	return l, nil
}

// deleteWebhook is webhook delete.
func deleteWebhook(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	a, t, err := g.webhooks(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	w, err := a.DeleteWebhook(ctx, t, v["webhook-id"])
	if err != nil {
		return nil, err
	}
	return webhookDeleted{ID: w.ID, Brand: w.Brand, URL: w.URL, Deleted: true}, nil
}

// rotateWebhookSecret is webhook rotate-secret.
func rotateWebhookSecret(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	a, t, err := g.webhooks(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	w, err := a.RotateWebhookSecret(ctx, t, v["webhook-id"])
	if err != nil {
		return nil, err
	}
	return webhookRotated{toWebhookView(w, true)}, nil
}

// listWebhookDeliveries is webhook deliveries.
func listWebhookDeliveries(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	limit := 0
	if s := v["limit"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > app.MaxDeliveriesPage {
			return nil, licensing.Invalid("limit", "must be a whole number between 1 and %d", app.MaxDeliveriesPage)
		}
		limit = n
	}
	a, t, err := g.webhooks(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	ds, next, err := a.WebhookDeliveries(ctx, t, v["webhook-id"], v["cursor"], limit)
	if err != nil {
		return nil, err
	}
	l := deliveryList{Brand: t.Brand, WebhookID: v["webhook-id"], Deliveries: make([]deliveryView, 0, len(ds)), NextCursor: next}
	for _, d := range ds {
		l.Deliveries = append(l.Deliveries, toDeliveryView(d))
	}
	return l, nil
}

// retryWebhookDelivery is webhook retry.
func retryWebhookDelivery(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	a, t, err := g.webhooks(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	d, err := a.RetryWebhookDelivery(ctx, t, v["webhook-id"], v["delivery-id"])
	if err != nil {
		return nil, err
	}
	return deliveryRetried{Brand: t.Brand, WebhookID: v["webhook-id"], Delivery: toDeliveryView(d)}, nil
}

type webhookView struct {
	ID             string   `json:"id"`
	Brand          string   `json:"brand"`
	URL            string   `json:"url"`
	EventTypes     []string `json:"event_types"`
	Status         string   `json:"status"`
	CreatedAt      string   `json:"created_at"`
	FailingSince   string   `json:"failing_since,omitempty"`
	DisabledReason string   `json:"disabled_reason,omitempty"`
	DisabledAt     string   `json:"disabled_at,omitempty"`
	// PreviousSecretUntil is when the secret before the last rotation stops signing.
	PreviousSecretUntil string `json:"previous_secret_expires_at,omitempty"`
	// Secret is shown once: by webhook create and webhook rotate-secret.
	Secret string `json:"secret,omitempty"`
}

func toWebhookView(w licensing.WebhookEndpoint, withSecret bool) webhookView {
	v := webhookView{ID: w.ID, Brand: w.Brand, URL: w.URL, EventTypes: w.EventTypes, Status: string(w.Status),
		CreatedAt: stamp(w.CreatedAt), DisabledReason: w.DisabledReason}
	if v.EventTypes == nil {
		v.EventTypes = []string{}
	}
	if w.FailingSince != nil {
		v.FailingSince = stamp(*w.FailingSince)
	}
	if w.DisabledAt != nil {
		v.DisabledAt = stamp(*w.DisabledAt)
	}
	if w.PreviousUntil != nil {
		v.PreviousSecretUntil = stamp(*w.PreviousUntil)
	}
	if withSecret {
		v.Secret = w.Secret
	}
	return v
}

func (w webhookView) events() string { return strings.Join(w.EventTypes, ",") }

// writeSecret writes the secret on a line of its own, and that it is shown
// this once.
func (w webhookView) writeSecret(out io.Writer, after string) error {
	_, err := fmt.Fprintf(out, "\n    %s\n\nStore this secret now: it is shown only once (it signs every delivery; receivers verify the webhook-signature header with it).%s\n",
		w.Secret, after)
	return err
}

type webhookCreated struct{ webhookView }

func (c webhookCreated) writeText(w io.Writer) error {
	fmt.Fprintf(w, "Created webhook endpoint %s for brand %s.\n", c.ID, c.Brand)
	if err := fields(w, "id", c.ID, "brand", c.Brand, "url", c.URL, "events", c.events(), "status", c.Status, "created_at", c.CreatedAt); err != nil {
		return err
	}
	return c.writeSecret(w, "")
}

type webhookRotated struct{ webhookView }

func (r webhookRotated) writeText(w io.Writer) error {
	fmt.Fprintf(w, "Rotated the signing secret of webhook endpoint %s of brand %s.\n", r.ID, r.Brand)
	if err := fields(w, "id", r.ID, "brand", r.Brand, "url", r.URL, "status", r.Status,
		"previous_secret_expires_at", orDash(r.PreviousSecretUntil)); err != nil {
		return err
	}
	return r.writeSecret(w, "\nThe previous secret also signs deliveries until "+orDash(r.PreviousSecretUntil)+": switch the receiver before then.")
}

type webhookList struct {
	Brand    string        `json:"brand"`
	Webhooks []webhookView `json:"webhooks"`
}

func (l webhookList) writeText(w io.Writer) error {
	if len(l.Webhooks) == 0 {
		_, err := fmt.Fprintf(w, "Brand %s has no webhook endpoints.\n", l.Brand)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tEVENTS\tURL\tFAILING_SINCE\tDISABLED_REASON")
	for _, h := range l.Webhooks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Status, h.events(), h.URL, orDash(h.FailingSince), orDash(h.DisabledReason))
	}
	return tw.Flush()
}

type webhookDeleted struct {
	ID      string `json:"id"`
	Brand   string `json:"brand"`
	URL     string `json:"url"`
	Deleted bool   `json:"deleted"`
}

func (d webhookDeleted) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "Deleted webhook endpoint %s (%s) of brand %s: it receives no more deliveries.\n", d.ID, d.URL, d.Brand)
	return err
}

type attemptView struct {
	At         string `json:"at"`
	StatusCode int    `json:"status_code,omitempty"` // left out: no answer
	LatencyMS  int64  `json:"latency_ms"`
	Error      string `json:"error,omitempty"`
	Manual     bool   `json:"manual"`
}

type deliveryView struct {
	ID         string `json:"id"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	OccurredAt string `json:"occurred_at"`
	Status     string `json:"status"`
	// StatusCode, LatencyMS and Error are the last attempt's.
	StatusCode    int           `json:"status_code,omitempty"`
	LatencyMS     *int64        `json:"latency_ms,omitempty"`
	Error         string        `json:"error,omitempty"`
	AttemptsCount int           `json:"attempts_count"`
	Attempts      []attemptView `json:"attempts"` // the latest, oldest first
	UpdatedAt     string        `json:"updated_at,omitempty"`
}

func toDeliveryView(d licensing.WebhookDelivery) deliveryView {
	v := deliveryView{ID: d.ID, EventID: d.EventID, EventType: string(d.EventType), OccurredAt: stamp(d.EventAt), Status: string(d.Status),
		AttemptsCount: d.Count, Attempts: make([]attemptView, 0, len(d.Attempts))}
	for _, a := range d.Attempts {
		v.Attempts = append(v.Attempts, attemptView{At: stamp(a.At), StatusCode: a.StatusCode, LatencyMS: a.LatencyMS, Error: a.Error, Manual: a.Manual})
	}
	if n := len(d.Attempts); n > 0 {
		last := d.Attempts[n-1]
		v.StatusCode, v.LatencyMS, v.Error = last.StatusCode, &last.LatencyMS, last.Error
	}
	if !d.UpdatedAt.IsZero() {
		v.UpdatedAt = stamp(d.UpdatedAt)
	}
	return v
}

// code is the last attempt's status code, or "-" without an answer.
func (d deliveryView) code() string {
	if d.StatusCode == 0 {
		return "-"
	}
	return strconv.Itoa(d.StatusCode)
}

// latency is the last attempt's latency in ms, or "-" without an attempt.
func (d deliveryView) latency() string {
	if d.LatencyMS == nil {
		return "-"
	}
	return strconv.FormatInt(*d.LatencyMS, 10)
}

type deliveryList struct {
	Brand      string         `json:"brand"`
	WebhookID  string         `json:"webhook_id"`
	Deliveries []deliveryView `json:"deliveries"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

func (l deliveryList) writeText(w io.Writer) error {
	if len(l.Deliveries) == 0 {
		_, err := fmt.Fprintf(w, "Webhook endpoint %s of brand %s has no deliveries (they are kept 30 days).\n", l.WebhookID, l.Brand)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEVENT_TYPE\tSTATUS\tCODE\tLATENCY_MS\tATTEMPTS\tOCCURRED_AT\tERROR")
	for _, d := range l.Deliveries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.EventType, d.Status, d.code(), d.latency(), d.AttemptsCount, d.OccurredAt, orDash(d.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.NextCursor == "" {
		return nil
	}
	_, err := fmt.Fprintf(w, "\nNext page: licensectl webhook deliveries --brand %s --cursor %s %s\n", l.Brand, l.NextCursor, l.WebhookID)
	return err
}

type deliveryRetried struct {
	Brand     string       `json:"brand"`
	WebhookID string       `json:"webhook_id"`
	Delivery  deliveryView `json:"delivery"`
}

func (r deliveryRetried) writeText(w io.Writer) error {
	d := r.Delivery
	answer := "answered " + d.code()
	if d.StatusCode == 0 {
		answer = "no answer: " + orDash(d.Error)
	}
	fmt.Fprintf(w, "Sent delivery %s to webhook endpoint %s of brand %s again: %s (%s in %s ms).\n", d.ID, r.WebhookID, r.Brand, d.Status, answer, d.latency())
	kv := []string{"id", d.ID, "event_id", d.EventID, "event_type", d.EventType, "occurred_at", d.OccurredAt, "status", d.Status,
		"status_code", d.code(), "latency_ms", d.latency(), "attempts", strconv.Itoa(d.AttemptsCount)}
	if d.Error != "" {
		kv = append(kv, "error", d.Error)
	}
	return fields(w, kv...)
}
