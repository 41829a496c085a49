package tests

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/phpserial"
)

// gvAnswer is a get_version answer after EDD_SL_Plugin_Updater 1.9.2's
// get_version_from_remote() has read it: json_decode of the body, then
// maybe_unserialize of sections, banners and icons, then every section
// copied into the object.
type gvAnswer struct {
	obj      map[string]any // the decoded object, with the sections copied in
	sections map[string]string
	banners  []phpserial.Pair
	icons    []phpserial.Pair
	raw      string
}

// str is a string field of the decoded object ("" when absent or null, as
// PHP's empty() reads it); any other type fails.
func (a gvAnswer) str(t *testing.T, field string) string {
	t.Helper()
	v, ok := a.obj[field]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	require.True(t, ok, "%s is %T, not a string: %s", field, v, a.raw)
	return s
}

// gvForm is the body EDD_SL_Plugin_Updater 1.9.2 posts for get_version
// with wp_remote_post (http_build_query: false is "0"... or "" for an
// unset beta), without slug.
func gvForm(license, itemName, itemID, beta string) url.Values {
	return url.Values{
		"edd_action":  {"get_version"},
		"license":     {license},
		"item_name":   {itemName},
		"item_id":     {itemID},
		"version":     {"0.9.0"},
		"author":      {"Rank Math"},
		"url":         {"https://" + demo.DemoSite},
		"beta":        {beta},
		"php_version": {"8.2.12"},
		"wp_version":  {"6.1.1"},
	}
}

// gvFields are the fields of every get_version answer.
var gvFields = []string{"new_version", "stable_version", "name", "slug", "url", "last_updated", "homepage", "package",
	"download_link", "sections", "banners", "icons", "requires", "tested", "requires_php"}

// gvUnserialize is maybe_unserialize of a field, required to BE a
// serialized array: a plain string would come back unchanged, and the
// updater would then iterate over a string.
func gvUnserialize(t *testing.T, obj map[string]any, field, raw string) []phpserial.Pair {
	t.Helper()
	v, ok := obj[field]
	require.True(t, ok, "no %s in %s", field, raw)
	s, ok := v.(string)
	require.True(t, ok, "%s is %T, not a serialized string: %s", field, v, raw)
	pairs, err := phpserial.Unserialize(s)
	require.NoError(t, err, "%s is not a serialized PHP array: %q", field, s)
	return pairs
}

// gvUpdater posts form as the updater does and decodes the answer as it
// does; it requires what the updater needs not to treat the request as
// failed (HTTP 200, JSON, sections present).
func (e *env) gvUpdater(t *testing.T, form url.Values) gvAnswer {
	t.Helper()
	return e.gvRead(t, e.eddWire(t, http.MethodPost, form.Encode()))
}

func (e *env) gvRead(t *testing.T, r reply) gvAnswer {
	t.Helper()
	// is_wp_error || 200 !== wp_remote_retrieve_response_code: failed.
	require.Equal(t, http.StatusOK, r.status, "the updater treats any other status as a failed request: %s", r.body)
	require.Equal(t, "private, no-store", r.header.Get("Cache-Control"))
	a := gvAnswer{raw: string(r.body), sections: map[string]string{}}
	// $request = json_decode( wp_remote_retrieve_body( $request ) );
	require.NoError(t, json.Unmarshal(r.body, &a.obj), "json_decode fails: %s", r.body)
	requireFields(t, a.obj, gvFields...)
	// if ( $request && isset( $request->sections ) ) … else $request = false;
	require.NotNil(t, a.obj["sections"], "without sections the updater treats the request as failed: %s", r.body)
	for _, p := range gvUnserialize(t, a.obj, "sections", a.raw) {
		a.sections[p.Key] = p.Value
	}
	a.banners = gvUnserialize(t, a.obj, "banners", a.raw)
	a.icons = gvUnserialize(t, a.obj, "icons", a.raw)
	// foreach ( $request->sections as $key => $section ) $request->$key = (array) $section;
	for k, v := range a.sections {
		a.obj[k] = v
	}
	require.Contains(t, a.sections, "description", a.raw)
	require.Contains(t, a.sections, "changelog", a.raw)
	for _, s := range customerData {
		require.NotContains(t, a.raw, s, "the answer shows customer data")
	}
	return a
}

