package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/webhook"
)

// WebhookStore keeps brands' webhook endpoints and the deliveries to them.
type WebhookStore interface {
	// CreateWebhook puts a new endpoint (and completes done, when not nil,
	// in the same transaction).
	CreateWebhook(ctx context.Context, w licensing.WebhookEndpoint, done *IdempotencyCompletion) error
	// Webhooks lists a brand's endpoints, oldest first.
	Webhooks(ctx context.Context, brand string) ([]licensing.WebhookEndpoint, error)
	// Webhook reads one endpoint; another brand's fails with
	// CodeWebhookNotFound exactly as an unknown one.
	Webhook(ctx context.Context, brand, id string) (licensing.WebhookEndpoint, error)
	// DeleteWebhook returns the endpoint deleted; CodeWebhookNotFound. done,
	// when not nil, completes in the same transaction, with the endpoint
	// deleted as its result.
	DeleteWebhook(ctx context.Context, brand, id string, done *IdempotencyCompletion) (licensing.WebhookEndpoint, error)
	// UpdateWebhook reads an endpoint, applies change and writes the result
	// and its events in one transaction conditioned on the version read,
	// retrying on a concurrent change. A result whose Version is the one
	// read is not written. done, when not nil, completes in the same
	// transaction (change sets its result).
	UpdateWebhook(ctx context.Context, brand, id string, done *IdempotencyCompletion, change func(licensing.WebhookEndpoint) (licensing.WebhookEndpoint, []licensing.Event, error)) (licensing.WebhookEndpoint, error)
	// PutDelivery writes a delivery as it now stands, conditioned on the
	// stored one having readCount attempts (0: there is none; a stored
	// delivery has at least one); otherwise it fails with ErrStale. It is forgotten after expires.
	// done, when not nil, completes in the same transaction.
	PutDelivery(ctx context.Context, d licensing.WebhookDelivery, readCount int, expires time.Time, done *IdempotencyCompletion) error
	// Delivery reads one delivery, found or not.
	Delivery(ctx context.Context, brand, endpointID, deliveryID string) (licensing.WebhookDelivery, bool, error)
	// Deliveries pages through an endpoint's deliveries, newest event first.
	Deliveries(ctx context.Context, brand, endpointID, cursor string, limit int) ([]licensing.WebhookDelivery, string, error)
}

// WebhookSender makes the HTTP requests of deliveries (internal/webhook).
type WebhookSender interface {
	// Check refuses, wrapping webhook.ErrEndpoint, a URL the service must
	// not call.
	Check(ctx context.Context, url string) error
	// Send POSTs body to url, signed with each secret as the message id at
	// the time at, and reports the attempt: a failure is an attempt without
	// a 2xx answer, never an error.
	Send(ctx context.Context, url string, secrets []string, id string, at time.Time, body []byte) licensing.DeliveryAttempt
}

// ErrStale is a conditional write refused because the item changed since
// it was read.
var ErrStale = errors.New("changed since it was read")

// DeliveryRetention is how long a delivery and its attempts are listed.
const DeliveryRetention = 30 * 24 * time.Hour

// UseWebhooks sets the sender of webhook deliveries.
func (a *App) UseWebhooks(s WebhookSender) { a.webhooks = s }

func (a *App) sender() (WebhookSender, error) {
	if a.webhooks == nil {
		return nil, errors.New("webhooks: no sender configured")
	}
	return a.webhooks, nil
}

// CreateWebhook adds an endpoint to the brand, with a new secret (returned
// this once).
func (a *App) CreateWebhook(ctx context.Context, t licensing.Tenant, url string, eventTypes []string) (licensing.WebhookEndpoint, error) {
	w, _, err := a.CreateWebhookOnce(ctx, t, url, eventTypes, "")
	return w, err
}

// CreateWebhookOnce is CreateWebhook under an idempotency key (see once): a
// replay shows the secret again.
func (a *App) CreateWebhookOnce(ctx context.Context, t licensing.Tenant, url string, eventTypes []string, idempotencyKey string) (licensing.WebhookEndpoint, bool, error) {
	s, err := a.sender()
	if err != nil {
		return licensing.WebhookEndpoint{}, false, err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return licensing.WebhookEndpoint{}, false, err
	}
	w, err := licensing.NewWebhookEndpoint(t.Brand, url, eventTypes, secret, a.now())
	if err != nil {
		return licensing.WebhookEndpoint{}, false, err
	}
	m := mutation{Op: "create-webhook", Input: struct {
		URL        string   `json:"url"`
		EventTypes []string `json:"event_types"`
	}{w.URL, w.EventTypes}}
	return once(ctx, a, t, idempotencyKey, m, func(done *IdempotencyCompletion) (licensing.WebhookEndpoint, error) {
		if err := s.Check(ctx, w.URL); err != nil {
			if errors.Is(err, webhook.ErrEndpoint) {
				return licensing.WebhookEndpoint{}, licensing.Invalid("url", "%s", err.Error())
			}
			return licensing.WebhookEndpoint{}, err
		}
		existing, err := a.store.Webhooks(ctx, t.Brand)
		if err != nil {
			return licensing.WebhookEndpoint{}, err
		}
		if len(existing) >= licensing.MaxWebhooks {
			return licensing.WebhookEndpoint{}, licensing.Errorf(licensing.CodeWebhookLimit, "a brand has at most %d webhook endpoints; delete one first", licensing.MaxWebhooks)
		}
		if err := done.SetResult(w); err != nil {
			return w, err
		}
		if err := a.store.CreateWebhook(ctx, w, done); err != nil {
			return licensing.WebhookEndpoint{}, err
		}
		return w, nil
	})
}

