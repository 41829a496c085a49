package licensing

import (
	"cmp"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of a release.
const (
	MaxChangelogBytes  = 64 << 10    // 64 KiB of Markdown
	MaxPackageSize     = 200_000_000 // 200 MB: what a presigned upload may carry
	MaxVersionLength   = 64
	MaxPlatformVersion = 16 // requires_wp, tested_wp, requires_php
)

// Channel is a release channel.
type Channel string

// The release channels: stable sites never see a beta; beta sites get the
// newest of both.
const (
	ChannelStable Channel = "stable"
	ChannelBeta   Channel = "beta"
)

// Channels lists every channel.
var Channels = []Channel{ChannelStable, ChannelBeta}

// ReleaseStatus is where a release is in its life.
type ReleaseStatus string

// Release statuses: created and waiting for its package, offered to sites,
// withdrawn for good.
const (
	ReleasePendingUpload ReleaseStatus = "pending_upload"
	ReleasePublished     ReleaseStatus = "published"
	ReleaseYanked        ReleaseStatus = "yanked"
)

// Error codes of releases.
const (
	CodePackageMissing  Code = "package_missing"
	CodePackageMismatch Code = "package_mismatch"
	CodeReleaseNotFound Code = "release_not_found"
	// CodeDownloadExpired refuses a package download link past its time.
	CodeDownloadExpired Code = "download_link_expired"
	// CodeReleasesUnavailable: the service runs without a release bucket.
	CodeReleasesUnavailable Code = "releases_unavailable"
	// CodeSiteInactive is why an update carries no package: the site holds
	// no seat on the license.
	CodeSiteInactive Code = "site_inactive"
	// CodeNoRelease is why an update carries no package: nothing is
	// published on the channel.
	CodeNoRelease Code = "no_release"
)

// Version is a semantic version MAJOR.MINOR.PATCH with an optional
// pre-release suffix (1.4.0-beta.2), compared as SemVer 2.0 compares them.
type Version struct {
	Major, Minor, Patch int
	Pre                 string // without the dash; empty for a release
}

func (v Version) String() string {
	s := strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + "." + strconv.Itoa(v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// Prerelease reports whether v has a pre-release suffix.
func (v Version) Prerelease() bool { return v.Pre != "" }

// Compare orders versions: -1, 0 or +1. A pre-release sorts before its
// release; pre-release identifiers compare numerically when both are
// numbers, else as text, and a shorter list of equal identifiers first.
func (v Version) Compare(w Version) int {
	if c := cmp.Or(cmp.Compare(v.Major, w.Major), cmp.Compare(v.Minor, w.Minor), cmp.Compare(v.Patch, w.Patch)); c != 0 {
		return c
	}
	switch {
	case v.Pre == w.Pre:
		return 0
	case v.Pre == "":
		return 1
	case w.Pre == "":
		return -1
	}
	a, b := strings.Split(v.Pre, "."), strings.Split(w.Pre, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		an, aerr := strconv.Atoi(a[i])
		bn, berr := strconv.Atoi(b[i])
		var c int
		switch {
		case aerr == nil && berr == nil:
			c = cmp.Compare(an, bn)
		case aerr == nil:
			c = -1 // numeric identifiers sort before alphanumeric ones
		case berr == nil:
			c = 1
		default:
			c = strings.Compare(a[i], b[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// ParseVersion reads a release version: MAJOR.MINOR.PATCH, numbers without
// leading zeros, and an optional -pre suffix of dot-separated identifiers
// of letters, digits and dashes.
func ParseVersion(field, raw string) (Version, error) {
	s, err := ParseText(field, raw, SingleLine)
	if err != nil {
		return Version{}, err
	}
	if s == "" {
		return Version{}, Invalid(field, "is required")
	}
	v, ok := parseVersion(s, 3)
	if !ok {
		return Version{}, Invalid(field, "must be a semantic version MAJOR.MINOR.PATCH with an optional -pre suffix, like 1.4.0 or 2.0.0-beta.1")
	}
	return v, nil
}

// ParseInstalledVersion reads the version a site reports it runs: like a
// release version, but MINOR and PATCH may be left out (WordPress plugins
// often say "1.4"), and a leading "v" is allowed.
func ParseInstalledVersion(field, raw string) (Version, error) {
	s, err := ParseText(field, raw, SingleLine)
	if err != nil {
		return Version{}, err
	}
	if v, ok := parseVersion(strings.TrimPrefix(s, "v"), 1); ok {
		return v, nil
	}
	return Version{}, Invalid(field, "must be a version like 1.4 or 1.4.2 (an optional -pre suffix allowed)")
}

// parseVersion reads at least minParts and at most three numbers.
func parseVersion(s string, minParts int) (Version, bool) {
	if len(s) > MaxVersionLength {
		return Version{}, false
	}
	core, pre, hasPre := strings.Cut(s, "-")
	if hasPre && !validPre(pre) {
		return Version{}, false
	}
	parts := strings.Split(core, ".")
	if len(parts) < minParts || len(parts) > 3 {
		return Version{}, false
	}
	var n [3]int
	for i, p := range parts {
		if p == "" || len(p) > 9 || (len(p) > 1 && p[0] == '0') || strings.Trim(p, "0123456789") != "" {
			return Version{}, false
		}
		n[i], _ = strconv.Atoi(p)
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2], Pre: pre}, true
}

func validPre(pre string) bool {
	if pre == "" {
		return false
	}
	for id := range strings.SplitSeq(pre, ".") {
		if id == "" || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") != "" {
			return false
		}
		if len(id) > 1 && id[0] == '0' && strings.Trim(id, "0123456789") == "" {
			return false // numeric identifiers have no leading zeros
		}
	}
	return true
}

// ParseChannel reads a channel; empty is stable.
func ParseChannel(field, raw string) (Channel, error) {
	s, err := ParseText(field, raw, SingleLine)
	if err != nil {
		return "", err
	}
	switch c := Channel(strings.ToLower(s)); c {
	case "":
		return ChannelStable, nil
	case ChannelStable, ChannelBeta:
		return c, nil
	}
	return "", Invalid(field, "must be %q or %q", ChannelStable, ChannelBeta)
}

// Release is one version of a product, and its package.
type Release struct {
	Brand       string
	ProductID   string
	ProductSlug string
	ProductName string
	Version     Version
	Channel     Channel
	Status      ReleaseStatus
	Changelog   string // Markdown
	RequiresWP  string
	TestedWP    string
	RequiresPHP string
	SHA256      string // hex, lower case
	Size        int64  // bytes
	CreatedAt   time.Time
	PublishedAt *time.Time
	YankedAt    *time.Time
	UpdatedAt   time.Time
	Rev         int // increases with every change; writes are conditioned on it
}

// ObjectKey is where the release's package lives in the release bucket.
func (r Release) ObjectKey() string {
	return "packages/" + r.Brand + "/" + r.ProductID + "/" + r.Version.String() + ".zip"
}

// FileName is the name a site saves the package under: <slug>-<version>.zip.
func (r Release) FileName() string { return r.ProductSlug + "-" + r.Version.String() + ".zip" }

// ReleaseInput is a new release as a brand describes it.
type ReleaseInput struct {
	Version       string
	Channel       string
	Changelog     string
	RequiresWP    string
	TestedWP      string
	RequiresPHP   string
	PackageSHA256 string
	PackageSize   *int64
}

// NewRelease validates a new release of product p.
func NewRelease(p Product, in ReleaseInput, now time.Time) (Release, error) {
	v, err := ParseVersion("version", in.Version)
	if err != nil {
		return Release{}, err
	}
	ch, err := ParseChannel("channel", in.Channel)
	if err != nil {
		return Release{}, err
	}
	if ch == ChannelStable && v.Prerelease() {
		return Release{}, Invalid("version", "a pre-release version (%s) belongs on the beta channel", v)
	}
	if len(in.Changelog) > MaxChangelogBytes {
		return Release{}, Invalid("changelog", "must be at most %d bytes of Markdown", MaxChangelogBytes)
	}
	// Markdown: TAB, LF and CR (CRLF files) are allowed, kept as sent.
	if err := CheckText("changelog", in.Changelog, MultiLine); err != nil {
		return Release{}, err
	}
	r := Release{Brand: p.Brand, ProductID: p.ID, ProductSlug: p.Slug, ProductName: p.Name, Version: v, Channel: ch, Status: ReleasePendingUpload,
		Changelog: in.Changelog, CreatedAt: now, UpdatedAt: now, Rev: 1}
	for _, f := range []struct {
		name string
		raw  string
		to   *string
	}{{"requires_wp", in.RequiresWP, &r.RequiresWP}, {"tested_wp", in.TestedWP, &r.TestedWP}, {"requires_php", in.RequiresPHP, &r.RequiresPHP}} {
		s, err := ParseText(f.name, f.raw, SingleLine)
		if err != nil {
			return Release{}, err
		}
		if s == "" {
			continue
		}
		if _, ok := parseVersion(s, 1); !ok || len(s) > MaxPlatformVersion || strings.Contains(s, "-") {
			return Release{}, Invalid(f.name, "must be a version like 6.1 or 8.0.2")
		}
		*f.to = s
	}
	sum, err := ParseText("package_sha256", in.PackageSHA256, SingleLine)
	if err != nil {
		return Release{}, err
	}
	sum = strings.ToLower(sum)
	if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
		return Release{}, Invalid("package_sha256", "is required: the SHA-256 of the package, 64 hex digits")
	}
	r.SHA256 = sum
	switch {
	case in.PackageSize == nil:
		return Release{}, Invalid("package_size", "is required: the package's size in bytes")
	case *in.PackageSize < 1 || *in.PackageSize > MaxPackageSize:
		return Release{}, Invalid("package_size", "must be between 1 and %d bytes (200 MB)", MaxPackageSize)
	}
	r.Size = *in.PackageSize
	return r, nil
}

// Publish makes a pending release available, once its package was found
// with the declared size and digest (the caller checks them).
func (r Release) Publish(now time.Time) (Release, error) {
	if r.Status != ReleasePendingUpload {
		return r, Errorf(CodeInvalidTransition, "release %s is %s; only a pending_upload release can be published", r.Version, r.Status)
	}
	r.Status, r.PublishedAt, r.UpdatedAt, r.Rev = ReleasePublished, &now, now, r.Rev+1
	return r, nil
}

// Yank withdraws a release for good: it is never offered again.
func (r Release) Yank(now time.Time) (Release, error) {
	if r.Status == ReleaseYanked {
		return r, Errorf(CodeInvalidTransition, "release %s is already yanked", r.Version)
	}
	r.Status, r.YankedAt, r.UpdatedAt, r.Rev = ReleaseYanked, &now, now, r.Rev+1
	return r, nil
}

// SortReleases orders releases newest version first.
func SortReleases(rs []Release) {
	slices.SortStableFunc(rs, func(a, b Release) int { return b.Version.Compare(a.Version) })
}

// LatestRelease is the release a site on channel is offered: the highest
// published version of the stable channel, or for beta the highest
// published version of either channel. ok is false when there is none.
func LatestRelease(rs []Release, ch Channel) (latest Release, ok bool) {
	for _, r := range rs {
		if r.Status != ReleasePublished || (ch == ChannelStable && r.Channel != ChannelStable) {
			continue
		}
		if !ok || r.Version.Compare(latest.Version) > 0 {
			latest, ok = r, true
		}
	}
	return latest, ok
}

// ReleaseState is a release as its events report it.
type ReleaseState struct {
	Version       string        `json:"version"`
	Channel       Channel       `json:"channel"`
	Status        ReleaseStatus `json:"status"`
	PackageSHA256 string        `json:"package_sha256"`
	PackageSize   int64         `json:"package_size"`
	PublishedAt   *time.Time    `json:"published_at"`
}

// ReleaseEvent is the event of a release published or yanked.
func ReleaseEvent(t EventType, r Release, actor Actor) Event {
	e := newEvent(t, r.Brand, r.UpdatedAt, actor)
	e.ProductID, e.Product = r.ProductID, r.ProductSlug
	e.Release = &ReleaseState{Version: r.Version.String(), Channel: r.Channel, Status: r.Status,
		PackageSHA256: r.SHA256, PackageSize: r.Size, PublishedAt: r.PublishedAt}
	return e
}
