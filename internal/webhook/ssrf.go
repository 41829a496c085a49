package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrEndpoint is the refusal of an endpoint URL; its message says why.
var ErrEndpoint = errors.New("webhook endpoint refused")

// Resolver looks a host name up (net.DefaultResolver in AWS; a fake in tests).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckEndpoint refuses an endpoint a brand may not register or the
// delivery may not call: anything but https (plain http only to a loopback
// address, and only when local is set: make run), user info, and a host
// that is, or resolves to, an address outside the public internet
// (loopback, private, link-local, unique local, CGNAT, unspecified,
// multicast, IPv4-mapped forms of those). In AWS the delivery checks again
// before each request, against the address it connects to, so that a name
// rebound after registration does not reach inside.
func CheckEndpoint(ctx context.Context, raw string, local bool, r Resolver) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%w: %q is not an absolute URL", ErrEndpoint, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%w: user info in the URL", ErrEndpoint)
	}
	host := u.Hostname()
	addrs, err := addresses(ctx, host, r)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && local && allLoopback(addrs):
		return nil // make run: a receiver on this machine
	default:
		return fmt.Errorf("%w: the scheme must be https", ErrEndpoint)
	}
	for _, a := range addrs {
		if !Public(a) {
			if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
				return fmt.Errorf("%w: %s is not a public address", ErrEndpoint, a)
			}
			// The name's addresses are the resolver's, not the brand's to see.
			return fmt.Errorf("%w: %s resolves to an address that is not public", ErrEndpoint, host)
		}
	}
	return nil
}

func addresses(ctx context.Context, host string, r Resolver) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a}, nil
	}
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("%w: %s does not resolve", ErrEndpoint, host)
	}
	return addrs, nil
}

func allLoopback(addrs []netip.Addr) bool {
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return false
		}
	}
	return len(addrs) > 0
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
// reserved are ranges that are not the public internet, beyond what the
// netip predicates tell: shared address space (CGNAT), "this network",
// IETF protocol assignments, benchmarking, the reserved class E, and the
// IPv6 forms that carry an IPv4 address a gateway may translate to an
// inside one (NAT64, 6to4, IPv4-compatible) or are not routable.
var reserved = func() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range []string{
		"100.64.0.0/10", "0.0.0.0/8", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4",
		"64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "::/96", "100::/64", "2001::/32", "2001:db8::/32",
	} {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}()

// Public reports whether an address is on the public internet.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	switch {
	case !a.IsValid(), a.IsUnspecified(), a.IsLoopback(), a.IsPrivate(), a.IsLinkLocalUnicast(),
		a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast(), a.IsMulticast():
		return false
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
