// Package locals3 is the embedded S3-compatible server of `make run` and the
// tests: gofakes3 in memory, behind a check of presigned URLs as S3 makes
// it (AWS Signature Version 4 over the signed headers, expiry, and the
// x-amz-checksum-sha256 of an upload), so that a URL that S3 would refuse is
// refused here too.
package locals3

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// SecretKey is the secret of the local credentials (awsconf's static
// "local"/"local"): presigned URLs are verified with it.
const SecretKey = "local"

// Server is an in-memory S3 API.
type Server struct {
	s3     http.Handler
	secret string
	mu     sync.Mutex
	now    func() time.Time
}

// New returns a server holding the named buckets, empty.
func New(buckets ...string) (*Server, error) {
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	f := gofakes3.New(backend, gofakes3.WithoutVersioning(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	return &Server{s3: f.Server(), secret: SecretKey, now: time.Now}, nil
}

// SetClock sets the clock presigned URLs expire by (tests).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

func (s *Server) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

// ServeHTTP checks a presigned request, then serves it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("X-Amz-Signature") == "" {
		s.s3.ServeHTTP(w, r)
		return
	}
	if code, msg := s.verify(r, q); code != "" {
		s3Error(w, http.StatusForbidden, code, msg)
		return
	}
	if sum := r.Header.Get("X-Amz-Checksum-Sha256"); sum != "" && r.Method == http.MethodPut {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			s3Error(w, http.StatusBadRequest, "IncompleteBody", "the body could not be read")
			return
		}
		got := sha256.Sum256(body)
		if base64.StdEncoding.EncodeToString(got[:]) != sum {
			s3Error(w, http.StatusBadRequest, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	s.s3.ServeHTTP(w, r)
}

// verify checks a presigned request's signature and time: an empty code
// accepts it.
func (s *Server) verify(r *http.Request, q url.Values) (code, msg string) {
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
		return "AuthorizationQueryParametersError", "unsupported X-Amz-Algorithm"
	}
	date, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	expires, err2 := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || err2 != nil || expires < 1 || expires > 7*24*3600 {
		return "AuthorizationQueryParametersError", "bad X-Amz-Date or X-Amz-Expires"
	}
	if s.clock().After(date.Add(time.Duration(expires) * time.Second)) {
		return "AccessDenied", "Request has expired"
	}
	cred := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(cred) != 5 {
		return "AuthorizationQueryParametersError", "bad X-Amz-Credential"
	}
	signed := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	var headers strings.Builder
	for _, h := range signed {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			v = strings.Join(r.Header.Values(h), ",")
		}
		headers.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if k != "X-Amz-Signature" && !yield(k) {
				return
			}
		}
	})
	var query []string
	for _, k := range keys {
		for _, v := range q[k] {
			query = append(query, encode(k)+"="+encode(v))
		}
	}
	canonical := strings.Join([]string{r.Method, r.URL.EscapedPath(), strings.Join(query, "&"), headers.String(),
		strings.Join(signed, ";"), "UNSIGNED-PAYLOAD"}, "\n")
	scope := strings.Join(cred[1:], "/")
	digest := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + q.Get("X-Amz-Date") + "\n" + scope + "\n" + hex.EncodeToString(digest[:])
	key := []byte("AWS4" + s.secret)
	for _, part := range cred[1:] {
		key = mac(key, part)
	}
	want := hex.EncodeToString(mac(key, toSign))
	if !hmac.Equal([]byte(want), []byte(q.Get("X-Amz-Signature"))) {
		return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
	}
	return "", ""
}

func mac(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

// encode is SigV4's URI encoding: everything but unreserved characters.
func encode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}
