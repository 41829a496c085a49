package localdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clsvc/license-service/internal/dev/stack"
)

// Local tables: the table template.yaml declares, created on the embedded
// engine or DynamoDB Local by make run and the tests. It lives with the
// local tools, so that no Lambda function links the template reader.

// CreateTableInput turns the table declared in template.yaml into a
// CreateTable request, so that local tables have exactly the deployed keys
// and indexes.
func CreateTableInput(name string, t stack.Table) *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema:   keySchema(t.HashKey, t.RangeKey),
	}
	for _, a := range t.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a.Name), AttributeType: types.ScalarAttributeType(a.Type),
		})
	}
	for _, g := range t.GSIs {
		p := &types.Projection{ProjectionType: types.ProjectionType(g.ProjectionType)}
		if len(g.NonKeyAttributes) > 0 {
			p.NonKeyAttributes = g.NonKeyAttributes
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(g.Name), KeySchema: keySchema(g.HashKey, g.RangeKey), Projection: p,
		})
	}
	if t.StreamViewType != "" {
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewType(t.StreamViewType)}
	}
	return in
}

func keySchema(hash, rng string) []types.KeySchemaElement {
	ks := []types.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash}}
	if rng != "" {
		ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange})
	}
	return ks
}

// EnsureTable creates the table if it does not exist and waits until it is
// active. It reports whether it created the table. Time to live is switched
// on where the engine supports it; engines without it (the embedded one) skip
// that step, and readers check expiry themselves anyway.
func EnsureTable(ctx context.Context, db *dynamodb.Client, name string, t stack.Table) (bool, error) {
	_, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err == nil {
		return false, nil
	}
	if _, ok := errors.AsType[*types.ResourceNotFoundException](err); !ok {
		return false, fmt.Errorf("describe table %s: %w", name, err)
	}
	if _, err := db.CreateTable(ctx, CreateTableInput(name, t)); err != nil {
		return false, fmt.Errorf("create table %s: %w", name, err)
	}
	if err := waitActive(ctx, db, name); err != nil {
		return true, err
	}
	if t.TTLAttribute != "" {
		// The embedded engine has no UpdateTimeToLive; expiry is also checked on read.
		_, _ = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(t.TTLAttribute), Enabled: aws.Bool(true)},
		})
	}
	return true, nil
}

// waitActive polls until the table is ACTIVE. An engine that reports no
// status at all (the embedded one) is taken as ready.
func waitActive(ctx context.Context, db *dynamodb.Client, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("wait for table %s: %w", name, err)
		}
		if st := out.Table.TableStatus; st == "" || st == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for table %s: %w", name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
