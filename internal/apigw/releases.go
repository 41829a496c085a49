package apigw

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

type createReleaseRequest struct {
	Version       string `json:"version"`
	Channel       string `json:"channel"`
	Changelog     string `json:"changelog"`
	RequiresWP    string `json:"requires_wp"`
	TestedWP      string `json:"tested_wp"`
	RequiresPHP   string `json:"requires_php"`
	PackageSHA256 string `json:"package_sha256"`
	PackageSize   *int64 `json:"package_size"`
	idempotencyBody
}

type releaseJSON struct {
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

func renderRelease(r licensing.Release) releaseJSON {
	return releaseJSON{Product: r.ProductSlug, ProductID: r.ProductID, Version: r.Version.String(), Channel: string(r.Channel),
		Status: string(r.Status), Changelog: r.Changelog, RequiresWP: r.RequiresWP, TestedWP: r.TestedWP, RequiresPHP: r.RequiresPHP,
		PackageSHA256: r.SHA256, PackageSize: r.Size, CreatedAt: ts(r.CreatedAt), PublishedAt: tsOrNil(r.PublishedAt), YankedAt: tsOrNil(r.YankedAt)}
}

func tsOrNil(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := ts(*t)
	return &s
}

type presignedJSON struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt string            `json:"expires_at"`
}

func renderPresigned(p app.Presigned) presignedJSON {
	return presignedJSON{URL: p.URL, Method: p.Method, Headers: p.Headers, ExpiresAt: ts(p.ExpiresAt)}
}

// CreateRelease is POST /api/v1/brand/products/{product}/releases: 201 with
// the release (pending_upload) and a presigned PUT for its package.
func (h *API) CreateRelease(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("create-release", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in createReleaseRequest
		// The changelog alone may be 64 KiB: more than other routes take.
		if err := decodeJSONUpTo(req, &in, MaxReleaseBodyBytes); err != nil {
			return result{}, err
		}
		idem, err := idempotencyKey(req, in.idempotencyBody)
		if err != nil {
			return result{}, err
		}
		out, replayed, err := h.app.CreateReleaseOnce(ctx, t, req.PathParameters["product"], licensing.ReleaseInput{
			Version: in.Version, Channel: in.Channel, Changelog: in.Changelog, RequiresWP: in.RequiresWP, TestedWP: in.TestedWP,
			RequiresPHP: in.RequiresPHP, PackageSHA256: in.PackageSHA256, PackageSize: in.PackageSize,
		}, idem)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusCreated, headers: noStore(),
			body: map[string]any{"release": renderRelease(out.Release), "upload": renderPresigned(out.Upload)}}.replayedIf(replayed), nil
	})(ctx, req)
}

// ListReleases is GET /api/v1/brand/products/{product}/releases, newest
// version first.
func (h *API) ListReleases(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("list-releases", func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		p, rs, err := h.app.ListReleases(ctx, t, req.PathParameters["product"])
		if err != nil {
			return result{}, err
		}
		out := make([]releaseJSON, len(rs))
		for i, r := range rs {
			out[i] = renderRelease(r)
		}
		return result{status: http.StatusOK, body: map[string]any{"product": renderProduct(p), "releases": out}}, nil
	})(ctx, req)
}

// PublishRelease is POST /api/v1/brand/products/{product}/releases/{version}/publish.
func (h *API) PublishRelease(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("publish-release", h.releaseChange(h.app.PublishReleaseOnce))(ctx, req)
}

// YankRelease is POST /api/v1/brand/products/{product}/releases/{version}/yank.
func (h *API) YankRelease(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.brand("yank-release", h.releaseChange(h.app.YankReleaseOnce))(ctx, req)
}

