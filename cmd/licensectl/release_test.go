package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/bucket/buckettest"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/licensing"
)

// releaseFixture is the embedded engine and the embedded S3, with brand
// acme and its product acme-pro.
type releaseFixture struct {
	*fixture
	s3  *buckettest.Server
	dir string
}

func newReleaseFixture(t *testing.T) *releaseFixture {
	t.Helper()
	f := &releaseFixture{fixture: newFixture(t), s3: buckettest.Start(t), dir: t.TempDir()}
	f.fixture.ok("brand", "create", "--slug", "acme", "--name", "Acme", "--prefix", "AC")
	f.fixture.ok("product", "create", "--brand", "acme", "--slug", "acme-pro", "--name", "Acme Pro")
	return f
}

// s3Args are the bucket's global flags, then args.
func (f *releaseFixture) s3Args(args []string) []string {
	return append([]string{"--s3-endpoint", f.s3.URL, "--bucket", buckettest.Bucket}, args...)
}

func (f *releaseFixture) run(args ...string) outcome {
	f.t.Helper()
	return f.fixture.run(f.s3Args(args)...)
}
func (f *releaseFixture) ok(args ...string) string {
	f.t.Helper()
	return f.fixture.ok(f.s3Args(args)...)
}
func (f *releaseFixture) okJSON(v any, args ...string) {
	f.t.Helper()
	f.fixture.okJSON(v, f.s3Args(args)...)
}
func (f *releaseFixture) fails(code licensing.Code, message string, args ...string) {
	f.t.Helper()
	f.fixture.fails(code, message, f.s3Args(args)...)
}

