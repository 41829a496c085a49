package dynamo_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/licensing"
)

func newRelease(t *testing.T, version, channel string) licensing.Release {
	t.Helper()
	size := int64(100)
	r, err := licensing.NewRelease(prod, licensing.ReleaseInput{Version: version, Channel: channel, Changelog: "- " + version,
		PackageSHA256: strings.Repeat("0a", 32), PackageSize: &size}, t0)
	require.NoError(t, err)
	return r
}

func publish(r licensing.Release) (licensing.Release, []licensing.Event, error) {
	next, err := r.Publish(t0.Add(time.Minute))
	if err != nil {
		return next, nil, err
	}
	return next, []licensing.Event{licensing.ReleaseEvent(licensing.EventReleasePublished, next, cli)}, nil
}

func yank(r licensing.Release) (licensing.Release, []licensing.Event, error) {
	next, err := r.Yank(t0.Add(2 * time.Minute))
	if err != nil {
		return next, nil, err
	}
	return next, []licensing.Event{licensing.ReleaseEvent(licensing.EventReleaseYanked, next, cli)}, nil
}

func latest(t *testing.T, e *dynamotest.Engine, ch licensing.Channel) string {
	t.Helper()
	r, ok, err := e.Store.LatestRelease(ctx, prod.Brand, prod.ID, ch)
	require.NoError(t, err)
	if !ok {
		return ""
	}
	return r.Version.String()
}

func releaseEvents(t *testing.T, e *dynamotest.Engine, typ licensing.EventType) int {
	t.Helper()
	items := e.Scan(t, &dynamodb.ScanInput{TableName: aws.String(e.Table), FilterExpression: aws.String("event_type = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberS{Value: string(typ)}}})
	return len(items)
}

func TestReleasesLifecycle(t *testing.T) {
	e := dynamotest.Start(t)
	for _, r := range []licensing.Release{newRelease(t, "1.0.0", ""), newRelease(t, "1.1.0", ""), newRelease(t, "2.0.0-beta.1", "beta")} {
		require.NoError(t, e.Store.CreateRelease(ctx, r, nil))
	}
	before := e.Dump(t)
	err := e.Store.CreateRelease(ctx, newRelease(t, "1.0.0", ""), nil)
	assert.Equal(t, licensing.CodeAlreadyExists, licensing.ErrorCode(err))
	assert.Equal(t, before, e.Dump(t), "a duplicate changes nothing")
	assert.Empty(t, latest(t, e, licensing.ChannelStable), "nothing published yet")

	v := func(s string) licensing.Version { x, _ := licensing.ParseVersion("v", s); return x }
	for _, s := range []string{"1.0.0", "1.1.0", "2.0.0-beta.1"} {
		_, err := e.Store.UpdateRelease(ctx, prod.Brand, prod.ID, v(s), nil, publish)
		require.NoError(t, err, s)
	}
	assert.Equal(t, "1.1.0", latest(t, e, licensing.ChannelStable))
	assert.Equal(t, "2.0.0-beta.1", latest(t, e, licensing.ChannelBeta))
	_, err = e.Store.UpdateRelease(ctx, prod.Brand, prod.ID, v("1.1.0"), nil, publish)
	assert.Equal(t, licensing.CodeInvalidTransition, licensing.ErrorCode(err))
	_, err = e.Store.UpdateRelease(ctx, prod.Brand, prod.ID, v("9.9.9"), nil, publish)
	assert.Equal(t, licensing.CodeReleaseNotFound, licensing.ErrorCode(err))

	_, err = e.Store.UpdateRelease(ctx, prod.Brand, prod.ID, v("1.1.0"), nil, yank)
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", latest(t, e, licensing.ChannelStable), "a yanked release is never offered: the one before is")
	_, err = e.Store.UpdateRelease(ctx, prod.Brand, prod.ID, v("2.0.0-beta.1"), nil, yank)
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", latest(t, e, licensing.ChannelBeta))
	_, err = e.Store.UpdateRelease(ctx, prod.Brand, prod.ID, v("1.0.0"), nil, yank)
	require.NoError(t, err)
	assert.Empty(t, latest(t, e, licensing.ChannelStable))
	assert.Empty(t, latest(t, e, licensing.ChannelBeta))

	all, err := e.Store.Releases(ctx, prod.Brand, prod.ID)
	require.NoError(t, err)
	var got []string
	for _, r := range all {
		got = append(got, r.Version.String()+" "+string(r.Status))
	}
	assert.Equal(t, []string{"2.0.0-beta.1 yanked", "1.1.0 yanked", "1.0.0 yanked"}, got, "newest first")
	assert.Equal(t, 3, releaseEvents(t, e, licensing.EventReleasePublished))
	assert.Equal(t, 3, releaseEvents(t, e, licensing.EventReleaseYanked))

	other, err := e.Store.Releases(ctx, "wp-rocket", prod.ID)
	require.NoError(t, err)
	assert.Empty(t, other, "another brand's partition")
}

// Many versions published at once: every publish lands once, with its
// event, and each channel offers the highest of them.
func TestConcurrentPublishes(t *testing.T) {
	e := dynamotest.Start(t)
	const n = 16
	for i := range n {
		require.NoError(t, e.Store.CreateRelease(ctx, newRelease(t, fmt.Sprintf("1.%d.0", i), ""), nil))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			v, _ := licensing.ParseVersion("v", fmt.Sprintf("1.%d.0", i))
			_, errs[i] = e.Store.UpdateRelease(ctx, prod.Brand, prod.ID, v, nil, publish)
		})
	}
	wg.Wait()
	published := 0
	for _, err := range errs {
		if err == nil {
			published++
		} else {
			assert.Equal(t, licensing.CodeServiceUnavailable, licensing.ErrorCode(err), "only contention may refuse: %v", err)
		}
	}
	all, err := e.Store.Releases(ctx, prod.Brand, prod.ID)
	require.NoError(t, err)
	highest := ""
	stored := 0
	for _, r := range all {
		if r.Status == licensing.ReleasePublished {
			stored++
			if highest == "" {
				highest = r.Version.String()
			}
		}
	}
	assert.Equal(t, published, stored, "every answered publish is stored, and nothing else")
	assert.Equal(t, n, published, "contention is retried until each publish lands")
	assert.Equal(t, published, releaseEvents(t, e, licensing.EventReleasePublished), "one event per publish")
	assert.Equal(t, highest, latest(t, e, licensing.ChannelStable), "the offer is the highest published version")
	assert.Equal(t, highest, latest(t, e, licensing.ChannelBeta))
}

// A publish whose event cannot be written publishes nothing.
func TestPublishAndItsEventCommitTogether(t *testing.T) {
	sabotage := &dynamotest.EventSabotage{}
	e := dynamotest.Start(t, sabotage.Option())
	require.NoError(t, e.Store.CreateRelease(ctx, newRelease(t, "1.0.0", ""), nil))
	before := e.Dump(t)
	sabotage.Set(true)
	v, _ := licensing.ParseVersion("v", "1.0.0")
	_, err := e.Store.UpdateRelease(ctx, prod.Brand, prod.ID, v, nil, publish)
	require.Error(t, err)
	assert.Equal(t, before, e.Dump(t))
	sabotage.Set(false)
	_, err = e.Store.UpdateRelease(ctx, prod.Brand, prod.ID, v, nil, publish)
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", latest(t, e, licensing.ChannelStable))
}
