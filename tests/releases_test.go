package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/bucket"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/devserver"
)

// pathUpdates is the product API's update check.
const pathUpdates = "/api/v1/product/updates"

func relPath(product string) string { return pathProducts + "/" + product + "/releases" }
func relActionPath(product, version, action string) string {
	return relPath(product) + "/" + url.PathEscape(version) + "/" + action
}

// relJSON is a release as the brand API renders it.
type relJSON struct {
	Product       string  `json:"product"`
	ProductID     string  `json:"product_id"`
	Version       string  `json:"version"`
	Channel       string  `json:"channel"`
	Status        string  `json:"status"`
	Changelog     string  `json:"changelog"`
	RequiresWP    string  `json:"requires_wp"`
	TestedWP      string  `json:"tested_wp"`
	RequiresPHP   string  `json:"requires_php"`
	PackageSHA256 string  `json:"package_sha256"`
	PackageSize   int64   `json:"package_size"`
	CreatedAt     string  `json:"created_at"`
	PublishedAt   *string `json:"published_at"`
	YankedAt      *string `json:"yanked_at"`
}

type relUploadJSON struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt string            `json:"expires_at"`
}

type relCreatedJSON struct {
	Release relJSON       `json:"release"`
	Upload  relUploadJSON `json:"upload"`
}

// updJSON is an update check answer.
type updJSON struct {
	Product         string  `json:"product"`
	Channel         string  `json:"channel"`
	CurrentVersion  *string `json:"current_version"`
	UpdateAvailable bool    `json:"update_available"`
	Latest          *struct {
		Version     string  `json:"version"`
		Changelog   string  `json:"changelog"`
		RequiresWP  string  `json:"requires_wp"`
		TestedWP    string  `json:"tested_wp"`
		RequiresPHP string  `json:"requires_php"`
		PublishedAt *string `json:"published_at"`
	} `json:"latest"`
	Package *struct {
		URL       string `json:"url"`
		SHA256    string `json:"sha256"`
		Size      int64  `json:"size"`
		ExpiresAt string `json:"expires_at"`
	} `json:"package"`
	Reason  string `json:"reason"`
	License struct {
		ID      string `json:"id"`
		Product string `json:"product"`
		Status  string `json:"status"`
	} `json:"license"`
}

// relPackage is a package of n bytes that differs by tag.
func relPackage(tag string, n int) []byte {
	b := bytes.Repeat([]byte("PK"+tag+"|"), n/(len(tag)+3)+1)
	return b[:n]
}

func relSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// relBody is a create request for pkg.
func relBody(version, channel string, pkg []byte) map[string]any {
	return map[string]any{"version": version, "channel": channel, "changelog": "## " + version + "\n\n- Changes of " + version + ".",
		"requires_wp": "6.1", "tested_wp": "6.7", "requires_php": "8.0", "package_sha256": relSum(pkg), "package_size": len(pkg)}
}

// relCreate creates a release and requires 201 and a pending release with
// a presigned PUT.
func (e *env) relCreate(t *testing.T, apiKey, product string, body map[string]any) relCreatedJSON {
	t.Helper()
	var out relCreatedJSON
	r := e.post(t, relPath(product), apiKey, body)
	m := expectOK(t, r, http.StatusCreated, &out)
	requireFields(t, m, "release", "upload")
	require.Equal(t, body["version"], out.Release.Version)
	require.Equal(t, "pending_upload", out.Release.Status)
	require.Nil(t, out.Release.PublishedAt)
	require.Equal(t, http.MethodPut, out.Upload.Method)
	require.True(t, strings.HasPrefix(out.Upload.URL, e.srv.S3URL+"/"), "upload URL %s is not the embedded S3 %s", out.Upload.URL, e.srv.S3URL)
	require.Contains(t, out.Upload.URL, "X-Amz-Signature=")
	exp := mustParseTime(t, out.Upload.ExpiresAt)
	require.True(t, exp.After(time.Now()), "the upload URL expired already: %s", out.Upload.ExpiresAt)
	require.LessOrEqual(t, time.Until(exp), time.Hour+time.Minute, "a presigned PUT is valid for at most an hour")
	return out
}

