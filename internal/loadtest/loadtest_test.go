package loadtest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/devserver"
	"github.com/clsvc/license-service/internal/service"
)

const table = "licenses"

func startService(t *testing.T) (*devserver.Server, *dynamodb.Client) {
	t.Helper()
	ctx := t.Context()
	srv, err := devserver.Start(ctx, devserver.Options{
		Template: "../../template.yaml", APIAddr: "127.0.0.1:0", DynamoAddr: "127.0.0.1:0",
		Config: service.Config{TableName: table}, Seed: true, EventPoll: -1, EventLog: io.Discard,
	})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	db, err := NewDynamoClient(srv.DynamoURL)
	require.NoError(t, err)
	return srv, db
}

// A short run with 4 clients against the in-process service: no 5xx, no
// unexpected answer, every invariant holds and every confirmed change has
// exactly its event. Then the audit must notice a broken seat count and an
// orphan activation written behind the service's back.
func TestShortRun(t *testing.T) {
	srv, db := startService(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	rep, err := Run(ctx, Config{BaseURL: srv.APIURL, Clients: 4, Duration: 1500 * time.Millisecond, Keys: 16, MaxRequests: 50_000, Seed: 7}, db, table)
	require.NoError(t, err)
	var out strings.Builder
	rep.WriteText(&out)
	t.Log(out.String())

	ops, total := rep.Figures()
	assert.Empty(t, rep.Problems())
	assert.Zero(t, total.ServerErrors)
	assert.Zero(t, total.Transport)
	assert.Zero(t, total.Unexpected)
	assert.Empty(t, rep.Audit.Violations)
	assert.Empty(t, rep.Audit.FleetViolations)
	assert.Empty(t, rep.Audit.EventMismatches)
	require.Positive(t, total.Count)
	if total.Count >= 40 { // on a very busy machine there may be too few to judge the mix
		assert.Equal(t, "check", ops[0].Name)
		assert.Greater(t, ops[0].Count, total.Count/2, "checks are most of the mix")
	}
	assert.EqualValues(t, 16, rep.Audit.SetupEvents[0].Found, "setup provisioned the 16 keys asked for")
	assert.Positive(t, rep.Audit.SetupEvents[2].Found, "setup activated seats")

	// Break the table behind the service's back: the audit must say so.
	before, err := scanTable(ctx, db, table)
	require.NoError(t, err)
	require.Empty(t, before.invariants())
	var victim licenseItem
	for _, l := range before.licenses {
		// A license with a free seat, so that one more counted seat breaks
		// exactly one invariant (the count), not also the limit.
		if strings.HasPrefix(l.PK, "KEY#") && l.LicenseID != "" && l.SeatsUsed != nil && l.SeatLimit != nil && *l.SeatsUsed < *l.SeatLimit {
			victim = l
			break
		}
	}
	require.NotEmpty(t, victim.PK)
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(table),
		Key:              map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: victim.PK}, "sk": &types.AttributeValueMemberS{Value: victim.SK}},
		UpdateExpression: aws.String("SET seats_used = seats_used + :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
	})
	require.NoError(t, err)
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "KEY#RM-ZZZZ-ZZZZ-ZZZZ-ZZZZ"}, "sk": &types.AttributeValueMemberS{Value: "ACT#rankmath-pro#url#orphan.example.com"},
		"type": &types.AttributeValueMemberS{Value: "activation"},
	}})
	require.NoError(t, err)
	after, err := scanTable(ctx, db, table)
	require.NoError(t, err)
	v := after.invariants()
	require.Len(t, v, 2, "%q", v)
	assert.Contains(t, v[0], victim.LicenseID)
	assert.Contains(t, v[0], "activation items")
	assert.Contains(t, v[1], "without a license")
}

func TestCheckLoopbackURL(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:3000", "http://127.0.0.1:8000/", "http://127.0.0.2:1"} {
		assert.NoError(t, CheckLoopbackURL(ok), ok)
	}
	for _, bad := range []string{"", "http://localhost:3000", "http://10.0.0.1:3000", "https://127.0.0.1:3000",
		"http://example.com:80", "http://[::1]:3000", "http://127.0.0.1", "http://0.0.0.0:3000"} {
		assert.Error(t, CheckLoopbackURL(bad), bad)
	}
}

func TestLoopbackClientRefusesOtherHosts(t *testing.T) {
	c := NewHTTPClient(1, time.Second)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://192.0.2.1:80/", nil)
	require.NoError(t, err)
	_, err = c.Do(req)
	require.ErrorContains(t, err, "not a loopback address")
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, 100*time.Millisecond, percentile(d, 50))
	assert.Equal(t, 190*time.Millisecond, percentile(d, 95))
	assert.Equal(t, 198*time.Millisecond, percentile(d, 99))
	assert.Equal(t, time.Millisecond, percentile(d[:1], 99))
	assert.Zero(t, percentile(nil, 50))
}

func TestMix(t *testing.T) {
	sum := 0
	for _, w := range opWeights {
		sum += w
	}
	require.Equal(t, 1000, sum)
	assert.Equal(t, 850, opWeights[opCheck])
	assert.Equal(t, 40, sum-opWeights[opCheck]-opWeights[opActivate]-opWeights[opDeactivate], "4% brand requests")
}
