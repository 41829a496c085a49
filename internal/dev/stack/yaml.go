package stack

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// This file holds small helpers for walking a yaml.Node tree. Working on
// nodes rather than decoding into structs is what lets the template contain
// CloudFormation short tags (!Ref, !Sub, ...): yaml.v3 keeps any tag it does
// not know on the node instead of failing.

// resolve follows alias nodes (*anchor) to the node they refer to. It returns
// nil for a nil node.
func resolve(n *yaml.Node) *yaml.Node {
	// An anchor cannot be placed on an alias, so a single hop is normally
	// enough; the bound only guards against malformed trees.
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// get returns the value stored under key in mapping node m, or nil when m is
// not a mapping or has no such key. Only untagged (or standard-tagged) scalar
// keys are compared. If a key is repeated, the last occurrence wins, which is
// what most YAML consumers do.
func get(m *yaml.Node, key string) *yaml.Node {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var found *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k, ok := literal(m.Content[i]); ok && k == key {
			found = m.Content[i+1]
		}
	}
	return resolve(found)
}

// path walks get through successive keys.
func path(m *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		m = get(m, k)
	}
	return m
}

// literal reports the value of a plain scalar: a string, number or boolean
// written without a custom tag. Scalars carrying a CloudFormation tag such as
// !Ref or !Sub, nulls, sequences and mappings are not literals and yield
// ("", false).
func literal(n *yaml.Node) (string, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", false
	}
	tag := n.ShortTag()
	if !strings.HasPrefix(tag, "!!") || tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

// str is literal without the flag: a non-literal reads as "".
func str(n *yaml.Node) string {
	s, _ := literal(n)
	return s
}

// pairs calls fn for each key/value pair of mapping node m, in document
// order, skipping keys that are not literals. It does nothing when m is not a
// mapping.
func pairs(m *yaml.Node, fn func(key string, value *yaml.Node)) {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k, ok := literal(m.Content[i]); ok {
			fn(k, resolve(m.Content[i+1]))
		}
	}
}

// items returns the elements of sequence node s with aliases resolved, or
// nil when s is not a sequence.
func items(s *yaml.Node) []*yaml.Node {
	s = resolve(s)
	if s == nil || s.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]*yaml.Node, 0, len(s.Content))
	for _, it := range s.Content {
		if it = resolve(it); it != nil {
			out = append(out, it)
		}
	}
	return out
}

// literalMap collects the literal values of mapping node m. Entries whose
// value is not a literal (for example `TABLE_NAME: !Ref Table`) are skipped.
// It returns nil when there is nothing to collect.
func literalMap(m *yaml.Node) map[string]string {
	var out map[string]string
	pairs(m, func(k string, v *yaml.Node) {
		if s, ok := literal(v); ok {
			if out == nil {
				out = make(map[string]string)
			}
			out[k] = s
		}
	})
	return out
}
