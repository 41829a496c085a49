package dynamo_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/dynamo"
	"github.com/clsvc/license-service/internal/licensing"
)

// DynamoDB's throttling and server errors, as its JSON protocol sends them,
// are retried by the SDK (three attempts in all) and then answered as
// service_unavailable; a call that outlives its deadline is too. The engine
// cannot throttle, so a loopback endpoint plays DynamoDB's error answers.
func TestThrottlingAndTimeoutsAreUnavailable(t *testing.T) {
	for _, tc := range []struct{ name, errType string }{
		{"throughput exceeded", "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"},
		{"throttling", "com.amazonaws.dynamodb.v20120810#ThrottlingException"},
		{"request limit", "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded"},
		{"internal error", "com.amazonaws.dynamodb.v20120810#InternalServerError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				status := http.StatusBadRequest
				if tc.name == "internal error" {
					status = http.StatusInternalServerError
				}
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"__type":"` + tc.errType + `","message":"slow down"}`))
			}))
			defer srv.Close()
			db, err := dynamo.NewClient(ctx, dynamo.ClientConfig{Endpoint: srv.URL, Region: "us-east-1"})
			require.NoError(t, err)
			_, err = dynamo.New(db, "licenses").GetBrand(ctx, "rankmath")
			assert.Equal(t, licensing.CodeServiceUnavailable, licensing.ErrorCode(err), "%v", err)
			assert.Equal(t, int32(3), calls.Load(), "the SDK's retryer made its three attempts")
		})
	}

	t.Run("timeout", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}))
		defer srv.Close()
		db, err := dynamo.NewClient(ctx, dynamo.ClientConfig{Endpoint: srv.URL, Region: "us-east-1"})
		require.NoError(t, err)
		c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = dynamo.New(db, "licenses").GetBrand(c, "rankmath")
		assert.Equal(t, licensing.CodeServiceUnavailable, licensing.ErrorCode(err), "%v", err)
	})
}

// conflictProxy passes calls through to the engine, but answers the next n
// TransactWriteItems calls as DynamoDB does when another transaction holds
// one of the items: TransactionCanceledException with a TransactionConflict
// reason. The engine never conflicts, so the proxy plays DynamoDB's answer.
func conflictProxy(t *testing.T, engineURL string) (*dynamo.Store, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	target, err := url.Parse(engineURL)
	require.NoError(t, err)
	pass := httputil.NewSingleHostReverseProxy(target)
	var conflicts, transactions atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") {
			transactions.Add(1)
			if conflicts.Add(-1) >= 0 {
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",` +
					`"message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]",` +
					`"CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}]}`))
				return
			}
		}
		pass.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	db, err := dynamo.NewClient(ctx, dynamo.ClientConfig{Endpoint: srv.URL, Region: "us-east-1"})
	require.NoError(t, err)
	return dynamo.New(db, "licenses"), &conflicts, &transactions
}

// DynamoDB cancels a transaction that overlaps another on the same item with
// TransactionConflict, and the SDK does not retry a cancelled transaction:
// the seat and lifecycle loops read again and retry, so concurrent writers
// to one license are served, and only a conflict that outlasts every
// attempt answers service_unavailable, with nothing written.
func TestTransactionConflictsAreRetried(t *testing.T) {
	e := withBrands(t)
	p := provisioned("RM-AAAA-BBBB-CCCC-DDDD", "jane@example.com", t0, "prd_1")
	require.NoError(t, e.Store.Provision(ctx, p, nil, nil))
	store, conflicts, transactions := conflictProxy(t, e.URL)
	lic := p.Licenses[0]
	site, err := licensing.ParseInstance("url", "https://conflicted.com")
	require.NoError(t, err)
	act := licensing.Activation{ID: licensing.NewID(licensing.KindActivation), Key: p.Key.Key, Instance: site, ActivatedAt: t0, Environment: licensing.EnvProduction}
	noCap := func() (int, error) { return 0, nil }
	product := licensing.Actor{Type: licensing.ActorProduct}
	q := app.SeatQuery{Key: p.Key.Key, Product: lic.ProductSlug, Instance: &site}
	take := func(v licensing.SeatView) (licensing.SeatChange, error) {
		return licensing.TakeSeat(v, act, noCap, t0, product)
	}

	conflicts.Store(2)
	ch, err := store.ChangeSeat(ctx, q, nil, take)
	require.NoError(t, err)
	assert.Equal(t, licensing.SeatTaken, ch.Kind)
	assert.Equal(t, 1, ch.After.SeatsUsed)
	assert.Equal(t, int32(3), transactions.Load(), "two conflicts, then the transaction")

	conflicts.Store(2)
	transactions.Store(0)
	v, err := store.UpdateLicense(ctx, "rankmath", lic.ID, nil, func(v licensing.LicenseView) (licensing.License, []licensing.Event, error) {
		l, err := v.License.Transition(licensing.ActionSuspend, "", nil, t0)
		return l, nil, err
	})
	require.NoError(t, err)
	assert.Equal(t, licensing.StatusSuspended, v.License.Status)
	assert.Equal(t, int32(3), transactions.Load())

	conflicts.Store(2)
	transactions.Store(0)
	ch, err = store.ChangeSeat(ctx, q, nil, func(v licensing.SeatView) (licensing.SeatChange, error) {
		return licensing.FreeSeat(v, licensing.SeatGuard{}, licensing.EventSeatDeactivated, t0, product)
	})
	require.NoError(t, err)
	assert.Equal(t, 0, ch.After.SeatsUsed)
	assert.Equal(t, int32(3), transactions.Load())

	// A conflict on every attempt: service_unavailable, nothing written.
	_, err = store.UpdateLicense(ctx, "rankmath", lic.ID, nil, func(v licensing.LicenseView) (licensing.License, []licensing.Event, error) {
		l, err := v.License.Transition(licensing.ActionResume, "", nil, t0)
		return l, nil, err
	})
	require.NoError(t, err)
	before := e.Dump(t)
	// Within a request's deadline (the API's is 5 s): the retries end with it.
	conflicts.Store(1000)
	reqCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = store.ChangeSeat(reqCtx, q, nil, take)
	assert.Equal(t, licensing.CodeServiceUnavailable, licensing.ErrorCode(err), "%v", err)
	// Conflicts are other writers: the change waited for a turn among
	// them, so only the license's turn counters moved (and its turn was
	// marked served for the next writer).
	after := e.Dump(t)
	assert.Equal(t, withoutTurns(before), withoutTurns(after))
	for _, it := range after {
		if strings.Contains(it, `"type":"turn"`) {
			var q struct{ Issued, Served int }
			require.NoError(t, json.Unmarshal([]byte(it), &q))
			assert.Equal(t, q.Issued, q.Served, "the turn is not left open: %s", it)
		}
	}
}

// withoutTurns drops the turn items (the bookkeeping of contended seat
// changes) from a dump of the table.
func withoutTurns(dump []string) []string {
	return slices.DeleteFunc(slices.Clone(dump), func(it string) bool { return strings.Contains(it, `"type":"turn"`) })
}
