package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

// activationItem is a seat: KEY#<key> / ACT#<product slug>#<type>#<instance>.
type activationItem struct {
	PK           string    `dynamodbav:"pk"`
	SK           string    `dynamodbav:"sk"`
	Type         string    `dynamodbav:"type"`
	ActivationID string    `dynamodbav:"activation_id"`
	ProductSlug  string    `dynamodbav:"product_slug"`
	InstanceType string    `dynamodbav:"instance_type"`
	Instance     string    `dynamodbav:"instance_identifier"`
	Environment  string    `dynamodbav:"environment,omitempty"`
	RulesVersion int       `dynamodbav:"env_rules_version,omitempty"`
	ActivatedAt  time.Time `dynamodbav:"activated_at"`
	LastSeenAt   time.Time `dynamodbav:"last_seen_at"`
}

func activationSK(productSlug string, inst licensing.Instance) string {
	return "ACT#" + productSlug + "#" + string(inst.Type) + "#" + inst.ID
}

func (i activationItem) activation(k keyItem) licensing.Activation {
	return licensing.Activation{
		ID: i.ActivationID, Key: licensing.LicenseKey(k.Key), Brand: k.Brand, ProductSlug: i.ProductSlug,
		Instance:    licensing.Instance{Type: licensing.InstanceType(i.InstanceType), ID: i.Instance},
		Environment: environmentOr(i.Environment), ActivatedAt: i.ActivatedAt, LastSeenAt: i.LastSeenAt,
	}
}

func environmentOr(e string) licensing.Environment {
	if e == "" {
		return licensing.EnvProduction
	}
	return licensing.Environment(e)
}

// seatCounter is the license attribute counting an environment's seats.
func seatCounter(env licensing.Environment) string {
	if env.TakesSeat() {
		return "seats_used"
	}
	return "nonprod_used"
}

// state turns a key's partition into the domain's view of it.
func (kp keyPartition) state() licensing.KeyState {
	st := licensing.KeyState{Key: kp.key.record()}
	ids := map[string]string{}
	for _, l := range kp.licenses {
		st.Licenses = append(st.Licenses, l.license())
		ids[l.ProductSlug] = l.LicenseID
	}
	for _, a := range kp.activations {
		act := a.activation(kp.key)
		act.LicenseID = ids[a.ProductSlug]
		st.Activations = append(st.Activations, act)
	}
	return st
}

// KeyState reads a key's partition with one Query.
func (s *Store) KeyState(ctx context.Context, key licensing.LicenseKey, consistent bool) (licensing.KeyState, error) {
	kp, found, err := s.readKeyPartition(ctx, key, consistent)
	if err != nil {
		return licensing.KeyState{}, fail("read license key", err)
	}
	if !found {
		return licensing.KeyState{}, licensing.Errorf(licensing.CodeLicenseNotFound, "unknown license key")
	}
	return kp.state(), nil
}

// Activate reads the key (one Query), answers from it when the instance
// already holds a seat or the license refuses one, and otherwise takes the
// seat with one transaction: the license's seats_used goes from the count
// read to the next (still under the limit, the license still valid and not
// expired), the activation is put under attribute_not_exists and the
// LicenseActivated event is written. A concurrent change cancels the
// transaction; then it reads again and retries.
func (s *Store) Activate(ctx context.Context, a licensing.Activation, product string, previous *licensing.Instance, now time.Time, actor licensing.Actor, stagingCap func(ctx context.Context, brand string) (int, error)) (licensing.Activation, licensing.License, bool, error) {
	capacity, capKnown := 0, false
	for attempt := range maxSeatAttempts {
		st, err := s.KeyState(ctx, a.Key, true)
		if err != nil {
			return a, licensing.License{}, false, err
		}
		lic, err := st.LicenseFor(product)
		if err != nil {
			return a, licensing.License{}, false, err
		}
		if err := lic.InvalidReason(now); err != nil {
			return a, lic, false, err
		}
		if existing, ok := st.ActivationOf(lic.ProductSlug, a.Instance); ok {
			return existing, lic, false, nil
		}
		var moving *licensing.Activation
		if previous != nil {
			if old, ok := st.ActivationOf(lic.ProductSlug, *previous); ok {
				moving = &old
			}
		}
		if !a.Environment.TakesSeat() && !capKnown {
			// Only staging and local sites need the brand's cap.
			if capacity, err = stagingCap(ctx, st.Key.Brand); err != nil {
				return a, lic, false, err
			}
			capKnown = true
		}
		a.ProductSlug, a.LicenseID, a.Brand, a.LastSeenAt = lic.ProductSlug, lic.ID, st.Key.Brand, now
		if moving != nil {
			after, err := s.moveSeat(ctx, st, lic, *moving, a, capacity, now, actor)
			if err == nil {
				a.MovedFrom = moving.Instance.ID
				return a, after, true, nil
			}
			if !contended(err) {
				return a, lic, false, err
			}
			backoff(ctx, attempt)
			continue
		}
		if err := lic.SeatRefusal(a.Environment, capacity, now); err != nil {
			return a, lic, false, err
		}
		after := lic.WithSeats(a.Environment, +1)
		err = s.takeSeat(ctx, a, lic.SeatsTaken(a.Environment), capacity, licensing.SeatEvent(licensing.EventLicenseActivated, st.Key, after, a, now, actor), now)
		if err == nil {
			return a, after, true, nil
		}
		if !contended(err) {
			return a, lic, false, fail("activate", err)
		}
		backoff(ctx, attempt)
	}
	return a, licensing.License{}, false, licensing.Unavailable(errors.New("activation contended too often"))
}

