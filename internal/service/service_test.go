package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/service"
	"github.com/clsvc/license-service/internal/token"
)

// A signing key secret that cannot be read at start (created empty by the
// stack and not filled yet, or Secrets Manager failing) does not take the
// product API down: the service starts, logs and counts why, answers the
// keys route with 503, and reads the secret again on a later request (at
// most once per SigningKeysRetry) until it works, with no restart.
func TestStartsWithoutItsSigningKeysAndHeals(t *testing.T) {
	keys, err := token.GenerateKey("2026-11")
	require.NoError(t, err)
	ring, err := token.EncodeKeyring(keys)
	require.NoError(t, err)
	var mu sync.Mutex
	calls, filled := 0, false
	sm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if !filled {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret value for staging label: AWSCURRENT"}`))
			return
		}
		b, _ := json.Marshal(map[string]any{"Name": "license-service-signing-keys", "SecretString": ring, "VersionId": "v1"})
		_, _ = w.Write(b)
	}))
	defer sm.Close()
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", sm.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	eng := dynamotest.Start(t)

	var logs, metrics bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s, err := service.New(context.Background(), service.Config{
		TableName: eng.Table, DynamoDBEndpoint: eng.URL, Region: "us-east-1", Metrics: &metrics,
		SigningKeySecret: "license-service-signing-keys", SigningKeysRetry: time.Nanosecond,
	}, log, nil)
	require.NoError(t, err)
	mu.Lock()
	assert.Positive(t, calls, "the secret was read at start")
	mu.Unlock()
	assert.Contains(t, logs.String(), `"outcome":"signing_keys_unavailable"`)
	assert.Contains(t, metrics.String(), `"SigningKeysUnavailable"`)

	keysRoute := s.API.Handlers()["product-keys"]
	resp, err := keysRoute(context.Background(), events.APIGatewayProxyRequest{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "no-store", resp.Headers["Cache-Control"])

	// Ops fill the secret: the next request reads it and the keys are served.
	mu.Lock()
	filled = true
	mu.Unlock()
	resp, err = keysRoute(context.Background(), events.APIGatewayProxyRequest{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
	assert.Contains(t, resp.Body, `"kid":"2026-11"`)
}
