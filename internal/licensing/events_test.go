package licensing

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every event the code can emit is documented in docs/events.md with an
// example whose event_type matches, and the document names no other event.
func TestEventCatalogueIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "events.md"))
	require.NoError(t, err)
	text := string(doc)
	headings := regexp.MustCompile("(?m)^### (\\w+)\n\n```json\n((?s:.*?))\n```").FindAllStringSubmatch(text, -1)
	documented := map[string]bool{}
	for _, h := range headings {
		var ex Event
		require.NoError(t, json.Unmarshal([]byte(h[2]), &ex), "example of %s is JSON", h[1])
		assert.Equal(t, EventType(h[1]), ex.Type, "example under %s", h[1])
		assert.Equal(t, EventVersion, ex.Version)
		assert.NotEmpty(t, ex.ID)
		assert.NotEmpty(t, ex.Brand)
		assert.NotEmpty(t, ex.Actor.Type)
		documented[h[1]] = true
	}
	for _, et := range EventTypes {
		assert.True(t, documented[string(et)], "%s has an example in docs/events.md", et)
		assert.Contains(t, text, "| `"+string(et)+"` |", "%s is in the catalogue table", et)
	}
	assert.Len(t, documented, len(EventTypes), "docs/events.md documents only real events")
	assert.NotContains(t, strings.ToUpper(text), "RM-7KQ2-XG4P", "no license key in any example")
}

func TestEventConstructors(t *testing.T) {
	k := KeyRecord{ID: "lk_1", Key: "RM-AAAA-BBBB-CCCC-DDDD", Brand: "rankmath", CustomerEmail: "a@b.co", CreatedAt: now}
	l := License{ID: "lic_1", Key: k.Key, Brand: "rankmath", ProductID: "prd_1", ProductSlug: "p", Status: StatusValid, SeatLimit: 2, SeatsUsed: 1, CreatedAt: now, UpdatedAt: now}
	evs := ProvisionedEvents(Provisioned{Key: k, Licenses: []License{l, l}}, Actor{Type: ActorCLI})
	require.Len(t, evs, 3)
	assert.Equal(t, EventLicenseKeyCreated, evs[0].Type)
	assert.Equal(t, EventLicenseProvisioned, evs[1].Type)
	assert.NotEqual(t, evs[1].ID, evs[2].ID, "each event has its own id")
	b, err := json.Marshal(evs[0])
	require.NoError(t, err)
	assert.NotContains(t, string(b), string(k.Key), "events never carry the license key")

	s := l
	s.Status, s.Reason = StatusSuspended, "why"
	e := TransitionEvent(ActionSuspend, k, s, ActorOf(Tenant{Brand: "rankmath", APIKeyID: "key_1"}))
	assert.Equal(t, EventLicenseSuspended, e.Type)
	assert.Equal(t, "why", e.Reason)
	assert.Equal(t, Actor{Type: ActorAPIKey, ID: "key_1"}, e.Actor)
	assert.Equal(t, StatusSuspended, e.License.Status)
	assert.Equal(t, EventLicenseRenewed, TransitionEvent(ActionRenew, k, l, Actor{}).Type)
	assert.Empty(t, TransitionEvent(ActionRenew, k, s, Actor{}).Reason, "a renewal carries no reason")

	act := Activation{ID: "act_1", Instance: Instance{Type: InstanceURL, ID: "example.com"}}
	seat := SeatEvent(EventSeatDeactivated, k, l, act, now, Actor{Type: ActorProduct})
	assert.Equal(t, "deactivated", seat.Activation.Status)
	assert.Equal(t, "act_1", seat.ActivationID)
	assert.Equal(t, 1, seat.License.SeatsUsed)
}
