package webhook_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/clsvc/license-service/internal/webhook"
)

// fakeDNS answers names from a table.
type fakeDNS map[string][]string

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range f[host] {
		out = append(out, netip.MustParseAddr(a))
	}
	if len(out) == 0 {
		return nil, errors.New("no such host")
	}
	return out, nil
}

func TestCheckEndpointRefusesWhatReachesInside(t *testing.T) {
	dns := fakeDNS{
		"hooks.example.com": {"93.184.216.34"},
		"internal.example":  {"10.1.2.3"},
		"sneaky.example":    {"93.184.216.34", "169.254.169.254"}, // one public, one metadata address
		"v6-loop.example":   {"::1"},
		"localhost":         {"127.0.0.1"},
	}
	ctx := context.Background()
	assert.NoError(t, webhook.CheckEndpoint(ctx, "https://hooks.example.com/license-events", false, dns))
	assert.NoError(t, webhook.CheckEndpoint(ctx, "https://[2606:2800:220:1::1]/hook", false, dns))
	for _, bad := range []string{
		"http://hooks.example.com/x",          // not https in AWS
		"https://127.0.0.1/x",                 // loopback
		"https://[::1]/x",                     // IPv6 loopback
		"https://10.0.0.8/x",                  // private
		"https://172.16.5.4/x",                // private
		"https://192.168.1.1/x",               // private
		"https://169.254.169.254/latest",      // link-local (instance metadata)
		"https://100.64.0.1/x",                // CGNAT
		"https://0.0.0.0/x",                   // unspecified
		"https://[fd00::1]/x",                 // unique local
		"https://[fe80::1]/x",                 // link-local
		"https://[::ffff:127.0.0.1]/x",        // IPv4-mapped loopback
		"https://[64:ff9b::a9fe:a9fe]/x",      // NAT64 of 169.254.169.254
		"https://[64:ff9b:1::a00:1]/x",        // local-use NAT64
		"https://[2002:a00:1::1]/x",           // 6to4 of 10.0.0.1
		"https://[::a9fe:a9fe]/x",             // IPv4-compatible
		"https://0.1.2.3/x",                   // "this network"
		"https://192.0.0.8/x",                 // IETF protocol assignments
		"https://198.18.0.1/x",                // benchmarking
		"https://240.0.0.1/x",                 // reserved (class E)
		"https://[2001:db8::1]/x",             // documentation
		"https://internal.example/x",          // a name resolving to a private address
		"https://sneaky.example/x",            // any of its addresses counts
		"https://v6-loop.example/x",           // a name resolving to ::1
		"https://nowhere.example/x",           // does not resolve
		"https://user:pass@hooks.example.com", // user info
		"hooks.example.com/x",                 // not absolute
	} {
		err := webhook.CheckEndpoint(ctx, bad, false, dns)
		assert.ErrorIs(t, err, webhook.ErrEndpoint, "%s", bad)
	}
	// make run: plain http to this machine only.
	assert.NoError(t, webhook.CheckEndpoint(ctx, "http://127.0.0.1:9999/hook", true, dns))
	assert.NoError(t, webhook.CheckEndpoint(ctx, "http://localhost:9999/hook", true, dns))
	assert.ErrorIs(t, webhook.CheckEndpoint(ctx, "http://10.0.0.8/hook", true, dns), webhook.ErrEndpoint)
}
