package dynamo

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/licensing"
)

// A product's releases live in one partition of their own:
//
//	BRAND#<slug>#PRODUCT#<product id>#REL / V#<version>        a release
//	BRAND#<slug>#PRODUCT#<product id>#REL / LATEST#<channel>   a copy of the release a site on that channel is offered
//
// The LATEST items are what the update check reads (one GetItem by key,
// whatever the number of releases); publish and yank rewrite them in the
// same transaction as the release, conditioned on the revisions read.
func releasePK(brand, productID string) string {
	return "BRAND#" + brand + "#PRODUCT#" + productID + "#REL"
}

const (
	releaseSKPrefix = "V#"
	latestSKPrefix  = "LATEST#"
)

func releaseSK(v licensing.Version) string { return releaseSKPrefix + v.String() }
func latestSK(ch licensing.Channel) string { return latestSKPrefix + string(ch) }

type releaseItem struct {
	PK          string     `dynamodbav:"pk"`
	SK          string     `dynamodbav:"sk"`
	Type        string     `dynamodbav:"type"`
	Brand       string     `dynamodbav:"brand"`
	ProductID   string     `dynamodbav:"product_id"`
	ProductSlug string     `dynamodbav:"product"`
	ProductName string     `dynamodbav:"product_name"`
	Version     string     `dynamodbav:"version"`
	Channel     string     `dynamodbav:"channel"`
	Status      string     `dynamodbav:"status"`
	Changelog   string     `dynamodbav:"changelog"`
	RequiresWP  string     `dynamodbav:"requires_wp,omitempty"`
	TestedWP    string     `dynamodbav:"tested_wp,omitempty"`
	RequiresPHP string     `dynamodbav:"requires_php,omitempty"`
	SHA256      string     `dynamodbav:"package_sha256"`
	Size        int64      `dynamodbav:"package_size"`
	CreatedAt   time.Time  `dynamodbav:"created_at"`
	PublishedAt *time.Time `dynamodbav:"published_at,omitempty"`
	YankedAt    *time.Time `dynamodbav:"yanked_at,omitempty"`
	UpdatedAt   time.Time  `dynamodbav:"updated_at"`
	Rev         int        `dynamodbav:"rev"`
	// None marks a LATEST item of a channel with nothing to offer.
	None bool `dynamodbav:"none,omitempty"`
	// LatestRev is a LATEST item's own revision (Rev is its release's).
	LatestRev int `dynamodbav:"latest_rev,omitempty"`
}

func toReleaseItem(r licensing.Release) releaseItem {
	return releaseItem{PK: releasePK(r.Brand, r.ProductID), SK: releaseSK(r.Version), Type: "release",
		Brand: r.Brand, ProductID: r.ProductID, ProductSlug: r.ProductSlug, ProductName: r.ProductName, Version: r.Version.String(), Channel: string(r.Channel),
		Status: string(r.Status), Changelog: r.Changelog, RequiresWP: r.RequiresWP, TestedWP: r.TestedWP, RequiresPHP: r.RequiresPHP,
		SHA256: r.SHA256, Size: r.Size, CreatedAt: r.CreatedAt, PublishedAt: r.PublishedAt, YankedAt: r.YankedAt, UpdatedAt: r.UpdatedAt, Rev: r.Rev}
}

func (i releaseItem) release() (licensing.Release, error) {
	v, err := licensing.ParseVersion("version", i.Version)
	if err != nil {
		return licensing.Release{}, errors.New("stored release has an unreadable version " + strconv.Quote(i.Version))
	}
	return licensing.Release{Brand: i.Brand, ProductID: i.ProductID, ProductSlug: i.ProductSlug, ProductName: i.ProductName, Version: v, Channel: licensing.Channel(i.Channel),
		Status: licensing.ReleaseStatus(i.Status), Changelog: i.Changelog, RequiresWP: i.RequiresWP, TestedWP: i.TestedWP, RequiresPHP: i.RequiresPHP,
		SHA256: i.SHA256, Size: i.Size, CreatedAt: i.CreatedAt, PublishedAt: i.PublishedAt, YankedAt: i.YankedAt, UpdatedAt: i.UpdatedAt, Rev: i.Rev}, nil
}

// CreateRelease puts a new release unless its version exists for the product.
func (s *Store) CreateRelease(ctx context.Context, r licensing.Release, done *app.IdempotencyCompletion) error {
	return s.putNew(ctx, toReleaseItem(r), licensing.Errorf(licensing.CodeAlreadyExists, "release %s of this product already exists", r.Version), "create release", done)
}

// releasePartition is a product's releases and LATEST items as read.
type releasePartition struct {
	releases []licensing.Release
	latest   map[licensing.Channel]releaseItem
}

func (s *Store) readReleases(ctx context.Context, brand, productID string) (releasePartition, error) {
	items, err := s.queryAll(ctx, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(releasePK(brand, productID))},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return releasePartition{}, fail("query releases", err)
	}
	var rows []releaseItem
	if err := attributevalue.UnmarshalListOfMaps(items, &rows); err != nil {
		return releasePartition{}, fail("decode releases", err)
	}
	p := releasePartition{latest: map[licensing.Channel]releaseItem{}}
	for _, row := range rows {
		if ch, ok := strings.CutPrefix(row.SK, latestSKPrefix); ok {
			p.latest[licensing.Channel(ch)] = row
			continue
		}
		r, err := row.release()
		if err != nil {
			return releasePartition{}, fail("decode releases", err)
		}
		p.releases = append(p.releases, r)
	}
	licensing.SortReleases(p.releases)
	return p, nil
}

