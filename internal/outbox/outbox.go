// Package outbox is the one definition of the outbox's event items: the
// table items every state change writes in its own transaction, which the
// relay reads from the table's stream and publishes, the license history
// pages through, and the load audit counts. The store writes them, the
// relay and the audit read them; all three take the format from here.
//
//	BRAND#<brand>#LICEVT#<license id> / EVT#<time>#<n>#<event id>   a license's event (its history)
//	BRAND#<brand>#EVT                 / EVT#<time>#<n>#<event id>   a brand's other events
//
// <time> is the event's time, fixed width so that it sorts as a string; <n>
// is the event's position in its transaction, which orders the events of
// one instant.
package outbox

import (
	"fmt"
	"strings"
	"time"
)

// Attribute names of an event item.
const (
	AttrPK         = "pk"
	AttrSK         = "sk"
	AttrType       = "type"
	AttrEventID    = "event_id"
	AttrEventType  = "event_type"
	AttrBrand      = "brand"
	AttrOccurredAt = "occurred_at" // RFC 3339 with nanoseconds
	AttrDetail     = "detail"      // the event as a JSON object
	AttrTTL        = "ttl"
)

// ItemType is the value of the type attribute of event items.
const ItemType = "event"

// SortKeyPrefix starts the sort key of every event item.
const SortKeyPrefix = "EVT#"

// licenseMarker separates the brand from the license id in a license's
// event partition key.
const licenseMarker = "#LICEVT#"

// Retention is how long event items stay (their ttl): long enough for the
// relay (the stream keeps records 24 hours) and for the license history.
const Retention = 400 * 24 * time.Hour

// Item is an event item as stored.
type Item struct {
	PK         string `dynamodbav:"pk"`
	SK         string `dynamodbav:"sk"`
	Type       string `dynamodbav:"type"`
	EventID    string `dynamodbav:"event_id"`
	EventType  string `dynamodbav:"event_type"`
	Brand      string `dynamodbav:"brand"`
	OccurredAt string `dynamodbav:"occurred_at"`
	Detail     string `dynamodbav:"detail"`
	TTL        int64  `dynamodbav:"ttl"`
}

// NewItem is the item of an event: of the license licenseID (or of the
// brand, when it is empty), the n-th of its transaction.
func NewItem(brand, licenseID, eventID, eventType string, at time.Time, n int, detail []byte) Item {
	pk := BrandPK(brand)
	if licenseID != "" {
		pk = LicensePK(brand, licenseID)
	}
	return Item{
		PK: pk, SK: fmt.Sprintf("%s%s#%02d#%s", SortKeyPrefix, Sortable(at), n, eventID), Type: ItemType,
		EventID: eventID, EventType: eventType, Brand: brand, OccurredAt: at.UTC().Format(time.RFC3339Nano),
		Detail: string(detail), TTL: at.Add(Retention).Unix(),
	}
}

// LicensePK is the partition of a license's events.
func LicensePK(brand, licenseID string) string { return "BRAND#" + brand + licenseMarker + licenseID }

// BrandPK is the partition of a brand's events that belong to no license.
func BrandPK(brand string) string { return "BRAND#" + brand + "#EVT" }

// LicenseOf is the license id of an event item's partition key, if it is a
// license's.
func LicenseOf(pk string) (string, bool) {
	_, id, ok := strings.Cut(pk, licenseMarker)
	return id, ok
}

// Sortable is a fixed-width UTC time that sorts as a string.
func Sortable(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }
