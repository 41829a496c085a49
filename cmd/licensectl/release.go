package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/bucket"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/licensing"
)

var (
	productFlag = flagSpec{"product", "PRODUCT", "the product's slug or id"}
	versionFlag = flagSpec{"version", "VERSION", "the release's version, MAJOR.MINOR.PATCH[-pre], like 1.4.0 or 2.0.0-beta.1"}
	fileFlag    = flagSpec{"file", "ZIP", "the plugin's zip on this machine"}
)

// releaseCreateFlags are the optional flags of release create.
var releaseCreateFlags = []flagSpec{
	{"channel", "CHANNEL", `stable (the default) or beta; a pre-release version belongs on beta`},
	{"changelog-file", "MD", "a Markdown file of the release's changelog (at most 64 KiB)"},
	{"requires-wp", "VERSION", "the lowest WordPress version the release runs on, like 6.0"},
	{"tested-wp", "VERSION", "the highest WordPress version it was tested with, like 6.7"},
	{"requires-php", "VERSION", "the lowest PHP version it runs on, like 7.4"},
	{"no-upload", "", "only create the release and print its presigned upload (URL, method, headers, expiry)"},
}

// uploadClient makes the presigned uploads: a package may take a while, but
// the URL's signature is checked when the request starts.
var uploadClient = &http.Client{Timeout: 30 * time.Minute}

// releases returns the release use cases on the configured table and, when
// one is set, bucket, and the tenant of brand (actor "cli" in events).
func (g *globals) releases(ctx context.Context, brand string) (*app.App, licensing.Tenant, error) {
	a, t, err := g.brandApp(ctx, brand)
	if err != nil {
		return nil, licensing.Tenant{}, err
	}
	if name := strings.TrimSpace(g.bucket); name != "" {
		packages, err := bucket.New(ctx, bucket.Config{Bucket: name, Endpoint: strings.TrimSpace(g.s3Endpoint), Region: g.region})
		if err != nil {
			return nil, licensing.Tenant{}, fmt.Errorf("s3 client: %w", err)
		}
		a.UsePackages(packages)
	}
	return a, t, nil
}

// brandApp returns the use cases on the configured table and the tenant of
// brand (actor "cli" in events); an unknown brand fails with brand_not_found.
func (g *globals) brandApp(ctx context.Context, brand string) (*app.App, licensing.Tenant, error) {
	store, err := g.store(ctx)
	if err != nil {
		return nil, licensing.Tenant{}, err
	}
	b, err := store.GetBrand(ctx, brand)
	if err != nil {
		return nil, licensing.Tenant{}, err
	}
	return app.New(store, nil), licensing.Tenant{Brand: b.Slug, KeyPrefix: b.KeyPrefix}, nil
}

// localPackage is a zip read from this machine.
type localPackage struct {
	path   string
	body   []byte
	sha256 string // hex
}

func (p localPackage) size() int64 { return int64(len(p.body)) }

// readPackage reads a package file whole (what is hashed is what is
// uploaded) and checks that it is a zip of an acceptable size.
func readPackage(path string) (localPackage, error) {
	f, err := os.Open(path)
	if err != nil {
		return localPackage{}, licensing.Invalid("file", "%v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return localPackage{}, licensing.Invalid("file", "%v", err)
	}
	if st.IsDir() {
		return localPackage{}, licensing.Invalid("file", "%s is a directory, not a zip", path)
	}
	tooBig := licensing.Invalid("file", "%s is larger than a package may be (%d bytes, 200 MB)", path, licensing.MaxPackageSize)
	if st.Size() > licensing.MaxPackageSize {
		return localPackage{}, tooBig
	}
	body, err := io.ReadAll(io.LimitReader(f, licensing.MaxPackageSize+1))
	if err != nil {
		return localPackage{}, licensing.Invalid("file", "%v", err)
	}
	switch {
	case len(body) == 0:
		return localPackage{}, licensing.Invalid("file", "%s is empty", path)
	case len(body) > licensing.MaxPackageSize:
		return localPackage{}, tooBig
	}
	if _, err := zip.NewReader(bytes.NewReader(body), int64(len(body))); err != nil {
		return localPackage{}, licensing.Invalid("file", "%s is not a zip archive (%v)", path, err)
	}
	sum := sha256.Sum256(body)
	return localPackage{path: path, body: body, sha256: hex.EncodeToString(sum[:])}, nil
}

// readChangelog reads the changelog file, if one is named.
func readChangelog(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", licensing.Invalid("changelog-file", "%v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, licensing.MaxChangelogBytes+1))
	if err != nil {
		return "", licensing.Invalid("changelog-file", "%v", err)
	}
	if len(b) > licensing.MaxChangelogBytes {
		return "", licensing.Invalid("changelog-file", "%s is larger than a changelog may be (%d bytes of Markdown)", path, licensing.MaxChangelogBytes)
	}
	// A byte order mark is the file's encoding, not its text (the API
	// refuses U+FEFF in a changelog).
	return strings.TrimPrefix(string(b), "\uFEFF"), nil
}

