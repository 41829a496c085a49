package dynamotest

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// Interleave runs a change just before the next TransactWriteItems call of
// the client it is installed on is sent, after that call was built from an
// earlier read: the race a transaction's conditions must catch, on demand.
// The change may use the same client: it is disarmed before it runs, so its
// own transactions go straight through.
type Interleave struct {
	mu sync.Mutex
	fn func()
}

// Next arms fn for the next transaction only.
func (i *Interleave) Next(fn func()) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.fn = fn
}

// Option installs the interleaving on a client.
func (i *Interleave) Option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("interleave",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if _, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput); ok {
						i.mu.Lock()
						fn := i.fn
						i.fn = nil
						i.mu.Unlock()
						if fn != nil {
							fn()
						}
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	}
}
