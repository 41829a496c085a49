package loadtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/clsvc/license-service/internal/outbox"
)

// tableScan is what the audit needs from one full scan of the table.
type tableScan struct {
	items       int
	pages       int
	events      map[string]int64            // event_type → count
	licEvents   map[string]map[string]int64 // license id → event_type → count
	licenses    map[string]licenseItem      // pk|product → license
	activations map[string]int64            // pk|product → activation items
	nonProd     map[string]int64            // pk|product → staging and local activation items
}

type licenseItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	LicenseID string `dynamodbav:"license_id"`
	Product   string `dynamodbav:"product_slug"`
	Status    string `dynamodbav:"status"`
	SeatLimit *int64 `dynamodbav:"seat_limit"`
	SeatsUsed *int64 `dynamodbav:"seats_used"`
	NonProd   int64  `dynamodbav:"nonprod_used"`
}

type anyItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Type      string `dynamodbav:"type"`
	EventType string `dynamodbav:"event_type"`
	Env       string `dynamodbav:"environment"`
}

// scanPage is the page size of the audit's scans (DynamoDB also ends a page
// at 1 MB); the paginator follows LastEvaluatedKey to the last page.
const scanPage = 1000

// scanTable reads every item of the table (strongly consistent, every page).
func scanTable(ctx context.Context, db *dynamodb.Client, table string) (*tableScan, error) {
	s := &tableScan{
		events: map[string]int64{}, licEvents: map[string]map[string]int64{},
		licenses: map[string]licenseItem{}, activations: map[string]int64{}, nonProd: map[string]int64{},
	}
	pages := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true), Limit: aws.Int32(scanPage)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		s.pages++
		for _, raw := range page.Items {
			s.items++
			var it anyItem
			if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
				return nil, fmt.Errorf("item %d: %w", s.items, err)
			}
			switch {
			case it.Type == outbox.ItemType:
				s.events[it.EventType]++
				if id, ok := outbox.LicenseOf(it.PK); ok {
					if s.licEvents[id] == nil {
						s.licEvents[id] = map[string]int64{}
					}
					s.licEvents[id][it.EventType]++
				}
			case strings.HasPrefix(it.PK, "KEY#") && strings.HasPrefix(it.SK, "LIC#"):
				var l licenseItem
				if err := attributevalue.UnmarshalMap(raw, &l); err != nil {
					return nil, fmt.Errorf("license item %s %s: %w", it.PK, it.SK, err)
				}
				s.licenses[it.PK+"|"+strings.TrimPrefix(it.SK, "LIC#")] = l
			case strings.HasPrefix(it.PK, "KEY#") && strings.HasPrefix(it.SK, "ACT#"):
				product, _, _ := strings.Cut(strings.TrimPrefix(it.SK, "ACT#"), "#")
				if it.Env != "" && it.Env != "production" {
					s.nonProd[it.PK+"|"+product]++ // staging and local sites take no seat
					continue
				}
				s.activations[it.PK+"|"+product]++
			}
		}
	}
	return s, nil
}

// invariants checks every license of the table: seats_used equals its
// production activation items, 0 ≤ seats_used ≤ seat_limit; nonprod_used
// equals its staging and local activation items, 0 ≤ nonprod_used ≤
// stagingCap; and every activation belongs to a license.
func (s *tableScan) invariants(stagingCap int64) []string {
	var v []string
	for _, id := range slices.Sorted(maps.Keys(s.licenses)) {
		l := s.licenses[id]
		where := fmt.Sprintf("%s %s (%s)", maskKey(l.PK), l.SK, l.LicenseID)
		if l.SeatsUsed == nil || l.SeatLimit == nil {
			v = append(v, where+": seats_used or seat_limit missing")
			continue
		}
		used, limit, acts := *l.SeatsUsed, *l.SeatLimit, s.activations[id]
		if used != acts {
			v = append(v, fmt.Sprintf("%s: seats_used %d but %d activation items", where, used, acts))
		}
		if used < 0 || used > limit {
			v = append(v, fmt.Sprintf("%s: seats_used %d outside 0..seat_limit %d", where, used, limit))
		}
		if l.NonProd != s.nonProd[id] {
			v = append(v, fmt.Sprintf("%s: nonprod_used %d but %d staging and local activation items", where, l.NonProd, s.nonProd[id]))
		}
		if l.NonProd < 0 || l.NonProd > stagingCap {
			v = append(v, fmt.Sprintf("%s: nonprod_used %d outside 0..staging cap %d", where, l.NonProd, stagingCap))
		}
	}
	for _, kind := range []struct {
		items map[string]int64
		what  string
	}{{s.activations, "activation items"}, {s.nonProd, "staging and local activation items"}} {
		for _, id := range slices.Sorted(maps.Keys(kind.items)) {
			if _, ok := s.licenses[id]; !ok {
				pk, product, _ := strings.Cut(id, "|")
				v = append(v, fmt.Sprintf("%s: %d %s of product %s without a license", maskKey(pk), kind.items[id], kind.what, product))
			}
		}
	}
	return v
}

// maskKey shortens KEY#RM-ABCD-EFGH-JKLM-NPQR to KEY#RM-ABCD-…-NPQR.
func maskKey(pk string) string {
	if len(pk) > 24 {
		return pk[:12] + "…" + pk[len(pk)-4:]
	}
	return pk
}

