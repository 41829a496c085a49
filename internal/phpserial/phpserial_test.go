package phpserial_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/phpserial"
)

func TestArrayAsPHPWritesIt(t *testing.T) {
	// The bytes PHP's serialize(array('description' => 'Ünïcode', 'changelog' => '')) prints.
	got := phpserial.Array(phpserial.Pair{"description", "Ünïcode"}, phpserial.Pair{"changelog", ""})
	assert.Equal(t, `a:2:{s:11:"description";s:9:"Ünïcode";s:9:"changelog";s:0:"";}`, got)
	assert.Equal(t, "a:0:{}", phpserial.Array())
}

func TestUnserializeRoundTrip(t *testing.T) {
	pairs := []phpserial.Pair{{"changelog", "## 1.2.0\n- \"quoted\"; a:1:{s:1:\"x\";}"}, {"high", "https://x/y.png"}}
	got, err := phpserial.Unserialize(phpserial.Array(pairs...))
	require.NoError(t, err)
	assert.Equal(t, pairs, got)
	got, err = phpserial.Unserialize(`a:1:{i:0;s:1:"a";}`)
	require.NoError(t, err)
	assert.Equal(t, []phpserial.Pair{{"0", "a"}}, got)
}

func TestUnserializeRefuses(t *testing.T) {
	for _, s := range []string{"", "a:1:{}", `a:1:{s:2:"ab";s:1:"c";`, `a:1:{s:3:"ab";s:1:"c";}`, `s:1:"a";`, `a:1:{s:1:"a";s:1:"b";}x`, `a:-1:{}`, `a:1:{s:1:"a";a:0:{}}`} {
		_, err := phpserial.Unserialize(s)
		assert.ErrorIs(t, err, phpserial.ErrSyntax, "%q", s)
	}
}

func FuzzUnserialize(f *testing.F) {
	f.Add(phpserial.Array(phpserial.Pair{"description", "x"}))
	f.Add(`a:1:{i:0;s:1:"a";}`)
	f.Fuzz(func(t *testing.T, s string) {
		pairs, err := phpserial.Unserialize(s)
		if err != nil {
			return
		}
		// What it reads, Array writes back to an equivalent document.
		again, err := phpserial.Unserialize(phpserial.Array(pairs...))
		require.NoError(t, err)
		assert.Equal(t, pairs, again)
	})
}
