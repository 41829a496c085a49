package apigw

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"html"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

// The edd_action values of the Easy Digital Downloads Software Licensing
// protocol that the EDD endpoint speaks.
const (
	eddActivate   = "activate_license"
	eddCheck      = "check_license"
	eddDeactivate = "deactivate_license"
	eddGetVersion = "get_version"
	eddDownload   = "package_download"
)

// The "license" values of EDD answers.
const (
	eddValid        = "valid"
	eddInvalid      = "invalid"
	eddInactive     = "inactive"
	eddExpired      = "expired"
	eddDisabled     = "disabled"
	eddSiteInactive = "site_inactive"
	eddDeactivated  = "deactivated"
	eddFailed       = "failed"
)

// The "error" values of EDD answers. eddSiteInactive doubles as one.
const (
	eddErrMissing      = "missing"
	eddErrMissingURL   = "missing_url"
	eddErrNoneLeft     = "no_activations_left"
	eddErrNameMismatch = "item_name_mismatch"
	eddErrInvalidItem  = "invalid_item_id"
	eddErrKeyMismatch  = "key_mismatch"
)

// eddDateLayout is PHP's "Y-m-d H:i:s", the layout of EDD's expires.
const eddDateLayout = "2006-01-02 15:04:05"

// maxEDDItemName bounds an item_name worth looking up (and echoing).
const maxEDDItemName = 4 * licensing.MaxNameLength

// eddParams are the parameters of an EDD request, from the query string and,
// for POST, the form body.
type eddParams struct {
	action   string
	license  string
	itemID   string
	itemName string // HTML entities decoded, white space collapsed, as EDD does
	url      string
	version  string // get_version: the version the site runs
	beta     bool   // get_version: the site takes betas
	id       string // package_download: the sealed download grant
	slug     string // get_version: the plugin's slug, as older updaters send it

	// itemNameAlt is item_name URL-decoded once more, when that succeeds and
	// differs from itemName: EDD's sample code sends urlencode(name) (or
	// rawurlencode) in a form that wp_remote_post encodes again, so the name
	// arrives as "Rank+Math+Pro" or "Rank%20Math%20Pro"; EDD urldecodes it
	// before comparing. Empty when there is no other form.
	itemNameAlt string

	// product is the product reference handed to the use cases: item_id, or
	// item_name's slug form (when it is a slug), or the id of the product of
	// that name once looked up; empty names none (the key's only product).
	// parseEDDRequest sets the reference tried first; eddRun the others.
	product string
}

// eddJSON is an answer in the shape EDD clients read. customer_name and
// customer_email are always empty: the endpoint never shows customer data.
type eddJSON struct {
	Success         bool   `json:"success"`
	License         string `json:"license"`
	ItemID          any    `json:"item_id"` // a product id, or false
	ItemName        string `json:"item_name"`
	PriceID         any    `json:"price_id"` // always false: licenses here have no price options
	Checksum        string `json:"checksum,omitempty"`
	Expires         any    `json:"expires"` // "Y-m-d H:i:s" (UTC), "lifetime", or false
	PaymentID       int    `json:"payment_id"`
	CustomerName    string `json:"customer_name"`
	CustomerEmail   string `json:"customer_email"`
	LicenseLimit    int    `json:"license_limit"`
	SiteCount       int    `json:"site_count"`
	ActivationsLeft int    `json:"activations_left"`
	IsLocal         bool   `json:"is_local,omitempty"` // activate: a staging or local site, which takes no seat
	Error           string `json:"error,omitempty"`
}