// releaseChange runs a change of the release the path names (the body, if
// any, holds at most an idempotency_key) and answers 200 with the release.
func (h *API) releaseChange(change func(ctx context.Context, t licensing.Tenant, product, version, idempotencyKey string) (licensing.Release, bool, error)) brandFunc {
	return func(ctx context.Context, t licensing.Tenant, req events.APIGatewayProxyRequest) (result, error) {
		var in idempotencyBody
		if err := decodeJSON(req, &in); err != nil {
			return result{}, err
		}
		idem, err := idempotencyKey(req, in)
		if err != nil {
			return result{}, err
		}
		r, replayed, err := change(ctx, t, req.PathParameters["product"], req.PathParameters["version"], idem)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, body: map[string]any{"release": renderRelease(r)}}.replayedIf(replayed), nil
	}
}

type latestJSON struct {
	Version     string  `json:"version"`
	Channel     string  `json:"channel"`
	Changelog   string  `json:"changelog"`
	RequiresWP  string  `json:"requires_wp"`
	TestedWP    string  `json:"tested_wp"`
	RequiresPHP string  `json:"requires_php"`
	PublishedAt *string `json:"published_at"`
}

type packageJSON struct {
	URL       string `json:"url"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	ExpiresAt string `json:"expires_at"`
}

type updatesJSON struct {
	Product         string         `json:"product"`
	Channel         string         `json:"channel"`
	CurrentVersion  *string        `json:"current_version"`
	UpdateAvailable bool           `json:"update_available"`
	Latest          *latestJSON    `json:"latest"`
	Package         *packageJSON   `json:"package"`
	Reason          licensing.Code `json:"reason,omitempty"`
	License         checkLicense   `json:"license"`
}

// ProductUpdates is GET /api/v1/product/updates: what the site's channel
// offers and, for a usable license on a site that holds a seat, a presigned
// download of the package. The version information is given whatever the
// license's state; a refusal only leaves package null, with a reason. An
// answer that carries a package URL is private, no-store.
func (h *API) ProductUpdates(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.public("product-updates", func(ctx context.Context, req events.APIGatewayProxyRequest) (result, error) {
		q := req.QueryStringParameters
		u, err := h.app.CheckUpdates(ctx, app.UpdatesInput{LicenseKey: q["license_key"], InstanceIdentifier: q["instance_identifier"],
			InstanceType: q["instance_type"], Product: q["product"], Version: q["version"], Channel: q["channel"]})
		if err != nil {
			return result{}, err
		}
		l := u.License
		lj := renderLicense(l, h.app.Now())
		out := updatesJSON{Product: l.ProductSlug, Channel: string(u.Channel), UpdateAvailable: u.UpdateAvailable, Reason: u.Reason,
			License: checkLicense{ID: l.ID, Product: l.ProductSlug, Status: lj.Status, SeatLimit: l.SeatLimit,
				SeatsUsed: l.SeatsUsed, SeatsRemaining: l.SeatsRemaining(), StagingUsed: l.NonProdUsed, ExpiresAt: lj.ExpiresAt}}
		if u.Current != nil {
			s := u.Current.String()
			out.CurrentVersion = &s
		}
		if r := u.Latest; r != nil {
			out.Latest = &latestJSON{Version: r.Version.String(), Channel: string(r.Channel), Changelog: r.Changelog, RequiresWP: r.RequiresWP,
				TestedWP: r.TestedWP, RequiresPHP: r.RequiresPHP, PublishedAt: tsOrNil(r.PublishedAt)}
		}
		outcome := "entitled"
		if u.Entitled {
			p, err := h.app.PackageURL(ctx, *u.Latest, h.app.PackageTTL)
			if err != nil {
				return result{}, err
			}
			out.Package = &packageJSON{URL: p.URL, SHA256: u.Latest.SHA256, Size: u.Latest.Size, ExpiresAt: ts(p.ExpiresAt)}
		} else {
			outcome = string(u.Reason)
		}
		// Never in a shared cache: the answer carries a presigned URL, or a
		// refusal that a renewal must lift at once.
		return result{status: http.StatusOK, body: out, brand: l.Brand, outcome: outcome,
			headers: map[string]string{"Cache-Control": "private, no-store"}}, nil
	})(ctx, req)
}

func noStore() map[string]string { return map[string]string{"Cache-Control": "no-store"} }
