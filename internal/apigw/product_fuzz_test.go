package apigw_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clsvc/license-service/internal/apigw"
	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/licensing"
)

// fuzzSite is the one site holding a seat on the fuzz targets' license.
const fuzzSite = "fuzz-site.example.com"

// fuzzError is an error answer of the API.
type fuzzError struct {
	Error struct {
		Code    licensing.Code `json:"code"`
		Message string         `json:"message"`
		Field   string         `json:"field"`
	} `json:"error"`
}

// requireClientError requires resp to be a 4xx error answer that is never
// cached, and returns it.
func requireClientError(t *testing.T, resp events.APIGatewayProxyResponse) fuzzError {
	t.Helper()
	var e fuzzError
	if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%d is not an error answer: %s", resp.StatusCode, resp.Body)
	}
	if resp.StatusCode != apigw.StatusOf(e.Error.Code) || resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("status %d for %s: %s", resp.StatusCode, e.Error.Code, resp.Body)
	}
	if cc := resp.Headers["Cache-Control"]; cc != "no-store" {
		t.Fatalf("an error answer with Cache-Control %q: %s", cc, resp.Body)
	}
	return e
}

// checkAnswer is what the fuzz target reads of a check answer.
type checkAnswer struct {
	IsValid     bool `json:"is_valid"`
	IsActivated bool `json:"is_activated"`
	License     struct {
		ID      string `json:"id"`
		Product string `json:"product"`
	} `json:"license"`
	Instance *struct {
		Identifier string `json:"identifier"`
		Type       string `json:"type"`
	} `json:"instance"`
}

// FuzzCheckQuery drives the check handler's query parameters through the
// whole stack (embedded engine). keyMode picks the key: 0 the fuzzed one, 1
// the license's key, 2 in lower case, 3 padded with white space. Properties:
// never a 5xx; a refusal is the error of the first bad parameter, as the
// parsers judge it (license_key, then the instance, then product), never
// cached; every good request of the license is answered 200, cacheable for
// the default max-age, with the instance in its canonical form (a fixed
// point), activated exactly when it is the seat's site; the same request
// answers the same.
func FuzzCheckQuery(f *testing.F) {
	st := newStack(f, 3)
	ctx := context.Background()
	resp, err := st.api.ActivateLicense(ctx, events.APIGatewayProxyRequest{Body: seatBody(st.key, "https://www."+fuzzSite+"/")})
	if err != nil || resp.StatusCode != http.StatusCreated {
		f.Fatalf("activate: %v %s", err, resp.Body)
	}
	for _, s := range []struct {
		mode                        uint8
		key, instance, typ, product string
	}{
		{1, "", fuzzSite, "", "rankmath-pro"},
		{2, "", "HTTPS://WWW.FUZZ-SITE.EXAMPLE.COM:443/", "url", ""},
		{3, "", "fuzz-site.example.com/shop", "url", " RankMath-Pro "},
		{1, "", "", "bogus", ""},
		{1, "", fuzzSite, "hostname", "rankmath-pro"},
		{1, "", fuzzSite, "machine_id", "content-ai"},
		{1, "", "a b", "hostname", ""},
		{1, "", "ftp://x", "", ""},
		{1, "", fuzzSite, "", "prd_aaaaaaaaaaaaaaaaaaaa"},
		{1, "", fuzzSite, "", "no such product!"},
		{1, "", "\x00", "", ""},
		{1, "", strings.Repeat("a", 300), "machine_id", ""},
		{0, "RM-2345-6789-ABCD-EFGH", fuzzSite, "", ""},
		{0, "not a key", fuzzSite, "", ""},
		{0, "", "", "", ""},
		{0, "RM-ABCD", "\xff", "bogus", "\xff"},
	} {
		f.Add(s.mode, s.key, s.instance, s.typ, s.product)
	}
	f.Fuzz(func(t *testing.T, keyMode uint8, rawKey, instance, typ, product string) {
		key := rawKey
		switch keyMode % 4 {
		case 1:
			key = st.key
		case 2:
			key = strings.ToLower(st.key)
		case 3:
			key = " \t" + st.key + " "
		}
		req := events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet, QueryStringParameters: map[string]string{
			"license_key": key, "instance_identifier": instance, "instance_type": typ, "product": product,
		}}
		resp, err := st.api.CheckLicense(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := st.api.CheckLicense(ctx, req)
		if err != nil || again.StatusCode != resp.StatusCode || again.Body != resp.Body || again.Headers["ETag"] != resp.Headers["ETag"] {
			t.Fatalf("the same check answered %d %s, then %d %s", resp.StatusCode, resp.Body, again.StatusCode, again.Body)
		}

		// What the parsers make of the parameters.
		parsedKey, keyErr := licensing.ParseLicenseKey("license_key", key)
		var inst *licensing.Instance
		var instErr error
		if instance != "" {
			i, err := licensing.ParseInstance(typ, instance)
			inst, instErr = &i, err
		}
		p := strings.ToLower(strings.TrimSpace(product))
		ourProduct := p == "" || p == "rankmath-pro"
		ourKey := keyErr == nil && string(parsedKey) == st.key

		if resp.StatusCode != http.StatusOK {
			e := requireClientError(t, resp)
			switch {
			case keyErr != nil:
				if e.Error.Code != licensing.CodeValidation || e.Error.Field != "license_key" {
					t.Fatalf("key %q: %s", key, resp.Body)
				}
			case instErr != nil:
				if e.Error.Code != licensing.CodeValidation || (e.Error.Field != "instance_identifier" && e.Error.Field != "instance_type") {
					t.Fatalf("instance %q of type %q: %s", instance, typ, resp.Body)
				}
			case ourKey && ourProduct:
				t.Fatalf("a good check of the license refused: key %q, instance %q (%q), product %q: %d %s", key, instance, typ, product, resp.StatusCode, resp.Body)
			case e.Error.Code != licensing.CodeLicenseNotFound && e.Error.Code != licensing.CodeProductNotFound &&
				(e.Error.Code != licensing.CodeValidation || e.Error.Field != "product"):
				t.Fatalf("key %q, product %q: %s", key, product, resp.Body)
			}
			return
		}

		if keyErr != nil || instErr != nil || !ourKey {
			t.Fatalf("accepted key %q, instance %q (%q): %s", key, instance, typ, resp.Body)
		}
		if cc := resp.Headers["Cache-Control"]; cc != "public, max-age="+strconv.Itoa(int(apigw.DefaultCheckMaxAge.Seconds())) {
			t.Fatalf("Cache-Control %q", cc)
		}
		if tag := resp.Headers["ETag"]; len(tag) < 3 || !strings.HasPrefix(tag, `"`) || !strings.HasSuffix(tag, `"`) {
			t.Fatalf("ETag %q", tag)
		}
		var a checkAnswer
		if err := json.Unmarshal([]byte(resp.Body), &a); err != nil {
			t.Fatalf("check answer %s: %v", resp.Body, err)
		}
		if !a.IsValid || a.License.Product != "rankmath-pro" || !licensing.ValidID(licensing.KindLicense, a.License.ID) {
			t.Fatalf("check answer %s", resp.Body)
		}
		if inst == nil {
			if a.Instance != nil || a.IsActivated {
				t.Fatalf("no instance asked, answer %s", resp.Body)
			}
			return
		}
		if a.Instance == nil || a.Instance.Identifier != inst.ID || a.Instance.Type != string(inst.Type) {
			t.Fatalf("instance %q (%q) is %+v, answer %s", instance, typ, *inst, resp.Body)
		}
		if fixed, err := licensing.ParseInstance(a.Instance.Type, a.Instance.Identifier); inst.Type != licensing.InstanceURL && (err != nil || fixed != *inst) {
			t.Fatalf("the answer's instance %+v is not canonical: %+v (%v)", a.Instance, fixed, err)
		}
		if want := *inst == (licensing.Instance{Type: licensing.InstanceURL, ID: fuzzSite}); a.IsActivated != want {
			t.Fatalf("instance %+v: is_activated %v", *inst, a.IsActivated)
		}
	})
}

