package licensing

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeyAlphabetHasNoLookAlikes(t *testing.T) {
	assert.Len(t, KeyAlphabet, 32, "32 symbols carry exactly 5 bits each")
	for _, c := range "01IO" {
		assert.NotContains(t, KeyAlphabet, string(c))
	}
}

func TestNewLicenseKeyFormatAndEntropy(t *testing.T) {
	seen := map[LicenseKey]bool{}
	for range 2000 {
		k, err := NewLicenseKey("RM", nil)
		require.NoError(t, err)
		assert.Regexp(t, `^RM-[`+KeyAlphabet+`]{4}-[`+KeyAlphabet+`]{4}-[`+KeyAlphabet+`]{4}-[`+KeyAlphabet+`]{4}$`, string(k))
		assert.False(t, seen[k], "duplicate key %s", k)
		seen[k] = true
		parsed, err := ParseLicenseKey("license_key", string(k))
		require.NoError(t, err)
		assert.Equal(t, k, parsed)
	}
}

func TestNewLicenseKeyUsesAllEightyBits(t *testing.T) {
	// All-zero and all-one inputs map to the first and last symbols: every
	// bit of the 10 bytes lands in the key.
	k, err := NewLicenseKey("AB", bytes.NewReader(make([]byte, 10)))
	require.NoError(t, err)
	assert.Equal(t, LicenseKey("AB-2222-2222-2222-2222"), k)
	k, err = NewLicenseKey("AB", bytes.NewReader(bytes.Repeat([]byte{0xff}, 10)))
	require.NoError(t, err)
	assert.Equal(t, LicenseKey("AB-ZZZZ-ZZZZ-ZZZZ-ZZZZ"), k)
	// A short random source is an error, not a weak key.
	_, err = NewLicenseKey("AB", bytes.NewReader(make([]byte, 9)))
	assert.Error(t, err)
	_, err = NewLicenseKey("AB", rand.Reader)
	assert.NoError(t, err)
}

func TestParseLicenseKey(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"RM-ABCD-EFGH-JKLM-NPQR", "RM-ABCD-EFGH-JKLM-NPQR", true},
		{"  rm-abcd-efgh-jkLM-npqr ", "RM-ABCD-EFGH-JKLM-NPQR", true},
		{"WPR-2345-6789-ABCD-WXYZ", "WPR-2345-6789-ABCD-WXYZ", true},
		{"", "", false},
		{"RM-ABCD-EFGH-JKLM", "", false},
		{"RM-ABCD-EFGH-JKLM-NPQ0", "", false}, // 0 is not in the alphabet
		{"RM-ABCD-EFGH-JKLM-NPQI", "", false}, // I is not either
		{"RM_ABCD_EFGH_JKLM_NPQR", "", false},
		{"TOOLONGP-ABCD-EFGH-JKLM-NPQR", "", false},
		{"RM-ABCD-EFGH-JKLM-NPQR-", "", false},
		{strings.Repeat("A", 1000), "", false},
	}
	for _, tt := range tests {
		got, err := ParseLicenseKey("license_key", tt.in)
		if !tt.ok {
			assert.Equal(t, CodeValidation, ErrorCode(err), "input %q", tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, LicenseKey(tt.want), got)
	}
}

func TestMaskedKeyHidesTheSecret(t *testing.T) {
	k := LicenseKey("RM-ABCD-EFGH-JKLM-NPQR")
	assert.Equal(t, "RM-****-****-****-NPQR", k.Masked())
	assert.NotContains(t, k.Masked(), "ABCD")
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{"rm": "RM", "WPR": "WPR", "A1": "A1", " seo ": "SEO"} {
		got, err := ParsePrefix("prefix", in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{"", "R", "1A", "TOOLONG", "R-M", "RÖ"} {
		_, err := ParsePrefix("prefix", in)
		assert.Equal(t, CodeValidation, ErrorCode(err), in)
	}
}

func FuzzParseLicenseKey(f *testing.F) {
	for _, s := range []string{"RM-ABCD-EFGH-JKLM-NPQR", "rm-abcd-efgh-jklm-npqr", "", "RM--", "WPR-2345-6789-ABCD-WXYZ\x00", "ÄÖ-ABCD-EFGH-JKLM-NPQR"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseLicenseKey("license_key", s)
		if err != nil {
			if ErrorCode(err) != CodeValidation {
				t.Fatalf("unexpected error kind %v", err)
			}
			return
		}
		// A parsed key is canonical: parsing it again is the identity.
		again, err := ParseLicenseKey("license_key", string(k))
		if err != nil || again != k {
			t.Fatalf("not canonical: %q -> %q (%v)", k, again, err)
		}
		if len(k) > MaxKeyLength || strings.ToUpper(string(k)) != string(k) {
			t.Fatalf("bad key %q", k)
		}
	})
}
