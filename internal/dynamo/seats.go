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

// A license key's partition, in sort-key order:
//
//	ACT#<product slug>#<type>#<instance>  one item per seat (any number)
//	KEY                                   the key
//	LIC#<product slug>                    one per product of the key (a few)
//	TURN#<product slug>                   the turns of its contended writers (turns.go)
//
// Every product path addresses the items it needs by these keys: the key,
// the license of the product named, and the seats of the instances named.
// "KEY" ≤ sk ≤ "LIC$" ("$" sorts right after "#") is the key with its
// licenses and none of its seats.
const (
	skKeyAndLicensesFrom = skKey
	skKeyAndLicensesTo   = "LIC$"
)

// keyLicenses reads a key and its licenses — never its seats — with one Query.
func (s *Store) keyLicenses(ctx context.Context, k licensing.LicenseKey, consistent bool) (licensing.KeyLicenses, bool, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(keyPK(k)), ":from": str(skKeyAndLicensesFrom), ":to": str(skKeyAndLicensesTo),
		},
		ConsistentRead: aws.Bool(consistent),
	})
	if err != nil {
		return licensing.KeyLicenses{}, false, err
	}
	d, err := s.decodeKeyItems(items)
	if err != nil || d.key == nil {
		return licensing.KeyLicenses{}, false, err
	}
	return licensing.KeyLicenses{Key: *d.key, Licenses: d.licenses}, true, nil
}

// keyItems are the items read from a key's partition, by kind.
type keyItems struct {
	key      *licensing.KeyRecord      // nil: the key was not among them
	licenses []licensing.License       // in sort-key order
	seats    map[string]activationItem // by sort key
}

// decodeKeyItems sorts items of a key's partition by their sort keys into
// the key, its licenses and its seats, learning the slugs of the licenses'
// products on the way.
func (s *Store) decodeKeyItems(items []map[string]types.AttributeValue) (keyItems, error) {
	d := keyItems{seats: map[string]activationItem{}}
	for _, it := range items {
		switch sk := stringAttr(it, AttrSK); {
		case sk == skKey:
			var ki keyItem
			if err := attributevalue.UnmarshalMap(it, &ki); err != nil {
				return d, err
			}
			k := ki.record()
			d.key = &k
		case strings.HasPrefix(sk, "LIC#"):
			var l licenseItem
			if err := attributevalue.UnmarshalMap(it, &l); err != nil {
				return d, err
			}
			d.licenses = append(d.licenses, l.license())
			s.learnSlug(l.license())
		case strings.HasPrefix(sk, "ACT#"):
			var a activationItem
			if err := attributevalue.UnmarshalMap(it, &a); err != nil {
				return d, err
			}
			d.seats[sk] = a
		}
	}
	return d, nil
}

// learnSlug remembers which slug a product id has, from a license read: a
// product's id and slug never change, so a product named by id is read by
// key from then on, like one named by slug. The map only ever holds
// products of stored licenses.
func (s *Store) learnSlug(l licensing.License) {
	if l.ProductID != "" && l.ProductSlug != "" {
		s.slugs.Store(l.ProductID, l.ProductSlug)
	}
}

// KeyLicenses reads a key and its licenses (not its seats) with one Query.
func (s *Store) KeyLicenses(ctx context.Context, key licensing.LicenseKey) (licensing.KeyLicenses, error) {
	st, found, err := s.keyLicenses(ctx, key, false)
	if err != nil {
		return st, fail("read license key", err)
	}
	if !found {
		return st, unknownKey()
	}
	return st, nil
}

func unknownKey() error {
	return licensing.Errorf(licensing.CodeLicenseNotFound, "unknown license key")
}

