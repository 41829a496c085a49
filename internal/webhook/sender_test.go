package webhook_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/webhook"
)

// senderTimeout keeps the tests that wait for an answer short.
const senderTimeout = 200 * time.Millisecond

// received is one request a test receiver got.
type received struct {
	Method string
	Header http.Header
	Body   []byte
}

// receiver is a loopback endpoint that records what it gets and answers
// with its handler (200 when nil).
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newReceiver(t *testing.T, tls bool, answer http.HandlerFunc) *receiver {
	t.Helper()
	rc := &receiver{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{Method: r.Method, Header: r.Header.Clone(), Body: body})
		rc.mu.Unlock()
		if answer != nil {
			answer(w, r)
		}
	})
	if tls {
		rc.srv = httptest.NewTLSServer(h)
	} else {
		rc.srv = httptest.NewServer(h)
	}
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// resolverTable is a fake DNS: names to addresses, anything else fails.
type resolverTable map[string][]string

func (f resolverTable) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range f[host] {
		out = append(out, netip.MustParseAddr(a))
	}
	if len(out) == 0 {
		return nil, errors.New("no such host")
	}
	return out, nil
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := webhook.NewSecret()
	require.NoError(t, err)
	return s
}

func TestSendPostsTheSignedBody(t *testing.T) {
	rc := newReceiver(t, false, nil)
	current, previous, other := newSecret(t), newSecret(t), newSecret(t)
	// Not UTC, and with odd bytes in the body: both must arrive as given.
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("UTC+2", 2*3600))
	body := []byte(`{"event_id":"evt_1",  "note":"caf\u00e9 é","n":[1,2 ,3]}` + "\n")
	const id = "evt_01JABCDEFGHJKMNPQRSTVWXYZ0"

	att := webhook.NewSender(true).WithTimeout(senderTimeout).
		Send(context.Background(), rc.srv.URL+"/hooks/license", []string{current, previous}, id, at, body)

	assert.Equal(t, http.StatusOK, att.StatusCode)
	assert.True(t, att.Delivered())
	assert.False(t, att.Gone())
	assert.Empty(t, att.Error)
	assert.Equal(t, at.UTC(), att.At)
	assert.Equal(t, time.UTC, att.At.Location())
	assert.GreaterOrEqual(t, att.LatencyMS, int64(0))

	reqs := rc.requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, webhook.UserAgent, r.Header.Get("User-Agent"))
	assert.Equal(t, body, r.Body, "the body is sent byte for byte")
	assert.Equal(t, id, r.Header.Get(webhook.HeaderID))
	assert.Equal(t, strconv.FormatInt(at.Unix(), 10), r.Header.Get(webhook.HeaderTimestamp))
	assert.Len(t, strings.Fields(r.Header.Get(webhook.HeaderSignature)), 2, "one signature per secret")
	for name, s := range map[string]string{"current": current, "previous": previous} {
		assert.NoError(t, webhook.Verify(s, r.Header, r.Body, at, webhook.DefaultTolerance), "the %s secret verifies", name)
	}
	assert.ErrorIs(t, webhook.Verify(other, r.Header, r.Body, at, webhook.DefaultTolerance), webhook.ErrSignature,
		"a secret that was not given does not")
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	target := newReceiver(t, false, nil)
	redirect := newReceiver(t, false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.srv.URL+"/elsewhere", http.StatusFound)
	})
	att := webhook.NewSender(true).WithTimeout(senderTimeout).
		Send(context.Background(), redirect.srv.URL, []string{newSecret(t)}, "evt_1", time.Now(), []byte(`{}`))
	assert.Equal(t, http.StatusFound, att.StatusCode)
	assert.False(t, att.Delivered())
	assert.Len(t, redirect.requests(), 1)
	assert.Empty(t, target.requests(), "the redirect's target gets nothing")
}

