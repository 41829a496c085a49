package apigw

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/token"
)

func keysSigner(t *testing.T) *token.Signer {
	t.Helper()
	a, err := token.GenerateKey("2026-07")
	require.NoError(t, err)
	b, err := token.GenerateKey("2026-01")
	require.NoError(t, err)
	s, err := token.NewSigner(a, b)
	require.NoError(t, err)
	return s
}

func TestKeysHandler(t *testing.T) {
	s := keysSigner(t)
	resp, err := KeysHandler(s, 0)(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/api/v1/product/keys"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}, resp.Headers)
	assert.JSONEq(t, string(s.JWKS()), resp.Body)

	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &doc))
	require.Len(t, doc.Keys, 2)
	assert.Equal(t, "2026-07", doc.Keys[0]["kid"])
	assert.Equal(t, "2026-01", doc.Keys[1]["kid"])

	// What a product fetched verifies what the service signs.
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	tok, err := s.Sign(token.NewClaims(token.License{Brand: "acme", ID: "lic_1", Product: "p", Instance: "shop.com", Activation: "act_1", Status: token.StatusValid}, now, 0, DefaultCheckMaxAge))
	require.NoError(t, err)
	_, err = token.Verify(tok, []byte(resp.Body), now)
	require.NoError(t, err)
}

func TestKeysHandlerMaxAge(t *testing.T) {
	resp, err := KeysHandler(keysSigner(t), 90*time.Second)(context.Background(), events.APIGatewayProxyRequest{})
	require.NoError(t, err)
	assert.Equal(t, "public, max-age=90", resp.Headers["Cache-Control"])
}

func TestKeysHandlerWithoutSigner(t *testing.T) {
	resp, err := KeysHandler(nil, 0)(context.Background(), events.APIGatewayProxyRequest{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "no-store", resp.Headers["Cache-Control"])
	assert.Equal(t, "1", resp.Headers["Retry-After"])
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &body))
	assert.Equal(t, "service_unavailable", body.Error.Code)
}
