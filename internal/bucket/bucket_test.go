package bucket_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/bucket/buckettest"
	"github.com/clsvc/license-service/internal/licensing"
)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// send makes the presigned request with its signed headers and body.
func send(t *testing.T, method, u string, headers map[string]string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		if k == "Content-Length" {
			continue // net/http sets it from the body
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestPresignedUploadIsBoundToSizeAndDigest(t *testing.T) {
	ctx := context.Background()
	srv := buckettest.Start(t)
	pkg := []byte("PK\x03\x04 a plugin")
	up, err := srv.Store.PresignUpload(ctx, "releases/b/p/1.0.0.zip", int64(len(pkg)), digest(pkg), time.Hour)
	require.NoError(t, err)
	assert.Equal(t, http.MethodPut, up.Method)
	u, err := url.Parse(up.URL)
	require.NoError(t, err)
	signed := strings.Split(u.Query().Get("X-Amz-SignedHeaders"), ";")
	assert.Subset(t, signed, []string{"content-length", "host", "x-amz-checksum-sha256"}, "the size and digest are signed")
	assert.Equal(t, "3600", u.Query().Get("X-Amz-Expires"))

	// Other bytes of the same length: S3 refuses them (BadDigest).
	other := bytes.ToUpper(pkg)
	status, body := send(t, up.Method, up.URL, up.Headers, other)
	assert.Equal(t, http.StatusBadRequest, status, "%s", body)
	assert.Contains(t, string(body), "BadDigest")
	// Another length: the signature does not match.
	status, body = send(t, up.Method, up.URL, up.Headers, append(pkg, 'x'))
	assert.Equal(t, http.StatusForbidden, status, "%s", body)
	assert.Contains(t, string(body), "SignatureDoesNotMatch")
	_, found, err := srv.Store.Stat(ctx, "releases/b/p/1.0.0.zip")
	require.NoError(t, err)
	assert.False(t, found, "nothing refused was stored")

	status, body = send(t, up.Method, up.URL, up.Headers, pkg)
	require.Equal(t, http.StatusOK, status, "%s", body)
	size, found, err := srv.Store.Stat(ctx, "releases/b/p/1.0.0.zip")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, int64(len(pkg)), size)
	sum, n, found, err := srv.Store.Digest(ctx, "releases/b/p/1.0.0.zip")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, digest(pkg), sum)
	assert.Equal(t, int64(len(pkg)), n)

	down, err := srv.Store.PresignDownload(ctx, "releases/b/p/1.0.0.zip", "plugin-1.0.0.zip", 10*time.Minute)
	require.NoError(t, err)
	status, body = send(t, down.Method, down.URL, down.Headers, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, pkg, body)
	// A tampered URL is refused.
	status, _ = send(t, http.MethodGet, strings.Replace(down.URL, "1.0.0.zip", "1.0.1.zip", 1), nil, nil)
	assert.Equal(t, http.StatusForbidden, status)
	// ... and so is one past its time.
	srv.S3.SetClock(func() time.Time { return time.Now().Add(11 * time.Minute) })
	status, body = send(t, down.Method, down.URL, down.Headers, nil)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, string(body), "expired")
}

func TestMissingObject(t *testing.T) {
	ctx := context.Background()
	srv := buckettest.Start(t)
	_, found, err := srv.Store.Stat(ctx, "releases/none.zip")
	require.NoError(t, err)
	assert.False(t, found)
	_, _, found, err = srv.Store.Digest(ctx, "releases/none.zip")
	require.NoError(t, err)
	assert.False(t, found)
}

func TestDigestReadsWhatIsStored(t *testing.T) {
	ctx := context.Background()
	srv := buckettest.Start(t)
	body := bytes.Repeat([]byte("0123456789"), 100_000)
	_, err := srv.Store.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(buckettest.Bucket), Key: aws.String("k.zip"), Body: bytes.NewReader(body)})
	require.NoError(t, err)
	sum, n, found, err := srv.Store.Digest(ctx, "k.zip")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, digest(body), sum)
	assert.Equal(t, int64(len(body)), n)
	assert.Less(t, n, int64(licensing.MaxPackageSize))
}
