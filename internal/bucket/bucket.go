// Package bucket is the S3 adapter: release packages in a private bucket,
// handed out and taken in only through presigned URLs made by the SDK's
// presigner, and read back to check what was uploaded.
package bucket

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/awsconf"
	"github.com/clsvc/license-service/internal/licensing"
)

// Config says how to reach the bucket.
type Config struct {
	Bucket   string
	Endpoint string // S3_ENDPOINT: an S3-compatible server (path-style); empty: AWS
	Region   string
}

// Store keeps release packages in one bucket.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	now     func() time.Time
}

var _ app.PackageStore = (*Store)(nil)

// New returns the bucket's store.
func New(ctx context.Context, c Config) (*Store, error) {
	cfg, err := awsconf.Load(ctx, awsconf.Options{Endpoint: c.Endpoint, Region: c.Region})
	if err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
			o.UsePathStyle = true
		}
		// Checksums only where a call asks for one: a presigned URL must
		// carry no checksum of an empty body.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &Store{client: client, presign: s3.NewPresignClient(client), bucket: c.Bucket, now: time.Now}, nil
}

// Client is the S3 client the store uses.
func (s *Store) Client() *s3.Client { return s.client }

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// PresignUpload is a PUT of exactly size bytes whose SHA-256 is sum (hex):
// Content-Length and x-amz-checksum-sha256 are signed, so S3 refuses any
// other length, and any other bytes, for at most ttl.
func (s *Store) PresignUpload(ctx context.Context, key string, size int64, sum string, ttl time.Duration) (app.Presigned, error) {
	raw, err := hex.DecodeString(sum)
	if err != nil {
		return app.Presigned{}, fmt.Errorf("package digest: %w", err)
	}
	checksum := base64.StdEncoding.EncodeToString(raw)
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, ContentLength: aws.Int64(size), ContentType: aws.String("application/zip"),
		ChecksumSHA256: aws.String(checksum),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return app.Presigned{}, fail("presign upload", err)
	}
	return app.Presigned{URL: req.URL, Method: req.Method, ExpiresAt: s.now().Add(ttl).UTC(), Headers: map[string]string{
		"Content-Length": strconv.FormatInt(size, 10), "Content-Type": "application/zip", "x-amz-checksum-sha256": checksum,
	}}, nil
}

// PresignDownload is a GET of the object for at most ttl, saved as fileName.
func (s *Store) PresignDownload(ctx context.Context, key, fileName string, ttl time.Duration) (app.Presigned, error) {
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: &s.bucket, Key: &key, ResponseContentDisposition: aws.String(`attachment; filename="` + fileName + `"`),
		ResponseContentType: aws.String("application/zip"),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return app.Presigned{}, fail("presign download", err)
	}
	return app.Presigned{URL: req.URL, Method: req.Method, ExpiresAt: s.now().Add(ttl).UTC(), Headers: map[string]string{}}, nil
}

// Stat reads an object's size with one HeadObject; found is false when
// there is no such object.
func (s *Store) Stat(ctx context.Context, key string) (size int64, found bool, err error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if notFound(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fail("head package", err)
	}
	return aws.ToInt64(out.ContentLength), true, nil
}

// Digest streams an object through SHA-256 (one GetObject), so that what is
// published is what was checked, whatever the server keeps of checksums.
func (s *Store) Digest(ctx context.Context, key string) (sum string, size int64, found bool, err error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if notFound(err) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, fail("get package", err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(out.Body, licensing.MaxPackageSize+1))
	if err != nil {
		return "", 0, false, fail("read package", err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, true, nil
}

func notFound(err error) bool {
	if err == nil {
		return false
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// fail turns an S3 failure into service_unavailable for the client (the
// cause is logged, never shown).
func fail(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultClient {
		return fmt.Errorf("s3 %s: %w", op, err)
	}
	return fmt.Errorf("s3 %s: %w", op, licensing.Unavailable(err))
}