func TestSendTimesOut(t *testing.T) {
	rc := newReceiver(t, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	att := webhook.NewSender(true).WithTimeout(senderTimeout).
		Send(context.Background(), rc.srv.URL, []string{newSecret(t)}, "evt_1", time.Now(), []byte(`{}`))
	assert.Zero(t, att.StatusCode)
	assert.False(t, att.Delivered())
	assert.Contains(t, att.Error, "timeout")
	assert.Len(t, rc.requests(), 1)
}

func TestSendReportsGone(t *testing.T) {
	rc := newReceiver(t, false, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
	att := webhook.NewSender(true).WithTimeout(senderTimeout).
		Send(context.Background(), rc.srv.URL, []string{newSecret(t)}, "evt_1", time.Now(), []byte(`{}`))
	assert.Equal(t, http.StatusGone, att.StatusCode)
	assert.True(t, att.Gone())
	assert.False(t, att.Delivered())
	assert.Empty(t, att.Error)
}

func TestSendInAWSRefusesLoopback(t *testing.T) {
	plain := newReceiver(t, false, nil)
	secure := newReceiver(t, true, nil)
	s := webhook.NewSender(false).WithTimeout(senderTimeout)
	ctx := context.Background()
	secrets := []string{newSecret(t)}

	_, port, err := net.SplitHostPort(secure.srv.Listener.Addr().String())
	require.NoError(t, err)
	for _, url := range []string{
		plain.srv.URL + "/hook",              // http://127.0.0.1:…
		secure.srv.URL + "/hook",             // https://127.0.0.1:…
		"https://[::1]:" + port + "/hook",    // IPv6 loopback
		"https://[::ffff:127.0.0.1]:" + port, // IPv4-mapped loopback
	} {
		att := s.Send(ctx, url, secrets, "evt_1", time.Now(), []byte(`{}`))
		assert.Zero(t, att.StatusCode, url)
		assert.NotEmpty(t, att.Error, url)
		assert.Contains(t, att.Error, webhook.ErrEndpoint.Error(), "%s: refused before any request", url)
	}
	assert.Empty(t, plain.requests())
	assert.Empty(t, secure.requests())
}

// acceptCounter is a TCP listener on 127.0.0.1 that counts the connections
// it accepts and closes them at once.
func acceptCounter(t *testing.T) (port string, accepted func() int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	_, port, err = net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return port, n.Load
}

// A name that resolves to a public address when checked and to loopback
// when dialed (DNS rebinding) is refused at connect time. The check's
// lookup is the sender's Resolver (a fake saying "localhost" is public);
// the dial's is the system's (/etc/hosts: loopback), as a rebound name's
// second lookup would be.
func TestSendRefusesARebindingNameAtDialTime(t *testing.T) {
	if addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost"); err != nil || len(addrs) == 0 {
		t.Skipf("localhost does not resolve on this machine: %v", err)
	}
	port, accepted := acceptCounter(t)
	url := "https://localhost:" + port + "/hook"
	dns := resolverTable{"localhost": {"93.184.216.34"}}
	ctx := context.Background()

	s := webhook.NewSender(false).WithTimeout(senderTimeout)
	s.Resolver = dns
	require.NoError(t, s.Check(ctx, url), "the check sees a public address")
	att := s.Send(ctx, url, []string{newSecret(t)}, "evt_1", time.Now(), []byte(`{}`))
	assert.Zero(t, att.StatusCode)
	assert.Equal(t, "refused: the endpoint resolves to an address that is not public", att.Error)
	assert.Zero(t, accepted(), "no connection is made")

	// The same request from a local sender (loopback allowed) does connect:
	// the refusal above is the dial guard's, not the setup's.
	local := webhook.NewSender(true).WithTimeout(senderTimeout)
	local.Resolver = dns
	att = local.Send(ctx, url, []string{newSecret(t)}, "evt_1", time.Now(), []byte(`{}`))
	assert.Zero(t, att.StatusCode, "the listener answers no TLS")
	assert.NotContains(t, att.Error, "not public")
	require.Eventually(t, func() bool { return accepted() > 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestSendWithABadSecretMakesNoRequest(t *testing.T) {
	rc := newReceiver(t, false, nil)
	s := webhook.NewSender(true).WithTimeout(senderTimeout)
	for _, secrets := range [][]string{nil, {"not-a-secret"}, {"whsec_%%%"}, {"whsec_"}, {newSecret(t), "whsec_!"}} {
		att := s.Send(context.Background(), rc.srv.URL, secrets, "evt_1", time.Now(), []byte(`{}`))
		assert.Zero(t, att.StatusCode, "%q", secrets)
		assert.Contains(t, att.Error, "cannot sign", "%q", secrets)
	}
	assert.Empty(t, rc.requests())
}

func TestSendConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	att := webhook.NewSender(true).WithTimeout(senderTimeout).
		Send(context.Background(), "http://"+addr+"/hook", []string{newSecret(t)}, "evt_1", time.Now(), []byte(`{}`))
	assert.Zero(t, att.StatusCode)
	assert.False(t, att.Delivered())
	assert.Equal(t, "connection refused", att.Error)
	assert.NotContains(t, att.Error, addr, "no address of the service's side is shown")
}

func TestSenderCheck(t *testing.T) {
	dns := resolverTable{"hooks.example.com": {"93.184.216.34"}, "internal.example": {"10.1.2.3"}}
	ctx := context.Background()

	aws := webhook.NewSender(false)
	aws.Resolver = dns
	assert.NoError(t, aws.Check(ctx, "https://hooks.example.com/license-events"))
	for _, bad := range []string{
		"https://internal.example/x",
		"http://hooks.example.com/x",
		"http://127.0.0.1:9999/x",
		"https://nowhere.example/x",
	} {
		assert.ErrorIs(t, aws.Check(ctx, bad), webhook.ErrEndpoint, bad)
	}
	// Send checks with the same resolver.
	att := aws.WithTimeout(senderTimeout).Send(ctx, "https://internal.example/x", []string{newSecret(t)}, "evt_1", time.Now(), []byte(`{}`))
	assert.Zero(t, att.StatusCode)
	assert.Contains(t, att.Error, "internal.example resolves to an address that is not public")
	assert.NotContains(t, att.Error, "10.", "a name's addresses are not shown")

	local := webhook.NewSender(true)
	local.Resolver = dns
	assert.NoError(t, local.Check(ctx, "http://127.0.0.1:9999/x"))
	assert.ErrorIs(t, local.Check(ctx, "http://internal.example/x"), webhook.ErrEndpoint)
	assert.ErrorIs(t, local.Check(ctx, "http://hooks.example.com/x"), webhook.ErrEndpoint, "plain http to loopback only")
}