func (s *Store) takeSeat(ctx context.Context, a licensing.Activation, seatsRead, stagingCap int, ev licensing.Event, now time.Time) error {
	item, err := attributevalue.MarshalMap(s.activationItem(a))
	if err != nil {
		return err
	}
	events, err := s.eventPuts(ev)
	if err != nil {
		return err
	}
	counter, limit := seatCounter(a.Environment), "seat_limit"
	values := map[string]types.AttributeValue{
		":read": num(int64(seatsRead)), ":next": num(int64(seatsRead + 1)),
		":valid": str(string(licensing.StatusValid)), ":now": num(now.Unix()),
	}
	if !a.Environment.TakesSeat() {
		limit = ":cap"
		values[":cap"] = num(int64(stagingCap))
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append([]types.TransactWriteItem{
		{Update: &types.Update{
			TableName:        &s.table,
			Key:              keyOf(keyPK(a.Key), licenseSK(a.ProductSlug)),
			UpdateExpression: aws.String("SET " + counter + " = :next"),
			ConditionExpression: aws.String("attribute_exists(pk) AND " + counter + " = :read AND " + counter + " < " + limit +
				" AND #status = :valid AND (attribute_not_exists(expires_unix) OR expires_unix > :now)"),
			ExpressionAttributeNames:  map[string]string{"#status": "status"},
			ExpressionAttributeValues: values,
		}},
		{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String(notExists)}},
	}, events...)})
	return err
}

// refusedByConditions reports whether a transaction was cancelled by its
// conditions (a state that refuses it) rather than failing otherwise
// (throttling, a conflict with a concurrent transaction, an outage).
func refusedByConditions(err error) bool {
	_, ok := cancelled(err)
	return ok && !unavailable(err)
}

// contended reports whether a transaction built from a read should be built
// again from a fresh read: it was cancelled only by its conditions (the items
// changed since the read) or by DynamoDB's TransactionConflict (another
// transaction held one of its items), never by throttling or a fault. The
// SDK does not retry a cancelled transaction, so the loops around the seat
// and lifecycle transactions do.
func contended(err error) bool {
	codes, ok := cancelled(err)
	if !ok {
		return false
	}
	for _, c := range codes {
		switch c {
		case "", "None", "ConditionalCheckFailed", "TransactionConflict":
		default:
			return false
		}
	}
	return true
}