// Seat reads the seat view of q by key. A product named by slug costs one
// BatchGetItem of the key, the license and the instances' seats (three items
// for a check). A product named by id, or left out for a key's only product,
// costs one Query of the key and its licenses first (the key's seats are
// never read), then the seats by key.
//
// A BatchGetItem reads each item committed, but not all of them at one
// instant: next to a transaction it can see a site's new seat and the
// license's counter from before it. A view whose held seat is not counted
// is read again.
func (s *Store) Seat(ctx context.Context, q app.SeatQuery, consistent bool) (licensing.SeatView, error) {
	for attempt := range maxTornReads {
		v, err := s.seat(ctx, q, consistent)
		if err != nil {
			return v, fail("read seat", err)
		}
		if counted(v.License, v.Current) && counted(v.License, v.Previous) {
			return v, nil
		}
		backoff(ctx, attempt)
	}
	return licensing.SeatView{}, licensing.Unavailable(errors.New("seat view torn too often"))
}

// maxTornReads bounds the reads of a torn view: the transaction that tore
// it commits within milliseconds, so a view still torn after these is not
// one (a seat no counter counts) and answers 503 rather than waiting.
const maxTornReads = 6

// counted reports whether a seat read is counted by the license read.
func counted(l licensing.License, held *licensing.Activation) bool {
	return held == nil || l.SeatsTaken(held.Environment) > 0
}

func (s *Store) seat(ctx context.Context, q app.SeatQuery, consistent bool) (licensing.SeatView, error) {
	var v licensing.SeatView
	slug := q.Product
	if licensing.ValidID(licensing.KindProduct, slug) {
		if known, ok := s.slugs.Load(slug); ok {
			slug = known.(string)
		}
	}
	if slug == "" || licensing.ValidID(licensing.KindProduct, slug) {
		st, found, err := s.keyLicenses(ctx, q.Key, consistent)
		if err != nil {
			return v, err
		}
		if !found {
			return v, unknownKey()
		}
		lic, err := st.LicenseFor(q.Product)
		if err != nil {
			return v, err
		}
		v.Key, v.License, slug = st.Key, lic, lic.ProductSlug
	}
	keys := []map[string]types.AttributeValue{}
	if v.Key.Key == "" {
		keys = append(keys, keyOf(keyPK(q.Key), skKey), keyOf(keyPK(q.Key), licenseSK(slug)))
	}
	for _, inst := range []*licensing.Instance{q.Instance, q.Previous} {
		if inst != nil {
			keys = append(keys, keyOf(keyPK(q.Key), activationSK(slug, *inst)))
		}
	}
	if len(keys) == 0 {
		return v, nil
	}
	items, err := s.batchGet(ctx, keys, consistent)
	if err != nil {
		return v, err
	}
	d, err := s.decodeKeyItems(items)
	if err != nil {
		return v, err
	}
	if d.key != nil {
		v.Key = *d.key
	}
	if len(d.licenses) == 1 {
		v.License = d.licenses[0]
	}
	if v.Key.Key == "" {
		return v, unknownKey()
	}
	if v.License.ID == "" || q.Product != "" && q.Product != slug && q.Product != v.License.ProductID {
		return v, licensing.NotCovered(q.Product)
	}
	held := func(inst *licensing.Instance) *licensing.Activation {
		if inst == nil {
			return nil
		}
		a, ok := d.seats[activationSK(slug, *inst)]
		if !ok {
			return nil
		}
		act := a.activation(keyItem{Key: string(v.Key.Key), Brand: v.Key.Brand})
		act.LicenseID = v.License.ID
		return &act
	}
	v.Current, v.Previous = held(q.Instance), held(q.Previous)
	return v, nil
}

// maxBatchRounds bounds the rounds of a BatchGetItem's unprocessed keys.
const maxBatchRounds = 8

// batchGet reads items by key with BatchGetItem, asking again for the keys
// DynamoDB left unprocessed (throttling, size), and fails loudly if any are
// still left: a decision is never made on a partial view.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, consistent bool) ([]map[string]types.AttributeValue, error) {
	req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(consistent)}}
	var items []map[string]types.AttributeValue
	for round := range maxBatchRounds {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, err
		}
		items = append(items, out.Responses[s.table]...)
		if len(out.UnprocessedKeys[s.table].Keys) == 0 {
			return items, nil
		}
		req = out.UnprocessedKeys
		backoff(ctx, round)
	}
	return nil, licensing.Unavailable(errors.New("batch get: keys still unprocessed"))
}