// EDD is GET|POST /api/v1/product/edd: the product API in the Easy Digital
// Downloads Software Licensing protocol, for WordPress plugins that already
// speak it (edd_action = activate_license, check_license, deactivate_license;
// see docs/edd.md). EDD clients read the body, not the status: every answer
// about a license is 200 with {"success": …, "license": …, …}. Only a
// request that is not an EDD request (no or an unknown edd_action, an
// unreadable body) answers a 400 error of the API contract, and a failure of
// the service itself its usual 503 or 500: it is never passed off as an
// invalid license.
func (h *API) EDD(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return h.public("edd", func(ctx context.Context, req events.APIGatewayProxyRequest) (result, error) {
		p, err := parseEDDRequest(req)
		if err != nil {
			return result{}, err
		}
		var out eddJSON
		var brand string
		switch p.action {
		case eddGetVersion:
			return h.eddGetVersion(ctx, &p, req)
		case eddDownload:
			return h.eddPackageDownload(ctx, &p)
		case eddActivate:
			out, brand, err = h.eddActivate(ctx, &p)
		case eddCheck:
			out, brand, err = h.eddCheck(ctx, &p)
		default:
			out, brand, err = h.eddDeactivate(ctx, &p)
		}
		if err != nil {
			return result{}, err
		}
		outcome := out.Error
		if outcome == "" {
			outcome = out.License
		}
		return result{status: http.StatusOK, body: out, brand: brand, outcome: outcome,
			headers: map[string]string{"Cache-Control": "no-store"}}, nil
	})(ctx, req)
}

// parseEDDRequest reads the parameters from the query string and, for POST,
// from the application/x-www-form-urlencoded body (base64 or not), whose
// values win. A repeated parameter counts with its last value.
func parseEDDRequest(req events.APIGatewayProxyRequest) (eddParams, error) {
	vals := url.Values{}
	for k, vs := range req.MultiValueQueryStringParameters {
		vals[k] = append([]string(nil), vs...)
	}
	for k, v := range req.QueryStringParameters {
		if _, ok := vals[k]; !ok {
			vals.Set(k, v)
		}
	}
	if req.HTTPMethod == http.MethodPost {
		form, err := eddForm(req)
		if err != nil {
			return eddParams{}, err
		}
		for k, vs := range form {
			vals[k] = vs
		}
	}
	last := func(name string) string {
		vs := vals[name]
		if len(vs) == 0 {
			return ""
		}
		return strings.TrimSpace(vs[len(vs)-1])
	}
	rawName := unset(last("item_name"))
	p := eddParams{
		action:   last("edd_action"),
		license:  last("license"),
		itemID:   unset(last("item_id")),
		itemName: eddName(rawName),
		url:      last("url"),
		version:  last("version"),
		beta:     truthy(last("beta")),
		id:       last("id"),
		slug:     unset(last("slug")),
	}
	if dec, err := url.QueryUnescape(rawName); err == nil {
		if alt := eddName(dec); alt != p.itemName {
			p.itemNameAlt = alt
		}
	}
	switch p.action {
	case eddActivate, eddCheck, eddDeactivate, eddGetVersion, eddDownload:
	default:
		return p, licensing.Invalid("edd_action", "must be one of %s, %s, %s, %s, %s, in the query string or an application/x-www-form-urlencoded body",
			eddActivate, eddCheck, eddDeactivate, eddGetVersion, eddDownload)
	}
	switch {
	case p.itemID != "":
		p.product = p.itemID
	case p.itemName != "":
		p.product = eddSlug(p.itemName)
	}
	return p, nil
}

// unset is "" for a parameter a client sends to say "none": EDD's updater
// posts item_name and item_id as false when they are not configured, which
// PHP's http_build_query writes as 0.
func unset(v string) string {
	if v == "0" || strings.EqualFold(v, "false") {
		return ""
	}
	return v
}

// truthy reads a PHP form boolean: true posts as "1", false as "" or "0".
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "on", "yes":
		return true
	}
	return false
}

// eddForm decodes a POST body as a form.
func eddForm(req events.APIGatewayProxyRequest) (url.Values, error) {
	b, err := body(req)
	if licensing.IsCode(err, licensing.CodeInvalidJSON) {
		return nil, licensing.Invalid("body", "is not valid base64")
	}
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(b)) == "" {
		return url.Values{}, nil
	}
	// Read as a form whatever the Content-Type says (WordPress sends
	// application/x-www-form-urlencoded); a JSON body names no edd_action.
	form, err := url.ParseQuery(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, licensing.Invalid("body", "must be application/x-www-form-urlencoded")
	}
	return form, nil
}

