package licensing_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/licensing"
)

func TestParseVersion(t *testing.T) {
	for raw, want := range map[string]string{"1.2.3": "1.2.3", " 0.0.1 ": "0.0.1", "10.20.30-beta.1": "10.20.30-beta.1", "1.0.0-rc-1": "1.0.0-rc-1"} {
		v, err := licensing.ParseVersion("version", raw)
		require.NoError(t, err, raw)
		assert.Equal(t, want, v.String())
	}
	for _, raw := range []string{"", "1", "1.2", "01.2.3", "1.02.3", "1.2.3-", "1.2.3-beta..1", "1.2.3-01", "v1.2.3", "1.2.3.4", "1.2.x", "1.2.3+build", "1.2.3-béta", strings.Repeat("1", 70) + ".0.0", "1234567890.0.0"} {
		_, err := licensing.ParseVersion("version", raw)
		require.Error(t, err, raw)
		assert.Equal(t, licensing.CodeValidation, licensing.ErrorCode(err), raw)
	}
}

func TestParseInstalledVersion(t *testing.T) {
	for raw, want := range map[string]string{"1.4": "1.4.0", "v2": "2.0.0", "1.4.2-beta": "1.4.2-beta"} {
		v, err := licensing.ParseInstalledVersion("version", raw)
		require.NoError(t, err, raw)
		assert.Equal(t, want, v.String())
	}
	_, err := licensing.ParseInstalledVersion("version", "latest")
	assert.Error(t, err)
}

func TestVersionOrder(t *testing.T) {
	// SemVer 2.0's own example order, then numeric parts.
	ordered := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
		"1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"}
	for i := range ordered {
		for j := range ordered {
			a, _ := licensing.ParseVersion("v", ordered[i])
			b, _ := licensing.ParseVersion("v", ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			assert.Equal(t, want, a.Compare(b), "%s vs %s", ordered[i], ordered[j])
		}
	}
}

var product = licensing.Product{ID: "prd_1", Brand: "b", Slug: "seo-pro", Name: "SEO Pro"}

func validInput() licensing.ReleaseInput {
	size := int64(1234)
	return licensing.ReleaseInput{Version: "1.2.0", Changelog: "- fix", RequiresWP: "6.1", TestedWP: "6.7", RequiresPHP: "7.4",
		PackageSHA256: strings.Repeat("AB", 32), PackageSize: &size}
}

func TestNewRelease(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r, err := licensing.NewRelease(product, validInput(), now)
	require.NoError(t, err)
	assert.Equal(t, licensing.ChannelStable, r.Channel)
	assert.Equal(t, licensing.ReleasePendingUpload, r.Status)
	assert.Equal(t, strings.Repeat("ab", 32), r.SHA256, "lower case")
	assert.Equal(t, "packages/b/prd_1/1.2.0.zip", r.ObjectKey())
	assert.Equal(t, "seo-pro-1.2.0.zip", r.FileName())

	big := int64(licensing.MaxPackageSize + 1)
	zero := int64(0)
	cases := map[string]func(*licensing.ReleaseInput){
		"version":        func(in *licensing.ReleaseInput) { in.Version = "1.2" },
		"channel":        func(in *licensing.ReleaseInput) { in.Channel = "nightly" },
		"changelog":      func(in *licensing.ReleaseInput) { in.Changelog = strings.Repeat("x", licensing.MaxChangelogBytes+1) },
		"requires_wp":    func(in *licensing.ReleaseInput) { in.RequiresWP = "six" },
		"tested_wp":      func(in *licensing.ReleaseInput) { in.TestedWP = "6.1-beta" },
		"requires_php":   func(in *licensing.ReleaseInput) { in.RequiresPHP = "7.4.0.1" },
		"package_sha256": func(in *licensing.ReleaseInput) { in.PackageSHA256 = "abc" },
		"package_size":   func(in *licensing.ReleaseInput) { in.PackageSize = &big },
	}
	cases["package_size "] = func(in *licensing.ReleaseInput) { in.PackageSize = nil }
	cases["package_size  "] = func(in *licensing.ReleaseInput) { in.PackageSize = &zero }
	cases["version "] = func(in *licensing.ReleaseInput) { in.Version = "2.0.0-beta.1" } // a pre-release on stable
	for field, edit := range cases {
		in := validInput()
		edit(&in)
		_, err := licensing.NewRelease(product, in, now)
		require.Error(t, err, field)
		e, ok := err.(*licensing.Error)
		require.True(t, ok)
		assert.Equal(t, licensing.CodeValidation, e.Code, field)
		assert.Equal(t, strings.TrimSpace(field), e.Field)
	}
	in := validInput()
	in.Version, in.Channel = "2.0.0-beta.1", "beta"
	_, err = licensing.NewRelease(product, in, now)
	assert.NoError(t, err, "a pre-release on beta")
}

