package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	miniserver "github.com/truora/minidyn/server"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/licensing"
)

// outboxEvents reads every event item of the table, decoded.
func outboxEvents(t *testing.T, eng *dynamotest.Engine) map[string]licensing.Event {
	t.Helper()
	items := eng.Scan(t, &dynamodb.ScanInput{
		TableName: &eng.Table, FilterExpression: aws.String("#t = :event"),
		ExpressionAttributeNames:  map[string]string{"#t": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":event": &types.AttributeValueMemberS{Value: "event"}},
	})
	evs := map[string]licensing.Event{}
	for _, it := range items {
		var row struct {
			EventType string `dynamodbav:"event_type"`
			Detail    string `dynamodbav:"detail"`
			TTL       int64  `dynamodbav:"ttl"`
		}
		require.NoError(t, attributevalue.UnmarshalMap(it, &row))
		var e licensing.Event
		require.NoError(t, json.Unmarshal([]byte(row.Detail), &e))
		require.Equal(t, string(e.Type), row.EventType)
		require.Positive(t, row.TTL)
		evs[e.ID] = e
	}
	return evs
}

// newEvents is what appeared in the outbox since before.
func newEvents(before, after map[string]licensing.Event) []licensing.Event {
	var out []licensing.Event
	for id, e := range after {
		if _, ok := before[id]; !ok {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b licensing.Event) int { return a.OccurredAt.Compare(b.OccurredAt) })
	return out
}

