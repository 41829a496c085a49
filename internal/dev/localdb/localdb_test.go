package localdb_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"
	miniserver "github.com/truora/minidyn/server"

	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
)

// Switching failures while other goroutines are served is race-free (this
// test runs under -race in make test) and takes effect for the next request.
func TestEmulateFailureWhileServing(t *testing.T) {
	e := dynamotest.Start(t)
	ctx := context.Background()
	scan := func() error {
		_, err := e.Client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(e.Table), Limit: aws.Int32(1)})
		return err
	}
	require.NoError(t, scan())

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = scan() // fails or not depending on the switch
				served.Add(1)
			}
		}()
	}
	for range 50 {
		e.Server.EmulateFailure(miniserver.FailureConditionInternalServerError)
		require.Error(t, scan(), "global failure applies to the next request")
		e.Server.EmulateFailure(miniserver.FailureConditionNone)
		e.Server.EmulateFailureForTable(e.Table, miniserver.FailureConditionInternalServerError)
		require.Error(t, scan(), "table failure applies to the next request")
		e.Server.EmulateFailureForTable(e.Table, miniserver.FailureConditionNone)
		require.NoError(t, scan(), "cleared")
	}
	close(stop)
	wg.Wait()
	require.Positive(t, served.Load(), "the background clients were served")
}
