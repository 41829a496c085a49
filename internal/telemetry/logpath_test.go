package telemetry

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestLogPath(t *testing.T) {
	key := "RM-ABCD-EFGH-JKLM-GLK7"
	assert.Equal(t, "/api/v1/brand/licenses/RM-****-****-****-GLK7", LogPath("/api/v1/brand/licenses/"+key))
	assert.Equal(t, "/api/v1/product/licenses/check?license_key=rm-****-****-****-glk7&instance_identifier=a.com",
		LogPath("/api/v1/product/licenses/check?license_key="+strings.ToLower(key)+"&instance_identifier=a.com"), "in a query string too, in any case")
	assert.Equal(t, "/api/v1/health", LogPath("/api/v1/health"))

	long := "/" + strings.Repeat("é", 400)
	got := LogPath(long)
	assert.LessOrEqual(t, len(got), MaxLogPath)
	assert.True(t, utf8.ValidString(got), "cut on a character boundary")
	assert.True(t, strings.HasSuffix(got, "…"))

	// A key across the cut is masked before the cut: no prefix of it shows.
	for pad := MaxLogPath - 30; pad < MaxLogPath; pad++ {
		got := LogPath("/" + strings.Repeat("a", pad) + "/" + key + "/" + strings.Repeat("b", 50))
		assert.LessOrEqual(t, len(got), MaxLogPath)
		assert.NotContains(t, got, "ABCD", "pad %d: %s", pad, got)
		assert.NotContains(t, got, "EFGH")
	}
}