// gvEntitled requires an answer with a download of version.
func gvEntitled(t *testing.T, e *env, a gvAnswer, version string) string {
	t.Helper()
	require.Equal(t, version, a.str(t, "new_version"), a.raw)
	link := a.str(t, "download_link")
	require.NotEmpty(t, link, "no download_link for a valid key with a seat: %s", a.raw)
	require.Equal(t, link, a.str(t, "package"))
	require.True(t, strings.HasPrefix(link, e.srv.APIURL+pathEDD+"?"), "download_link %s", link)
	u, err := url.Parse(link)
	require.NoError(t, err)
	require.Equal(t, "package_download", u.Query().Get("edd_action"))
	require.NotEmpty(t, u.Query().Get("id"))
	require.Empty(t, a.str(t, "msg"), a.raw)
	return link
}

// gvRefused requires an answer without a download, with a msg.
func gvRefused(t *testing.T, a gvAnswer, version, msg string) {
	t.Helper()
	require.Equal(t, version, a.str(t, "new_version"), a.raw)
	require.Empty(t, a.str(t, "package"), a.raw)
	require.Empty(t, a.str(t, "download_link"), a.raw)
	require.NotEmpty(t, a.str(t, "msg"), "a refusal says why: %s", a.raw)
	require.Contains(t, strings.ToLower(a.str(t, "msg")), msg, a.raw)
}