// moveSeat moves the seat of from to the new site a in one transaction: the
// old activation goes, the new one comes, and the license's counters change
// only when the two sites' environments count differently (a staging copy
// going live takes a seat and frees its staging place). SiteMoved is written.
func (s *Store) moveSeat(ctx context.Context, st licensing.KeyState, lic licensing.License, from, a licensing.Activation, stagingCap int, now time.Time, actor licensing.Actor) (licensing.License, error) {
	oldC, newC := seatCounter(from.Environment), seatCounter(a.Environment)
	after := lic
	if oldC != newC {
		after = lic.WithSeats(from.Environment, -1)
		if err := after.SeatRefusal(a.Environment, stagingCap, now); err != nil {
			return lic, err
		}
		after = after.WithSeats(a.Environment, +1)
	}
	item, err := attributevalue.MarshalMap(s.activationItem(a))
	if err != nil {
		return lic, err
	}
	events, err := s.eventPuts(licensing.SiteMovedEvent(st.Key, after, from, a, now, actor))
	if err != nil {
		return lic, err
	}
	licenseKey := keyOf(keyPK(a.Key), licenseSK(a.ProductSlug))
	valid := "#status = :valid AND (attribute_not_exists(expires_unix) OR expires_unix > :now)"
	values := map[string]types.AttributeValue{":valid": str(string(licensing.StatusValid)), ":now": num(now.Unix())}
	license := types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: &s.table, Key: licenseKey, ConditionExpression: aws.String(valid),
		ExpressionAttributeNames: map[string]string{"#status": "status"}, ExpressionAttributeValues: values,
	}}
	if oldC != newC {
		oldRead, newRead := lic.SeatsTaken(from.Environment), lic.SeatsTaken(a.Environment)
		values[":oldread"], values[":oldnext"] = num(int64(oldRead)), num(int64(oldRead-1))
		values[":newread"], values[":newnext"] = num(int64(newRead)), num(int64(newRead+1))
		license = types.TransactWriteItem{Update: &types.Update{
			TableName: &s.table, Key: licenseKey,
			UpdateExpression:          aws.String("SET " + oldC + " = :oldnext, " + newC + " = :newnext"),
			ConditionExpression:       aws.String(oldC + " = :oldread AND " + newC + " = :newread AND " + valid),
			ExpressionAttributeNames:  map[string]string{"#status": "status"},
			ExpressionAttributeValues: values,
		}}
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append([]types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName: &s.table, Key: keyOf(keyPK(a.Key), activationSK(a.ProductSlug, from.Instance)),
			ConditionExpression:       aws.String("activation_id = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(from.ID)},
		}},
		{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String(notExists)}},
		license,
	}, events...)})
	if err != nil {
		if contended(err) {
			return lic, err
		}
		return lic, fail("move seat", err)
	}
	return after, nil
}

func (s *Store) activationItem(a licensing.Activation) activationItem {
	return activationItem{
		PK: keyPK(a.Key), SK: activationSK(a.ProductSlug, a.Instance), Type: "activation", ActivationID: a.ID,
		ProductSlug: a.ProductSlug, InstanceType: string(a.Instance.Type), Instance: a.Instance.ID,
		Environment: string(environmentOr(string(a.Environment))), RulesVersion: licensing.EnvironmentRulesVersion,
		ActivatedAt: a.ActivatedAt, LastSeenAt: a.LastSeenAt,
	}
}

// maxSeatAttempts bounds retries of a seat transaction under contention.
const maxSeatAttempts = 12

// backoff waits a little, more after each attempt, with jitter, so that
// writers contending for one license spread out.
func backoff(ctx context.Context, attempt int) {
	d := time.Duration(rand.Int64N(int64(attempt+1) * int64(2*time.Millisecond)))
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Deactivate reads the key (one Query), then frees the seat with one
// transaction: the activation must still exist (and match guard), seats_used
// goes from the count read to one less (never below zero) and the
// SeatDeactivated event is written. A concurrent change cancels it; then it
// reads again and retries.
func (s *Store) Deactivate(ctx context.Context, key licensing.LicenseKey, product string, inst licensing.Instance, now time.Time, actor licensing.Actor, event licensing.EventType, guard app.SeatGuard) (licensing.License, error) {
	for attempt := range maxSeatAttempts {
		st, err := s.KeyState(ctx, key, true)
		if err != nil {
			return licensing.License{}, err
		}
		lic, err := st.LicenseFor(product)
		if err != nil {
			return licensing.License{}, err
		}
		act, ok := st.ActivationOf(lic.ProductSlug, inst)
		if !ok || !guarded(act, guard) {
			return licensing.License{}, licensing.Errorf(licensing.CodeActivationNotFound, "this instance holds no seat on this license")
		}
		counter, read := seatCounter(act.Environment), lic.SeatsTaken(act.Environment)
		after := lic.WithSeats(act.Environment, -1)
		if read < 1 {
			return licensing.License{}, fmt.Errorf("deactivate: seat of %s held but %s is zero", key.Masked(), counter)
		}
		events, err := s.eventPuts(licensing.SeatEvent(event, st.Key, after, act, now, actor))
		if err != nil {
			return licensing.License{}, err
		}
		del, err := s.activationDelete(key, lic.ProductSlug, act, guard)
		if err != nil {
			return licensing.License{}, err
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append([]types.TransactWriteItem{
			{Delete: del},
			{Update: &types.Update{
				TableName:                 &s.table,
				Key:                       keyOf(keyPK(key), licenseSK(lic.ProductSlug)),
				UpdateExpression:          aws.String("SET " + counter + " = :next"),
				ConditionExpression:       aws.String("attribute_exists(pk) AND " + counter + " = :read AND " + counter + " > :zero"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":read": num(int64(read)), ":next": num(int64(read - 1)), ":zero": num(0)},
			}},
		}, events...)})
		if err == nil {
			return after, nil
		}
		if !contended(err) {
			return licensing.License{}, fail("deactivate", err)
		}
		backoff(ctx, attempt)
	}
	return licensing.License{}, licensing.Unavailable(errors.New("deactivation contended too often"))
}

