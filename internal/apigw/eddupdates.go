package apigw

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/markdown"
	"github.com/clsvc/license-service/internal/phpserial"
)

// DownloadLinkTTL is how long a get_version download_link works: WordPress
// keeps update offers for up to 12 hours before an admin clicks "Update".
const DownloadLinkTTL = 24 * time.Hour

// downloadRedirectTTL is how long the presigned URL a download link
// redirects to is valid: the download starts at once.
const downloadRedirectTTL = 5 * time.Minute

// sealDownload is the purpose of sealed download grants.
const sealDownload = "edd-package-download"

// eddVersionJSON is a get_version answer as EDD sends it. sections, banners
// and icons are PHP-serialized arrays, which EDD_SL_Plugin_Updater passes
// to maybe_unserialize(); an answer without sections is treated by the
// updater as a failed request, so every answer has them.
type eddVersionJSON struct {
	NewVersion    string `json:"new_version"`
	StableVersion string `json:"stable_version"`
	Name          string `json:"name"`
	Slug          string `json:"slug"`
	URL           string `json:"url"`
	LastUpdated   string `json:"last_updated"`
	Homepage      string `json:"homepage"`
	Package       string `json:"package"`
	DownloadLink  string `json:"download_link"`
	Sections      string `json:"sections"`
	Banners       string `json:"banners"`
	Icons         string `json:"icons"`
	Requires      string `json:"requires"`
	Tested        string `json:"tested"`
	RequiresPHP   string `json:"requires_php"`
	Msg           string `json:"msg,omitempty"`
}

// grant is what a download link carries, sealed.
type grant struct {
	Key       string `json:"k"`
	ProductID string `json:"p"`
	Instance  string `json:"u"`
	Version   string `json:"v"`
	Expires   int64  `json:"e"`
}

// eddRefusals are the msg of a get_version answer without a package.
var eddRefusals = map[licensing.Code]string{
	licensing.CodeLicenseExpired:   "Your license has expired: renew it to get this update.",
	licensing.CodeLicenseSuspended: "Your license is suspended: contact support to get this update.",
	licensing.CodeLicenseCancelled: "Your license is cancelled: buy a new one to get updates.",
	licensing.CodeSiteInactive:     "This site is not activated on your license: activate it to get updates.",
	licensing.CodeNoRelease:        "No version of this plugin is available yet.",
}

// eddGetVersion answers EDD's get_version, always with HTTP 200 (the
// updater treats anything else as a failure that blocks update checks for
// an hour): the offered version for a known license whatever its state,
// and a package link only for a usable license on a site holding a seat.
// An unknown, malformed or mismatched key gets the same shape with empty
// version fields and a msg.
func (h *API) eddGetVersion(ctx context.Context, p *eddParams, req events.APIGatewayProxyRequest) (result, error) {
	out := eddVersionJSON{Sections: phpserial.Array(phpserial.Pair{Key: "description", Value: ""}, phpserial.Pair{Key: "changelog", Value: ""}),
		Banners: phpserial.Array(), Icons: phpserial.Array()}
	done := func(brand, outcome string) (result, error) {
		return result{status: http.StatusOK, body: out, brand: brand, outcome: outcome, headers: map[string]string{"Cache-Control": "private, no-store"}}, nil
	}
	if p.license == "" {
		out.Msg = "No license key was sent: enter your license key to get updates."
		return done("", "missing")
	}
	channel := licensing.ChannelStable
	if p.beta {
		channel = licensing.ChannelBeta
	}
	var u app.Updates
	run := func() error {
		var err error
		u, err = h.app.CheckUpdates(ctx, app.UpdatesInput{LicenseKey: p.license, InstanceIdentifier: p.url,
			InstanceType: string(licensing.InstanceURL), Product: p.product, Channel: string(channel)})
		return err
	}
	var err error
	if p.itemID == "" && !p.named() && p.slug != "" {
		// Older updaters name the item by the plugin's slug alone, which is
		// the plugin's folder, not necessarily the product's slug: tried
		// first, then the key's only product.
		p.product = eddSlug(p.slug)
		if err = run(); p.product != "" && eddProductMiss(err) {
			p.product = ""
			err = run()
		}
	} else {
		err = h.eddRun(ctx, p, run)
	}
	if err != nil {
		code, ok := p.eddError(err)
		if !ok {
			return result{}, err
		}
		out.Msg = map[string]string{
			eddErrMissing:      "License key not found.",
			eddErrMissingURL:   "The site URL is missing or not a site URL.",
			eddErrKeyMismatch:  "This license key covers several plugins: the updater must name this one (item_id or item_name).",
			eddErrNameMismatch: "This license key is not for this plugin.",
			eddErrInvalidItem:  "This license key is not for this plugin.",
		}[code]
		return done("", code)
	}
	l := u.License
	out.Slug = l.ProductSlug
	outcome := string(u.Reason)
	if r := u.Latest; r != nil {
		out.NewVersion, out.StableVersion, out.Name = r.Version.String(), r.Version.String(), r.ProductName
		out.Requires, out.Tested, out.RequiresPHP = r.RequiresWP, r.TestedWP, r.RequiresPHP
		if r.PublishedAt != nil {
			out.LastUpdated = r.PublishedAt.UTC().Format(eddDateLayout)
		}
		// Sections are HTML in the "View details" screen: the changelog's
		// Markdown is rendered (and escaped) for it.
		out.Sections = phpserial.Array(phpserial.Pair{Key: "description", Value: markdown.HTML(r.ProductName)},
			phpserial.Pair{Key: "changelog", Value: markdown.HTML(r.Changelog)})
		if r.Channel != licensing.ChannelStable {
			if stable, ok, err := h.app.LatestStable(ctx, l); err != nil {
				return result{}, err
			} else if ok {
				out.StableVersion = stable.Version.String()
			} else {
				out.StableVersion = ""
			}
		}
	}
	if !u.Entitled {
		out.Msg = eddRefusals[u.Reason]
		return done(l.Brand, outcome)
	}
	link, err := h.downloadLink(ctx, req, *u.Latest, l, p.license, u.Activation.Instance.ID)
	if err != nil {
		return result{}, err
	}
	out.Package, out.DownloadLink = link, link
	return done(l.Brand, "entitled")
}