// createRelease is release create: the release declared with the local
// zip's size and SHA-256, then (unless --no-upload) the zip uploaded through
// the presigned PUT.
func createRelease(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	pkg, err := readPackage(v["file"])
	if err != nil {
		return nil, err
	}
	changelog, err := readChangelog(v["changelog-file"])
	if err != nil {
		return nil, err
	}
	a, t, err := g.releases(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	size := pkg.size()
	out, err := a.CreateRelease(ctx, t, v["product"], licensing.ReleaseInput{
		Version: v["version"], Channel: v["channel"], Changelog: changelog,
		RequiresWP: v["requires-wp"], TestedWP: v["tested-wp"], RequiresPHP: v["requires-php"],
		PackageSHA256: pkg.sha256, PackageSize: &size,
	})
	if err != nil {
		return nil, err
	}
	res := releasePackage{Release: toReleaseView(out.Release), File: pkg.path, created: true}
	if v["no-upload"] != "" {
		up := toUploadView(out.Upload)
		res.Upload = &up
		return res, nil
	}
	if err := demo.Upload(ctx, uploadClient, out.Upload, pkg.body); err != nil {
		return nil, fmt.Errorf("release %s of %s was created (pending_upload), but the upload of %s failed: %w; try again with licensectl release upload",
			out.Release.Version, out.Release.ProductSlug, pkg.path, err)
	}
	res.Uploaded = true
	return res, nil
}

// uploadRelease is release upload: a fresh presigned PUT for a pending
// release, used only when the local zip is the package the release declares.
func uploadRelease(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	pkg, err := readPackage(v["file"])
	if err != nil {
		return nil, err
	}
	a, t, err := g.releases(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	out, err := a.RenewUpload(ctx, t, v["product"], v["version"])
	if err != nil {
		return nil, err
	}
	r := out.Release
	if pkg.size() != r.Size || pkg.sha256 != r.SHA256 {
		return nil, licensing.Errorf(licensing.CodePackageMismatch,
			"%s is not the package release %s declares (%d bytes, SHA-256 %s): it has %d bytes, SHA-256 %s; nothing was uploaded",
			pkg.path, r.Version, r.Size, r.SHA256, pkg.size(), pkg.sha256)
	}
	if err := demo.Upload(ctx, uploadClient, out.Upload, pkg.body); err != nil {
		return nil, fmt.Errorf("upload of %s for release %s of %s: %w", pkg.path, r.Version, r.ProductSlug, err)
	}
	return releasePackage{Release: toReleaseView(r), File: pkg.path, Uploaded: true}, nil
}

// publishRelease is release publish.
func publishRelease(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	a, t, err := g.releases(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	r, err := a.PublishRelease(ctx, t, v["product"], v["version"])
	if err != nil {
		return nil, err
	}
	return releaseChanged{Release: toReleaseView(r)}, nil
}

// yankRelease is release yank.
func yankRelease(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	a, t, err := g.releases(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	r, err := a.YankRelease(ctx, t, v["product"], v["version"])
	if err != nil {
		return nil, err
	}
	return releaseChanged{Release: toReleaseView(r)}, nil
}

// listReleases is release list.
func listReleases(ctx context.Context, g *globals, v values, _ func(string) string, _ io.Writer) (result, error) {
	a, t, err := g.releases(ctx, v["brand"])
	if err != nil {
		return nil, err
	}
	p, rs, err := a.ListReleases(ctx, t, v["product"])
	if err != nil {
		return nil, err
	}
	l := releaseList{Brand: p.Brand, Product: productView{ID: p.ID, Slug: p.Slug, Name: p.Name}, Releases: make([]releaseView, 0, len(rs))}
	for _, r := range rs {
		l.Releases = append(l.Releases, toReleaseView(r))
	}
	return l, nil
}

type releaseView struct {
	Brand         string `json:"brand"`
	Product       string `json:"product"`
	ProductID     string `json:"product_id"`
	Version       string `json:"version"`
	Channel       string `json:"channel"`
	Status        string `json:"status"`
	Changelog     string `json:"changelog"`
	RequiresWP    string `json:"requires_wp"`
	TestedWP      string `json:"tested_wp"`
	RequiresPHP   string `json:"requires_php"`
	PackageSHA256 string `json:"package_sha256"`
	PackageSize   int64  `json:"package_size"`
	CreatedAt     string `json:"created_at"`
	PublishedAt   string `json:"published_at,omitempty"`
	YankedAt      string `json:"yanked_at,omitempty"`
}

func toReleaseView(r licensing.Release) releaseView {
	v := releaseView{Brand: r.Brand, Product: r.ProductSlug, ProductID: r.ProductID, Version: r.Version.String(),
		Channel: string(r.Channel), Status: string(r.Status), Changelog: r.Changelog,
		RequiresWP: r.RequiresWP, TestedWP: r.TestedWP, RequiresPHP: r.RequiresPHP,
		PackageSHA256: r.SHA256, PackageSize: r.Size, CreatedAt: stamp(r.CreatedAt)}
	if r.PublishedAt != nil {
		v.PublishedAt = stamp(*r.PublishedAt)
	}
	if r.YankedAt != nil {
		v.YankedAt = stamp(*r.YankedAt)
	}
	return v
}

// orDash shows an empty value as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeFields writes the release as aligned label/value lines.
func (r releaseView) writeFields(w io.Writer) error {
	changelog := "-"
	if r.Changelog != "" {
		changelog = strconv.Itoa(len(r.Changelog)) + " bytes of Markdown"
	}
	kv := []string{"brand", r.Brand, "product", r.Product, "product_id", r.ProductID, "version", r.Version,
		"channel", r.Channel, "status", r.Status, "package_size", strconv.FormatInt(r.PackageSize, 10),
		"package_sha256", r.PackageSHA256, "requires_wp", orDash(r.RequiresWP), "tested_wp", orDash(r.TestedWP),
		"requires_php", orDash(r.RequiresPHP), "changelog", changelog, "created_at", r.CreatedAt}
	if r.PublishedAt != "" {
		kv = append(kv, "published_at", r.PublishedAt)
	}
	if r.YankedAt != "" {
		kv = append(kv, "yanked_at", r.YankedAt)
	}
	return fields(w, kv...)
}

// releaseArgs are the flags that name the release, to type the next command.
func (r releaseView) releaseArgs() string {
	return "--brand " + r.Brand + " --product " + r.Product + " --version " + r.Version
}

type uploadView struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt string            `json:"expires_at"`
}

func toUploadView(p app.Presigned) uploadView {
	h := p.Headers
	if h == nil {
		h = map[string]string{}
	}
	return uploadView{URL: p.URL, Method: p.Method, Headers: h, ExpiresAt: stamp(p.ExpiresAt)}
}

// releasePackage is what release create and release upload print: the
// release, and whether its package was uploaded or where to upload it.
type releasePackage struct {
	Release  releaseView `json:"release"`
	File     string      `json:"file"`
	Uploaded bool        `json:"uploaded"`
	Upload   *uploadView `json:"upload,omitempty"` // --no-upload
	created  bool
}

func (p releasePackage) writeText(w io.Writer) error {
	r := p.Release
	switch {
	case p.created && p.Uploaded:
		fmt.Fprintf(w, "Created release %s of %s (brand %s) and uploaded %s (%d bytes).\n", r.Version, r.Product, r.Brand, p.File, r.PackageSize)
	case p.created:
		fmt.Fprintf(w, "Created release %s of %s (brand %s); its package is not uploaded yet.\n", r.Version, r.Product, r.Brand)
	default:
		fmt.Fprintf(w, "Uploaded %s (%d bytes) for release %s of %s (brand %s).\n", p.File, r.PackageSize, r.Version, r.Product, r.Brand)
	}
	if err := r.writeFields(w); err != nil {
		return err
	}
	if p.Upload == nil {
		_, err := fmt.Fprintf(w, "\nPublish it: licensectl release publish %s\n", r.releaseArgs())
		return err
	}
	u := p.Upload
	fmt.Fprintf(w, "\nUpload the package with this request before %s (or later: licensectl release upload %s --file %s):\n",
		u.ExpiresAt, r.releaseArgs(), p.File)
	kv := []string{"method", u.Method, "url", u.URL, "expires_at", u.ExpiresAt}
	names := make([]string, 0, len(u.Headers))
	for k := range u.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		kv = append(kv, "header", k+": "+u.Headers[k])
	}
	return fields(w, kv...)
}

// releaseChanged is what release publish and release yank print.
type releaseChanged struct {
	Release releaseView `json:"release"`
}

func (c releaseChanged) writeText(w io.Writer) error {
	r := c.Release
	switch licensing.ReleaseStatus(r.Status) {
	case licensing.ReleasePublished:
		fmt.Fprintf(w, "Published release %s of %s (brand %s): sites on the %s channel are offered it.\n", r.Version, r.Product, r.Brand, r.Channel)
	case licensing.ReleaseYanked:
		fmt.Fprintf(w, "Yanked release %s of %s (brand %s): no site is offered it again.\n", r.Version, r.Product, r.Brand)
	default:
		fmt.Fprintf(w, "Release %s of %s (brand %s) is %s.\n", r.Version, r.Product, r.Brand, r.Status)
	}
	return r.writeFields(w)
}

type productView struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

type releaseList struct {
	Brand    string        `json:"brand"`
	Product  productView   `json:"product"`
	Releases []releaseView `json:"releases"`
}

func (l releaseList) writeText(w io.Writer) error {
	if len(l.Releases) == 0 {
		_, err := fmt.Fprintf(w, "Product %s of brand %s has no releases.\n", l.Product.Slug, l.Brand)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tCHANNEL\tSTATUS\tSIZE\tPUBLISHED_AT")
	for _, r := range l.Releases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.Version, r.Channel, r.Status, r.PackageSize, orDash(r.PublishedAt))
	}
	return tw.Flush()
}