// relPut sends body to a presigned upload with its headers (the length is
// the body's) and returns the status and S3's answer.
func relPut(t *testing.T, up relUploadJSON, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range up.Headers {
		if !strings.EqualFold(k, "Content-Length") {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// relPublish publishes a release and requires success.
func (e *env) relPublish(t *testing.T, apiKey, product, version string) relJSON {
	t.Helper()
	var out struct {
		Release relJSON `json:"release"`
	}
	expectOK(t, e.post(t, relActionPath(product, version, "publish"), apiKey, nil), http.StatusOK, &out)
	require.Equal(t, "published", out.Release.Status)
	require.NotNil(t, out.Release.PublishedAt)
	mustParseTime(t, *out.Release.PublishedAt)
	return out.Release
}

// relShip creates, uploads through the presigned URL and publishes pkg.
func (e *env) relShip(t *testing.T, apiKey, product, version, channel string, pkg []byte) relJSON {
	t.Helper()
	c := e.relCreate(t, apiKey, product, relBody(version, channel, pkg))
	status, msg := relPut(t, c.Upload, pkg)
	require.Equal(t, http.StatusOK, status, "upload: %s", msg)
	return e.relPublish(t, apiKey, product, version)
}

// relYank yanks a release and requires success.
func (e *env) relYank(t *testing.T, apiKey, product, version string) relJSON {
	t.Helper()
	var out struct {
		Release relJSON `json:"release"`
	}
	expectOK(t, e.post(t, relActionPath(product, version, "yank"), apiKey, nil), http.StatusOK, &out)
	require.Equal(t, "yanked", out.Release.Status)
	require.NotNil(t, out.Release.YankedAt)
	return out.Release
}

// relList lists a product's releases.
func (e *env) relList(t *testing.T, apiKey, product string) []relJSON {
	t.Helper()
	var out struct {
		Product  productJSON `json:"product"`
		Releases []relJSON   `json:"releases"`
	}
	expectOK(t, e.get(t, relPath(product), apiKey), http.StatusOK, &out)
	require.Equal(t, product, out.Product.Slug)
	return out.Releases
}

func relVersions(rs []relJSON) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Version + " " + r.Channel + " " + r.Status
	}
	return out
}

// updQuery is an update check's query.
type updQuery struct{ key, site, product, version, channel string }

func (q updQuery) path() string {
	v := url.Values{}
	for k, s := range map[string]string{"license_key": q.key, "instance_identifier": q.site, "product": q.product, "version": q.version, "channel": q.channel} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return pathUpdates + "?" + v.Encode()
}

// updCheck asks for updates and requires a 200, private and no-store.
func (e *env) updCheck(t *testing.T, q updQuery) updJSON {
	t.Helper()
	r := e.get(t, q.path(), "")
	var u updJSON
	m := expectOK(t, r, http.StatusOK, &u)
	requireFields(t, m, "product", "channel", "current_version", "update_available", "latest", "package", "license")
	require.Equal(t, "private, no-store", r.header.Get("Cache-Control"), "an update answer must never be kept by a shared cache")
	return u
}

// updRefused requires an answer with the version information but no
// package, for reason.
func (e *env) updRefused(t *testing.T, q updQuery, reason, latest string) updJSON {
	t.Helper()
	u := e.updCheck(t, q)
	require.Nil(t, u.Package, "package offered despite %s", reason)
	require.Equal(t, reason, u.Reason)
	if latest == "" {
		require.Nil(t, u.Latest)
	} else {
		require.NotNil(t, u.Latest, "the version information is still given")
		require.Equal(t, latest, u.Latest.Version)
	}
	return u
}

// relDownload fetches a URL (no API key) and returns its status and bytes.
func relDownload(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// updEntitled requires a package of the version offered whose bytes hash
// to sum.
func (e *env) updEntitled(t *testing.T, q updQuery, version, sum string, size int64) updJSON {
	t.Helper()
	u := e.updCheck(t, q)
	require.NotNil(t, u.Latest)
	require.Equal(t, version, u.Latest.Version)
	require.NotNil(t, u.Package, "no package for a usable license with a seat: reason %q", u.Reason)
	require.Empty(t, u.Reason)
	require.Equal(t, sum, u.Package.SHA256)
	require.Equal(t, size, u.Package.Size)
	exp := mustParseTime(t, u.Package.ExpiresAt)
	require.True(t, exp.After(time.Now()))
	require.LessOrEqual(t, time.Until(exp), time.Hour+time.Minute, "a package URL is valid for at most an hour")
	require.True(t, strings.HasPrefix(u.Package.URL, e.srv.S3URL+"/"), "package URL %s", u.Package.URL)
	status, b := relDownload(t, u.Package.URL)
	require.Equal(t, http.StatusOK, status, "download: %s", b)
	require.Equal(t, sum, relSum(b), "the downloaded package is not the published one")
	require.Len(t, b, int(size))
	return u
}

// relSite provisions a Rank Math Pro license (expiring in 30 days) and
// activates site on it; it returns the key and the license id.
func (e *env) relSite(t *testing.T, email, site string) (string, string) {
	t.Helper()
	p := e.provision(t, rmKey, provisionReq{CustomerEmail: email, Products: []string{"rankmath-pro"}, ExpirationDate: futureDate(30 * 24 * time.Hour), MaxSeats: ptr(2)})
	key := p.LicenseKey.Key
	r := e.post(t, "/api/v1/product/licenses/activate", "", map[string]string{"license_key": key, "instance_identifier": site})
	require.Equal(t, http.StatusCreated, r.status, "activate: %s", r.body)
	return key, p.Licenses[0].ID
}

// relPutObject writes an object straight into the embedded S3, past the
// presigned URL's checks, as a misbehaving pipeline with bucket access could.
func (e *env) relPutObject(t *testing.T, up relUploadJSON, body []byte) {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(up.URL)
	require.NoError(t, err)
	key, ok := strings.CutPrefix(u.Path, "/"+devserver.DefaultReleaseBucket+"/")
	require.True(t, ok, "the upload URL %s is not path-style in bucket %s", up.URL, devserver.DefaultReleaseBucket)
	st, err := bucket.New(ctx, bucket.Config{Bucket: devserver.DefaultReleaseBucket, Endpoint: e.srv.S3URL, Region: "us-east-1"})
	require.NoError(t, err)
	_, err = st.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(devserver.DefaultReleaseBucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
	require.NoError(t, err, "write the object directly")
}

// TestReleaseShipAndUpdate: create → upload through the presigned URL →
// publish → the updates route offers it to a site with a seat, with a
// package whose bytes hash to package_sha256.
func TestReleaseShipAndUpdate(t *testing.T) {
	t.Parallel()
	e := start(t)
	ids := e.productIDs(t, rmKey)
	key, licID := e.relSite(t, "ship@example.com", "https://ship.example.com")
	q := updQuery{key: key, site: "ship.example.com", product: "rankmath-pro"}

	// The demo data's release first.
	seeded := demo.Package("rankmath-pro")
	u := e.updEntitled(t, q, "1.0.0", relSum(seeded), int64(len(seeded)))
	require.Equal(t, "rankmath-pro", u.Product)
	require.Equal(t, "stable", u.Channel)
	require.Equal(t, licID, u.License.ID)
	require.Equal(t, "valid", u.License.Status)

	pkg := relPackage("ship-1.1.0", 4096)
	body := relBody("1.1.0", "", pkg)
	var c relCreatedJSON
	e.unchanged(t, func() {}) // the snapshot works
	c = e.relCreate(t, rmKey, "rankmath-pro", body)
	require.Equal(t, "stable", c.Release.Channel, "the default channel")
	require.Equal(t, "rankmath-pro", c.Release.Product)
	require.Equal(t, ids["rankmath-pro"], c.Release.ProductID)
	require.Equal(t, relSum(pkg), c.Release.PackageSHA256)
	require.Equal(t, int64(len(pkg)), c.Release.PackageSize)
	require.Equal(t, "6.1", c.Release.RequiresWP)
	require.Equal(t, "6.7", c.Release.TestedWP)
	require.Equal(t, "8.0", c.Release.RequiresPHP)
	require.Equal(t, "no-store", e.post(t, relPath("rankmath-pro"), rmKey, relBody("1.1.1", "", pkg)).header.Get("Cache-Control"),
		"an answer with an upload URL is not cached")

	// Pending: not offered yet.
	e.updEntitled(t, q, "1.0.0", relSum(seeded), int64(len(seeded)))

	status, msg := relPut(t, c.Upload, pkg)
	require.Equal(t, http.StatusOK, status, "upload: %s", msg)
	pub := e.relPublish(t, rmKey, "rankmath-pro", "1.1.0")
	require.WithinDuration(t, time.Now(), mustParseTime(t, *pub.PublishedAt), time.Minute)

	u = e.updEntitled(t, q, "1.1.0", relSum(pkg), int64(len(pkg)))
	require.True(t, u.UpdateAvailable, "no version sent: an update")
	require.Equal(t, body["changelog"], u.Latest.Changelog)
	require.Equal(t, "6.1", u.Latest.RequiresWP)
	require.Equal(t, "6.7", u.Latest.TestedWP)
	require.Equal(t, "8.0", u.Latest.RequiresPHP)
	require.NotNil(t, u.Latest.PublishedAt)
	require.Equal(t, *pub.PublishedAt, *u.Latest.PublishedAt)

	// The product is named by its id as well; a one-product key needs none.
	q2 := q
	q2.product = ids["rankmath-pro"]
	e.updEntitled(t, q2, "1.1.0", relSum(pkg), int64(len(pkg)))
	q2.product = ""
	e.updEntitled(t, q2, "1.1.0", relSum(pkg), int64(len(pkg)))

	// update_available against the version the site runs.
	for _, tc := range []struct {
		version, current string
		want             bool
	}{
		{"1.0.0", "1.0.0", true},
		{"1.0", "1.0.0", true},
		{"1.1.0-beta.1", "1.1.0-beta.1", true},
		{"1.1.0", "1.1.0", false},
		{"1.2.0", "1.2.0", false},
		{"2", "2.0.0", false},
	} {
		q2 := q
		q2.version = tc.version
		u := e.updCheck(t, q2)
		require.Equal(t, tc.want, u.UpdateAvailable, "version %s", tc.version)
		require.NotNil(t, u.CurrentVersion)
		require.Equal(t, tc.current, *u.CurrentVersion)
		require.NotNil(t, u.Latest)
		require.Equal(t, "1.1.0", u.Latest.Version, "the latest is offered whatever the site runs")
		require.NotNil(t, u.Package)
	}

	// Newest version first, whatever the order of creation.
	e.relShip(t, rmKey, "rankmath-pro", "1.0.1", "stable", relPackage("1.0.1", 100))
	e.relShip(t, rmKey, "rankmath-pro", "1.10.0-rc.1", "beta", relPackage("1.10.0-rc.1", 100))
	rs := e.relList(t, rmKey, "rankmath-pro")
	require.Equal(t, []string{"1.10.0-rc.1 beta published", "1.1.1 stable pending_upload", "1.1.0 stable published", "1.0.1 stable published", "1.0.0 stable published"}, relVersions(rs))
	require.Equal(t, relSum(pkg), rs[2].PackageSHA256)
	require.Equal(t, "## 1.0.0\n\n- First release of Rank Math Pro.", rs[4].Changelog)
	// Another brand lists only its own.
	require.Equal(t, []string{"1.0.0 stable published"}, relVersions(e.relList(t, wprKey, "wp-rocket")))
	checkError(t, e.get(t, relPath("rankmath-pro"), wprKey), http.StatusNotFound, "product_not_found")
	checkError(t, e.get(t, relPath("rankmath-pro"), ""), http.StatusUnauthorized, "unauthorized")
	// The stable channel still offers 1.1.0, above 1.0.1.
	e.updEntitled(t, q, "1.1.0", relSum(pkg), int64(len(pkg)))
}

// TestReleaseUpdatesRefused: the version information for every license
// state, a package only for a usable license on a site with a seat.
func TestReleaseUpdatesRefused(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	e := start(t, func(o *devserver.Options) { o.Now = c.Now })
	pkg := relPackage("refused-1.2.0", 2048)
	e.relShip(t, rmKey, "rankmath-pro", "1.2.0", "stable", pkg)

	t.Run("suspended", func(t *testing.T) {
		key, id := e.relSite(t, "upd-suspend@example.com", "suspended.example.com")
		q := updQuery{key: key, site: "suspended.example.com", product: "rankmath-pro", version: "1.0.0"}
		e.updEntitled(t, q, "1.2.0", relSum(pkg), int64(len(pkg)))
		expectOK(t, e.post(t, actionPath(id, "suspend"), rmKey, map[string]string{"reason": "chargeback"}), http.StatusOK, nil)
		u := e.updRefused(t, q, "license_suspended", "1.2.0")
		require.True(t, u.UpdateAvailable, "the site is told an update exists")
		require.Equal(t, "suspended", u.License.Status)
		expectOK(t, e.post(t, actionPath(id, "resume"), rmKey, map[string]string{}), http.StatusOK, nil)
		e.updEntitled(t, q, "1.2.0", relSum(pkg), int64(len(pkg)))
	})
	t.Run("cancelled", func(t *testing.T) {
		key, id := e.relSite(t, "upd-cancel@example.com", "cancelled.example.com")
		q := updQuery{key: key, site: "cancelled.example.com", product: "rankmath-pro"}
		expectOK(t, e.post(t, actionPath(id, "cancel"), rmKey, map[string]string{"reason": "refund"}), http.StatusOK, nil)
		u := e.updRefused(t, q, "license_cancelled", "1.2.0")
		require.Equal(t, "cancelled", u.License.Status)
	})
	t.Run("a site without a seat", func(t *testing.T) {
		key, _ := e.relSite(t, "upd-noseat@example.com", "seated.example.com")
		e.updRefused(t, updQuery{key: key, site: "elsewhere.example.com", product: "rankmath-pro"}, "site_inactive", "1.2.0")
		e.updRefused(t, updQuery{key: demo.RankMathKey, site: demo.DemoSite, product: "content-ai"}, "site_inactive", "1.0.0")
		// The demo seat on rankmath-pro is a seat.
		e.updEntitled(t, updQuery{key: demo.RankMathKey, site: "https://" + demo.DemoSite + "/", product: "rankmath-pro"}, "1.2.0", relSum(pkg), int64(len(pkg)))
	})
	t.Run("staging and local sites hold a seat too", func(t *testing.T) {
		for _, site := range []string{"staging.agency-shop.com", "agency-shop.local"} {
			key, _ := e.relSite(t, "upd-"+site+"@example.com", site)
			q := updQuery{key: key, site: site, product: "rankmath-pro", version: "1.0.0"}
			e.updEntitled(t, q, "1.2.0", relSum(pkg), int64(len(pkg)))
		}
	})
	t.Run("an unknown key", func(t *testing.T) {
		for _, k := range []string{"RM-ZZZZ-2222-3333-4444", "XX-ZZZZ-2222-3333-4444"} {
			r := expectError(t, e, call{method: http.MethodGet, path: updQuery{key: k, site: demo.DemoSite, product: "rankmath-pro"}.path()}, http.StatusNotFound, "license_not_found")
			require.NotContains(t, string(r.raw), "X-Amz-Signature")
		}
		expectInvalid(t, e, call{method: http.MethodGet, path: updQuery{site: demo.DemoSite, product: "rankmath-pro"}.path()}, "license_key")
		expectInvalid(t, e, call{method: http.MethodGet, path: updQuery{key: demo.RankMathKey, site: demo.DemoSite, product: "rankmath-pro", channel: "nightly"}.path()}, "channel")
		expectInvalid(t, e, call{method: http.MethodGet, path: updQuery{key: demo.RankMathKey, site: demo.DemoSite, product: "rankmath-pro", version: "banana"}.path()}, "version")
	})
	t.Run("another brand's product", func(t *testing.T) {
		checkError(t, e.get(t, updQuery{key: demo.RankMathKey, site: demo.DemoSite, product: "wp-rocket"}.path(), ""), http.StatusNotFound, "product_not_found")
	})
	// Last: the clock moves past every expiry of this test's licenses.
	t.Run("expired", func(t *testing.T) {
		p := e.provision(t, rmKey, provisionReq{CustomerEmail: "upd-expired@example.com", Products: []string{"rankmath-pro"},
			ExpirationDate: c.Now().Add(time.Hour).Format(time.RFC3339), MaxSeats: ptr(1)})
		r := e.post(t, "/api/v1/product/licenses/activate", "", map[string]string{"license_key": p.LicenseKey.Key, "instance_identifier": "expired.example.com"})
		require.Equal(t, http.StatusCreated, r.status, "activate: %s", r.body)
		q := updQuery{key: p.LicenseKey.Key, site: "expired.example.com", product: "rankmath-pro", version: "1.2.0"}
		e.updEntitled(t, q, "1.2.0", relSum(pkg), int64(len(pkg)))
		c.advance(2 * time.Hour)
		u := e.updRefused(t, q, "license_expired", "1.2.0")
		require.False(t, u.UpdateAvailable)
		require.Equal(t, "expired", u.License.Status)
	})
}

// TestReleaseYankAndChannels: a yanked release is never offered again, the
// previous published one is; beta sites get a newer beta, stable never.
func TestReleaseYankAndChannels(t *testing.T) {
	t.Parallel()
	e := start(t)
	key, _ := e.relSite(t, "upd-yank@example.com", "yank.example.com")
	stable := updQuery{key: key, site: "yank.example.com", product: "rankmath-pro", version: "1.0.0"}
	beta := stable
	beta.channel = "beta"
	seeded := demo.Package("rankmath-pro")

	b1 := relPackage("1.1.0-beta.1", 3000)
	e.relShip(t, rmKey, "rankmath-pro", "1.1.0-beta.1", "beta", b1)
	u := e.updEntitled(t, stable, "1.0.0", relSum(seeded), int64(len(seeded)))
	require.False(t, u.UpdateAvailable, "stable never offers a beta")
	require.Equal(t, "stable", u.Channel)
	u = e.updEntitled(t, beta, "1.1.0-beta.1", relSum(b1), int64(len(b1)))
	require.True(t, u.UpdateAvailable)
	require.Equal(t, "beta", u.Channel)
	stableUpper := stable
	stableUpper.channel = "STABLE"
	e.updEntitled(t, stableUpper, "1.0.0", relSum(seeded), int64(len(seeded)))

	// A stable release above the beta: both channels offer it.
	s110 := relPackage("1.1.0", 3100)
	e.relShip(t, rmKey, "rankmath-pro", "1.1.0", "stable", s110)
	e.updEntitled(t, stable, "1.1.0", relSum(s110), int64(len(s110)))
	e.updEntitled(t, beta, "1.1.0", relSum(s110), int64(len(s110)))
	// A beta above it: beta only.
	b2 := relPackage("1.2.0-beta.1", 3200)
	e.relShip(t, rmKey, "rankmath-pro", "1.2.0-beta.1", "beta", b2)
	e.updEntitled(t, stable, "1.1.0", relSum(s110), int64(len(s110)))
	e.updEntitled(t, beta, "1.2.0-beta.1", relSum(b2), int64(len(b2)))
	// A newer stable release that is only pending changes nothing.
	e.relCreate(t, rmKey, "rankmath-pro", relBody("1.3.0", "stable", relPackage("1.3.0", 10)))
	e.updEntitled(t, stable, "1.1.0", relSum(s110), int64(len(s110)))

	// Yank the newest: the previous published one is offered again.
	y := e.relYank(t, rmKey, "rankmath-pro", "1.2.0-beta.1")
	require.Equal(t, "beta", y.Channel)
	e.updEntitled(t, beta, "1.1.0", relSum(s110), int64(len(s110)))
	e.relYank(t, rmKey, "rankmath-pro", "1.1.0")
	e.updEntitled(t, stable, "1.0.0", relSum(seeded), int64(len(seeded)))
	e.updEntitled(t, beta, "1.1.0-beta.1", relSum(b1), int64(len(b1)))
	// A yanked release is yanked for good.
	expectError(t, e, call{method: http.MethodPost, path: relActionPath("rankmath-pro", "1.1.0", "yank"), apiKey: rmKey}, http.StatusConflict, "invalid_transition")
	expectError(t, e, call{method: http.MethodPost, path: relActionPath("rankmath-pro", "1.1.0", "publish"), apiKey: rmKey}, http.StatusConflict, "invalid_transition")
	expectError(t, e, call{method: http.MethodPost, path: relActionPath("rankmath-pro", "9.9.9", "yank"), apiKey: rmKey}, http.StatusNotFound, "release_not_found")
	expectError(t, e, call{method: http.MethodPost, path: relActionPath("rankmath-pro", "1.0.0", "yank"), apiKey: wprKey}, http.StatusNotFound, "product_not_found")

	// Yank all: nothing is offered, and the site is told why.
	e.relYank(t, rmKey, "rankmath-pro", "1.0.0")
	u = e.updRefused(t, stable, "no_release", "")
	require.False(t, u.UpdateAvailable)
	e.updEntitled(t, beta, "1.1.0-beta.1", relSum(b1), int64(len(b1)))
	e.relYank(t, rmKey, "rankmath-pro", "1.1.0-beta.1")
	u = e.updRefused(t, beta, "no_release", "")
	require.False(t, u.UpdateAvailable)
	require.Equal(t, []string{"1.3.0 stable pending_upload", "1.2.0-beta.1 beta yanked", "1.1.0 stable yanked", "1.1.0-beta.1 beta yanked", "1.0.0 stable yanked"},
		relVersions(e.relList(t, rmKey, "rankmath-pro")))
	// Another product keeps its release.
	r := e.post(t, "/api/v1/product/licenses/activate", "", map[string]string{"license_key": demo.WPRocketKey, "instance_identifier": "rocket.example.com"})
	require.Equal(t, http.StatusCreated, r.status, "activate: %s", r.body)
	rocket := demo.Package("wp-rocket")
	e.updEntitled(t, updQuery{key: demo.WPRocketKey, site: "rocket.example.com"}, "1.0.0", relSum(rocket), int64(len(rocket)))
}

// TestReleaseRefusals: every refused create or publish changes nothing.
func TestReleaseRefusals(t *testing.T) {
	t.Parallel()
	e := start(t)
	ids := e.productIDs(t, rmKey)
	create := func(apiKey, product string, body any) call {
		return call{method: http.MethodPost, path: relPath(product), apiKey: apiKey, body: jsonOf(t, body)}
	}
	publish := func(version string) call {
		return call{method: http.MethodPost, path: relActionPath("rankmath-pro", version, "publish"), apiKey: rmKey}
	}
	pkg := relPackage("refusals", 5000)

	t.Run("validation", func(t *testing.T) {
		for _, v := range []string{"1.2", "01.2.3", "1.2.3-", "v1.2.3", "", "1.2.3.4", "1.2.3-beta..1", "1.2.3-01", "1.x.3", " "} {
			body := relBody(v, "beta", pkg)
			expectInvalid(t, e, create(rmKey, "rankmath-pro", body), "version")
		}
		noVersion := relBody("2.0.0", "", pkg)
		delete(noVersion, "version")
		expectInvalid(t, e, create(rmKey, "rankmath-pro", noVersion), "version")

		for _, size := range []any{200_000_001, 1 << 40, 0, -1} {
			body := relBody("2.0.0", "", pkg)
			body["package_size"] = size
			expectInvalid(t, e, create(rmKey, "rankmath-pro", body), "package_size")
		}
		noSize := relBody("2.0.0", "", pkg)
		delete(noSize, "package_size")
		expectInvalid(t, e, create(rmKey, "rankmath-pro", noSize), "package_size")
		for _, sum := range []string{"", "abc", strings.Repeat("g", 64), strings.Repeat("a", 63)} {
			body := relBody("2.0.0", "", pkg)
			body["package_sha256"] = sum
			expectInvalid(t, e, create(rmKey, "rankmath-pro", body), "package_sha256")
		}
		for _, ch := range []string{"stable", ""} {
			expectInvalid(t, e, create(rmKey, "rankmath-pro", relBody("2.0.0-beta.1", ch, pkg)), "version")
		}
		expectInvalid(t, e, create(rmKey, "rankmath-pro", relBody("2.0.0", "nightly", pkg)), "channel")
		long := relBody("2.0.0", "", pkg)
		long["changelog"] = strings.Repeat("x", 64<<10+1)
		expectInvalid(t, e, create(rmKey, "rankmath-pro", long), "changelog")
		wp := relBody("2.0.0", "", pkg)
		wp["requires_wp"] = "six"
		expectInvalid(t, e, create(rmKey, "rankmath-pro", wp), "requires_wp")
		expectError(t, e, create(rmKey, "rankmath-pro", "{not json"), http.StatusBadRequest, "invalid_json")
	})
	t.Run("a changelog of 64 KiB", func(t *testing.T) {
		body := relBody("2.2.0", "", pkg)
		log := strings.Repeat("- a \"fix\" <b>\t\n", 64<<10/8)[:64<<10]
		body["changelog"] = log
		c := e.relCreate(t, rmKey, "rankmath-pro", body)
		require.Equal(t, log, c.Release.Changelog)
	})
	t.Run("already_exists", func(t *testing.T) {
		expectError(t, e, create(rmKey, "rankmath-pro", relBody("1.0.0", "", pkg)), http.StatusConflict, "already_exists")
		e.relCreate(t, rmKey, "rankmath-pro", relBody("2.1.0", "", pkg))
		expectError(t, e, create(rmKey, "rankmath-pro", relBody("2.1.0", "beta", relPackage("other", 10))), http.StatusConflict, "already_exists")
		// The same version of another product is another release.
		e.relCreate(t, rmKey, "content-ai", relBody("2.1.0", "", pkg))
	})
	t.Run("another brand's product", func(t *testing.T) {
		expectError(t, e, create(wprKey, "rankmath-pro", relBody("3.0.0", "", pkg)), http.StatusNotFound, "product_not_found")
		expectError(t, e, create(wprKey, ids["rankmath-pro"], relBody("3.0.0", "", pkg)), http.StatusNotFound, "product_not_found")
		expectError(t, e, create(rmKey, "no-such-product", relBody("3.0.0", "", pkg)), http.StatusNotFound, "product_not_found")
		expectError(t, e, call{method: http.MethodPost, path: relActionPath("rankmath-pro", "1.0.0", "publish"), apiKey: wprKey}, http.StatusNotFound, "product_not_found")
		expectError(t, e, create("", "rankmath-pro", relBody("3.0.0", "", pkg)), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("invalid_transition", func(t *testing.T) {
		expectError(t, e, publish("1.0.0"), http.StatusConflict, "invalid_transition")
	})
	t.Run("release_not_found", func(t *testing.T) {
		expectError(t, e, publish("9.9.9"), http.StatusNotFound, "release_not_found")
		expectError(t, e, publish("not-a-version"), http.StatusNotFound, "release_not_found")
	})

	// The upload and publish refusals, each on its own release.
	t.Run("package_missing", func(t *testing.T) {
		e.relCreate(t, rmKey, "rankmath-pro", relBody("4.0.0", "", pkg))
		expectError(t, e, publish("4.0.0"), http.StatusConflict, "package_missing")
		require.Equal(t, "pending_upload", e.relList(t, rmKey, "rankmath-pro")[0].Status)
	})
	t.Run("the presigned PUT refuses other bytes and another length", func(t *testing.T) {
		c := e.relCreate(t, rmKey, "rankmath-pro", relBody("4.1.0", "", pkg))
		other := relPackage("tampered", len(pkg))
		require.NotEqual(t, relSum(pkg), relSum(other))
		var status int
		var msg string
		e.unchanged(t, func() { status, msg = relPut(t, c.Upload, other) })
		require.Equal(t, http.StatusBadRequest, status, msg)
		require.Contains(t, msg, "BadDigest")
		status, msg = relPut(t, c.Upload, append(append([]byte{}, pkg...), 'x'))
		require.Equal(t, http.StatusForbidden, status, msg)
		status, msg = relPut(t, c.Upload, pkg[:len(pkg)-1])
		require.Equal(t, http.StatusForbidden, status, msg)
		// Nothing arrived: still missing.
		expectError(t, e, publish("4.1.0"), http.StatusConflict, "package_missing")
		// Without the signed checksum header S3 refuses the signature.
		noSum := c.Upload
		noSum.Headers = map[string]string{"Content-Type": "application/zip"}
		status, msg = relPut(t, noSum, pkg)
		require.Equal(t, http.StatusForbidden, status, msg)
		expectError(t, e, publish("4.1.0"), http.StatusConflict, "package_missing")
		// The right bytes go through; then it publishes.
		status, msg = relPut(t, c.Upload, pkg)
		require.Equal(t, http.StatusOK, status, msg)
		e.relPublish(t, rmKey, "rankmath-pro", "4.1.0")
	})
	t.Run("package_mismatch: wrong size", func(t *testing.T) {
		c := e.relCreate(t, rmKey, "rankmath-pro", relBody("4.2.0", "", pkg))
		e.relPutObject(t, c.Upload, append(append([]byte{}, pkg...), "more"...))
		got := expectError(t, e, publish("4.2.0"), http.StatusConflict, "package_mismatch")
		require.Contains(t, got.Message, fmt.Sprint(len(pkg)))
		e.relPutObject(t, c.Upload, pkg[:100])
		expectError(t, e, publish("4.2.0"), http.StatusConflict, "package_mismatch")
	})
	t.Run("package_mismatch: wrong hash", func(t *testing.T) {
		c := e.relCreate(t, rmKey, "rankmath-pro", relBody("4.3.0", "", pkg))
		e.relPutObject(t, c.Upload, relPackage("same-size-other-bytes", len(pkg)))
		expectError(t, e, publish("4.3.0"), http.StatusConflict, "package_mismatch")
		// A declared size and hash that differ from what is uploaded.
		declared := relBody("4.4.0", "", relPackage("declared", 777))
		c2 := e.relCreate(t, rmKey, "rankmath-pro", declared)
		e.relPutObject(t, c2.Upload, pkg)
		expectError(t, e, publish("4.4.0"), http.StatusConflict, "package_mismatch")
		// Once the right bytes are there, it publishes.
		e.relPutObject(t, c.Upload, pkg)
		e.relPublish(t, rmKey, "rankmath-pro", "4.3.0")
	})

	got := map[string]string{}
	for _, r := range e.relList(t, rmKey, "rankmath-pro") {
		got[r.Version] = r.Status
	}
	require.Equal(t, map[string]string{"1.0.0": "published", "2.1.0": "pending_upload", "2.2.0": "pending_upload", "4.0.0": "pending_upload", "4.1.0": "published",
		"4.2.0": "pending_upload", "4.3.0": "published", "4.4.0": "pending_upload"}, got, "no refusal published anything")
}
