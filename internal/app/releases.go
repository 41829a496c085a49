package app

import (
	"context"
	"strings"
	"time"

	"github.com/clsvc/license-service/internal/licensing"
)

// MaxPresignTTL bounds every presigned URL the service hands out.
const MaxPresignTTL = time.Hour

// UsePackages sets where release packages are kept.
func (a *App) UsePackages(p PackageStore) { a.packages = p }

func (a *App) packageStore() (PackageStore, error) {
	if a.packages == nil {
		return nil, licensing.Errorf(licensing.CodeReleasesUnavailable, "this service runs without a release bucket")
	}
	return a.packages, nil
}

// productOf finds one of the brand's products by id or slug.
func (a *App) productOf(ctx context.Context, brand, ref string) (licensing.Product, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > licensing.MaxSlugLength {
		return licensing.Product{}, licensing.Errorf(licensing.CodeProductNotFound, "no such product")
	}
	ps, err := a.resolveProducts(ctx, brand, []string{ref})
	if err != nil {
		if licensing.IsCode(err, licensing.CodeProductNotFound) {
			return licensing.Product{}, licensing.Errorf(licensing.CodeProductNotFound, "no such product")
		}
		return licensing.Product{}, err
	}
	return ps[0], nil
}

// ReleaseUpload is a release waiting for its package, and where to PUT it.
type ReleaseUpload struct {
	Release licensing.Release
	Upload  Presigned
}

// CreateRelease records a new version of one of the tenant's products and
// hands back a presigned PUT of exactly the declared size and SHA-256.
func (a *App) CreateRelease(ctx context.Context, t licensing.Tenant, product string, in licensing.ReleaseInput) (ReleaseUpload, error) {
	up, _, err := a.CreateReleaseOnce(ctx, t, product, in, "")
	return up, err
}

// CreateReleaseOnce is CreateRelease under an idempotency key (see once): a
// replay hands back the first answer's upload URL (RenewUpload gives a
// fresh one once it expired).
func (a *App) CreateReleaseOnce(ctx context.Context, t licensing.Tenant, product string, in licensing.ReleaseInput, idempotencyKey string) (ReleaseUpload, bool, error) {
	packages, err := a.packageStore()
	if err != nil {
		return ReleaseUpload{}, false, err
	}
	p, err := a.productOf(ctx, t.Brand, product)
	if err != nil {
		return ReleaseUpload{}, false, err
	}
	r, err := licensing.NewRelease(p, in, a.now())
	if err != nil {
		return ReleaseUpload{}, false, err
	}
	hashed := r
	hashed.CreatedAt, hashed.UpdatedAt = time.Time{}, time.Time{}
	return once(ctx, a, t, idempotencyKey, mutation{Op: "create-release", IDs: []string{p.ID}, Input: hashed}, func(done *IdempotencyCompletion) (ReleaseUpload, error) {
		// Presigning is local (no call): the answer is whole before the
		// release is written with it.
		up, err := packages.PresignUpload(ctx, r.ObjectKey(), r.Size, r.SHA256, min(a.UploadTTL, MaxPresignTTL))
		if err != nil {
			return ReleaseUpload{}, err
		}
		res := ReleaseUpload{Release: r, Upload: up}
		if err := done.SetResult(res); err != nil {
			return res, err
		}
		return res, a.store.CreateRelease(ctx, r, done)
	})
}

// release reads one of the tenant's releases by product and version.
func (a *App) release(ctx context.Context, t licensing.Tenant, product, version string) (licensing.Release, error) {
	p, err := a.productOf(ctx, t.Brand, product)
	if err != nil {
		return licensing.Release{}, err
	}
	v, err := licensing.ParseVersion("version", version)
	if err != nil {
		return licensing.Release{}, licensing.Errorf(licensing.CodeReleaseNotFound, "no release %q of this product", version)
	}
	return a.store.GetRelease(ctx, t.Brand, p.ID, v)
}

// RenewUpload hands out a fresh presigned PUT for a release still waiting
// for its package (the first one expired).
func (a *App) RenewUpload(ctx context.Context, t licensing.Tenant, product, version string) (ReleaseUpload, error) {
	packages, err := a.packageStore()
	if err != nil {
		return ReleaseUpload{}, err
	}
	r, err := a.release(ctx, t, product, version)
	if err != nil {
		return ReleaseUpload{}, err
	}
	if r.Status != licensing.ReleasePendingUpload {
		return ReleaseUpload{}, licensing.Errorf(licensing.CodeInvalidTransition, "release %s is %s: its package can no longer be uploaded", r.Version, r.Status)
	}
	up, err := packages.PresignUpload(ctx, r.ObjectKey(), r.Size, r.SHA256, min(a.UploadTTL, MaxPresignTTL))
	return ReleaseUpload{Release: r, Upload: up}, err
}

// PublishRelease offers a release to sites once its package is in the
// bucket with the declared size and SHA-256 (read back whole); otherwise
// it fails with package_missing or package_mismatch and changes nothing.
func (a *App) PublishRelease(ctx context.Context, t licensing.Tenant, product, version string) (licensing.Release, error) {
	r, _, err := a.PublishReleaseOnce(ctx, t, product, version, "")
	return r, err
}

