package dynamo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dynamo"
	"github.com/clsvc/license-service/internal/licensing"
)

// DynamoDB's throttling and server errors, as its JSON protocol sends them,
// are retried by the SDK (three attempts in all) and then answered as
// service_unavailable; a call that outlives its deadline is too. The engine
// cannot throttle, so a loopback endpoint plays DynamoDB's error answers.
func TestThrottlingAndTimeoutsAreUnavailable(t *testing.T) {
	for _, tc := range []struct{ name, errType string }{
		{"throughput exceeded", "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"},
		{"throttling", "com.amazonaws.dynamodb.v20120810#ThrottlingException"},
		{"request limit", "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded"},
		{"internal error", "com.amazonaws.dynamodb.v20120810#InternalServerError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				status := http.StatusBadRequest
				if tc.name == "internal error" {
					status = http.StatusInternalServerError
				}
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"__type":"` + tc.errType + `","message":"slow down"}`))
			}))
			defer srv.Close()
			db, err := dynamo.NewClient(ctx, dynamo.ClientConfig{Endpoint: srv.URL, Region: "us-east-1"})
			require.NoError(t, err)
			_, err = dynamo.New(db, "licenses").GetBrand(ctx, "rankmath")
			assert.Equal(t, licensing.CodeServiceUnavailable, licensing.ErrorCode(err), "%v", err)
			assert.Equal(t, int32(3), calls.Load(), "the SDK's retryer made its three attempts")
		})
	}

	t.Run("timeout", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}))
		defer srv.Close()
		db, err := dynamo.NewClient(ctx, dynamo.ClientConfig{Endpoint: srv.URL, Region: "us-east-1"})
		require.NoError(t, err)
		c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = dynamo.New(db, "licenses").GetBrand(c, "rankmath")
		assert.Equal(t, licensing.CodeServiceUnavailable, licensing.ErrorCode(err), "%v", err)
	})
}
