package localapi

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// buildRequest builds the proxy event API Gateway would send for r, matched
// to the template path resourcePath with the given path parameters.
func (s *server) buildRequest(r *http.Request, resourcePath string, params map[string]string, body []byte) events.APIGatewayProxyRequest {
	now := time.Now()

	// Go moves the Host header out of r.Header; API Gateway passes it on.
	header := r.Header.Clone()
	if r.Host != "" {
		if header == nil {
			header = make(http.Header)
		}
		header.Set("Host", r.Host)
	}
	// API Gateway says how the client reached it (https); here plain HTTP.
	if header.Get("X-Forwarded-Proto") == "" {
		if header == nil {
			header = make(http.Header)
		}
		header.Set("X-Forwarded-Proto", "http")
	}
	headers, multiHeaders := flatten(header)
	query, multiQuery := flatten(r.URL.Query())

	req := events.APIGatewayProxyRequest{
		Resource:                        resourcePath,
		Path:                            r.URL.Path,
		HTTPMethod:                      r.Method,
		Headers:                         headers,
		MultiValueHeaders:               multiHeaders,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: multiQuery,
		PathParameters:                  params,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID:        requestID(),
			Stage:            s.stage,
			HTTPMethod:       r.Method,
			ResourcePath:     resourcePath,
			Path:             "/" + s.stage + r.URL.Path,
			Protocol:         r.Proto,
			DomainName:       r.Host,
			RequestTime:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: now.UnixMilli(),
			Identity: events.APIGatewayRequestIdentity{
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
		},
	}
	if utf8.Valid(body) {
		req.Body = string(body)
	} else {
		req.Body = base64.StdEncoding.EncodeToString(body)
		req.IsBase64Encoded = true
	}
	return req
}

// flatten turns a multi-valued map (headers or query) into API Gateway's pair
// of maps: the last value of each key, and all values. Both are nil when m is
// empty, since API Gateway sends null rather than {}.
func flatten(m map[string][]string) (map[string]string, map[string][]string) {
	if len(m) == 0 {
		return nil, nil
	}
	single := make(map[string]string, len(m))
	multi := make(map[string][]string, len(m))
	for k, vs := range m {
		if len(vs) == 0 {
			continue
		}
		single[k] = vs[len(vs)-1]
		multi[k] = slices.Clone(vs)
	}
	return single, multi
}

// sourceIP extracts the client address from a RemoteAddr "host:port".
func sourceIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// requestID returns a random version 4 UUID.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails, see crypto/rand.Read
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// writeResponse writes a handler's proxy response. Like API Gateway, it
// rejects a response with an invalid status code (0 included) or an
// undecodable base64 body; the error is returned before anything is written,
// so that the caller can answer 502 instead.
func writeResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) (int, error) {
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return 0, fmt.Errorf("invalid status code %d in handler response", resp.StatusCode)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return 0, fmt.Errorf("handler response body: %w", err)
		}
	}

	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	// API Gateway merges multiValueHeaders into headers, keeping a value
	// given in both only once.
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			if !slices.Contains(h.Values(k), v) {
				h.Add(k, v)
			}
		}
	}
	// API Gateway computes the length itself, and a wrong value from the
	// handler would make net/http fail the write.
	h.Del("Content-Length")
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json") // API Gateway's default
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body) // a write error means the client went away
	return resp.StatusCode, nil
}