// ListWebhooks lists the brand's endpoints.
func (a *App) ListWebhooks(ctx context.Context, t licensing.Tenant) ([]licensing.WebhookEndpoint, error) {
	return a.store.Webhooks(ctx, t.Brand)
}

// errWebhookNotFound answers an unknown endpoint, and another brand's, alike.
var errWebhookNotFound = licensing.Errorf(licensing.CodeWebhookNotFound, "no such webhook endpoint")

// webhook reads one of the brand's endpoints; a malformed id never reaches
// the table.
func (a *App) webhook(ctx context.Context, t licensing.Tenant, id string) (licensing.WebhookEndpoint, error) {
	if !licensing.ValidID(licensing.KindWebhook, id) {
		return licensing.WebhookEndpoint{}, errWebhookNotFound
	}
	return a.store.Webhook(ctx, t.Brand, id)
}

// DeleteWebhook removes one of the brand's endpoints and returns it as it
// was; its deliveries expire.
func (a *App) DeleteWebhook(ctx context.Context, t licensing.Tenant, id string) (licensing.WebhookEndpoint, error) {
	w, _, err := a.DeleteWebhookOnce(ctx, t, id, "")
	return w, err
}

// DeleteWebhookOnce is DeleteWebhook under an idempotency key (see once).
func (a *App) DeleteWebhookOnce(ctx context.Context, t licensing.Tenant, id, idempotencyKey string) (licensing.WebhookEndpoint, bool, error) {
	if !licensing.ValidID(licensing.KindWebhook, id) {
		return licensing.WebhookEndpoint{}, false, errWebhookNotFound
	}
	return once(ctx, a, t, idempotencyKey, mutation{Op: "delete-webhook", IDs: []string{id}}, func(done *IdempotencyCompletion) (licensing.WebhookEndpoint, error) {
		return a.store.DeleteWebhook(ctx, t.Brand, id, done)
	})
}

// RotateWebhookSecret gives an endpoint a new secret (returned this once);
// the previous one signs too for licensing.SecretOverlap.
func (a *App) RotateWebhookSecret(ctx context.Context, t licensing.Tenant, id string) (licensing.WebhookEndpoint, error) {
	w, _, err := a.RotateWebhookSecretOnce(ctx, t, id, "")
	return w, err
}

// RotateWebhookSecretOnce is RotateWebhookSecret under an idempotency key
// (see once): a replay shows the new secret again.
func (a *App) RotateWebhookSecretOnce(ctx context.Context, t licensing.Tenant, id, idempotencyKey string) (licensing.WebhookEndpoint, bool, error) {
	if !licensing.ValidID(licensing.KindWebhook, id) {
		return licensing.WebhookEndpoint{}, false, errWebhookNotFound
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return licensing.WebhookEndpoint{}, false, err
	}
	return once(ctx, a, t, idempotencyKey, mutation{Op: "rotate-webhook-secret", IDs: []string{id}}, func(done *IdempotencyCompletion) (licensing.WebhookEndpoint, error) {
		return a.store.UpdateWebhook(ctx, t.Brand, id, done, func(w licensing.WebhookEndpoint) (licensing.WebhookEndpoint, []licensing.Event, error) {
			next, err := w.Rotate(secret, a.now())
			if err != nil {
				return next, nil, err
			}
			return next, nil, done.SetResult(next)
		})
	})
}

// Pages of deliveries.
const (
	DefaultDeliveriesPage = 20
	MaxDeliveriesPage     = 100
)

// WebhookDeliveries pages through an endpoint's deliveries, newest first
// (limit 0: DefaultDeliveriesPage).
func (a *App) WebhookDeliveries(ctx context.Context, t licensing.Tenant, id, cursor string, limit int) ([]licensing.WebhookDelivery, string, error) {
	if _, err := a.webhook(ctx, t, id); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = DefaultDeliveriesPage
	}
	return a.store.Deliveries(ctx, t.Brand, id, cursor, limit)
}