// guarded reports whether an activation read matches the guard.
func guarded(act licensing.Activation, g app.SeatGuard) bool {
	if g.ActivationID != "" && act.ID != g.ActivationID {
		return false
	}
	return g.SeenBefore.IsZero() || act.LastSeenAt.Before(g.SeenBefore)
}

// activationDelete deletes the activation read, conditioned on its id (a
// seat is never freed twice, nor a newer activation of the same site) and,
// for a reclaim, on its not having been seen since the cutoff.
func (s *Store) activationDelete(key licensing.LicenseKey, product string, act licensing.Activation, g app.SeatGuard) (*types.Delete, error) {
	cond := "activation_id = :id"
	values := map[string]types.AttributeValue{":id": str(act.ID)}
	if !g.SeenBefore.IsZero() {
		cutoff, err := attributevalue.Marshal(g.SeenBefore.UTC())
		if err != nil {
			return nil, err
		}
		cond += " AND (last_seen_at < :cutoff OR (attribute_not_exists(last_seen_at) AND activated_at < :cutoff))"
		values[":cutoff"] = cutoff
	}
	return &types.Delete{
		TableName: &s.table, Key: keyOf(keyPK(key), activationSK(product, act.Instance)),
		ConditionExpression: aws.String(cond), ExpressionAttributeValues: values,
	}, nil
}

// Touch sets an activation's last_seen_at unless it is already at or after
// notBefore (or the activation is gone): a conditional write, so that at
// most one product call a day pays for it.
func (s *Store) Touch(ctx context.Context, a licensing.Activation, now, notBefore time.Time) error {
	seen, err := attributevalue.Marshal(now.UTC())
	if err != nil {
		return err
	}
	before, err := attributevalue.Marshal(notBefore.UTC())
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       keyOf(keyPK(a.Key), activationSK(a.ProductSlug, a.Instance)),
		UpdateExpression:          aws.String("SET last_seen_at = :seen"),
		ConditionExpression:       aws.String("activation_id = :id AND (attribute_not_exists(last_seen_at) OR last_seen_at < :before)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":seen": seen, ":before": before, ":id": str(a.ID)},
	})
	if conditionFailed(err) {
		return nil
	}
	return fail("touch activation", err)
}

// StaleActivations scans for the activations of a brand's keys not seen
// since before. It is a daily batch job: a filtered Scan reads the table once.
func (s *Store) StaleActivations(ctx context.Context, keyPrefix string, before time.Time) ([]licensing.Activation, error) {
	cutoff, err := attributevalue.Marshal(before.UTC())
	if err != nil {
		return nil, err
	}
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{
		TableName:                &s.table,
		FilterExpression:         aws.String("#type = :act AND begins_with(pk, :keys) AND (last_seen_at < :cutoff OR (attribute_not_exists(last_seen_at) AND activated_at < :cutoff))"),
		ExpressionAttributeNames: map[string]string{"#type": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":act": str("activation"), ":keys": str(keyPK(licensing.LicenseKey(keyPrefix + "-"))), ":cutoff": cutoff,
		},
	})
	var out []licensing.Activation
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fail("scan stale activations", err)
		}
		for _, it := range page.Items {
			var a activationItem
			if err := attributevalue.UnmarshalMap(it, &a); err != nil {
				return nil, fail("decode activation", err)
			}
			act := a.activation(keyItem{Key: strings.TrimPrefix(a.PK, "KEY#")})
			out = append(out, act)
		}
	}
	return out, nil
}
