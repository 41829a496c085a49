package secret_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/token"
	"github.com/clsvc/license-service/internal/token/secret"
)

const secretName = "license-service/token-keys"

// fakeSecrets is a loopback endpoint speaking Secrets Manager GetSecretValue
// (AWS JSON 1.1) for one secret.
type fakeSecrets struct {
	srv *httptest.Server

	mu       sync.Mutex
	value    map[string]any // the GetSecretValue answer for secretName
	requests []map[string]any
}

func newFakeSecrets(t *testing.T) *fakeSecrets {
	f := &fakeSecrets{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if got := r.Header.Get("X-Amz-Target"); got != "secretsmanager.GetSecretValue" {
			t.Errorf("X-Amz-Target = %q", got)
		}
		if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.1" {
			t.Errorf("Content-Type = %q", got)
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			t.Errorf("request not signed: %q", r.Header.Get("Authorization"))
		}
		b, _ := io.ReadAll(r.Body)
		var in map[string]any
		if err := json.Unmarshal(b, &in); err != nil {
			t.Errorf("bad body %q: %v", b, err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests = append(f.requests, in)
		if in["SecretId"] != secretName || f.value == nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)
			return
		}
		_ = json.NewEncoder(w).Encode(f.value)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSecrets) set(v map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value = v
}

func (f *fakeSecrets) seen() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.requests...)
}

func (f *fakeSecrets) client() *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(f.srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
}

func keyring(t *testing.T) ([]token.Key, string) {
	t.Helper()
	a, err := token.GenerateKey("2026-11")
	require.NoError(t, err)
	b, err := token.GenerateKey("2026-05")
	require.NoError(t, err)
	raw, err := token.EncodeKeyring(a, b)
	require.NoError(t, err)
	return []token.Key{a, b}, raw
}

func TestLoadFromSecretString(t *testing.T) {
	f := newFakeSecrets(t)
	want, raw := keyring(t)
	f.set(map[string]any{"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + secretName + "-AbCdEf",
		"Name": secretName, "SecretString": raw, "VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7e9})

	keys, err := secret.LoadFromSecretsManager(context.Background(), f.client(), secretName)
	require.NoError(t, err)
	assert.Equal(t, want, keys)
	reqs := f.seen()
	require.Len(t, reqs, 1)
	assert.Equal(t, map[string]any{"SecretId": secretName}, reqs[0])

	s, err := token.NewSigner(keys...)
	require.NoError(t, err)
	assert.Equal(t, "2026-11", s.KID())
}

func TestLoadFromSecretBinary(t *testing.T) {
	f := newFakeSecrets(t)
	want, raw := keyring(t)
	// A blob travels base64-encoded in AWS JSON.
	f.set(map[string]any{"Name": secretName, "SecretBinary": []byte(raw)})
	keys, err := secret.LoadFromSecretsManager(context.Background(), f.client(), secretName)
	require.NoError(t, err)
	assert.Equal(t, want, keys)
}

func TestLoadRefuses(t *testing.T) {
	f := newFakeSecrets(t)

	_, err := secret.LoadFromSecretsManager(context.Background(), f.client(), "other-secret")
	require.Error(t, err)
	var nf *types.ResourceNotFoundException
	assert.True(t, errors.As(err, &nf), "the SDK's error is kept: %v", err)
	assert.Contains(t, err.Error(), "other-secret")

	f.set(map[string]any{"Name": secretName})
	_, err = secret.LoadFromSecretsManager(context.Background(), f.client(), secretName)
	assert.ErrorContains(t, err, "no value")

	bad := `{"keys":[{"kid":"a","seed":"c2hvcnQtc2VlZC1tYXRlcmlhbA=="}]}`
	f.set(map[string]any{"Name": secretName, "SecretString": bad})
	_, err = secret.LoadFromSecretsManager(context.Background(), f.client(), secretName)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "c2hvcnQtc2VlZC1tYXRlcmlhbA", "the secret's value is never shown")

	n := len(f.seen())
	_, err = secret.LoadFromSecretsManager(context.Background(), f.client(), "")
	require.Error(t, err)
	assert.Len(t, f.seen(), n, "no call without a secret id")
}