func TestEDDGetVersionAsUpdater(t *testing.T) {
	t.Parallel()
	e := start(t)
	ids := e.productIDs(t, rmKey)
	const key = demo.RankMathKey

	t.Run("a valid key with a seat", func(t *testing.T) {
		a := e.gvUpdater(t, gvForm(key, "Rank Math Pro", "0", ""))
		gvEntitled(t, e, a, demo.ReleaseVersion)
		require.Equal(t, "1.0.0", a.str(t, "stable_version"))
		require.Equal(t, "Rank Math Pro", a.str(t, "name"))
		require.Equal(t, "rankmath-pro", a.str(t, "slug"))
		require.Equal(t, "6.0", a.str(t, "requires"))
		require.Equal(t, "6.7", a.str(t, "tested"))
		require.Equal(t, "7.4", a.str(t, "requires_php"))
		lu, err := time.Parse("2006-01-02 15:04:05", a.str(t, "last_updated"))
		require.NoError(t, err, "last_updated %q", a.str(t, "last_updated"))
		require.WithinDuration(t, time.Now(), lu, time.Hour)
		require.Contains(t, a.sections["description"], "Rank Math Pro")
		require.Contains(t, a.sections["changelog"], "First release of Rank Math Pro.")
		require.Contains(t, a.str(t, "changelog"), "First release of Rank Math Pro.", "the updater copies each section into the object")
		require.NotContains(t, a.sections["changelog"], "## ", "the Markdown is rendered for the View details screen")
		require.Empty(t, a.banners)
		require.Empty(t, a.icons)
	})
	t.Run("the forms of item_name and item_id", func(t *testing.T) {
		for name, form := range map[string]url.Values{
			"item_name urlencoded twice":    gvForm(key, "Rank+Math+Pro", "0", ""),
			"item_name rawurlencoded twice": gvForm(key, "Rank%20Math%20Pro", "0", "0"),
			"item_id and item_name":         gvForm(key, "Rank Math Pro", ids["rankmath-pro"], ""),
			"item_id alone":                 gvForm(key, "0", ids["rankmath-pro"], ""),
			"item_id by slug":               gvForm(key, "", "rankmath-pro", ""),
			"a numeric item_id":             gvForm(key, "Rank Math Pro", "4242", ""),
			// Older updaters send the plugin's slug and no item.
			"slug alone": func() url.Values {
				f := gvForm(key, "", "", "")
				f.Set("slug", "rankmath-pro")
				return f
			}(),
		} {
			t.Run(name, func(t *testing.T) {
				a := e.gvUpdater(t, form)
				gvEntitled(t, e, a, "1.0.0")
				require.Equal(t, "rankmath-pro", a.str(t, "slug"))
			})
		}
		// Another product of the key: its own release, and no seat here.
		a := e.gvUpdater(t, gvForm(key, "Content AI", "0", ""))
		gvRefused(t, a, "1.0.0", "not activated")
		require.Equal(t, "content-ai", a.str(t, "slug"))
		require.Contains(t, a.sections["changelog"], "First release of Content AI.")
	})
	t.Run("item_name 0 and empty fall back to the key's single product", func(t *testing.T) {
		r := e.post(t, "/api/v1/product/licenses/activate", "", map[string]string{"license_key": demo.WPRocketKey, "instance_identifier": demo.DemoSite})
		require.Equal(t, http.StatusCreated, r.status, "activate: %s", r.body)
		for _, name := range []string{"0", ""} {
			a := e.gvUpdater(t, gvForm(demo.WPRocketKey, name, "0", ""))
			gvEntitled(t, e, a, "1.0.0")
			require.Equal(t, "wp-rocket", a.str(t, "slug"))
			require.Equal(t, "WP Rocket", a.str(t, "name"))
		}
		// A key of two products cannot fall back: no package, and why.
		a := e.gvUpdater(t, gvForm(key, "0", "0", ""))
		gvRefused(t, a, "", "several plugins")
	})
	t.Run("a valid key on a site without a seat", func(t *testing.T) {
		form := gvForm(key, "Rank Math Pro", "0", "")
		form.Set("url", "https://no-seat.example.com")
		a := e.gvUpdater(t, form)
		gvRefused(t, a, "1.0.0", "not activated")
		require.Equal(t, "Rank Math Pro", a.str(t, "name"))
		require.Contains(t, a.sections["changelog"], "First release of Rank Math Pro.", "the version information is still given")
	})
	t.Run("a key for another product", func(t *testing.T) {
		a := e.gvUpdater(t, gvForm(key, "WP Rocket", "0", ""))
		gvRefused(t, a, "", "not for this plugin")
	})
	for name, license := range map[string]string{"an unknown key": "RM-ZZZZ-2222-3333-4444", "an unknown prefix": "XX-ZZZZ-2222-3333-4444",
		"a malformed key": "not a key", "a missing key": ""} {
		t.Run(name, func(t *testing.T) {
			var a gvAnswer
			e.unchanged(t, func() { a = e.gvUpdater(t, gvForm(license, "Rank Math Pro", "0", "")) })
			gvRefused(t, a, "", "license key")
			require.Empty(t, a.str(t, "slug"))
			require.Empty(t, a.sections["changelog"])
			require.Empty(t, a.banners)
		})
	}
	t.Run("the form as a GET query", func(t *testing.T) {
		a := e.gvRead(t, e.eddWire(t, http.MethodGet, gvForm(key, "Rank Math Pro", "0", "").Encode()))
		gvEntitled(t, e, a, "1.0.0")
	})

	t.Run("beta", func(t *testing.T) {
		b := relPackage("edd-beta", 1500)
		body := relBody("1.1.0-beta.1", "beta", b)
		body["changelog"] = "## 1.1.0-beta.1\n\n- Café ✓ <script>x</script>"
		c := e.relCreate(t, rmKey, "rankmath-pro", body)
		status, msg := relPut(t, c.Upload, b)
		require.Equal(t, http.StatusOK, status, msg)
		e.relPublish(t, rmKey, "rankmath-pro", "1.1.0-beta.1")
		for _, beta := range []string{"", "0"} {
			a := e.gvUpdater(t, gvForm(key, "Rank Math Pro", "0", beta))
			gvEntitled(t, e, a, "1.0.0")
			require.Equal(t, "1.0.0", a.str(t, "stable_version"))
		}
		a := e.gvUpdater(t, gvForm(key, "Rank Math Pro", "0", "1"))
		gvEntitled(t, e, a, "1.1.0-beta.1")
		require.Equal(t, "1.0.0", a.str(t, "stable_version"), "the stable version beside the beta")
		require.Equal(t, "6.1", a.str(t, "requires"))
		require.Contains(t, a.sections["changelog"], "Café ✓", "lengths count bytes, as PHP's do")
		require.NotContains(t, a.sections["changelog"], "<script>", "a changelog carries no markup of its own")
	})
	// Last: the demo license is suspended.
	t.Run("a suspended license", func(t *testing.T) {
		expectOK(t, e.post(t, actionPath(demo.RankMathProLicense, "suspend"), rmKey, map[string]string{"reason": "chargeback"}), http.StatusOK, nil)
		a := e.gvUpdater(t, gvForm(key, "Rank Math Pro", "0", ""))
		gvRefused(t, a, "1.0.0", "suspended")
		require.Equal(t, "Rank Math Pro", a.str(t, "name"))
		require.Equal(t, "6.0", a.str(t, "requires"))
		require.Contains(t, a.sections["changelog"], "First release of Rank Math Pro.")
	})
}