// PublishReleaseOnce is PublishRelease under an idempotency key (see once).
func (a *App) PublishReleaseOnce(ctx context.Context, t licensing.Tenant, product, version, idempotencyKey string) (licensing.Release, bool, error) {
	packages, err := a.packageStore()
	if err != nil {
		return licensing.Release{}, false, err
	}
	r, err := a.release(ctx, t, product, version)
	if err != nil {
		return r, false, err
	}
	m := mutation{Op: "publish-release", IDs: []string{r.ProductID, r.Version.String()}}
	return once(ctx, a, t, idempotencyKey, m, func(done *IdempotencyCompletion) (licensing.Release, error) {
		if _, err := r.Publish(a.now()); err != nil {
			return r, err // not pending: nothing to read
		}
		size, found, err := packages.Stat(ctx, r.ObjectKey())
		if err != nil {
			return r, err
		}
		if !found {
			return r, licensing.Errorf(licensing.CodePackageMissing, "no package was uploaded for release %s: PUT it to the upload URL first", r.Version)
		}
		if size != r.Size {
			return r, licensing.Errorf(licensing.CodePackageMismatch, "the uploaded package has %d bytes, the release declares %d", size, r.Size)
		}
		sum, size, found, err := packages.Digest(ctx, r.ObjectKey())
		if err != nil {
			return r, err
		}
		if !found {
			return r, licensing.Errorf(licensing.CodePackageMissing, "no package was uploaded for release %s", r.Version)
		}
		if sum != r.SHA256 || size != r.Size {
			return r, licensing.Errorf(licensing.CodePackageMismatch, "the uploaded package's SHA-256 is %s, the release declares %s", sum, r.SHA256)
		}
		return a.changeRelease(ctx, t, r, licensing.Release.Publish, licensing.EventReleasePublished, done)
	})
}

// YankRelease withdraws a release for good: no site is offered it again,
// and its download links stop working.
func (a *App) YankRelease(ctx context.Context, t licensing.Tenant, product, version string) (licensing.Release, error) {
	r, _, err := a.YankReleaseOnce(ctx, t, product, version, "")
	return r, err
}

// YankReleaseOnce is YankRelease under an idempotency key (see once).
func (a *App) YankReleaseOnce(ctx context.Context, t licensing.Tenant, product, version, idempotencyKey string) (licensing.Release, bool, error) {
	r, err := a.release(ctx, t, product, version)
	if err != nil {
		return r, false, err
	}
	m := mutation{Op: "yank-release", IDs: []string{r.ProductID, r.Version.String()}}
	return once(ctx, a, t, idempotencyKey, m, func(done *IdempotencyCompletion) (licensing.Release, error) {
		return a.changeRelease(ctx, t, r, licensing.Release.Yank, licensing.EventReleaseYanked, done)
	})
}

// changeRelease applies a transition to a release and writes it with its
// event (and the channels' offers, and done's completion) in one
// transaction.
func (a *App) changeRelease(ctx context.Context, t licensing.Tenant, r licensing.Release,
	transition func(licensing.Release, time.Time) (licensing.Release, error), event licensing.EventType, done *IdempotencyCompletion) (licensing.Release, error) {
	return a.store.UpdateRelease(ctx, t.Brand, r.ProductID, r.Version, done, func(cur licensing.Release) (licensing.Release, []licensing.Event, error) {
		next, err := transition(cur, a.now())
		if err != nil {
			return next, nil, err
		}
		if err := done.SetResult(next); err != nil {
			return next, nil, err
		}
		return next, []licensing.Event{licensing.ReleaseEvent(event, next, licensing.ActorOf(t))}, nil
	})
}

// ListReleases lists a product's releases, newest version first.
func (a *App) ListReleases(ctx context.Context, t licensing.Tenant, product string) (licensing.Product, []licensing.Release, error) {
	p, err := a.productOf(ctx, t.Brand, product)
	if err != nil {
		return p, nil, err
	}
	rs, err := a.store.Releases(ctx, t.Brand, p.ID)
	return p, rs, err
}

// UpdatesInput is an update check as a site sends it.
type UpdatesInput struct {
	LicenseKey         string
	InstanceIdentifier string
	InstanceType       string
	Product            string // id or slug; optional when the key covers one product
	Version            string // the version the site runs; optional
	Channel            string // stable (default) or beta
}

// Updates answers an update check: the release the site's channel offers
// and whether the site may download it.
type Updates struct {
	License         licensing.License
	Channel         licensing.Channel
	Current         *licensing.Version // as the site reported it
	Latest          *licensing.Release // nil: nothing published on the channel
	UpdateAvailable bool
	// Entitled: the license is usable (valid, not expired) and the site
	// holds a seat on it, so the package may be handed out.
	Entitled   bool
	Reason     licensing.Code // why not entitled (or no_release)
	Activation *licensing.Activation
}