// historyPage is a page of GET /api/v1/brand/licenses/{id}/events.
type historyPage struct {
	LicenseID string `json:"license_id"`
	Events    []struct {
		EventID    string          `json:"event_id"`
		EventType  string          `json:"event_type"`
		OccurredAt string          `json:"occurred_at"`
		Detail     json.RawMessage `json:"detail"`
	} `json:"events"`
	NextCursor *string `json:"next_cursor"`
}

// FuzzLicenseHistoryQuery drives the history's limit and cursor parameters
// through the whole stack. Properties: never a 5xx; a limit that is not a
// whole number from 1 to MaxHistoryPage is refused naming limit; a good limit
// without a cursor, or with a cursor the API returned, is answered; a bad
// cursor is refused naming cursor; a page is at most the limit, newest first,
// of this license only, and the slice of the full history it claims to be;
// a next cursor is bounded and leads to the events after the page.
func FuzzLicenseHistoryQuery(f *testing.F) {
	st := newStack(f, 3)
	ctx := context.Background()
	var c checkAnswer
	if resp, err := st.api.CheckLicense(ctx, checkRequest(st.key, "")); err != nil || json.Unmarshal([]byte(resp.Body), &c) != nil {
		f.Fatalf("check: %v %s", err, resp.Body)
	}
	id := c.License.ID
	brandKey := map[string]string{"X-API-Key": demo.Brands[0].APIKey}
	history := func(limit, cursor string) events.APIGatewayProxyResponse {
		resp, err := st.api.LicenseEvents(ctx, events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet, Headers: brandKey,
			PathParameters: map[string]string{"id": id}, QueryStringParameters: map[string]string{"limit": limit, "cursor": cursor}})
		if err != nil {
			f.Fatal(err)
		}
		return resp
	}
	// Seven events: provisioned, then three seats taken and freed one at a time.
	for _, site := range []string{"h1.example.com", "h2.example.com", "h3.example.com"} {
		for _, call := range []func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error){st.api.ActivateLicense, st.api.DeactivateSeat} {
			if resp, err := call(ctx, events.APIGatewayProxyRequest{Body: seatBody(st.key, site)}); err != nil || resp.StatusCode >= 300 {
				f.Fatalf("%s: %v %s", site, err, resp.Body)
			}
		}
	}
	var full historyPage
	if resp := history("", ""); resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &full) != nil || len(full.Events) != 7 || full.NextCursor != nil {
		f.Fatalf("the whole history: %d %s", resp.StatusCode, resp.Body)
	}
	var first historyPage
	if resp := history("3", ""); json.Unmarshal([]byte(resp.Body), &first) != nil || first.NextCursor == nil {
		f.Fatalf("a first page of 3: %s", resp.Body)
	}
	returned := *first.NextCursor
	index := map[string]int{}
	for i, e := range full.Events {
		index[e.EventID] = i
	}

	for _, s := range [][2]string{
		{"", ""}, {"1", ""}, {"3", returned}, {"7", ""}, {"100", ""}, {"101", ""}, {"0", ""}, {"-1", ""}, {"+2", ""},
		{"007", returned}, {" 5", ""}, {"5 ", ""}, {"1e2", ""}, {"9223372036854775808", ""}, {"two", ""},
		{"2", "not-a-cursor"}, {"2", returned + "A"}, {"2", "=" + returned}, {"", strings.Repeat("A", 513)}, {"", strings.Repeat("A", 512)},
		{"2", base64.RawURLEncoding.EncodeToString([]byte("EVT#"))}, {"2", base64.RawURLEncoding.EncodeToString([]byte("EVT#~~~~"))},
		{"2", base64.RawURLEncoding.EncodeToString([]byte("EVT#\xff\xfe"))}, {"2", base64.RawURLEncoding.EncodeToString([]byte("LIC#x"))},
		{"2", base64.StdEncoding.EncodeToString([]byte("EVT#2026"))},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, limit, cursor string) {
		resp := history(limit, cursor)
		n, atoiErr := strconv.Atoi(limit)
		limitOK := limit == "" || (atoiErr == nil && n >= 1 && n <= app.MaxHistoryPage)
		if limit == "" {
			n = 50
		}
		if resp.StatusCode != http.StatusOK {
			e := requireClientError(t, resp)
			if e.Error.Code != licensing.CodeValidation || (e.Error.Field != "limit" && e.Error.Field != "cursor") {
				t.Fatalf("limit %q, cursor %q: %s", limit, cursor, resp.Body)
			}
			if limitOK && (cursor == "" || cursor == returned) {
				t.Fatalf("a good limit %q with cursor %q refused: %s", limit, cursor, resp.Body)
			}
			if !limitOK && e.Error.Field != "limit" {
				t.Fatalf("limit %q refused as %s", limit, e.Error.Field)
			}
			return
		}
		if !limitOK {
			t.Fatalf("limit %q accepted", limit)
		}
		var page historyPage
		if err := json.Unmarshal([]byte(resp.Body), &page); err != nil || page.LicenseID != id {
			t.Fatalf("history page %s (%v)", resp.Body, err)
		}
		if len(page.Events) > n {
			t.Fatalf("limit %d, %d events", n, len(page.Events))
		}
		// The page is a run of the full history (newest first), of this license.
		start := 0
		for i, e := range page.Events {
			j, ok := index[e.EventID]
			if !ok {
				t.Fatalf("event %s is not in the license's history", e.EventID)
			}
			if i == 0 {
				start = j
			} else if j != start+i {
				t.Fatalf("page out of order at %d: %s", i, resp.Body)
			}
			var d struct {
				LicenseID string `json:"license_id"`
			}
			if json.Unmarshal(e.Detail, &d) != nil || d.LicenseID != id {
				t.Fatalf("event of another license: %s", e.Detail)
			}
		}
		switch cursor {
		case "":
			if start != 0 || len(page.Events) != min(n, len(full.Events)) {
				t.Fatalf("a first page of %d starts at %d with %d events", n, start, len(page.Events))
			}
		case returned:
			if len(page.Events) > 0 && start != len(first.Events) {
				t.Fatalf("the returned cursor leads to event %d, not %d", start, len(first.Events))
			}
		}
		if page.NextCursor == nil {
			return
		}
		next := *page.NextCursor
		if next == "" || len(next) > 512 || len(page.Events) != n {
			t.Fatalf("next cursor %q after %d of %d events", next, len(page.Events), n)
		}
		var after historyPage
		if r := history(limit, next); r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.Body), &after) != nil {
			t.Fatalf("the next cursor %q is refused: %d %s", next, r.StatusCode, r.Body)
		}
		if len(page.Events) > 0 && len(after.Events) > 0 && index[after.Events[0].EventID] != start+len(page.Events) {
			t.Fatalf("the next page does not follow the page")
		}
	})
}
