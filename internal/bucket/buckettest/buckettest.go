// Package buckettest starts the embedded S3-compatible server for a test and
// returns the bucket adapter on it, reached over HTTP with the real SDK.
package buckettest

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/clsvc/license-service/internal/bucket"
	"github.com/clsvc/license-service/internal/dev/locals3"
)

// Bucket is the name of the test bucket.
const Bucket = "releases"

// Server is a running local S3 and the bucket's store on it.
type Server struct {
	URL    string
	S3     *locals3.Server
	Store  *bucket.Store
	Config bucket.Config
}

// Start serves an empty bucket until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s3, err := locals3.New(Bucket)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s3)
	t.Cleanup(srv.Close)
	c := bucket.Config{Bucket: Bucket, Endpoint: srv.URL, Region: "us-east-1"}
	st, err := bucket.New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return &Server{URL: srv.URL, S3: s3, Store: st, Config: c}
}
