package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/clsvc/license-service/internal/licensing"
)

// Timeout is how long an endpoint has to answer: a 2xx within it is a
// delivery.
const Timeout = 10 * time.Second

// UserAgent names the service to receivers.
const UserAgent = "license-service-webhooks/1"

// maxAnswer is how much of an answer's body is read (then dropped): enough
// to reuse the connection, never a receiver's whole page.
const maxAnswer = 64 << 10

// Sender POSTs signed events to endpoints. It never follows redirects, and
// it dials public addresses only — the address it connects to, after DNS,
// is checked, so a name that resolves inside on the second lookup is
// refused too. Local (make run) also allows loopback, over http.
type Sender struct {
	Local    bool
	Resolver Resolver // nil: the system's
	client   *http.Client
}

// NewSender returns a sender with Timeout per request.
func NewSender(local bool) *Sender {
	s := &Sender{Local: local}
	dialer := &net.Dialer{Timeout: Timeout, Control: s.control}
	s.client = &http.Client{
		Timeout: Timeout,
		Transport: &http.Transport{
			Proxy:                 nil, // never through a proxy of the environment
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   Timeout,
			ResponseHeaderTimeout: Timeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

// WithTimeout sets the time an endpoint has to answer (tests shorten it).
func (s *Sender) WithTimeout(d time.Duration) *Sender {
	s.client.Timeout = d
	return s
}

// errAddress is the dial refusal of a non-public address.
var errAddress = errors.New("the endpoint's address is not public")

// control refuses, at connect time, addresses that reach inside.
func (s *Sender) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errAddress, address)
	}
	a := ap.Addr().Unmap()
	if Public(a) || (s.Local && a.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%w: %s", errAddress, a)
}

// Check refuses a URL the sender must not call (see CheckEndpoint).
func (s *Sender) Check(ctx context.Context, url string) error {
	return CheckEndpoint(ctx, url, s.Local, s.Resolver)
}

// Send POSTs body to url, signed with the secrets as message id at the
// time at. A 2xx within the timeout is a delivery; anything else is an
// attempt with the status code (3xx included: redirects are not followed)
// or the error that stopped it.
func (s *Sender) Send(ctx context.Context, url string, secrets []string, id string, at time.Time, body []byte) licensing.DeliveryAttempt {
	start := time.Now()
	failed := func(why string) licensing.DeliveryAttempt {
		return licensing.DeliveryAttempt{At: at.UTC(), Error: why, LatencyMS: time.Since(start).Milliseconds()}
	}
	if err := s.Check(ctx, url); err != nil {
		return failed(err.Error())
	}
	h, err := Sign(secrets, id, at, body)
	if err != nil {
		return failed("the endpoint's secret cannot sign")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return failed("the endpoint's URL is not valid")
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return failed(describe(err, s.client.Timeout))
	}
	latency := time.Since(start).Milliseconds()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	_ = resp.Body.Close()
	return licensing.DeliveryAttempt{At: at.UTC(), StatusCode: resp.StatusCode, LatencyMS: latency}
}

// describe says why a request got no answer, in words safe to show the
// brand (no addresses of the service's side).
func describe(err error, timeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.Is(err, errAddress):
		return "refused: the endpoint resolves to an address that is not public"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timeout: no answer within %s", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	default:
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			return "the endpoint's host does not resolve"
		}
		return "the request failed before an answer (connection or TLS)"
	}
}
