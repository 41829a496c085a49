package service_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/service"
)

// A signing key secret that cannot be read at start (created empty by the
// stack and not filled yet, or Secrets Manager failing) does not take the
// product API down: the service starts, logs why, answers without tokens,
// and the keys route answers 503 until a fresh start reads the keys.
func TestStartsWithoutItsSigningKeys(t *testing.T) {
	var calls int
	sm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret value for staging label: AWSCURRENT"}`))
	}))
	defer sm.Close()
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", sm.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	eng := dynamotest.Start(t)

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s, err := service.New(context.Background(), service.Config{
		TableName: eng.Table, DynamoDBEndpoint: eng.URL, Region: "us-east-1",
		SigningKeySecret: "license-service-signing-keys",
	}, log, nil)
	require.NoError(t, err)
	assert.Positive(t, calls, "the secret was asked for")
	assert.Contains(t, logs.String(), `"outcome":"signing_keys_unavailable"`)

	resp, err := s.API.Handlers()["product-keys"](context.Background(), events.APIGatewayProxyRequest{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "no-store", resp.Headers["Cache-Control"])
}