// RetryWebhookDelivery sends a delivery again now, whatever its status, and
// returns it with the attempt recorded.
func (a *App) RetryWebhookDelivery(ctx context.Context, t licensing.Tenant, id, deliveryID string) (licensing.WebhookDelivery, error) {
	d, _, err := a.RetryWebhookDeliveryOnce(ctx, t, id, deliveryID, "")
	return d, err
}

// RetryWebhookDeliveryOnce is RetryWebhookDelivery under an idempotency key
// (see once): the record completes with the attempt's.
func (a *App) RetryWebhookDeliveryOnce(ctx context.Context, t licensing.Tenant, id, deliveryID, idempotencyKey string) (licensing.WebhookDelivery, bool, error) {
	w, err := a.webhook(ctx, t, id)
	if err != nil {
		return licensing.WebhookDelivery{}, false, err
	}
	notFound := licensing.Errorf(licensing.CodeDeliveryNotFound, "no such delivery of this webhook endpoint")
	if !licensing.ValidDeliveryID(deliveryID) {
		return licensing.WebhookDelivery{}, false, notFound
	}
	m := mutation{Op: "retry-webhook-delivery", IDs: []string{id, deliveryID}}
	return once(ctx, a, t, idempotencyKey, m, func(done *IdempotencyCompletion) (licensing.WebhookDelivery, error) {
		d, found, err := a.store.Delivery(ctx, t.Brand, id, deliveryID)
		if err != nil {
			return licensing.WebhookDelivery{}, err
		}
		if !found {
			return licensing.WebhookDelivery{}, notFound
		}
		// A pending delivery stays pending: the queue still retries it.
		d, _, err = a.attempt(ctx, w, d, true, d.Status == licensing.DeliveryPending, done)
		return d, err
	})
}

// DeliveryReport is what one delivery of an event did.
type DeliveryReport struct {
	Brand     string
	EventID   string
	EventType licensing.EventType
	Delivered int // endpoints that answered 2xx
	Failed    int // attempts that failed
	Disabled  int // endpoints this delivery disabled
	Pending   int // endpoints to try again
	Exhausted int // endpoints that failed the last attempt (not by a 410)
}

// webhookEvent is what a delivery reads of an event.
type webhookEvent struct {
	ID         string              `json:"event_id"`
	Type       licensing.EventType `json:"event_type"`
	Brand      string              `json:"brand"`
	OccurredAt time.Time           `json:"occurred_at"`
}

// DeliverEvent posts an event (its JSON, as published) to each enabled
// endpoint of its brand that subscribes to its type, existed when it
// occurred and has not received it yet, all at once. final says no retry
// follows, so a failure is final. A delivery still pending at an endpoint
// disabled since is closed as failed. A malformed event fails with
// CodeValidation: retrying cannot help.
func (a *App) DeliverEvent(ctx context.Context, body []byte, final bool) (DeliveryReport, error) {
	var ev webhookEvent
	if err := json.Unmarshal(body, &ev); err != nil || !licensing.ValidID(licensing.KindEvent, ev.ID) || ev.Brand == "" || ev.Type == "" || ev.OccurredAt.IsZero() {
		return DeliveryReport{}, licensing.Invalid("event", "is not an event of this service")
	}
	rep := DeliveryReport{Brand: ev.Brand, EventID: ev.ID, EventType: ev.Type}
	endpoints, err := a.store.Webhooks(ctx, ev.Brand)
	if err != nil {
		return rep, err
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, w := range endpoints {
		if !w.Wants(ev.Type) || w.CreatedAt.After(ev.OccurredAt) {
			continue
		}
		if w.Status != licensing.WebhookEnabled {
			// Only an event from before the endpoint was disabled can
			// have a delivery there, pending since.
			if w.DisabledAt != nil && !ev.OccurredAt.After(*w.DisabledAt) {
				wg.Go(func() {
					if err := a.closeDelivery(ctx, w, licensing.DeliveryID(ev.OccurredAt, ev.ID)); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("endpoint %s: %w", w.ID, err))
						mu.Unlock()
					}
				})
			}
			continue
		}
		wg.Go(func() {
			d, disabled, sent, err := a.deliverTo(ctx, w, ev, body, final)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("endpoint %s: %w", w.ID, err))
			case !sent: // delivered there before
			case d.Status == licensing.DeliveryDelivered:
				rep.Delivered++
			case d.Status == licensing.DeliveryPending:
				rep.Failed++
				rep.Pending++
			default:
				rep.Failed++
				if !disabled && !d.Attempts[len(d.Attempts)-1].Gone() {
					rep.Exhausted++
				}
			}
			if disabled {
				rep.Disabled++
			}
		})
	}
	wg.Wait()
	return rep, errors.Join(errs...)
}