// EventCheck compares the events of one phase with what the generator saw
// succeed.
type EventCheck struct {
	Type     string
	Expected int64 // confirmed by the answers (201/200) in that phase
	Found    int64 // new event items in the table in that phase
}

// Audit is the result of the checks after the run.
type Audit struct {
	Items, Pages     int
	Licenses         int          // license items in the table
	Activations      int64        // production activation items in the table
	NonProd          int64        // staging and local activation items in the table
	Violations       []string     // table invariants
	FleetViolations  []string     // the generator's licenses against its own record
	SetupEvents      []EventCheck // events written during setup
	LoadEvents       []EventCheck // events written during the timed phase
	EventMismatches  []string
	LicensesAudited  int   // the generator's licenses checked one by one
	LicensesTouched  int   // of which have events besides their provisioning (setup or load)
	ActiveSeatsFinal int64 // production seats the generator's licenses hold
	NonProdFinal     int64 // staging and local places they hold
}

// OK reports whether every check passed.
func (a Audit) OK() bool {
	return len(a.Violations) == 0 && len(a.FleetViolations) == 0 && len(a.EventMismatches) == 0
}

var trackedEvents = []string{evKeyCreated, evProvisioned, evActivated, evDeactivated, evMoved, evSuspended, evResumed, evRenewed}

func compareEvents(phase string, before, after *tableScan, want map[string]int64) ([]EventCheck, []string) {
	types := map[string]bool{}
	for _, t := range trackedEvents {
		types[t] = true
	}
	for t := range after.events {
		types[t] = true
	}
	var checks []EventCheck
	var bad []string
	ordered := append([]string(nil), trackedEvents...)
	for _, t := range slices.Sorted(maps.Keys(types)) {
		if !slices.Contains(trackedEvents, t) {
			ordered = append(ordered, t)
		}
	}
	for _, t := range ordered {
		c := EventCheck{Type: t, Expected: want[t], Found: after.events[t] - before.events[t]}
		checks = append(checks, c)
		if c.Expected != c.Found {
			bad = append(bad, fmt.Sprintf("%s: %d %s events written, %d state changes confirmed", phase, c.Found, t, c.Expected))
		}
	}
	return checks, bad
}

// audit runs every check on the three scans: before setup, after setup and
// after the load.
func (g *generator) audit(before, afterSetup, after *tableScan) Audit {
	a := Audit{Items: after.items, Pages: after.pages, Licenses: len(after.licenses)}
	for _, n := range after.activations {
		a.Activations += n
	}
	for _, n := range after.nonProd {
		a.NonProd += n
	}
	a.Violations = after.invariants(int64(g.cfg.StagingCap))
	var bad []string
	a.SetupEvents, bad = compareEvents("setup", before, afterSetup, g.setupTally.events())
	a.EventMismatches = append(a.EventMismatches, bad...)
	a.LoadEvents, bad = compareEvents("load", afterSetup, after, g.loadTally.events())
	a.EventMismatches = append(a.EventMismatches, bad...)

	// Each license the generator provisioned: its seats and its history
	// against the changes the generator saw succeed on it.
	for _, l := range g.fleet.all() {
		a.LicensesAudited++
		id := "KEY#" + l.key + "|" + l.product
		item, ok := after.licenses[id]
		if !ok {
			a.FleetViolations = append(a.FleetViolations, fmt.Sprintf("license %s (%s) is not in the table", l.id, l.product))
			continue
		}
		prod, nonprod := l.prodItems.Load(), l.nonprodItems.Load()
		a.ActiveSeatsFinal += prod
		a.NonProdFinal += nonprod
		if after.activations[id] != prod || after.nonProd[id] != nonprod {
			a.FleetViolations = append(a.FleetViolations, fmt.Sprintf("license %s: %d production and %d staging/local activation items, but %d and %d confirmed (%d activations, %d deactivations, %d moves)",
				l.id, after.activations[id], after.nonProd[id], prod, nonprod, l.activated.Load(), l.deactivated.Load(), l.moved.Load()))
		}
		if item.LicenseID != l.id {
			a.FleetViolations = append(a.FleetViolations, fmt.Sprintf("license %s: the table holds id %s", l.id, item.LicenseID))
		}
		ev := after.licEvents[l.id]
		want := map[string]int64{
			evProvisioned: 1, evActivated: l.activated.Load(), evDeactivated: l.deactivated.Load(), evMoved: l.moved.Load(),
			evSuspended: l.suspends.Load(), evResumed: l.resumes.Load(), evRenewed: l.renewals.Load(),
		}
		touched := false
		for _, t := range slices.Sorted(maps.Keys(ev)) {
			if _, ok := want[t]; !ok {
				want[t] = 0
			}
		}
		for _, t := range slices.Sorted(maps.Keys(want)) {
			if ev[t] != want[t] {
				a.FleetViolations = append(a.FleetViolations, fmt.Sprintf("license %s: %d %s events, %d confirmed", l.id, ev[t], t, want[t]))
			}
			if t != evProvisioned && ev[t] > 0 {
				touched = true
			}
		}
		if touched {
			a.LicensesTouched++
		}
	}
	return a
}
