// Package phpserial writes and reads the subset of PHP's serialize() format
// that EDD's update answers use: arrays of strings keyed by strings
// (sections, banners, icons), as EDD_SL_Plugin_Updater hands them to
// maybe_unserialize().
package phpserial

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Pair is one entry of a PHP array, in order.
type Pair struct{ Key, Value string }

// Array is serialize(array(k => v, …)) of string keys and values; lengths
// count bytes, as PHP's do.
func Array(pairs ...Pair) string {
	var b strings.Builder
	fmt.Fprintf(&b, "a:%d:{", len(pairs))
	for _, p := range pairs {
		b.WriteString(str(p.Key))
		b.WriteString(str(p.Value))
	}
	b.WriteString("}")
	return b.String()
}

func str(s string) string { return "s:" + strconv.Itoa(len(s)) + ":\"" + s + "\";" }

// ErrSyntax is why Unserialize refuses its input.
var ErrSyntax = errors.New("phpserial: not a serialized array of strings")

// Unserialize reads what Array writes (string or integer keys, string
// values, nested arrays refused) back into its pairs, as PHP's unserialize
// would read it; anything else fails with ErrSyntax.
func Unserialize(s string) ([]Pair, error) {
	r := &reader{s: s}
	n, ok := r.header()
	if !ok {
		return nil, ErrSyntax
	}
	out := make([]Pair, 0, min(n, 64))
	for range n {
		k, ok := r.scalar(true)
		if !ok {
			return nil, ErrSyntax
		}
		v, ok := r.scalar(false)
		if !ok {
			return nil, ErrSyntax
		}
		out = append(out, Pair{k, v})
	}
	if !r.eat("}") || r.i != len(r.s) {
		return nil, ErrSyntax
	}
	return out, nil
}

type reader struct {
	s string
	i int
}

func (r *reader) eat(p string) bool {
	if strings.HasPrefix(r.s[r.i:], p) {
		r.i += len(p)
		return true
	}
	return false
}

// number reads digits up to the byte end.
func (r *reader) number(end byte) (int, bool) {
	j := strings.IndexByte(r.s[r.i:], end)
	if j < 1 || j > 9 {
		return 0, false
	}
	n, err := strconv.Atoi(r.s[r.i : r.i+j])
	if err != nil || n < 0 {
		return 0, false
	}
	r.i += j + 1
	return n, true
}

func (r *reader) header() (int, bool) {
	if !r.eat("a:") {
		return 0, false
	}
	n, ok := r.number(':')
	return n, ok && r.eat("{")
}

// scalar reads s:<len>:"…"; or, for a key, i:<n>;.
func (r *reader) scalar(key bool) (string, bool) {
	if key && r.eat("i:") {
		n, ok := r.number(';')
		return strconv.Itoa(n), ok
	}
	if !r.eat("s:") {
		return "", false
	}
	n, ok := r.number(':')
	if !ok || !r.eat("\"") || r.i+n > len(r.s) {
		return "", false
	}
	v := r.s[r.i : r.i+n]
	r.i += n
	return v, r.eat("\";")
}