// ChangeSeat reads the seat view consistently, lets decide return the change,
// and writes it with one TransactWriteItems whose conditions require what was
// read to be unchanged: a seat taken moves the counter from the count read to
// the next, under the seat limit (or staging cap), on a valid unexpired
// license, and puts the activation under attribute_not_exists; a move deletes
// the old seat by its id and puts the new one; a freed seat is deleted by its
// id (and guard) and the counter goes down from the count read. The event is
// written in the same transaction. A concurrent change cancels it; then it
// takes a turn in the license's queue (see turns.go), and in its turn reads
// and decides again.
func (s *Store) ChangeSeat(ctx context.Context, q app.SeatQuery, done *app.IdempotencyCompletion, decide func(licensing.SeatView) (licensing.SeatChange, error)) (licensing.SeatChange, error) {
	c := contention{s: s}
	defer c.done(ctx)
	for attempt := range maxSeatAttempts {
		began := time.Now()
		v, err := s.Seat(ctx, q, true)
		if err != nil {
			return licensing.SeatChange{}, err
		}
		if again, err := c.read(ctx, v, q.Key, v.License.ProductSlug); err != nil {
			return licensing.SeatChange{}, fmt.Errorf("change seat of %s: %w", q.Key.Masked(), err)
		} else if again {
			continue
		}
		ch, err := decide(v)
		if err != nil {
			return ch, err
		}
		if ch.Kind == licensing.SeatKept {
			return ch, s.completeAlone(ctx, done)
		}
		writes, err := s.seatWrites(ch)
		if err != nil {
			return ch, err
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.withCompletion(writes, done)})
		if err == nil {
			return ch, nil
		}
		if claimLost(err, done) {
			return ch, errInProgress
		}
		if !contended(err) {
			return ch, fail("change seat", err)
		}
		// Read the same license by key from now on (a product named by id
		// or left out costs a Query of the key's licenses first).
		q.Product = v.License.ProductSlug
		c.refusedBy(ctx, err, v, time.Since(began), attempt)
	}
	return licensing.SeatChange{}, licensing.Unavailable(errors.New("seat contended too often"))
}

// refusedOnlyByConditions reports whether a cancelled transaction failed
// only on its conditions (no TransactionConflict with another transaction).
func refusedOnlyByConditions(err error) bool {
	codes, _ := cancelled(err)
	for _, c := range codes {
		if c == "TransactionConflict" {
			return false
		}
	}
	return true
}

// seatWrites turns a decided seat change into its conditional writes.
func (s *Store) seatWrites(ch licensing.SeatChange) ([]types.TransactWriteItem, error) {
	key := ch.Key.Key
	slug := ch.Before.ProductSlug
	var writes []types.TransactWriteItem
	switch ch.Kind {
	case licensing.SeatTaken, licensing.SeatMoved:
		item, err := attributevalue.MarshalMap(s.activationItem(ch.Activation))
		if err != nil {
			return nil, err
		}
		if ch.From != nil {
			writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{
				TableName: &s.table, Key: keyOf(keyPK(key), activationSK(slug, ch.From.Instance)),
				ConditionExpression:       aws.String("activation_id = :id"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(ch.From.ID)},
			}})
		}
		writes = append(writes, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String(notExists)}})
	case licensing.SeatFreed:
		del, err := s.activationDelete(key, slug, ch.Activation, ch.Guard)
		if err != nil {
			return nil, err
		}
		writes = append(writes, types.TransactWriteItem{Delete: del})
	default:
		return nil, fmt.Errorf("seat change of unknown kind %d", ch.Kind)
	}
	writes = append(writes, s.licenseSeatWrite(ch))
	if ch.Event == nil {
		return writes, nil
	}
	events, err := s.eventPuts(*ch.Event)
	if err != nil {
		return nil, err
	}
	return append(writes, events...), nil
}

