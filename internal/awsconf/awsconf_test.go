package awsconf_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/clsvc/license-service/internal/awsconf"
)

func TestLoopbackEndpoint(t *testing.T) {
	t.Parallel()
	for endpoint, want := range map[string]bool{
		"":                        false, // AWS
		"  ":                      false,
		"http://127.0.0.1:8000":   true,
		"http://localhost:8000":   true,
		"http://[::1]:8000":       true,
		"http://127.1.2.3:8000":   true,
		"http://192.168.1.5:8000": false,
		"https://dynamodb.eu-west-1.amazonaws.com": false,
		"http://localhost.example.com:8000":        false,
		"::not a url":                              false,
	} {
		assert.Equal(t, want, awsconf.LoopbackEndpoint(endpoint), endpoint)
	}
}
