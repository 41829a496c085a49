package devserver_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/service"
)

func TestLoopback(t *testing.T) {
	for endpoint, want := range map[string]bool{
		"":                      true,
		"http://127.0.0.1:8000": true,
		"http://127.9.9.9:8000": true,
		"http://localhost:8000": true,
		"http://[::1]:8000":     true,
		"https://dynamodb.eu-west-1.amazonaws.com": false,
		"http://10.0.0.5:8000":                     false,
		"http://192.168.1.10:8000":                 false,
		"http://localhost.evil.com:8000":           false,
		"::not a url":                              false,
	} {
		assert.Equal(t, want, devserver.Loopback(endpoint), endpoint)
	}
}

// The demo data carries the API and license keys printed in the README: it
// is never seeded into a table that is not on this machine, and the refusal
// comes before any call to it.
func TestSeedRefusesRemoteEndpoints(t *testing.T) {
	cfg := service.Config{TableName: "licenses", Region: "us-east-1", DynamoDBEndpoint: "https://dynamodb.eu-west-1.amazonaws.com"}
	_, err := devserver.Start(context.Background(), devserver.Options{
		Config: cfg, Template: dynamotest.TemplatePath(t), Seed: true, APIAddr: "127.0.0.1:0",
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refusing to seed")
}
