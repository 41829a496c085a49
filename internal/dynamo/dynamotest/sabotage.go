package dynamotest

import (
	"context"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// EventSabotage makes the outbox write of every transaction fail while it is
// on: each Put of an event item (type "event") gets a condition that cannot
// hold, so the engine cancels the whole transaction after having staged the
// rest of it. It shows that a change and its event commit together or not at
// all. Install it with Start(t, sabotage.Option()).
type EventSabotage struct{ on atomic.Bool }

// Set switches the sabotage on or off.
func (s *EventSabotage) Set(on bool) { s.on.Store(on) }

// Option installs the sabotage on a client.
func (s *EventSabotage) Option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("sabotageEvents",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if tx, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput); ok && s.on.Load() {
						for _, it := range tx.TransactItems {
							if it.Put == nil {
								continue
							}
							if typ, ok := it.Put.Item["type"].(*types.AttributeValueMemberS); ok && typ.Value == "event" {
								it.Put.ConditionExpression = aws.String("attribute_exists(pk)")
							}
						}
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	}
}