// gvNoRedirect is a client that shows redirects instead of following them.
var gvNoRedirect = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// gvFollow requests a download link and requires a 302 to the package whose
// bytes hash to sum.
func gvFollow(t *testing.T, e *env, link, sum string) {
	t.Helper()
	resp, err := gvNoRedirect.Get(link)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, "private, no-store", resp.Header.Get("Cache-Control"))
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, e.srv.S3URL+"/"), "Location %q is not the release bucket", loc)
	status, b := relDownload(t, loc)
	require.Equal(t, http.StatusOK, status, "download: %s", b)
	require.Equal(t, sum, relSum(b), "the download is not the published package")
}

// gvDownloadRefused requires the download link refused with code.
func gvDownloadRefused(t *testing.T, e *env, link string, status int, code string) {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	var r reply
	e.unchanged(t, func() { r = e.do(t, call{method: http.MethodGet, path: u.RequestURI()}) })
	checkError(t, r, status, code)
	require.Empty(t, r.header.Get("Location"))
}

func TestEDDPackageDownload(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	e := start(t, func(o *devserver.Options) { o.Now = c.Now })
	const key = demo.RankMathKey
	seeded := relSum(demo.Package("rankmath-pro"))
	link := func() string {
		t.Helper()
		return gvEntitled(t, e, e.gvUpdater(t, gvForm(key, "Rank Math Pro", "0", "")), "1.0.0")
	}

	l := link()
	gvFollow(t, e, l, seeded)
	gvFollow(t, e, l, seeded) // a link works more than once within its time

	t.Run("a tampered id", func(t *testing.T) {
		u, err := url.Parse(l)
		require.NoError(t, err)
		id := u.Query().Get("id")
		payload, sig, ok := strings.Cut(id, ".")
		require.True(t, ok, "id %q", id)
		flip := func(s string, i int) string {
			b := []byte(s)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return string(b)
		}
		// A grant for another site, signed with the original signature.
		var g map[string]any
		raw, err := base64.RawURLEncoding.DecodeString(payload)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &g))
		g["u"] = "attacker.example.com"
		forged, err := json.Marshal(g)
		require.NoError(t, err)
		for _, bad := range []string{flip(payload, 3) + "." + sig, payload + "." + flip(sig, 5), base64.RawURLEncoding.EncodeToString(forged) + "." + sig,
			"", "garbage", payload, payload + ".", sig + "." + payload} {
			q := url.Values{"edd_action": {"package_download"}, "id": {bad}}
			gvDownloadRefused(t, e, e.srv.APIURL+pathEDD+"?"+q.Encode(), http.StatusForbidden, "download_link_expired")
		}
		gvFollow(t, e, l, seeded)
	})
	t.Run("a license suspended after the answer", func(t *testing.T) {
		expectOK(t, e.post(t, actionPath(demo.RankMathProLicense, "suspend"), rmKey, map[string]string{"reason": "chargeback"}), http.StatusOK, nil)
		gvDownloadRefused(t, e, l, http.StatusForbidden, "license_suspended")
		expectOK(t, e.post(t, actionPath(demo.RankMathProLicense, "resume"), rmKey, map[string]string{}), http.StatusOK, nil)
		gvFollow(t, e, l, seeded)
	})
	t.Run("a site that gave up its seat", func(t *testing.T) {
		r := e.post(t, "/api/v1/product/licenses/deactivate", "", map[string]string{"license_key": key, "instance_identifier": demo.DemoSite, "product": "rankmath-pro"})
		require.Equal(t, http.StatusOK, r.status, "deactivate: %s", r.body)
		gvDownloadRefused(t, e, l, http.StatusNotFound, "activation_not_found")
		r = e.post(t, "/api/v1/product/licenses/activate", "", map[string]string{"license_key": key, "instance_identifier": demo.DemoSite, "product": "rankmath-pro"})
		require.Equal(t, http.StatusCreated, r.status, "activate: %s", r.body)
		gvFollow(t, e, l, seeded)
	})
	t.Run("a yanked release", func(t *testing.T) {
		pkg := relPackage("edd-1.1.0", 2222)
		e.relShip(t, rmKey, "rankmath-pro", "1.1.0", "stable", pkg)
		l110 := gvEntitled(t, e, e.gvUpdater(t, gvForm(key, "Rank Math Pro", "0", "")), "1.1.0")
		gvFollow(t, e, l110, relSum(pkg))
		e.relYank(t, rmKey, "rankmath-pro", "1.1.0")
		gvDownloadRefused(t, e, l110, http.StatusNotFound, "release_not_found")
		// The older link still gives the release it names.
		gvFollow(t, e, l, seeded)
		require.NotEqual(t, l, l110)
	})
	t.Run("after 24 hours", func(t *testing.T) {
		fresh := link()
		c.advance(23*time.Hour + 59*time.Minute)
		gvFollow(t, e, fresh, seeded)
		c.advance(2 * time.Minute)
		gvDownloadRefused(t, e, fresh, http.StatusForbidden, "download_link_expired")
		gvDownloadRefused(t, e, l, http.StatusForbidden, "download_link_expired")
		// A new check hands out a new link.
		gvFollow(t, e, link(), seeded)
	})
}

