package licensing

import (
	"net/netip"
	"slices"
	"strings"
)

// Environment says whether an instance is a production site or a copy that
// does not take a seat.
type Environment string

// Environments.
const (
	EnvProduction Environment = "production"
	EnvStaging    Environment = "staging"
	EnvLocal      Environment = "local"
)

// EnvironmentRulesVersion versions the rules of ClassifyInstance; it is
// stored with each activation so that a later change of rules is traceable.
const EnvironmentRulesVersion = 1

// localTLDs are reserved top-level domains (RFC 2606, RFC 6761, RFC 6762)
// that never name a public site.
var localTLDs = []string{"localhost", "local", "test", "example", "invalid", "internal", "lan", "home.arpa"}

// stagingLabels are first labels that mark a staging copy: staging.shop.com.
var stagingLabels = []string{"staging", "stage", "dev", "test", "qa", "uat", "preview"}

// stagingSuffixes are hosting platforms' staging and temporary domains.
var stagingSuffixes = []string{
	"wpengine.com", "wpenginepowered.com", // WP Engine environments
	"instawp.xyz", "instawp.co", "instawp.link", // InstaWP sandboxes
	"flywheelstaging.com", "flywheelsites.com", // Flywheel staging and demo sites
	"wpstagecoach.com", "staging.wpmudev.host", "tempurl.host", "myftpupload.com",
	"localwp.com", "ngrok.io", "ngrok-free.app", "ngrok.app", "trycloudflare.com",
}

// stagingPrefixedSuffixes are platforms whose production and staging share a
// domain, told apart by the first label's prefix: staging-*.kinsta.cloud,
// dev-*.pantheonsite.io, test-*.pantheonsite.io.
var stagingPrefixedSuffixes = map[string][]string{
	"kinsta.cloud":    {"staging-"},
	"pantheonsite.io": {"dev-", "test-"},
}

// ClassifyInstance tells production sites from staging copies and local
// development sites (rules version EnvironmentRulesVersion). It matches whole
// labels and domain suffixes, never substrings: devon-bakery.co.uk,
// shop.devices.com and www.latestnews.co.uk are production. Machine ids are
// always production.
func ClassifyInstance(inst Instance) Environment {
	if inst.Type == InstanceMachineID {
		return EnvProduction
	}
	host := hostOf(inst)
	if host == "" {
		return EnvProduction
	}
	if addr, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if !addr.IsGlobalUnicast() || addr.IsPrivate() || isReserved(addr) {
			return EnvLocal
		}
		return EnvProduction
	}
	for _, tld := range localTLDs {
		if host == tld || strings.HasSuffix(host, "."+tld) {
			return EnvLocal
		}
	}
	labels := strings.Split(host, ".")
	if len(labels) > 2 && slices.Contains(stagingLabels, labels[0]) {
		return EnvStaging
	}
	for _, suffix := range stagingSuffixes {
		if strings.HasSuffix(host, "."+suffix) {
			return EnvStaging
		}
	}
	for suffix, prefixes := range stagingPrefixedSuffixes {
		if strings.HasSuffix(host, "."+suffix) && len(labels) == strings.Count(suffix, ".")+2 {
			for _, p := range prefixes {
				if strings.HasPrefix(labels[0], p) {
					return EnvStaging
				}
			}
		}
	}
	return EnvProduction
}

// hostOf is the host of a canonical url or hostname identifier, without
// port and path.
func hostOf(inst Instance) string {
	id := inst.ID
	if inst.Type == InstanceURL {
		id, _, _ = strings.Cut(id, "/")
	}
	// A bare IPv6 address (a hostname identifier such as ::1) has colons
	// that are not a port's.
	if addr, err := netip.ParseAddr(id); err == nil {
		return addr.String()
	}
	if strings.HasPrefix(id, "[") {
		if end := strings.IndexByte(id, ']'); end > 0 {
			return id[:end+1]
		}
		return id
	}
	host, _, _ := strings.Cut(id, ":")
	return strings.TrimSuffix(host, ".")
}

// isReserved covers special-use ranges that are global unicast on paper:
// shared address space (RFC 6598), benchmarking (RFC 2544) and the
// documentation networks (RFC 5737, RFC 3849).
func isReserved(a netip.Addr) bool {
	for _, p := range reservedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var reservedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"),
}