func types_(evs []licensing.Event) []licensing.EventType {
	out := make([]licensing.EventType, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// useCase is one state change: setup (optional) brings the fixture's
// license to the state the change needs, run makes the change, want is
// exactly the events it commits.
type useCase struct {
	name  string
	want  []licensing.EventType
	setup func(ctx context.Context, p licensing.Provisioned) error
	run   func(ctx context.Context, p licensing.Provisioned) error
}

// useCases is every state change, each run against the fixture's state: a
// license of three seats, one held by held.example.com.
func useCases(f *fixture) []useCase {
	tenant := f.tenant
	tenant.APIKeyID = "key_test"
	id := func(p licensing.Provisioned) string { return p.Licenses[0].ID }
	change := func(a licensing.Action, exp string) func(context.Context, licensing.Provisioned) error {
		return func(ctx context.Context, p licensing.Provisioned) error {
			_, err := f.app.ChangeLicense(ctx, tenant, id(p), app.ChangeInput{Action: a, ExpirationDate: exp, Reason: "r"})
			return err
		}
	}
	var revoked string // the API key the revoke case revokes
	return []useCase{
		{name: "provision", want: []licensing.EventType{licensing.EventLicenseKeyCreated, licensing.EventLicenseProvisioned, licensing.EventLicenseProvisioned},
			run: func(ctx context.Context, _ licensing.Provisioned) error {
				_, _, err := f.app.Provision(ctx, tenant, app.ProvisionInput{CustomerEmail: "n@example.com", Products: []string{"rankmath-pro", "content-ai"}}, "idem-1")
				return err
			}},
		{name: "renew", want: []licensing.EventType{licensing.EventLicenseRenewed}, run: change(licensing.ActionRenew, "2028-01-01T00:00:00Z")},
		{name: "suspend", want: []licensing.EventType{licensing.EventLicenseSuspended}, run: change(licensing.ActionSuspend, "")},
		{name: "resume", want: []licensing.EventType{licensing.EventLicenseResumed},
			setup: change(licensing.ActionSuspend, ""), run: change(licensing.ActionResume, "")},
		{name: "activate", want: []licensing.EventType{licensing.EventLicenseActivated}, run: func(ctx context.Context, p licensing.Provisioned) error {
			_, err := f.app.Activate(ctx, seat(p.Key.Key, "new.example.com"))
			return err
		}},
		{name: "site move", want: []licensing.EventType{licensing.EventSiteMoved}, run: func(ctx context.Context, p licensing.Provisioned) error {
			_, err := f.app.Activate(ctx, move(p.Key.Key, "moved.example.com", "https://www.held.example.com/"))
			return err
		}},
		{name: "deactivate", want: []licensing.EventType{licensing.EventSeatDeactivated}, run: func(ctx context.Context, p licensing.Provisioned) error {
			_, _, err := f.app.Deactivate(ctx, seat(p.Key.Key, "held.example.com"))
			return err
		}},
		{name: "free seat", want: []licensing.EventType{licensing.EventSeatDeactivated}, run: func(ctx context.Context, p licensing.Provisioned) error {
			v, err := f.app.License(ctx, tenant, id(p), "", 0)
			if err != nil {
				return err
			}
			_, err = f.app.FreeSeat(ctx, tenant, id(p), v.Activations[0].ID)
			return err
		}},
		{name: "seat reclaim", want: []licensing.EventType{licensing.EventSeatReclaimed},
			setup: func(ctx context.Context, _ licensing.Provisioned) error {
				f.clock.Advance(31 * 24 * time.Hour) // held.example.com is unseen for 31 days
				return f.app.Ops().ConfigureBrand(ctx, "rankmath", licensing.BrandSettings{StaleAfterDays: 30})
			},
			run: func(ctx context.Context, _ licensing.Provisioned) error {
				done, err := f.app.ReclaimStale(ctx)
				if err == nil && !slices.Equal(done, []app.Reclaimed{{Brand: "rankmath", Seats: 1}}) {
					return fmt.Errorf("reclaimed %v, want the one stale seat", done)
				}
				return err
			}},
		{name: "cancel", want: []licensing.EventType{licensing.EventLicenseCancelled}, run: change(licensing.ActionCancel, "")},
		{name: "create api key", want: []licensing.EventType{licensing.EventAPIKeyCreated}, run: func(ctx context.Context, _ licensing.Provisioned) error {
			_, _, err := f.app.Ops().CreateAPIKey(ctx, "rankmath")
			return err
		}},
		{name: "revoke api key", want: []licensing.EventType{licensing.EventAPIKeyRevoked},
			setup: func(ctx context.Context, _ licensing.Provisioned) error {
				_, k, err := f.app.Ops().CreateAPIKey(ctx, "rankmath")
				revoked = k.ID
				return err
			},
			run: func(ctx context.Context, _ licensing.Provisioned) error {
				return f.app.Ops().RevokeAPIKey(ctx, "rankmath", revoked)
			}},
	}
}

// Every state change writes its events in its own transaction: with the
// outbox write sabotaged nothing of the change is written either, and with
// the engine failing neither is; otherwise the change and exactly its events
// are there. Each use case runs on a fixture of its own, so that its events
// (a reclaim frees every stale seat of the brand) are exactly its own.
func TestStateChangesAndEventsCommitTogether(t *testing.T) {
	ctx := context.Background()
	for i, named := range useCases(&fixture{}) {
		t.Run(named.name, func(t *testing.T) {
			sabotage := &dynamotest.EventSabotage{}
			f := newFixture(t, sabotage.Option())
			uc := useCases(f)[i]
			p := f.license(t, 3)
			_, err := f.app.Activate(ctx, seat(p.Key.Key, "held.example.com"))
			require.NoError(t, err)
			if uc.setup != nil {
				require.NoError(t, uc.setup(ctx, p))
			}

			before := f.eng.Dump(t)
			sabotage.Set(true)
			err = uc.run(ctx, p)
			sabotage.Set(false)
			require.Error(t, err, "the sabotaged event write fails the change")
			assert.Equal(t, before, f.eng.Dump(t), "neither the change nor its event is written")

			f.eng.Server.EmulateFailureForTable(f.eng.Table, miniserver.FailureConditionInternalServerError)
			err = uc.run(ctx, p)
			f.eng.Server.EmulateFailureForTable(f.eng.Table, miniserver.FailureConditionNone)
			assert.Equal(t, licensing.CodeServiceUnavailable, licensing.ErrorCode(err))
			assert.Equal(t, before, f.eng.Dump(t))

			evBefore := outboxEvents(t, f.eng)
			require.NoError(t, uc.run(ctx, p))
			got := newEvents(evBefore, outboxEvents(t, f.eng))
			assert.ElementsMatch(t, uc.want, types_(got), "exactly the change's events")
			for _, e := range got {
				assert.Equal(t, "rankmath", e.Brand)
				assert.Equal(t, licensing.EventVersion, e.Version)
				assert.NotEmpty(t, e.Actor.Type)
			}
		})
	}
}

func TestEventDetails(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tenant := f.tenant
	tenant.APIKeyID = "key_billing"
	before := outboxEvents(t, f.eng)
	res, _, err := f.app.Provision(ctx, tenant, app.ProvisionInput{CustomerEmail: "d@example.com", Products: []string{"rankmath-pro"}, MaxSeats: seats(2)}, "")
	require.NoError(t, err)
	out, err := f.app.Activate(ctx, seat(res.Key.Key, "https://www.shop.example.com/"))
	require.NoError(t, err)
	_, _, err = f.app.Deactivate(ctx, seat(res.Key.Key, "shop.example.com"))
	require.NoError(t, err)

	got := newEvents(before, outboxEvents(t, f.eng))
	require.Len(t, got, 4)
	byType := map[licensing.EventType]licensing.Event{}
	for _, e := range got {
		byType[e.Type] = e
	}
	key := byType[licensing.EventLicenseKeyCreated]
	assert.Equal(t, res.Key.ID, key.LicenseKeyID)
	assert.Equal(t, "d@example.com", key.CustomerEmail)
	assert.Equal(t, licensing.Actor{Type: licensing.ActorAPIKey, ID: "key_billing"}, key.Actor)

	prov := byType[licensing.EventLicenseProvisioned]
	assert.Equal(t, res.Licenses[0].ID, prov.LicenseID)
	assert.Equal(t, "rankmath-pro", prov.Product)
	assert.Equal(t, &licensing.LicenseState{Status: licensing.StatusValid, SeatLimit: 2}, prov.License)

	act := byType[licensing.EventLicenseActivated]
	assert.Equal(t, out.Activation.ID, act.ActivationID)
	assert.Equal(t, res.Licenses[0].ID, act.LicenseID)
	assert.Equal(t, 1, act.License.SeatsUsed, "the state after the change")
	assert.Equal(t, &licensing.ActivationState{InstanceIdentifier: "shop.example.com", InstanceType: licensing.InstanceURL, Environment: licensing.EnvProduction, Status: "active"}, act.Activation)
	assert.Equal(t, licensing.Actor{Type: licensing.ActorProduct}, act.Actor)

	deact := byType[licensing.EventSeatDeactivated]
	assert.Equal(t, out.Activation.ID, deact.ActivationID)
	assert.Equal(t, 0, deact.License.SeatsUsed)
	assert.Equal(t, "deactivated", deact.Activation.Status)
}

func TestLicenseHistory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.license(t, 3)
	id := p.Licenses[0].ID
	for _, a := range []licensing.Action{licensing.ActionSuspend, licensing.ActionResume, licensing.ActionSuspend, licensing.ActionResume} {
		f.clock.Advance(time.Minute)
		_, err := f.app.ChangeLicense(ctx, f.tenant, id, app.ChangeInput{Action: a})
		require.NoError(t, err)
	}
	var all []licensing.EventType
	cursor := ""
	for page := 0; ; page++ {
		require.Less(t, page, 10)
		evs, next, err := f.app.LicenseHistory(ctx, f.tenant, id, cursor, 2)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(evs), 2)
		for _, e := range evs {
			all = append(all, e.Type)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	assert.Equal(t, []licensing.EventType{
		licensing.EventLicenseResumed, licensing.EventLicenseSuspended, licensing.EventLicenseResumed,
		licensing.EventLicenseSuspended, licensing.EventLicenseProvisioned,
	}, all, "newest first, every event once")

	_, _, err := f.app.LicenseHistory(ctx, f.other, id, "", 10)
	assert.Equal(t, licensing.CodeLicenseNotFound, licensing.ErrorCode(err), "tenant-scoped")
	_, _, err = f.app.LicenseHistory(ctx, f.tenant, id, "not-a-cursor", 10)
	assert.Equal(t, licensing.CodeValidation, licensing.ErrorCode(err))
	_, _, err = f.app.LicenseHistory(ctx, f.tenant, id, "", 101)
	assert.Equal(t, licensing.CodeValidation, licensing.ErrorCode(err))
}