// licenseSeatWrite is the license's part of a seat change: conditioned on
// the version read, it moves the version on by one and each counter the
// change moves from the value read to the value decided; a counter that
// grows stays under its limit (the seat limit or the staging cap decided
// on). A seat taken or moved also requires the license to be valid and
// unexpired; a freed seat does not (seats are freed in every status). So
// the state after the change, which the answer and the event report, is
// exactly what is committed, and any concurrent change of the license (a
// seat, a suspension) refuses it.
func (s *Store) licenseSeatWrite(ch licensing.SeatChange) types.TransactWriteItem {
	key := keyOf(keyPK(ch.Key.Key), licenseSK(ch.Before.ProductSlug))
	names := map[string]string{}
	values := map[string]types.AttributeValue{
		":version_read": num(ch.Before.Version), ":version_next": num(ch.After.Version),
	}
	conds := []string{"attribute_exists(pk)", "version = :version_read"}
	sets := []string{"version = :version_next"}
	for _, c := range []struct {
		attr         string
		before, next int
		limit        string
	}{
		{"seats_used", ch.Before.SeatsUsed, ch.After.SeatsUsed, "seat_limit"},
		{"nonprod_used", ch.Before.NonProdUsed, ch.After.NonProdUsed, ":cap"},
	} {
		if c.before == c.next {
			continue
		}
		read, next := ":"+c.attr+"_read", ":"+c.attr+"_next"
		values[read], values[next] = num(int64(c.before)), num(int64(c.next))
		sets = append(sets, c.attr+" = "+next)
		conds = append(conds, c.attr+" = "+read)
		if c.next > c.before {
			conds = append(conds, c.attr+" < "+c.limit)
			if c.limit == ":cap" {
				values[":cap"] = num(int64(ch.StagingCap))
			}
		} else {
			values[":zero"] = num(0)
			conds = append(conds, c.attr+" > :zero")
		}
	}
	if ch.Kind != licensing.SeatFreed {
		names["#status"] = "status"
		values[":valid"], values[":now"] = str(string(licensing.StatusValid)), num(ch.At.Unix())
		conds = append(conds, "#status = :valid", "(attribute_not_exists(expires_unix) OR expires_unix > :now)")
	}
	if len(names) == 0 {
		names = nil
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: key, UpdateExpression: aws.String("SET " + strings.Join(sets, ", ")),
		ConditionExpression: aws.String(strings.Join(conds, " AND ")), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}}
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

func (s *Store) activationItem(a licensing.Activation) activationItem {
	return activationItem{
		PK: keyPK(a.Key), SK: activationSK(a.ProductSlug, a.Instance), Type: "activation", ActivationID: a.ID,
		ProductSlug: a.ProductSlug, InstanceType: string(a.Instance.Type), Instance: a.Instance.ID,
		Environment: string(environmentOr(string(a.Environment))), RulesVersion: licensing.EnvironmentRulesVersion,
		ActivatedAt: a.ActivatedAt, LastSeenAt: a.LastSeenAt,
	}
}

// maxSeatAttempts bounds the attempts of one seat change; the request's
// deadline usually ends them first. After its first attempt a contended
// writer waits for its turn, so few attempts are refused.
const maxSeatAttempts = 64

// backoff waits before another attempt: full jitter over an exponentially
// growing window (1 ms, 2 ms, … capped at 1 s), so that writers contending
// for one license spread out instead of colliding again in step.
func backoff(ctx context.Context, attempt int) {
	window := time.Millisecond << min(attempt, 10)
	d := time.Duration(rand.Int64N(int64(window)))
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// activationDelete deletes the activation read, conditioned on its id (a
// seat is never freed twice, nor a newer activation of the same site) and,
// for a reclaim, on its not having been seen since the cutoff.
func (s *Store) activationDelete(key licensing.LicenseKey, product string, act licensing.Activation, g licensing.SeatGuard) (*types.Delete, error) {
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
