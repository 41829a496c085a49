package localapi

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// segmentKind orders path segments by specificity: when several resource
// paths match a request, the one with the more specific segment at the first
// difference wins, so literals beat {param}, which beats {greedy+}.
type segmentKind int

const (
	greedySegment  segmentKind = iota + 1 // {name+}: one or more segments
	paramSegment                          // {name}: exactly one non-empty segment
	literalSegment                        // text that must match exactly
)

// segment is one "/"-separated part of a resource path.
type segment struct {
	kind  segmentKind
	value string // the literal text, or the parameter name
}

// pattern is a parsed resource path such as /licenses/{id}.
type pattern struct {
	segments []segment
}

// parsePattern parses a template resource path. Parameters must span a whole
// segment, and a greedy {name+} parameter must be the last segment. A
// trailing slash is ignored.
func parsePattern(path string) (pattern, error) {
	if !strings.HasPrefix(path, "/") {
		return pattern{}, fmt.Errorf("path %q does not start with /", path)
	}
	trimmed := strings.Trim(path, "/")
	if trimmed == "" {
		return pattern{}, nil // the root resource
	}
	parts := strings.Split(trimmed, "/")
	p := pattern{segments: make([]segment, 0, len(parts))}
	for i, part := range parts {
		var seg segment
		switch {
		case part == "":
			return pattern{}, fmt.Errorf("path %q has an empty segment", path)
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}"):
			name := part[1 : len(part)-1]
			seg = segment{kind: paramSegment, value: name}
			if n, ok := strings.CutSuffix(name, "+"); ok {
				if i != len(parts)-1 {
					return pattern{}, fmt.Errorf("path %q: greedy parameter %s must be last", path, part)
				}
				seg = segment{kind: greedySegment, value: n}
			}
			if seg.value == "" || strings.ContainsAny(seg.value, "{}+") {
				return pattern{}, fmt.Errorf("path %q: invalid parameter %s", path, part)
			}
		case strings.ContainsAny(part, "{}"):
			return pattern{}, fmt.Errorf("path %q: parameter %s must span a whole segment", path, part)
		default:
			seg = segment{kind: literalSegment, value: part}
		}
		p.segments = append(p.segments, seg)
	}
	return p, nil
}

// shape identifies patterns that would match exactly the same requests,
// whatever their parameter names: /a/{id} and /a/{name} have the same shape.
func (p pattern) shape() string {
	var b strings.Builder
	for _, s := range p.segments {
		b.WriteByte('/')
		switch s.kind {
		case literalSegment:
			b.WriteString(s.value)
		case paramSegment:
			b.WriteString("{}")
		case greedySegment:
			b.WriteString("{+}")
		}
	}
	return b.String()
}

// rank lists the segment kinds; comparing two ranks tells which of two
// matching patterns is the more specific.
func (p pattern) rank() []segmentKind {
	r := make([]segmentKind, len(p.segments))
	for i, s := range p.segments {
		r[i] = s.kind
	}
	return r
}

// match matches the unescaped request path segments parts against p and
// returns the path parameters (nil if p has none).
func (p pattern) match(parts []string) (map[string]string, bool) {
	var params map[string]string
	set := func(k, v string) {
		if params == nil {
			params = make(map[string]string)
		}
		params[k] = v
	}
	for i, s := range p.segments {
		if s.kind == greedySegment {
			if i >= len(parts) {
				return nil, false
			}
			set(s.value, strings.Join(parts[i:], "/"))
			return params, true
		}
		if i >= len(parts) {
			return nil, false
		}
		switch s.kind {
		case literalSegment:
			if parts[i] != s.value {
				return nil, false
			}
		case paramSegment:
			if parts[i] == "" {
				return nil, false
			}
			set(s.value, parts[i])
		}
	}
	if len(parts) != len(p.segments) {
		return nil, false
	}
	return params, true
}

// splitPath splits an escaped URL path into unescaped segments, so that an
// encoded slash (%2F) stays inside its segment. Like API Gateway, a trailing
// slash is ignored.
func splitPath(escaped string) ([]string, error) {
	trimmed := strings.TrimSuffix(strings.TrimPrefix(escaped, "/"), "/")
	if trimmed == "" {
		return nil, nil
	}
	parts := strings.Split(trimmed, "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, err
		}
		parts[i] = u
	}
	return parts, nil
}

// best returns the index of the most specific resource whose pattern matches
// parts, with its path parameters, or -1 if none matches.
func best(resources []*resource, parts []string) (int, map[string]string) {
	found, foundParams := -1, map[string]string(nil)
	var foundRank []segmentKind
	for i, res := range resources {
		params, ok := res.pattern.match(parts)
		if !ok {
			continue
		}
		if r := res.pattern.rank(); found < 0 || slices.Compare(r, foundRank) > 0 {
			found, foundParams, foundRank = i, params, r
		}
	}
	return found, foundParams
}
