package loadtest

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/devserver"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/service"
)

const table = "licenses"

func startService(t *testing.T) (*devserver.Server, *dynamodb.Client) {
	t.Helper()
	ctx := t.Context()
	srv, err := devserver.Start(ctx, devserver.Options{
		Template: "../../../template.yaml", APIAddr: "127.0.0.1:0", DynamoAddr: "127.0.0.1:0",
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
	require.Empty(t, before.invariants(3))
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
	v := after.invariants(3)
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
	w, err := weights(DefaultMix())
	require.NoError(t, err)
	require.Equal(t, defaultWeights, w)
	sum := 0
	for _, n := range w {
		sum += n
	}
	require.Equal(t, 1000, sum)
	assert.Equal(t, 790, w[opCheck], "checks dominate")
	assert.Equal(t, 25, w[opActivateStaging], "2.5% staging and local activations")
	assert.Equal(t, 15, w[opMove], "1.5% site moves")
	assert.Equal(t, 35, w[opEDDCheck]+w[opEDDActivate]+w[opEDDDeactivate], "3.5% EDD requests")
	assert.Equal(t, 40, w[opGetLicense]+w[opListByEmail]+w[opSuspend]+w[opResume]+w[opRenew]+w[opProvision], "4% brand requests")
	for o := range numOps {
		assert.Positive(t, w[o], "%s runs in the default mix", o)
	}

	_, err = weights(map[string]int{"check": 1, "teleport": 1})
	require.ErrorContains(t, err, "teleport")
	_, err = weights(map[string]int{"check": 0})
	require.Error(t, err)
	only, err := weights(map[string]int{"move": 3})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		require.Equal(t, opMove, pickOp(rng, &only))
	}
}

// The sites' canonical forms and environments, as the service classifies
// them (the short runs check the service agrees).
func TestSites(t *testing.T) {
	for _, c := range []struct {
		s         site
		canonical string
		env       string
	}{
		{site{kind: prodSite, n: 2}, "site2.example.com", envProduction},
		{site{kind: nonprodSite, n: 0}, "staging.site0.example.com", envStaging},
		{site{kind: nonprodSite, n: 1}, "site1.local", envLocal},
		{site{kind: nonprodSite, n: 2}, "localhost:8080/site2", envLocal},
		{site{kind: nonprodSite, n: 3}, "staging.site3.example.com", envStaging},
		{site{kind: eddSite, n: 7}, "edd7.example.org", envProduction},
		{site{kind: eddSite, n: 8, local: true}, "edd8.local", envLocal},
	} {
		assert.Equal(t, c.canonical, c.s.canonical())
		assert.Equal(t, c.env, c.s.env(), c.canonical)
		assert.Equal(t, c.env == envProduction, c.s.takesSeat(), c.canonical)
		rng := rand.New(rand.NewPCG(3, 4))
		for range 20 {
			inst, err := licensing.ParseInstance("url", c.s.spelling(rng))
			require.NoError(t, err)
			assert.Equal(t, c.canonical, inst.ID)
			assert.Equal(t, c.env, string(licensing.ClassifyInstance(inst)), c.canonical)
		}
	}
}

// An unexpected status or a broken answer is an error, however the request
// goes on; EDD refusals are expected and counted by their error code.
func TestJudge(t *testing.T) {
	g := &generator{}
	l := &license{id: "lic_1", seats: 3}
	okBody := `{"success":true,"license":"valid","item_id":"prd_1","expires":"2030-01-01 00:00:00","payment_id":0,"customer_name":"","customer_email":"","license_limit":3,"site_count":1,"activations_left":2}`
	for _, c := range []struct {
		name     string
		r        reply
		verdicts []eddVerdict
		expected bool
		code     string
	}{
		{"valid", reply{status: 200, body: []byte(okBody)}, eddCheckVerdicts, true, ""},
		{"site inactive", reply{status: 200, body: []byte(strings.Replace(okBody, `"license":"valid"`, `"license":"site_inactive","error":"site_inactive"`, 1))}, eddCheckVerdicts, true, "site_inactive"},
		{"500", reply{status: 500, code: "internal_error"}, eddCheckVerdicts, false, "internal_error"},
		{"503", reply{status: 503, code: "service_unavailable"}, eddActivateVerdicts, false, "service_unavailable"},
		{"400", reply{status: 400, code: "validation_error"}, eddDeactivateVerdicts, false, "validation_error"},
		{"other verdict", reply{status: 200, body: []byte(strings.Replace(okBody, `"license":"valid"`, `"license":"expired","error":"expired"`, 1))}, eddCheckVerdicts, false, ""},
		{"wrong figures", reply{status: 200, body: []byte(strings.Replace(okBody, `"activations_left":2`, `"activations_left":1`, 1))}, eddCheckVerdicts, false, ""},
		{"customer data", reply{status: 200, body: []byte(strings.Replace(okBody, `"customer_email":""`, `"customer_email":"a@b.c"`, 1))}, eddCheckVerdicts, false, ""},
		{"not JSON", reply{status: 200, body: []byte("<html>")}, eddCheckVerdicts, false, ""},
		{"empty", reply{status: 200}, eddCheckVerdicts, false, ""},
	} {
		o, _ := g.judgeEDD(c.r, time.Millisecond, nil, l, c.verdicts)
		assert.Equal(t, c.expected, o.expected, c.name)
		assert.Equal(t, c.code, o.code, c.name)
		rec := newRecorder()
		rec.add(opEDDCheck, o)
		s := rec.stats()
		assert.Equal(t, int64(map[bool]int{true: 0, false: 1}[c.expected]), s.Unexpected, c.name)
	}

	// The product API: a status outside those a request may get is
	// unexpected, as is a refusal with another code.
	for _, c := range []struct {
		r        reply
		expected bool
	}{
		{reply{status: 201}, true}, {reply{status: 409, code: "no_seats_available"}, true},
		{reply{status: 409, code: "invalid_transition"}, false}, {reply{status: 418}, false},
		{reply{status: 500, code: "internal_error"}, false}, {reply{status: 204}, false},
	} {
		o := expect(c.r, 0, nil, []int{201, 200}, "409 no_seats_available")
		assert.Equal(t, c.expected, o.expected, "%d %s", c.r.status, c.r.code)
	}
	rec := newRecorder()
	rec.add(opActivate, expect(reply{status: 418}, 0, nil, []int{201}))
	rec.add(opActivate, outcome{err: errors.New("connection refused")})
	rep := &Report{Ops: rec, Elapsed: time.Second, SetupStats: OpStats{}}
	p := rep.Problems()
	assert.Contains(t, p, "1 requests without an answer")
	assert.Contains(t, p, "1 unexpected answers")
}

// A short run of only the WordPress operations (staging and local sites,
// site moves, EDD requests) and deactivations, capped at a number of
// requests: no unexpected answer; moves, staging places and EDD activations
// happen and the audit finds their items and events. Then the audit must
// notice a nonprod_used that disagrees with the staging items and exceeds
// the cap.
func TestWordPressOps(t *testing.T) {
	srv, db := startService(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	mix := map[string]int{"check": 10, "activate": 10, "deactivate": 15, "activate-staging": 20, "move": 20,
		"edd-check": 15, "edd-activate": 10, "edd-deactivate": 10}
	rep, err := Run(ctx, Config{BaseURL: srv.APIURL, Clients: 4, Duration: 2 * time.Minute, Keys: 8, MaxRequests: 240, Seed: 11, Mix: mix}, db, table)
	require.NoError(t, err)
	var out strings.Builder
	rep.WriteText(&out)
	t.Log(out.String())

	ops, total := rep.Figures()
	assert.Empty(t, rep.Problems())
	assert.EqualValues(t, 240, total.Count, "the request cap ends the run")
	counts := map[string]OpStats{}
	for _, s := range ops {
		counts[s.Name] = s
	}
	for name := range mix {
		assert.Positive(t, counts[name].Count, name)
	}
	assert.Zero(t, counts["get-license"].Count, "operations outside the mix do not run")
	assert.Positive(t, counts["activate-staging"].Statuses[http.StatusCreated], "staging and local sites activated")
	assert.Positive(t, counts["edd-activate"].Statuses[http.StatusOK])

	events := map[string]EventCheck{}
	for _, e := range rep.Audit.LoadEvents {
		events[e.Type] = e
	}
	assert.Positive(t, events[evMoved].Found, "sites moved")
	assert.Equal(t, events[evMoved].Expected, events[evMoved].Found)
	assert.Positive(t, events[evDeactivated].Found)
	assert.Positive(t, rep.Audit.NonProd, "staging and local activation items")
	assert.Equal(t, rep.Audit.NonProdFinal, rep.Audit.NonProd, "every staging and local item is the generator's")

	// A nonprod_used above the cap and above the staging items: the audit
	// says both.
	before, err := scanTable(ctx, db, table)
	require.NoError(t, err)
	require.Empty(t, before.invariants(3))
	var victim licenseItem
	for id, l := range before.licenses {
		if strings.HasPrefix(l.PK, "KEY#") && l.LicenseID != "" && before.nonProd[id] == 0 && l.SeatsUsed != nil {
			victim = l
			break
		}
	}
	require.NotEmpty(t, victim.PK)
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(table),
		Key:              map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: victim.PK}, "sk": &types.AttributeValueMemberS{Value: victim.SK}},
		UpdateExpression: aws.String("SET nonprod_used = :n"), ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: "4"}},
	})
	require.NoError(t, err)
	after, err := scanTable(ctx, db, table)
	require.NoError(t, err)
	v := after.invariants(3)
	require.Len(t, v, 2, "%q", v)
	assert.Contains(t, v[0], "nonprod_used 4 but 0 staging and local activation items")
	assert.Contains(t, v[1], "nonprod_used 4 outside 0..staging cap 3")
}