// Releases lists a product's releases, newest version first, with one Query.
func (s *Store) Releases(ctx context.Context, brand, productID string) ([]licensing.Release, error) {
	p, err := s.readReleases(ctx, brand, productID)
	return p.releases, err
}

// maxReleaseAttempts bounds the optimistic retries of UpdateRelease: every
// publish of a product rewrites the same LATEST items, so a release pipeline
// publishing many versions at once contends on them.
const maxReleaseAttempts = 24

// UpdateRelease reads the product's releases, applies change to the one of
// version and writes it, the LATEST item of every channel whose offer
// changes (licensing.LatestRelease decides) and the change's events in one
// transaction conditioned on the revisions read, reading again on a
// concurrent change.
func (s *Store) UpdateRelease(ctx context.Context, brand, productID string, v licensing.Version, done *app.IdempotencyCompletion,
	change func(licensing.Release) (licensing.Release, []licensing.Event, error)) (licensing.Release, error) {
	for attempt := range maxReleaseAttempts {
		p, err := s.readReleases(ctx, brand, productID)
		if err != nil {
			return licensing.Release{}, err
		}
		i := -1
		for j, r := range p.releases {
			if r.Version.Compare(v) == 0 && r.Version.String() == v.String() {
				i = j
			}
		}
		if i < 0 {
			return licensing.Release{}, licensing.Errorf(licensing.CodeReleaseNotFound, "no release %s of this product", v)
		}
		before := p.releases[i]
		next, evs, err := change(before)
		if err != nil {
			return before, err
		}
		p.releases[i] = next
		items, err := s.releaseWrites(p, next, before.Rev)
		if err != nil {
			return before, err
		}
		puts, err := s.eventPuts(evs...)
		if err != nil {
			return before, err
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.withCompletion(append(items, puts...), done)})
		if claimLost(err, done) {
			return before, errInProgress
		}
		if contended(err) {
			backoff(ctx, attempt)
			continue
		}
		if err != nil {
			return before, fail("update release", err)
		}
		return next, nil
	}
	return licensing.Release{}, licensing.Unavailable(errors.New("release changed concurrently too often"))
}

// releaseWrites are the release's put (conditioned on the revision read)
// and a put of each LATEST item whose offer changed (conditioned on its own
// revision, or on its absence).
func (s *Store) releaseWrites(p releasePartition, next licensing.Release, prevRev int) ([]types.TransactWriteItem, error) {
	item, err := attributevalue.MarshalMap(toReleaseItem(next))
	if err != nil {
		return nil, err
	}
	out := []types.TransactWriteItem{{Put: &types.Put{TableName: &s.table, Item: item,
		ConditionExpression:       aws.String("rev = :rev"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":rev": num(int64(prevRev))}}}}
	for _, ch := range licensing.Channels {
		old, had := p.latest[ch]
		want, ok := licensing.LatestRelease(p.releases, ch)
		var li releaseItem
		if ok {
			li = toReleaseItem(want)
		} else {
			li = releaseItem{Brand: next.Brand, ProductID: next.ProductID, ProductSlug: next.ProductSlug, ProductName: next.ProductName, None: true}
		}
		if had && old.None == li.None && old.Version == li.Version && old.Rev == li.Rev {
			continue // this channel's offer is unchanged
		}
		li.PK, li.SK, li.Type, li.LatestRev = releasePK(next.Brand, next.ProductID), latestSK(ch), "release_latest", old.LatestRev+1
		m, err := attributevalue.MarshalMap(li)
		if err != nil {
			return nil, err
		}
		put := &types.Put{TableName: &s.table, Item: m, ConditionExpression: aws.String(notExists)}
		if had {
			put.ConditionExpression = aws.String("latest_rev = :lrev")
			put.ExpressionAttributeValues = map[string]types.AttributeValue{":lrev": num(int64(old.LatestRev))}
		}
		out = append(out, types.TransactWriteItem{Put: put})
	}
	return out, nil
}

// LatestRelease reads the release a site on the channel is offered with one
// eventually consistent GetItem (0.5 read units for a release of up to 4
// KB); ok is false when nothing is published there.
func (s *Store) LatestRelease(ctx context.Context, brand, productID string, ch licensing.Channel) (licensing.Release, bool, error) {
	it, found, err := getItem[releaseItem](ctx, s, releasePK(brand, productID), latestSK(ch), false, "get latest release")
	if err != nil || !found || it.None {
		return licensing.Release{}, false, err
	}
	r, err := it.release()
	if err != nil {
		return licensing.Release{}, false, fail("decode latest release", err)
	}
	return r, true, nil
}

// GetRelease reads one release by version (strongly consistent).
func (s *Store) GetRelease(ctx context.Context, brand, productID string, v licensing.Version) (licensing.Release, error) {
	it, found, err := getItem[releaseItem](ctx, s, releasePK(brand, productID), releaseSK(v), true, "get release")
	if err != nil {
		return licensing.Release{}, err
	}
	if !found {
		return licensing.Release{}, licensing.Errorf(licensing.CodeReleaseNotFound, "no release %s of this product", v)
	}
	r, err := it.release()
	if err != nil {
		return licensing.Release{}, fail("decode release", err)
	}
	return r, nil
}