func TestReleaseTransitions(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r, err := licensing.NewRelease(product, validInput(), now)
	require.NoError(t, err)
	p, err := r.Publish(now.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, licensing.ReleasePublished, p.Status)
	assert.Equal(t, r.Rev+1, p.Rev)
	_, err = p.Publish(now)
	assert.Equal(t, licensing.CodeInvalidTransition, licensing.ErrorCode(err))
	y, err := p.Yank(now)
	require.NoError(t, err)
	assert.Equal(t, licensing.ReleaseYanked, y.Status)
	_, err = y.Yank(now)
	assert.Equal(t, licensing.CodeInvalidTransition, licensing.ErrorCode(err))
	_, err = y.Publish(now)
	assert.Equal(t, licensing.CodeInvalidTransition, licensing.ErrorCode(err), "a yanked release is never offered again")
	py, err := r.Yank(now)
	require.NoError(t, err, "a pending release can be yanked (its version is then used up)")
	assert.Equal(t, licensing.ReleaseYanked, py.Status)
}

func TestLatestRelease(t *testing.T) {
	rel := func(v string, ch licensing.Channel, st licensing.ReleaseStatus) licensing.Release {
		ver, err := licensing.ParseVersion("v", v)
		require.NoError(t, err)
		return licensing.Release{Version: ver, Channel: ch, Status: st}
	}
	rs := []licensing.Release{
		rel("1.0.0", licensing.ChannelStable, licensing.ReleasePublished),
		rel("1.2.0", licensing.ChannelStable, licensing.ReleaseYanked),
		rel("1.1.0", licensing.ChannelStable, licensing.ReleasePublished),
		rel("1.3.0", licensing.ChannelStable, licensing.ReleasePendingUpload),
		rel("2.0.0-beta.2", licensing.ChannelBeta, licensing.ReleasePublished),
		rel("2.0.0-beta.10", licensing.ChannelBeta, licensing.ReleasePublished),
	}
	l, ok := licensing.LatestRelease(rs, licensing.ChannelStable)
	require.True(t, ok)
	assert.Equal(t, "1.1.0", l.Version.String(), "not yanked, not pending, never a beta")
	l, ok = licensing.LatestRelease(rs, licensing.ChannelBeta)
	require.True(t, ok)
	assert.Equal(t, "2.0.0-beta.10", l.Version.String(), "a newer beta over the stable")
	rs = append(rs, rel("2.0.0", licensing.ChannelStable, licensing.ReleasePublished))
	l, _ = licensing.LatestRelease(rs, licensing.ChannelBeta)
	assert.Equal(t, "2.0.0", l.Version.String(), "a stable newer than every beta wins on beta too")
	_, ok = licensing.LatestRelease(nil, licensing.ChannelStable)
	assert.False(t, ok)

	licensing.SortReleases(rs)
	assert.Equal(t, "2.0.0", rs[0].Version.String())
	assert.Equal(t, "1.0.0", rs[len(rs)-1].Version.String())
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.2.3", "1.0.0-beta.1", "01.0.0", "1.2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := licensing.ParseVersion("version", s)
		if err != nil {
			return
		}
		again, err := licensing.ParseVersion("version", v.String())
		require.NoError(t, err, "%q prints as %q", s, v)
		assert.Equal(t, 0, v.Compare(again))
		assert.Equal(t, v, again)
	})
}