// CheckUpdates reads the key (one Query, as check does) and what the
// channel offers (one GetItem by key): two round trips whatever the number
// of releases.
func (a *App) CheckUpdates(ctx context.Context, in UpdatesInput) (Updates, error) {
	var u Updates
	r, err := SeatInput{LicenseKey: in.LicenseKey, InstanceIdentifier: in.InstanceIdentifier, InstanceType: in.InstanceType, Product: in.Product}.validate()
	if err != nil {
		return u, err
	}
	if u.Channel, err = licensing.ParseChannel("channel", in.Channel); err != nil {
		return u, err
	}
	if strings.TrimSpace(in.Version) != "" {
		v, err := licensing.ParseInstalledVersion("version", in.Version)
		if err != nil {
			return u, err
		}
		u.Current = &v
	}
	if u.License, u.Activation, u.Reason, err = a.seat(ctx, r); err != nil {
		return u, err
	}
	latest, ok, err := a.store.LatestRelease(ctx, u.License.Brand, u.License.ProductID, u.Channel)
	if err != nil {
		return u, err
	}
	if ok {
		u.Latest = &latest
		u.UpdateAvailable = u.Current == nil || latest.Version.Compare(*u.Current) > 0
	}
	switch {
	case u.Reason != "":
	case u.Latest == nil:
		u.Reason = licensing.CodeNoRelease
	default:
		u.Entitled = true
	}
	return u, nil
}

// seat reads the key, the license and the instance's seat by key (as check
// does) and tells whether the instance may have the license's packages:
// refusal is empty for a usable license (valid, not expired) on which the
// instance holds a seat, else why not (license_expired, license_suspended,
// license_cancelled, site_inactive).
func (a *App) seat(ctx context.Context, r seatRequest) (l licensing.License, act *licensing.Activation, refusal licensing.Code, err error) {
	v, err := a.store.Seat(ctx, SeatQuery{Key: r.key, Product: r.product, Instance: &r.instance}, false)
	if err != nil {
		return l, nil, "", err
	}
	l, act = v.License, v.Current
	if act != nil {
		a.seen(ctx, *act)
	}
	switch {
	case l.InvalidReason(a.now()) != nil:
		refusal = licensing.ErrorCode(l.InvalidReason(a.now()))
	case act == nil:
		refusal = licensing.CodeSiteInactive
	}
	return l, act, refusal, nil
}

// PackageURL presigns a download of an offered release for at most ttl
// (MaxPresignTTL at most).
func (a *App) PackageURL(ctx context.Context, r licensing.Release, ttl time.Duration) (Presigned, error) {
	packages, err := a.packageStore()
	if err != nil {
		return Presigned{}, err
	}
	if ttl <= 0 || ttl > MaxPresignTTL {
		ttl = MaxPresignTTL
	}
	return packages.PresignDownload(ctx, r.ObjectKey(), r.FileName(), ttl)
}

// DownloadInput is a download of one release by a site, as a download
// link names it.
type DownloadInput struct {
	LicenseKey string
	Instance   string // canonical URL identifier of the site
	ProductID  string
	Version    string
}

// Download checks again, at download time, that the site may have the
// release (the license still usable, the site still holding its seat, the
// release still published) and presigns its package for ttl.
func (a *App) Download(ctx context.Context, in DownloadInput, ttl time.Duration) (licensing.Release, Presigned, error) {
	req, err := SeatInput{LicenseKey: in.LicenseKey, InstanceIdentifier: in.Instance, InstanceType: string(licensing.InstanceURL), Product: in.ProductID}.validate()
	if err != nil {
		return licensing.Release{}, Presigned{}, err
	}
	l, _, refusal, err := a.seat(ctx, req)
	switch {
	case err != nil:
		return licensing.Release{}, Presigned{}, err
	case refusal == licensing.CodeSiteInactive:
		return licensing.Release{}, Presigned{}, licensing.Errorf(licensing.CodeActivationNotFound, "this site holds no seat on the license")
	case refusal != "":
		return licensing.Release{}, Presigned{}, l.InvalidReason(a.now())
	}
	v, err := licensing.ParseVersion("version", in.Version)
	if err != nil {
		return licensing.Release{}, Presigned{}, licensing.Errorf(licensing.CodeReleaseNotFound, "no such release")
	}
	r, err := a.store.GetRelease(ctx, l.Brand, l.ProductID, v)
	if err != nil {
		return r, Presigned{}, err
	}
	if r.Status != licensing.ReleasePublished {
		return r, Presigned{}, licensing.Errorf(licensing.CodeReleaseNotFound, "release %s is no longer offered", r.Version)
	}
	p, err := a.PackageURL(ctx, r, ttl)
	return r, p, err
}

// LatestStable is the release the stable channel offers for a license's product.
func (a *App) LatestStable(ctx context.Context, l licensing.License) (licensing.Release, bool, error) {
	return a.store.LatestRelease(ctx, l.Brand, l.ProductID, licensing.ChannelStable)
}