// zipFile writes a plugin zip whose PHP file holds content, stored (not
// compressed) at a fixed time: contents of one length make zips of one size.
func (f *releaseFixture) zipFile(name, content string) (string, []byte) {
	f.t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	w, err := z.CreateHeader(&zip.FileHeader{Name: "acme-pro/acme-pro.php", Method: zip.Store, Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(f.t, err)
	_, err = io.WriteString(w, content)
	require.NoError(f.t, err)
	require.NoError(f.t, z.Close())
	path := filepath.Join(f.dir, name)
	require.NoError(f.t, os.WriteFile(path, buf.Bytes(), 0o600))
	return path, buf.Bytes()
}

func (f *releaseFixture) writeFile(name, content string) string {
	f.t.Helper()
	path := filepath.Join(f.dir, name)
	require.NoError(f.t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

var acme = licensing.Tenant{Brand: "acme", KeyPrefix: "AC"}

// stored reads the product's releases from the table, newest first.
func (f *releaseFixture) stored() []licensing.Release {
	f.t.Helper()
	_, rs, err := app.New(f.eng.Store, nil).ListReleases(f.t.Context(), acme, "acme-pro")
	require.NoError(f.t, err)
	return rs
}

// release reads one stored release.
func (f *releaseFixture) release(version string) licensing.Release {
	f.t.Helper()
	for _, r := range f.stored() {
		if r.Version.String() == version {
			return r
		}
	}
	f.t.Fatalf("no stored release %s", version)
	return licensing.Release{}
}

// object reads a release's package from the bucket; nil when there is none.
func (f *releaseFixture) object(r licensing.Release) []byte {
	f.t.Helper()
	_, found, err := f.s3.Store.Stat(f.t.Context(), r.ObjectKey())
	require.NoError(f.t, err)
	if !found {
		return nil
	}
	out, err := f.s3.Store.Client().GetObject(f.t.Context(), &s3.GetObjectInput{Bucket: aws.String(buckettest.Bucket), Key: aws.String(r.ObjectKey())})
	require.NoError(f.t, err)
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	require.NoError(f.t, err)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// One step from a zip to a release ready to publish; --no-upload then
// release upload; publish, list and yank, as text.
func TestReleaseLifecycleText(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t)
	assert.Equal(t, "Product acme-pro of brand acme has no releases.\n", f.ok("release", "list", "--brand", "acme", "--product", "acme-pro"))

	path, pkg := f.zipFile("acme-pro-1.0.0.zip", "<?php // 1.0.0")
	out := f.ok("release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path)
	assert.True(t, strings.HasPrefix(out, "Created release 1.0.0 of acme-pro (brand acme) and uploaded "+path+" ("+strconv.Itoa(len(pkg))+" bytes).\n"), out)
	got := fieldsOf(out)
	assert.Equal(t, "pending_upload", got["status"])
	assert.Equal(t, "stable", got["channel"])
	assert.Equal(t, strconv.Itoa(len(pkg)), got["package_size"])
	assert.Equal(t, sha(pkg), got["package_sha256"])
	assert.Equal(t, "-", got["requires_wp"])
	assert.Regexp(t, stampPattern, got["created_at"])
	assert.Contains(t, out, "Publish it: licensectl release publish --brand acme --product acme-pro --version 1.0.0\n")
	r := f.release("1.0.0")
	assert.Equal(t, licensing.ReleasePendingUpload, r.Status)
	assert.Equal(t, sha(pkg), r.SHA256)
	assert.Equal(t, int64(len(pkg)), r.Size)
	assert.Equal(t, pkg, f.object(r), "the zip is in the bucket, byte for byte")

	out = f.ok("release", "publish", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0")
	assert.True(t, strings.HasPrefix(out, "Published release 1.0.0 of acme-pro (brand acme): sites on the stable channel are offered it.\n"), out)
	got = fieldsOf(out)
	assert.Equal(t, "published", got["status"])
	assert.Regexp(t, stampPattern, got["published_at"])
	latest, ok, err := app.New(f.eng.Store, nil).LatestStable(t.Context(), licensing.License{Brand: "acme", ProductID: r.ProductID})
	require.NoError(t, err)
	require.True(t, ok, "the stable channel offers it")
	assert.Equal(t, "1.0.0", latest.Version.String())

	// A beta with its metadata, created without its package.
	beta, betaPkg := f.zipFile("beta.zip", "<?php // 1.1.0-beta.1, longer")
	changelog := f.writeFile("CHANGELOG.md", "## 1.1.0-beta.1\n\n- Faster.\n")
	out = f.ok("release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.1.0-beta.1", "--file", beta,
		"--channel", "beta", "--changelog-file", changelog, "--requires-wp", "6.0", "--tested-wp", "6.7", "--requires-php", "7.4", "--no-upload")
	assert.True(t, strings.HasPrefix(out, "Created release 1.1.0-beta.1 of acme-pro (brand acme); its package is not uploaded yet.\n"), out)
	got = fieldsOf(out)
	assert.Equal(t, "beta", got["channel"])
	assert.Equal(t, "6.0", got["requires_wp"])
	assert.Equal(t, "6.7", got["tested_wp"])
	assert.Equal(t, "7.4", got["requires_php"])
	assert.Equal(t, "PUT", got["method"])
	assert.True(t, strings.HasPrefix(got["url"], f.s3.URL+"/"), got["url"])
	assert.Regexp(t, stampPattern, got["expires_at"])
	assert.Regexp(t, `(?m)^header +x-amz-checksum-sha256: [A-Za-z0-9+/]{43}=$`, out)
	assert.Regexp(t, `(?m)^header +Content-Length: `+strconv.Itoa(len(betaPkg))+`$`, out)
	assert.Regexp(t, `(?m)^header +Content-Type: application/zip$`, out)
	assert.Contains(t, out, "licensectl release upload --brand acme --product acme-pro --version 1.1.0-beta.1 --file "+beta)
	b := f.release("1.1.0-beta.1")
	assert.Equal(t, "## 1.1.0-beta.1\n\n- Faster.\n", b.Changelog)
	assert.Equal(t, licensing.ChannelBeta, b.Channel)
	assert.Nil(t, f.object(b), "--no-upload uploads nothing")

	// Publishing before the upload: package_missing, nothing changes.
	f.fails(licensing.CodePackageMissing, "no package was uploaded for release 1.1.0-beta.1: PUT it to the upload URL first",
		"release", "publish", "--brand", "acme", "--product", "acme-pro", "--version", "1.1.0-beta.1")
	assert.Equal(t, licensing.ReleasePendingUpload, f.release("1.1.0-beta.1").Status)

	out = f.ok("release", "upload", "--brand", "acme", "--product", "acme-pro", "--version", "1.1.0-beta.1", "--file", beta)
	assert.True(t, strings.HasPrefix(out, "Uploaded "+beta+" ("+strconv.Itoa(len(betaPkg))+" bytes) for release 1.1.0-beta.1 of acme-pro (brand acme).\n"), out)
	assert.Equal(t, "pending_upload", fieldsOf(out)["status"])
	assert.Equal(t, betaPkg, f.object(b))
	f.ok("release", "publish", "--brand", "acme", "--product", "acme-pro", "--version", "1.1.0-beta.1")

	// A published release takes no upload.
	f.fails(licensing.CodeInvalidTransition, "release 1.1.0-beta.1 is published: its package can no longer be uploaded",
		"release", "upload", "--brand", "acme", "--product", "acme-pro", "--version", "1.1.0-beta.1", "--file", beta)

	out = f.ok("release", "yank", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0")
	assert.True(t, strings.HasPrefix(out, "Yanked release 1.0.0 of acme-pro (brand acme): no site is offered it again.\n"), out)
	assert.Regexp(t, stampPattern, fieldsOf(out)["yanked_at"])
	assert.Equal(t, licensing.ReleaseYanked, f.release("1.0.0").Status)
	_, ok, err = app.New(f.eng.Store, nil).LatestStable(t.Context(), licensing.License{Brand: "acme", ProductID: r.ProductID})
	require.NoError(t, err)
	assert.False(t, ok, "the stable channel offers nothing once 1.0.0 is yanked")
	f.fails(licensing.CodeInvalidTransition, "release 1.0.0 is already yanked",
		"release", "yank", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0")

	// The list, newest version first, aligned; the product by id works too.
	out = f.ok("release", "list", "--brand", "acme", "--product", r.ProductID)
	rs := rows(out)
	require.Len(t, rs, 3, out)
	assert.Equal(t, []string{"VERSION", "CHANNEL", "STATUS", "SIZE", "PUBLISHED_AT"}, rs[0])
	assert.Equal(t, []string{"1.1.0-beta.1", "beta", "published", strconv.Itoa(len(betaPkg))}, rs[1][:4])
	assert.Equal(t, []string{"1.0.0", "stable", "yanked", strconv.Itoa(len(pkg))}, rs[2][:4])
	assert.Regexp(t, stampPattern, rs[1][4])
	assert.Regexp(t, stampPattern, rs[2][4])
	lines := strings.Split(out, "\n")
	assert.Equal(t, strings.Index(lines[0], "STATUS"), strings.Index(lines[2], "yanked"))
}

// Every release command's --json output is one document of the documented
// shape; the presigned upload of --no-upload works as printed.
func TestReleaseJSON(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t)
	var empty releaseList
	f.okJSON(&empty, "release", "list", "--brand", "acme", "--product", "acme-pro")
	assert.NotNil(t, empty.Releases, "an empty list is [], not null")
	assert.Contains(t, f.ok("--json", "release", "list", "--brand", "acme", "--product", "acme-pro"), `"releases": []`)

	path, pkg := f.zipFile("p.zip", "<?php // 2.0.0")
	var created releasePackage
	f.okJSON(&created, "release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "2.0.0", "--file", path, "--tested-wp", "6.7")
	assert.True(t, created.Uploaded)
	assert.Nil(t, created.Upload)
	assert.Equal(t, path, created.File)
	rel := created.Release
	assert.Equal(t, releaseView{Brand: "acme", Product: "acme-pro", ProductID: rel.ProductID, Version: "2.0.0", Channel: "stable",
		Status: "pending_upload", TestedWP: "6.7", PackageSHA256: sha(pkg), PackageSize: int64(len(pkg)), CreatedAt: rel.CreatedAt}, rel)
	assert.Regexp(t, `^prd_`, rel.ProductID)
	assert.Regexp(t, stampPattern, rel.CreatedAt)
	assert.Equal(t, pkg, f.object(f.release("2.0.0")))

	var published releaseChanged
	f.okJSON(&published, "release", "publish", "--brand", "acme", "--product", "acme-pro", "--version", "2.0.0")
	assert.Equal(t, "published", published.Release.Status)
	assert.Regexp(t, stampPattern, published.Release.PublishedAt)
	assert.Empty(t, published.Release.YankedAt)
	o := f.run("--json", "release", "publish", "--brand", "acme", "--product", "acme-pro", "--version", "2.0.0")
	assert.Equal(t, 1, o.code, "published twice")
	assert.Equal(t, string(licensing.CodeInvalidTransition), decodeError(t, o.stdout).Code)

	// --no-upload: the request to make, which works as printed.
	path2, pkg2 := f.zipFile("p2.zip", "<?php // 2.1.0, longer")
	var pending releasePackage
	f.okJSON(&pending, "release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "2.1.0", "--file", path2, "--no-upload")
	assert.False(t, pending.Uploaded)
	require.NotNil(t, pending.Upload)
	up := pending.Upload
	assert.Equal(t, http.MethodPut, up.Method)
	u, err := url.Parse(up.URL)
	require.NoError(t, err)
	assert.NotEmpty(t, u.Query().Get("X-Amz-Signature"))
	assert.Equal(t, strconv.Itoa(len(pkg2)), up.Headers["Content-Length"])
	assert.Equal(t, "application/zip", up.Headers["Content-Type"])
	assert.NotEmpty(t, up.Headers["x-amz-checksum-sha256"])
	expires, err := time.Parse(time.RFC3339, up.ExpiresAt)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(app.MaxPresignTTL), expires, time.Minute)
	require.NoError(t, demo.Upload(t.Context(), nil, app.Presigned{URL: up.URL, Method: up.Method, Headers: up.Headers}, pkg2))
	assert.Equal(t, pkg2, f.object(f.release("2.1.0")))
	f.okJSON(&published, "release", "publish", "--brand", "acme", "--product", "acme-pro", "--version", "2.1.0")
	assert.Equal(t, "published", published.Release.Status)

	// release upload in JSON.
	path3, pkg3 := f.zipFile("p3.zip", "<?php // 2.2.0")
	f.okJSON(&pending, "release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "2.2.0", "--file", path3, "--no-upload")
	var uploaded releasePackage
	f.okJSON(&uploaded, "release", "upload", "--brand", "acme", "--product", "acme-pro", "--version", "2.2.0", "--file", path3)
	assert.True(t, uploaded.Uploaded)
	assert.Nil(t, uploaded.Upload)
	assert.Equal(t, "pending_upload", uploaded.Release.Status)
	assert.Equal(t, pkg3, f.object(f.release("2.2.0")))

	var yanked releaseChanged
	f.okJSON(&yanked, "release", "yank", "--brand", "acme", "--product", "acme-pro", "--version", "2.0.0")
	assert.Equal(t, "yanked", yanked.Release.Status)
	assert.Regexp(t, stampPattern, yanked.Release.YankedAt)

	var l releaseList
	f.okJSON(&l, "release", "list", "--brand", "acme", "--product", "acme-pro")
	assert.Equal(t, "acme", l.Brand)
	assert.Equal(t, productView{ID: rel.ProductID, Slug: "acme-pro", Name: "Acme Pro"}, l.Product)
	var got [][2]string
	for _, r := range l.Releases {
		got = append(got, [2]string{r.Version, r.Status})
	}
	assert.Equal(t, [][2]string{{"2.2.0", "pending_upload"}, {"2.1.0", "published"}, {"2.0.0", "yanked"}}, got)

	// The raw keys of a release, as documented.
	raw := f.ok("--json", "release", "list", "--brand", "acme", "--product", "acme-pro")
	var doc struct {
		Releases []map[string]json.RawMessage `json:"releases"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &doc))
	keys := make([]string, 0)
	for k := range doc.Releases[1] {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{"brand", "product", "product_id", "version", "channel", "status", "changelog", "requires_wp",
		"tested_wp", "requires_php", "package_sha256", "package_size", "created_at", "published_at"}, keys)
}

// An upload of other bytes is refused before anything is sent: the release
// stays pending and publishing it finds no package.
func TestReleaseUploadMismatch(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t)
	path, pkg := f.zipFile("good.zip", "<?php // version 1.0.0")
	f.ok("release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path, "--no-upload")

	// Same size, other bytes: the SHA-256 differs.
	other, otherPkg := f.zipFile("other.zip", "<?php // version 9.9.9")
	require.Len(t, otherPkg, len(pkg))
	require.NotEqual(t, pkg, otherPkg)
	size := strconv.Itoa(len(pkg))
	f.fails(licensing.CodePackageMismatch, other+" is not the package release 1.0.0 declares ("+size+" bytes, SHA-256 "+sha(pkg)+
		"): it has "+size+" bytes, SHA-256 "+sha(otherPkg)+"; nothing was uploaded",
		"release", "upload", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", other)

	// Another size.
	longer, longerPkg := f.zipFile("longer.zip", "<?php // version 1.0.0 and more")
	o := f.run("--json", "release", "upload", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", longer)
	assert.Equal(t, 1, o.code)
	e := decodeError(t, o.stdout)
	assert.Equal(t, string(licensing.CodePackageMismatch), e.Code)
	assert.Contains(t, e.Message, "it has "+strconv.Itoa(len(longerPkg))+" bytes")

	r := f.release("1.0.0")
	assert.Nil(t, f.object(r), "nothing was uploaded")
	assert.Equal(t, licensing.ReleasePendingUpload, r.Status)
	f.fails(licensing.CodePackageMissing, "no package was uploaded for release 1.0.0: PUT it to the upload URL first",
		"release", "publish", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0")

	// The right file still goes up, and then publishes.
	f.ok("release", "upload", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path)
	assert.Equal(t, pkg, f.object(r))
	f.ok("release", "publish", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0")
	assert.Equal(t, licensing.ReleasePublished, f.release("1.0.0").Status)
}

// A failed upload at create leaves the release pending and says how to go
// on; release upload then finishes the job.
func TestReleaseCreateUploadFails(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t)
	path, pkg := f.zipFile("p.zip", "<?php // 1.0.0")
	o := f.fixture.run("--s3-endpoint", f.s3.URL, "--bucket", "no-such-bucket",
		"release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path)
	assert.Equal(t, 1, o.code)
	assert.Empty(t, o.stdout)
	assert.True(t, strings.HasPrefix(o.stderr, "licensectl: release 1.0.0 of acme-pro was created (pending_upload), but the upload of "+path+" failed: "), o.stderr)
	assert.Contains(t, o.stderr, "licensectl release upload")
	r := f.release("1.0.0")
	assert.Equal(t, licensing.ReleasePendingUpload, r.Status)
	assert.Nil(t, f.object(r))

	f.ok("release", "upload", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path)
	assert.Equal(t, pkg, f.object(r))
}

// Unknown brands, products and releases, and files that are no package,
// exit 1 with their code.
func TestReleaseFailures(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t)
	path, _ := f.zipFile("p.zip", "<?php")
	for _, args := range [][]string{
		{"release", "create", "--brand", "acme", "--product", "ghost", "--version", "1.0.0", "--file", path},
		{"release", "upload", "--brand", "acme", "--product", "ghost", "--version", "1.0.0", "--file", path},
		{"release", "publish", "--brand", "acme", "--product", "ghost", "--version", "1.0.0"},
		{"release", "yank", "--brand", "acme", "--product", "ghost", "--version", "1.0.0"},
		{"release", "list", "--brand", "acme", "--product", "ghost"},
	} {
		f.fails(licensing.CodeProductNotFound, "no such product", args...)
	}
	f.fails(licensing.CodeBrandNotFound, `no brand "ghost"`, "release", "list", "--brand", "ghost", "--product", "acme-pro")
	f.fails(licensing.CodeBrandNotFound, `no brand "ghost"`, "release", "create", "--brand", "ghost", "--product", "acme-pro", "--version", "1.0.0", "--file", path)
	f.fails(licensing.CodeReleaseNotFound, "no release 1.0.0 of this product", "release", "publish", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0")
	f.fails(licensing.CodeReleaseNotFound, `no release "nope" of this product`, "release", "upload", "--brand", "acme", "--product", "acme-pro", "--version", "nope", "--file", path)

	notZip := f.writeFile("notes.txt", "not a zip")
	o := f.run("--json", "release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", notZip)
	assert.Equal(t, 2, o.code, "a value that is not valid is a usage error")
	e := decodeError(t, o.stdout)
	assert.Equal(t, string(licensing.CodeValidation), e.Code)
	assert.True(t, strings.HasPrefix(e.Message, "file: "+notZip+" is not a zip archive"), e.Message)
	f.fails(licensing.CodeValidation, "file: "+f.writeFile("empty.zip", "")+" is empty",
		"release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", filepath.Join(f.dir, "empty.zip"))
	o = f.run("release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", filepath.Join(f.dir, "missing.zip"))
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, "file: open "+filepath.Join(f.dir, "missing.zip")+": no such file or directory (validation_error)")
	o = f.run("release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path, "--changelog-file", filepath.Join(f.dir, "nope.md"))
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, "changelog-file: open ")
	big := f.writeFile("big.md", strings.Repeat("x", licensing.MaxChangelogBytes+1))
	f.fails(licensing.CodeValidation, "changelog-file: "+big+" is larger than a changelog may be (65536 bytes of Markdown)",
		"release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path, "--changelog-file", big)
	f.fails(licensing.CodeValidation, "version: a pre-release version (1.0.0-rc.1) belongs on the beta channel",
		"release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0-rc.1", "--file", path)
	f.fails(licensing.CodeValidation, `channel: must be "stable" or "beta"`,
		"release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path, "--channel", "nightly")
	assert.Empty(t, f.stored(), "no failed create wrote a release")

	f.ok("release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path)
	o = f.run("--json", "release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path)
	assert.Equal(t, 1, o.code)
	assert.Equal(t, string(licensing.CodeAlreadyExists), decodeError(t, o.stdout).Code)
	assert.Len(t, f.stored(), 1)
}

// The bucket comes from the environment when no flag names it.
func TestReleaseEnvFallback(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t)
	path, pkg := f.zipFile("p.zip", "<?php")
	env := map[string]string{"DYNAMODB_ENDPOINT": f.eng.URL, "TABLE_NAME": f.eng.Table, "S3_ENDPOINT": f.s3.URL, "RELEASE_BUCKET": buckettest.Bucket}
	o := cli(t, env, "release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path)
	require.Equal(t, 0, o.code, o.stderr)
	assert.Equal(t, pkg, f.object(f.release("1.0.0")))
	// Flags override the environment.
	o = cli(t, map[string]string{"DYNAMODB_ENDPOINT": f.eng.URL, "TABLE_NAME": f.eng.Table, "S3_ENDPOINT": "http://127.0.0.1:1", "RELEASE_BUCKET": "nope"},
		"release", "publish", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--s3-endpoint", f.s3.URL, "--bucket", buckettest.Bucket)
	require.Equal(t, 0, o.code, o.stderr)
	assert.Equal(t, licensing.ReleasePublished, f.release("1.0.0").Status)
}

func TestReleaseUsageErrors(t *testing.T) {
	t.Parallel()
	// No engine, no S3: a usage error never reaches either.
	global := []string{"--endpoint", "http://127.0.0.1:1", "--s3-endpoint", "http://127.0.0.1:1", "--bucket", "b"}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"release"}, "release: missing subcommand (create, upload, publish, list, yank)"},
		{[]string{"release", "delete"}, `release: unknown subcommand "delete" (create, upload, publish, list, yank)`},
		{[]string{"release", "create", "--brand", "acme", "--product", "p", "--version", "1.0.0"}, "release create: missing required flag(s) --file"},
		{[]string{"release", "create"}, "release create: missing required flag(s) --brand, --product, --version, --file"},
		{[]string{"release", "upload", "--brand", "acme", "--product", "p", "--file", "x.zip"}, "release upload: missing required flag(s) --version"},
		{[]string{"release", "publish", "--brand", "acme", "--version", "1.0.0"}, "release publish: missing required flag(s) --product"},
		{[]string{"release", "yank", "--product", "p", "--version", "1.0.0"}, "release yank: missing required flag(s) --brand"},
		{[]string{"release", "list", "--brand", "acme"}, "release list: missing required flag(s) --product"},
		{[]string{"release", "list", "--brand", "acme", "--product", "p", "--no-upload"}, "flag provided but not defined: -no-upload"},
		{[]string{"release", "upload", "--brand", "a", "--product", "p", "--version", "1.0.0", "--file", "x.zip", "--channel", "beta"}, "flag provided but not defined: -channel"},
		{[]string{"release", "create", "--brand", "a", "--product", "p", "--version", "1.0.0", "--file", "x.zip", "--channel"}, "flag needs an argument: -channel"},
		{[]string{"release", "create", "--brand", "a", "--product", "p", "--version", "1.0.0", "--file", "x.zip", "--no-upload=maybe"}, `invalid boolean value "maybe" for -no-upload: parse error`},
		{[]string{"release", "list", "--brand", "a", "--product", "p", "1.0.0"}, `release list: unexpected argument "1.0.0"`},
		{[]string{"release", "create", "--brand", "a", "--product", "p", "--version", "1.0.0", "--file", "x.zip", "--bucket", ""}, "release create: no release bucket: set --bucket or $RELEASE_BUCKET"},
		{[]string{"release", "upload", "--brand", "a", "--product", "p", "--version", "1.0.0", "--file", "x.zip", "--bucket", " "}, "release upload: no release bucket: set --bucket or $RELEASE_BUCKET"},
		{[]string{"release", "publish", "--brand", "a", "--product", "p", "--version", "1.0.0", "--bucket", ""}, "release publish: no release bucket: set --bucket or $RELEASE_BUCKET"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o := cli(t, nil, append(global, tc.args...)...)
			assert.Equal(t, 2, o.code)
			assert.Empty(t, o.stdout)
			assert.True(t, strings.HasPrefix(o.stderr, "licensectl: "+tc.msg+"\n"), o.stderr)
			assert.Contains(t, o.stderr, "licensectl help")

			o = cli(t, nil, append(append([]string{"--json"}, global...), tc.args...)...)
			assert.Equal(t, 2, o.code)
			assert.Equal(t, errorDoc{Code: codeUsage, Message: tc.msg}, decodeError(t, o.stdout))
		})
	}
}

// list and yank need no bucket.
func TestReleaseListAndYankWithoutBucket(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t)
	path, _ := f.zipFile("p.zip", "<?php")
	f.ok("release", "create", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0", "--file", path)
	rs := rows(f.fixture.ok("release", "list", "--brand", "acme", "--product", "acme-pro"))
	require.Len(t, rs, 2)
	assert.Equal(t, []string{"1.0.0", "stable", "pending_upload"}, rs[1][:3])
	assert.Equal(t, "-", rs[1][4], "not published")
	f.fixture.ok("release", "yank", "--brand", "acme", "--product", "acme-pro", "--version", "1.0.0")
	assert.Equal(t, licensing.ReleaseYanked, f.release("1.0.0").Status)
}