// TestEDDPriceIDAndItemName: price_id (false) is in every license answer,
// and item_name is echoed URL-decoded.
func TestEDDPriceIDAndItemName(t *testing.T) {
	t.Parallel()
	e := start(t)
	const key = demo.RankMathKey
	const site = "&url=https%3A%2F%2Fprice.example.com"
	for _, tc := range []struct {
		name, raw, license string
	}{
		{"activate", "edd_action=activate_license&license=" + key + "&item_name=Rank%2BMath%2BPro" + site, "valid"},
		{"check", "edd_action=check_license&license=" + key + "&item_name=Rank%2BMath%2BPro" + site, "valid"},
		{"check, rawurlencoded", "edd_action=check_license&license=" + key + "&item_name=Rank%2520Math%2520Pro" + site, "valid"},
		{"check, as it is", "edd_action=check_license&license=" + key + "&item_name=Rank+Math+Pro" + site, "valid"},
		{"deactivate", "edd_action=deactivate_license&license=" + key + "&item_name=Rank%2BMath%2BPro" + site, "deactivated"},
		{"deactivate again", "edd_action=deactivate_license&license=" + key + "&item_name=Rank%2BMath%2BPro" + site, "failed"},
		{"check of an unknown key", "edd_action=check_license&license=RM-ZZZZ-2222-3333-4444&item_name=Rank%2BMath%2BPro" + site, "invalid"},
		{"activate without a key", "edd_action=activate_license&item_name=Rank%2BMath%2BPro" + site, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.eddRead(t, e.eddWire(t, http.MethodPost, tc.raw))
			require.Equal(t, tc.license, a.License, a.raw)
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(a.raw), &m))
			v, ok := m["price_id"]
			require.True(t, ok, "no price_id in %s", a.raw)
			require.Equal(t, false, v, a.raw)
			require.Equal(t, "Rank Math Pro", a.ItemName, "item_name is echoed decoded: %s", a.raw)
		})
	}
}