// downloadLink is where the updater downloads the package: this endpoint's
// package_download with a grant sealed for DownloadLinkTTL, or, while the
// signing keys cannot be read, a presigned URL of the package itself (valid
// for at most an hour).
func (h *API) downloadLink(ctx context.Context, req events.APIGatewayProxyRequest, r licensing.Release, l licensing.License, key, instance string) (string, error) {
	var signer interface {
		Seal(string, []byte) string
	}
	if h.opts.Signer != nil {
		if s := h.opts.Signer.Current(ctx); s != nil {
			signer = s
		}
	}
	if signer == nil {
		p, err := h.app.PackageURL(ctx, r, h.app.PackageTTL)
		return p.URL, err
	}
	b, err := json.Marshal(grant{Key: key, ProductID: l.ProductID, Instance: instance, Version: r.Version.String(),
		Expires: h.app.Now().Add(DownloadLinkTTL).Unix()})
	if err != nil {
		return "", err
	}
	q := url.Values{"edd_action": {eddDownload}, "id": {signer.Seal(sealDownload, b)}}
	return apiBase(req) + "/api/v1/product/edd?" + q.Encode(), nil
}

// apiBase is the URL this request reached the API under: scheme, host and,
// on API Gateway's own execute-api domain, the stage (a custom domain or the
// local API serves the routes at its root).
func apiBase(req events.APIGatewayProxyRequest) string {
	scheme := header(req, "X-Forwarded-Proto")
	if scheme != "http" {
		scheme = "https"
	}
	host := header(req, "Host")
	if host == "" {
		host = req.RequestContext.DomainName
	}
	prefix := ""
	if strings.HasSuffix(strings.ToLower(host), ".amazonaws.com") && req.RequestContext.Stage != "" {
		prefix = "/" + req.RequestContext.Stage
	}
	return scheme + "://" + host + prefix
}

// eddPackageDownload serves a download link: the grant must be genuine and
// within its time, and at this moment the license usable, the site holding
// its seat and the release published; then it redirects (302) to a
// presigned URL of exactly the published bytes.
func (h *API) eddPackageDownload(ctx context.Context, p *eddParams) (result, error) {
	var signer interface {
		Open(string, string) ([]byte, error)
	}
	if h.opts.Signer != nil {
		if s := h.opts.Signer.Current(ctx); s != nil {
			signer = s
		}
	}
	if signer == nil {
		return result{}, licensing.Unavailable(errSigningKeys)
	}
	raw, err := signer.Open(sealDownload, p.id)
	var g grant
	if err != nil || json.Unmarshal(raw, &g) != nil {
		return result{}, licensing.Errorf(licensing.CodeDownloadExpired, "this download link is not valid: check for updates again")
	}
	if h.app.Now().Unix() > g.Expires {
		return result{}, licensing.Errorf(licensing.CodeDownloadExpired, "this download link has expired: check for updates again")
	}
	r, pre, err := h.app.Download(ctx, app.DownloadInput{LicenseKey: g.Key, Instance: g.Instance, ProductID: g.ProductID, Version: g.Version}, downloadRedirectTTL)
	if err != nil {
		return result{}, err
	}
	empty := ""
	return result{status: http.StatusFound, raw: &empty, brand: r.Brand, outcome: "redirected",
		headers: map[string]string{"Location": pre.URL, "Cache-Control": "private, no-store"}}, nil
}

var errSigningKeys = errors.New("signing keys unavailable: download links cannot be opened")
