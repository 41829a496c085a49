package licensing

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// InstanceType says what identifies a site or machine holding a seat.
type InstanceType string

// Instance types.
const (
	InstanceURL       InstanceType = "url"
	InstanceHostname  InstanceType = "hostname"
	InstanceMachineID InstanceType = "machine_id"
)

// MaxInstanceLength bounds an instance identifier, raw and canonical.
const MaxInstanceLength = 255

// Instance is a canonical instance identity: two requests for the same site
// have equal Instances.
type Instance struct {
	Type InstanceType
	ID   string
}

var idnaProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule())

// ParseInstance validates and canonicalises an instance identifier:
//
//   - url: lower-case host, IDN to punycode, without the scheme, userinfo, a
//     default port (80, 443), a leading "www.", the query, the fragment and
//     trailing slashes; the path is kept, so example.com/blog and example.com
//     are different sites, and https://www.Example.com/ equals http://example.com.
//   - hostname: trimmed and lower-cased.
//   - machine_id: exact.
//
// Empty, over-long (more than MaxInstanceLength) and control-character
// identifiers are refused, as are invisible characters (see ParseText), and
// a port that is not 1 to 65535 (url and hostname; a port is written
// without leading zeros). An empty type means url.
func ParseInstance(typ, raw string) (Instance, error) {
	typ, err := ParseText("instance_type", typ, SingleLine)
	if err != nil {
		return Instance{}, err
	}
	t := InstanceType(typ)
	if t == "" {
		t = InstanceURL
	}
	if raw == "" || strings.TrimSpace(raw) == "" {
		return Instance{}, Invalid("instance_identifier", "is required")
	}
	if len(raw) > MaxInstanceLength {
		return Instance{}, Invalid("instance_identifier", "must be at most %d characters", MaxInstanceLength)
	}
	if !utf8.ValidString(raw) || strings.IndexFunc(raw, unicode.IsControl) >= 0 {
		return Instance{}, Invalid("instance_identifier", "must be text without control characters")
	}
	if err := CheckText("instance_identifier", raw, SingleLine); err != nil {
		return Instance{}, err
	}
	var id string
	switch t {
	case InstanceURL:
		id, err = canonicalURL(strings.TrimSpace(raw))
	case InstanceHostname:
		id = strings.ToLower(strings.TrimSpace(raw))
		if strings.IndexFunc(id, func(r rune) bool { return r == '/' || unicode.IsSpace(r) || ignorableInHost(r) }) >= 0 {
			err = Invalid("instance_identifier", "must be a host name without spaces or slashes")
		} else if host, port, ok := hostPort(id); ok {
			port, err = canonicalPort(port)
			id = host + ":" + port
		}
	case InstanceMachineID:
		id = raw
	default:
		return Instance{}, Invalid("instance_type", "must be one of url, hostname, machine_id")
	}
	if err != nil {
		return Instance{}, err
	}
	if id == "" || len(id) > MaxInstanceLength {
		return Instance{}, Invalid("instance_identifier", "must be 1 to %d characters once normalised", MaxInstanceLength)
	}
	return Instance{Type: t, ID: id}, nil
}

func canonicalURL(raw string) (string, error) {
	bad := Invalid("instance_identifier", "must be a site URL like https://example.com/shop")
	s := raw
	scheme := ""
	if i := strings.Index(s, "://"); i >= 0 && !strings.Contains(s[:i], "/") { // not a "://" in the path
		scheme = strings.ToLower(s[:i])
		if scheme != "http" && scheme != "https" {
			return "", Invalid("instance_identifier", "must be an http or https URL")
		}
	} else {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", bad
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	if host == "" {
		return "", bad
	}
	// The host is checked again once percent-decoded (exa%E2%80%8Bmple.com),
	// before IDNA mapping, which drops zero-width characters silently.
	if strings.IndexFunc(host, ignorableInHost) >= 0 {
		return "", Invalid("instance_identifier", "must not contain invisible, bidirectional or line-separator characters in its host")
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
		if ip.To4() == nil {
			host = "[" + host + "]"
		}
	} else {
		ascii, err := idnaProfile.ToASCII(strings.ToLower(host))
		if err != nil || ascii == "" {
			return "", bad
		}
		// Every leading www. goes, so that the canonical form is a fixed
		// point: www.www.shop.com is shop.com, as is its canonical form.
		host = ascii
		for strings.HasPrefix(host, "www.") {
			host = strings.TrimPrefix(host, "www.")
		}
		if !validHost(host) {
			return "", bad
		}
	}
	if port := u.Port(); port != "" {
		if port, err = canonicalPort(port); err != nil {
			return "", err
		}
		defaultPort := port == "80" && scheme != "https" || port == "443" && scheme != "http"
		if !defaultPort {
			host += ":" + port
		}
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	return host + path, nil
}

// hostPort splits a hostname identifier with a port: host:port, or
// [IPv6]:port. A bare IPv6 address (several colons) has none.
func hostPort(id string) (host, port string, ok bool) {
	if strings.HasPrefix(id, "[") {
		if i := strings.LastIndex(id, "]:"); i >= 0 {
			return id[:i+1], id[i+2:], true
		}
		return "", "", false
	}
	if strings.Count(id, ":") != 1 {
		return "", "", false
	}
	return strings.Cut(id, ":")
}

// canonicalPort validates a port, 1 to 65535 in decimal digits, and writes
// it without leading zeros.
func canonicalPort(p string) (string, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || strings.Trim(p, "0123456789") != "" {
		return "", Invalid("instance_identifier", "must have a port between 1 and 65535")
	}
	return strconv.Itoa(n), nil
}

// validHost reports whether host is a DNS name of non-empty labels of
// letters, digits, dashes and underscores.
func validHost(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}