// closeDelivery marks a pending delivery to a disabled endpoint failed.
func (a *App) closeDelivery(ctx context.Context, w licensing.WebhookEndpoint, id string) error {
	d, found, err := a.store.Delivery(ctx, w.Brand, w.ID, id)
	if err != nil || !found || d.Status != licensing.DeliveryPending {
		return err
	}
	_, err = a.recordDelivery(ctx, d, nil, func(cur licensing.WebhookDelivery) licensing.WebhookDelivery {
		if cur.Status == licensing.DeliveryPending {
			cur.Status = licensing.DeliveryFailed
		}
		return cur
	})
	return err
}

// deliverTo makes one attempt of an event at an endpoint, unless it was
// delivered there already (sent is false then).
func (a *App) deliverTo(ctx context.Context, w licensing.WebhookEndpoint, ev webhookEvent, body []byte, final bool) (d licensing.WebhookDelivery, disabled, sent bool, err error) {
	id := licensing.DeliveryID(ev.OccurredAt, ev.ID)
	d, found, err := a.store.Delivery(ctx, w.Brand, w.ID, id)
	if err != nil || (found && d.Status == licensing.DeliveryDelivered) {
		return d, false, false, err
	}
	if !found {
		d = licensing.WebhookDelivery{ID: id, Brand: w.Brand, EndpointID: w.ID, EventID: ev.ID, EventType: ev.Type,
			EventAt: ev.OccurredAt.UTC(), Body: body, Status: licensing.DeliveryPending}
	}
	d, disabled, err = a.attempt(ctx, w, d, false, !final, nil)
	return d, disabled, true, err
}

// attempt sends a delivery, updates the endpoint — a success clears its
// failing state; a failure starts it, and disables the endpoint at a 410 or
// after licensing.FailureWindow of failures — and records the attempt (no
// retry is left once the endpoint is disabled, by this attempt or another).
// disabled tells whether this attempt disabled it.
func (a *App) attempt(ctx context.Context, w licensing.WebhookEndpoint, d licensing.WebhookDelivery, manual, retriesLeft bool, done *IdempotencyCompletion) (_ licensing.WebhookDelivery, disabled bool, _ error) {
	s, err := a.sender()
	if err != nil {
		return d, false, err
	}
	now := a.now()
	att := s.Send(ctx, w.URL, w.SigningSecrets(now), d.EventID, now, d.Body)
	att.Manual = manual
	off := w.Status != licensing.WebhookEnabled
	// A success of an endpoint that was not failing (the common case)
	// changes nothing: no write.
	if !att.Delivered() || w.FailingSince != nil {
		_, err = a.store.UpdateWebhook(ctx, w.Brand, w.ID, nil, func(cur licensing.WebhookEndpoint) (licensing.WebhookEndpoint, []licensing.Event, error) {
			if att.Delivered() {
				if cur.FailingSince == nil {
					return cur, nil, nil
				}
				return cur.Succeeded(), nil, nil
			}
			next, evs, _ := cur.Failed(now, att.Gone())
			disabled = len(evs) > 0
			off = next.Status != licensing.WebhookEnabled
			return next, evs, nil
		})
		if err != nil && !licensing.IsCode(err, licensing.CodeWebhookNotFound) { // deleted meanwhile: record the attempt all the same
			return d, false, err
		}
	}
	d, err = a.recordDelivery(ctx, d, done, func(cur licensing.WebhookDelivery) licensing.WebhookDelivery {
		return cur.Record(att, retriesLeft && !off)
	})
	return d, disabled, err
}

// maxDeliveryWrites bounds recordDelivery's retries on concurrent writers.
const maxDeliveryWrites = 8

// recordDelivery writes change(d) (completing done, when not nil, with it),
// conditioned on the delivery being as read; when another attempt (a manual
// retry, a duplicate of the message) wrote it meanwhile, it reads it again
// and applies change to that.
func (a *App) recordDelivery(ctx context.Context, d licensing.WebhookDelivery, done *IdempotencyCompletion, change func(licensing.WebhookDelivery) licensing.WebhookDelivery) (licensing.WebhookDelivery, error) {
	for range maxDeliveryWrites {
		next := change(d)
		if err := done.SetResult(next); err != nil {
			return next, err
		}
		err := a.store.PutDelivery(ctx, next, d.Count, next.UpdatedAt.Add(DeliveryRetention), done)
		if !errors.Is(err, ErrStale) {
			return next, err
		}
		cur, found, err := a.store.Delivery(ctx, d.Brand, d.EndpointID, d.ID)
		if err != nil {
			return next, err
		}
		if found {
			d = cur
		}
	}
	return d, licensing.Unavailable(errors.New("webhook delivery changed concurrently too often"))
}
