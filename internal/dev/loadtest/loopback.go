package loadtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// The generator only ever talks to this machine: every URL it is given must
// name a loopback IP literally, and its connections are dialled through a
// dialer that refuses any other address (so neither a proxy setting nor a
// redirect can send a request elsewhere).

// CheckLoopbackURL returns an error unless raw is an http URL whose host is a
// loopback IP address (127.0.0.0/8), e.g. http://127.0.0.1:3000.
func CheckLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("%q: only http:// on a loopback address is allowed", raw)
	}
	if !loopbackHost(u.Hostname()) {
		return fmt.Errorf("%q: the host must be a loopback IP such as 127.0.0.1", raw)
	}
	if u.Port() == "" {
		return fmt.Errorf("%q: a port is required", raw)
	}
	return nil
}

func loopbackHost(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.To4() != nil && ip.IsLoopback()
}

// loopbackDial dials only loopback IPv4 addresses.
func loopbackDial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if !loopbackHost(host) {
		return nil, fmt.Errorf("loadtest: refusing to dial %s: not a loopback address", addr)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	return d.DialContext(ctx, network, addr)
}

// NewHTTPClient returns a client for up to conns concurrent connections that
// reaches loopback addresses only, uses no proxy and follows no redirect.
func NewHTTPClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         loopbackDial,
			MaxIdleConns:        conns + 4,
			MaxIdleConnsPerHost: conns + 4,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// NewDynamoClient returns a DynamoDB client for a local engine at endpoint (a
// loopback URL) with dummy credentials, for the audit's scans.
func NewDynamoClient(endpoint string) (*dynamodb.Client, error) {
	if err := CheckLoopbackURL(endpoint); err != nil {
		return nil, fmt.Errorf("dynamodb endpoint %w", err)
	}
	return dynamodb.New(dynamodb.Options{
		Region:                          "us-east-1",
		BaseEndpoint:                    aws.String(endpoint),
		Credentials:                     credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:                      NewHTTPClient(4, time.Minute),
		DisableValidateResponseChecksum: true,
	}), nil
}
