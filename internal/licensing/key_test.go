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

func TestRedactKeys(t *testing.T) {
	for in, want := range map[string]string{
		"/api/v1/brand/licenses/RM-ABCD-EFGH-JKLM-GLK7":             "/api/v1/brand/licenses/RM-****-****-****-GLK7",
		"/x/rm-abcd-efgh-jklm-glk7/y":                               "/x/rm-****-****-****-glk7/y",
		"/check?license_key=WPR-2345-6789-ABCD-EFGH&instance=a.com": "/check?license_key=WPR-****-****-****-EFGH&instance=a.com",
		"RM-ABCD-EFGH-JKLM-NPQR,RM-2345-6789-ABCD-EFGH":             "RM-****-****-****-NPQR,RM-****-****-****-EFGH",
		"ABCDEFGH-XXXX-YYYY-ZZZZ-WWWW":                              "AB" + "CDEFGH-****-****-****-WWWW", // a prefix too long still hides the groups
		"/api/v1/brand/products/rankmath-pro":                       "/api/v1/brand/products/rankmath-pro",
		"XXXX-XXXX-XXXX-XXXX-RMXX-2345-6789-ABCD-EFGH":              "XXXX-****-****-****-RMXX-****-****-****-EFGH", // a key right after another
		"": "",
	} {
		got := RedactKeys(in)
		assert.Equal(t, want, got, in)
	}
	k, err := NewLicenseKey("RM", nil)
	require.NoError(t, err)
	assert.Equal(t, k.Masked(), RedactKeys(string(k)), "the same mask as Masked")
}

// FuzzRedactKeys: whatever the text, nothing shaped like a key is left, and
// text without one is unchanged.
func FuzzRedactKeys(f *testing.F) {
	for _, s := range []string{"/api/v1/brand/licenses/RM-ABCD-EFGH-JKLM-GLK7", "?license_key=rm-abcd-efgh-jklm-glk7&x=1",
		"XXXX-XXXX-XXXX-XXXX-RMXX-2345-6789-ABCD-EFGH", "RM-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG", "ABCDEFGH-XXXX-YYYY-ZZZZ-WWWW", "", "-", "a-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := RedactKeys(s)
		if keyLike.MatchString(got) {
			t.Fatalf("RedactKeys(%q) = %q: a key is left", s, got)
		}
		if !keyLike.MatchString(s) && got != s {
			t.Fatalf("RedactKeys(%q) = %q: changed a text without a key", s, got)
		}
		if RedactKeys(got) != got {
			t.Fatalf("RedactKeys is not idempotent on %q", s)
		}
	})
}
