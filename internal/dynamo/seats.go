package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
	ActivatedAt  time.Time `dynamodbav:"activated_at"`
}

func activationSK(productSlug string, inst licensing.Instance) string {
	return "ACT#" + productSlug + "#" + string(inst.Type) + "#" + inst.ID
}

func (i activationItem) activation(k keyItem) licensing.Activation {
	return licensing.Activation{
		ID: i.ActivationID, Key: licensing.LicenseKey(k.Key), Brand: k.Brand, ProductSlug: i.ProductSlug,
		Instance:    licensing.Instance{Type: licensing.InstanceType(i.InstanceType), ID: i.Instance},
		ActivatedAt: i.ActivatedAt,
	}
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

// Activate takes a seat with one transaction; only when it is cancelled does
// it read the key to say why (or to find the instance's existing seat).
func (s *Store) Activate(ctx context.Context, a licensing.Activation, now time.Time) (licensing.Activation, licensing.License, bool, error) {
	item, err := attributevalue.MarshalMap(activationItem{
		PK: keyPK(a.Key), SK: activationSK(a.ProductSlug, a.Instance), Type: "activation", ActivationID: a.ID,
		ProductSlug: a.ProductSlug, InstanceType: string(a.Instance.Type), Instance: a.Instance.ID, ActivatedAt: a.ActivatedAt,
	})
	if err != nil {
		return a, licensing.License{}, false, err
	}
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:        &s.table,
			Key:              keyOf(keyPK(a.Key), licenseSK(a.ProductSlug)),
			UpdateExpression: aws.String("SET seats_used = seats_used + :one"),
			ConditionExpression: aws.String("attribute_exists(pk) AND #status = :valid AND seats_used < seat_limit" +
				" AND (attribute_not_exists(expires_unix) OR expires_unix > :now)"),
			ExpressionAttributeNames: map[string]string{"#status": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": num(1), ":valid": str(string(licensing.StatusValid)), ":now": num(now.Unix()),
			},
		}},
		{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String(notExists)}},
	}}
	for range maxSeatAttempts {
		_, err := s.db.TransactWriteItems(ctx, in)
		if err == nil {
			lic, err := s.license(ctx, a.Key, a.ProductSlug)
			if err != nil {
				return a, lic, true, err
			}
			a.LicenseID = lic.ID
			return a, lic, true, nil
		}
		if _, ok := cancelled(err); !ok || unavailable(err) {
			return a, licensing.License{}, false, fail("activate", err)
		}
		st, err := s.KeyState(ctx, a.Key, true)
		if err != nil {
			return a, licensing.License{}, false, err
		}
		lic, err := st.LicenseFor(a.ProductSlug)
		if err != nil {
			return a, licensing.License{}, false, err
		}
		if err := lic.InvalidReason(now); err != nil {
			return a, lic, false, err
		}
		if existing, ok := st.ActivationOf(a.ProductSlug, a.Instance); ok {
			return existing, lic, false, nil
		}
		if err := lic.ActivationRefusal(now); err != nil {
			return a, lic, false, err
		}
		// A seat was freed between the transaction and the read: try again.
	}
	return a, licensing.License{}, false, licensing.Unavailable(errors.New("activation contended too often"))
}

// maxSeatAttempts bounds retries of a seat transaction under contention.
const maxSeatAttempts = 3

// Deactivate frees a seat with one transaction; only when it is cancelled
// does it read the key to say why.
func (s *Store) Deactivate(ctx context.Context, key licensing.LicenseKey, productSlug string, inst licensing.Instance) (licensing.License, error) {
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName: &s.table, Key: keyOf(keyPK(key), activationSK(productSlug, inst)),
			ConditionExpression: aws.String("attribute_exists(pk)"),
		}},
		{Update: &types.Update{
			TableName:                 &s.table,
			Key:                       keyOf(keyPK(key), licenseSK(productSlug)),
			UpdateExpression:          aws.String("SET seats_used = seats_used - :one"),
			ConditionExpression:       aws.String("attribute_exists(pk) AND seats_used > :zero"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":zero": num(0)},
		}},
	}})
	if err == nil {
		return s.license(ctx, key, productSlug)
	}
	if _, ok := cancelled(err); !ok || unavailable(err) {
		return licensing.License{}, fail("deactivate", err)
	}
	st, err := s.KeyState(ctx, key, true)
	if err != nil {
		return licensing.License{}, err
	}
	if _, err := st.LicenseFor(productSlug); err != nil {
		return licensing.License{}, err
	}
	if _, ok := st.ActivationOf(productSlug, inst); !ok {
		return licensing.License{}, licensing.Errorf(licensing.CodeActivationNotFound, "this instance holds no seat on this license")
	}
	return licensing.License{}, fmt.Errorf("deactivate: seat of %s held but seats_used is zero", key.Masked())
}

// license reads one license item, strongly consistent.
func (s *Store) license(ctx context.Context, key licensing.LicenseKey, productSlug string) (licensing.License, error) {
	it, found, err := getItem[licenseItem](ctx, s, keyPK(key), licenseSK(productSlug), true, "get license")
	if err != nil {
		return licensing.License{}, err
	}
	if !found {
		return licensing.License{}, licensing.Errorf(licensing.CodeLicenseNotFound, "no such license")
	}
	return it.license(), nil
}