// eddName is an item name as it is compared: HTML entities decoded (EDD
// decodes them too), runs of white space collapsed to one space, trimmed.
func eddName(s string) string {
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// eddNumeric reports whether an item_id is a number: EDD's download (post)
// id, which names no product here.
func eddNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// eddSlug is the slug form of an EDD item name: lower case, words joined by
// dashes ("Content AI" → "content-ai"); empty when that is not a slug.
func eddSlug(name string) string {
	s := strings.Join(strings.Fields(strings.ToLower(name)), "-")
	if _, err := licensing.ParseSlug("item_name", s); err != nil {
		return ""
	}
	return s
}

func (p *eddParams) input() app.SeatInput {
	return app.SeatInput{LicenseKey: p.license, InstanceIdentifier: p.url, InstanceType: string(licensing.InstanceURL), Product: p.product}
}

// itemMismatch is the error of a key that covers no product of the item named.
func (p *eddParams) itemMismatch() string {
	if p.itemID != "" {
		return eddErrInvalidItem
	}
	return eddErrNameMismatch
}

// echoName is item_name as EDD echoes it: URL-decoded (EDD urldecodes the
// name it was sent); empty for a name that is not plain text (a bidi
// override or a control character is never reflected).
func (p *eddParams) echoName() string {
	name := p.itemName
	if p.itemNameAlt != "" {
		name = p.itemNameAlt
	}
	if licensing.CheckText("item_name", name, licensing.SingleLine) != nil {
		return ""
	}
	return name
}

// named reports whether the request names an item by item_name.
func (p *eddParams) named() bool { return p.itemName != "" || p.itemNameAlt != "" }

// itemNames are the forms of item_name to try, in order: as sent, then
// URL-decoded once more.
func (p *eddParams) itemNames() []string {
	if p.itemNameAlt == "" {
		return []string{p.itemName}
	}
	return []string{p.itemName, p.itemNameAlt}
}

// eddProductMiss reports whether err says that the product reference tried
// names no product of the key (not found, or not an id or slug at all).
func eddProductMiss(err error) bool {
	e, ok := errors.AsType[*licensing.Error](err)
	return ok && (e.Code == licensing.CodeProductNotFound || e.Code == licensing.CodeValidation && e.Field == "product")
}

// errNotCovered is the refusal of an item the key covers no product of.
func errNotCovered() error {
	return licensing.Errorf(licensing.CodeProductNotFound, "this license key does not cover that product")
}

// eddRun runs op for the product the request names, setting p.product for
// each try:
//   - item_id: that product id or slug. A numeric item_id (EDD's download
//     id, which names nothing here) that matches no product of the key falls
//     back to item_name when one is sent (EDD clients send both); when the
//     name does not match either, the answer stays invalid_item_id.
//   - item_name: see eddByName.
//   - neither: the key's only product.
func (h *API) eddRun(ctx context.Context, p *eddParams, op func() error) error {
	switch {
	case p.itemID != "":
		p.product = p.itemID
		err := op()
		if !p.named() || !eddNumeric(p.itemID) || !eddProductMiss(err) {
			return err
		}
		if nerr := h.eddByName(ctx, p, op, true); !eddProductMiss(nerr) {
			return nerr
		}
		p.product = p.itemID
		return err
	case p.named():
		return h.eddByName(ctx, p, op, false)
	}
	p.product = ""
	return op()
}

// eddByName runs op for the product item_name names. Each form of the name
// (as sent, then URL-decoded once more; see itemNameAlt) is tried in turn:
// first in its slug form ("WP Rocket" → wp-rocket), then looked up among the
// products of the key's brand by name, case-insensitively, or by the slug
// form of its name ("Rank Math Pro" → rankmath-pro). The key's products (as
// its licenses name them: one read of the key and its licenses) are read
// once, and only when a slug does not do. A name that matches nothing
// is product_not_found (a mismatch); an unknown key is missing, as in EDD
// (ran: op has already read the key).
func (h *API) eddByName(ctx context.Context, p *eddParams, op func() error, ran bool) error {
	var products []licensing.Product
	loaded := false
	for _, name := range p.itemNames() {
		if slug := eddSlug(name); slug != "" {
			p.product = slug
			err := op()
			ran = true
			if !eddProductMiss(err) {
				return err
			}
		}
		if name == "" || len(name) > maxEDDItemName {
			continue
		}
		if !loaded {
			var err error
			if products, err = h.app.KeyProducts(ctx, p.license); err != nil {
				return err
			}
			loaded = true
		}
		if id := productNamed(products, name); id != "" {
			p.product = id
			return op()
		}
	}
	if !ran {
		// Nothing has read the key yet: an unknown key is missing, not a
		// mismatch, as EDD has it.
		if _, err := h.app.Check(ctx, app.SeatInput{LicenseKey: p.license}); err != nil {
			if code, ok := p.eddError(err); !ok || code == eddErrMissing {
				return err
			}
		}
	}
	return errNotCovered()
}

// productNamed is the id of the product called name (case-insensitively,
// or whose name or slug has name's slug form), or "".
func productNamed(products []licensing.Product, name string) string {
	slug := eddSlug(name)
	for _, pr := range products {
		if strings.EqualFold(pr.Name, name) || slug != "" && (slug == pr.Slug || slug == eddSlug(pr.Name)) {
			return pr.ID
		}
	}
	return ""
}

// eddError is the EDD error code of a use case's error, or false for an
// error that says nothing about the license (the service failed).
func (p *eddParams) eddError(err error) (string, bool) {
	e, ok := errors.AsType[*licensing.Error](err)
	if !ok {
		return "", false
	}
	switch e.Code {
	case licensing.CodeLicenseNotFound:
		return eddErrMissing, true
	case licensing.CodeProductNotFound:
		return p.itemMismatch(), true
	case licensing.CodeLicenseSuspended, licensing.CodeLicenseCancelled:
		return eddDisabled, true
	case licensing.CodeLicenseExpired:
		return eddExpired, true
	case licensing.CodeNoSeatsAvailable:
		return eddErrNoneLeft, true
	case licensing.CodeActivationNotFound:
		return eddSiteInactive, true
	case licensing.CodeValidation:
		switch e.Field {
		case "license_key":
			return eddErrMissing, true
		case "instance_identifier", "instance_type":
			return eddErrMissingURL, true
		case "product":
			if p.product == "" { // the key covers several products and the request names none
				return eddErrKeyMismatch, true
			}
			return p.itemMismatch(), true
		}
	}
	return "", false
}

// answer is an EDD answer for the request, with the license's figures when
// it is known.
func (p *eddParams) answer(success bool, license, code string, l *licensing.License) eddJSON {
	out := eddJSON{Success: success, License: license, Error: code, ItemID: false, Expires: false, PriceID: false}
	if len(p.itemName) <= maxEDDItemName {
		out.ItemName = p.echoName()
	}
	if l == nil {
		return out
	}
	out.ItemID = l.ProductID
	if out.ItemName == "" {
		out.ItemName = l.ProductSlug
	}
	expires := "lifetime"
	if l.ExpiresAt != nil {
		expires = l.ExpiresAt.UTC().Format(eddDateLayout)
	}
	out.Expires = expires
	out.LicenseLimit = l.SeatLimit
	out.SiteCount = l.SeatsUsed
	out.ActivationsLeft = l.SeatsRemaining()
	sum := sha256.Sum256([]byte("edd\x00" + l.ID + "\x00" + l.ProductID + "\x00" + expires))
	out.Checksum = hex.EncodeToString(sum[:])
	return out
}

// failure answers an error of a use case in EDD's terms, with the license's
// figures for a refusal that concerns a known license; an error that says
// nothing about the license is returned as it is.
func (h *API) eddFailure(ctx context.Context, p *eddParams, license string, success bool, err error) (eddJSON, string, error) {
	code, ok := p.eddError(err)
	if !ok {
		return eddJSON{}, "", err
	}
	switch code {
	case eddDisabled, eddExpired, eddErrNoneLeft, eddSiteInactive:
		// One more read, on refusals only, for expires and the seat figures.
		in := p.input()
		in.InstanceIdentifier = ""
		if res, cerr := h.app.Check(ctx, in); cerr == nil {
			out := p.answer(success, license, code, &res.License)
			return out, res.License.Brand, nil
		}
	}
	return p.answer(success, license, code, nil), "", nil
}

// eddActivate takes a seat for url: success with "valid" for a new seat and
// for a site that already holds one; else "invalid" and the error. A staging
// or local site takes no seat (it counts against the brand's staging cap)
// and is answered with is_local, as EDD does for local sites.
func (h *API) eddActivate(ctx context.Context, p *eddParams) (eddJSON, string, error) {
	if p.license == "" {
		return p.answer(false, eddInvalid, eddErrMissing, nil), "", nil
	}
	var out app.Activation
	err := h.eddRun(ctx, p, func() error {
		var err error
		out, err = h.app.Activate(ctx, p.input())
		return err
	})
	if err != nil {
		return h.eddFailure(ctx, p, eddInvalid, false, err)
	}
	res := p.answer(true, eddValid, "", &out.License)
	res.IsLocal = out.Activation.Environment != "" && out.Activation.Environment != licensing.EnvProduction
	return res, out.License.Brand, nil
}

// eddCheck answers what a license is worth for url, as EDD's check_license
// does: "license" is "valid" (the site holds a seat), "site_inactive" (it
// does not), "expired", "disabled", "item_name_mismatch" or
// "invalid_item_id" (the key covers no such item), all with success true;
// only "invalid" (an unknown or missing key) has success false. Without url
// it answers "valid" for a valid license with a seat in use and "inactive"
// for one without. error repeats a refusal's code (EDD sends none on check).
func (h *API) eddCheck(ctx context.Context, p *eddParams) (eddJSON, string, error) {
	if p.license == "" {
		return p.answer(false, eddInvalid, eddErrMissing, nil), "", nil
	}
	var res app.CheckResult
	err := h.eddRun(ctx, p, func() error {
		var err error
		res, err = h.app.Check(ctx, p.input())
		return err
	})
	if err != nil {
		code, ok := p.eddError(err)
		switch {
		case !ok:
			return eddJSON{}, "", err
		case code == eddErrNameMismatch, code == eddErrInvalidItem:
			// A known key that covers no such item: EDD answers the code
			// as the license value, with success.
			return p.answer(true, code, code, nil), "", nil
		case code == eddErrKeyMismatch:
			// A key of several products and no item: EDD compares the
			// empty item_name and answers item_name_mismatch.
			return p.answer(true, eddErrNameMismatch, code, nil), "", nil
		}
		// missing (an unknown, malformed or absent key) and missing_url (a
		// url that is not a site URL): "invalid", the one check answer
		// without success.
		return p.answer(false, eddInvalid, code, nil), "", nil
	}
	l := &res.License
	switch {
	case !res.Valid: // suspended or cancelled: disabled
		code := eddDisabled
		if res.Reason == licensing.CodeLicenseExpired {
			code = eddExpired
		}
		return p.answer(true, code, code, l), l.Brand, nil
	case res.Instance != nil && res.Activation == nil:
		return p.answer(true, eddSiteInactive, eddSiteInactive, l), l.Brand, nil
	case res.Instance == nil && l.SeatsUsed == 0:
		return p.answer(true, eddInactive, "", l), l.Brand, nil
	}
	return p.answer(true, eddValid, "", l), l.Brand, nil
}

// eddDeactivate frees url's seat: success with "deactivated"; else "failed"
// and the error (site_inactive when url holds no seat). As in the product
// API, a seat is freed in every license status.
func (h *API) eddDeactivate(ctx context.Context, p *eddParams) (eddJSON, string, error) {
	if p.license == "" {
		return p.answer(false, eddFailed, eddErrMissing, nil), "", nil
	}
	var l licensing.License
	err := h.eddRun(ctx, p, func() error {
		var err error
		l, _, err = h.app.Deactivate(ctx, p.input())
		return err
	})
	if err != nil {
		return h.eddFailure(ctx, p, eddFailed, false, err)
	}
	return p.answer(true, eddDeactivated, "", &l), l.Brand, nil
}
