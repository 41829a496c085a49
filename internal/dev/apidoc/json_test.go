package apidoc

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestYAMLToJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"b: 1\na: [x, 2.5, true, null]\n", `{"b":1,"a":["x",2.5,true,null]}`},
		{"k: '200'\nv: \"a\\\"b\"\n", `{"k":"200","v":"a\"b"}`},
		{"x: &a {p: 1}\ny: *a\n", `{"x":{"p":1},"y":{"p":1}}`},
		{"t: |\n  line\n", `{"t":"line\n"}`},
	} {
		got, err := YAMLToJSON([]byte(c.in))
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, string(got), c.in)
	}
	for _, bad := range []string{"a: [", "? [a, b]\n: 1\n"} {
		_, err := YAMLToJSON([]byte(bad))
		assert.Error(t, err, bad)
	}
}
