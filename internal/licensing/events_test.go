package licensing

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

	// EventTypes is kept by hand: every constant of type EventType in the
	// package's source is in it (and so documented), and it holds nothing else.
	declared := eventTypeConstants(t, ".")
	require.NotEmpty(t, declared)
	listed := map[string]bool{}
	for _, et := range EventTypes {
		assert.False(t, listed[string(et)], "%s is listed twice in EventTypes", et)
		listed[string(et)] = true
	}
	for name, value := range declared {
		assert.True(t, listed[value], "the constant %s (%q) is not in EventTypes", name, value)
		assert.True(t, documented[value], "the constant %s (%q) has no example in docs/events.md", name, value)
	}
	values := map[string]bool{}
	for _, v := range declared {
		values[v] = true
	}
	for _, et := range EventTypes {
		assert.True(t, values[string(et)], "EventTypes lists %s, which no EventType constant declares", et)
	}
}

// eventTypeConstants parses the package's Go source (tests excluded) and
// returns every constant of type EventType by name, with its value: those
// declared with the type (X EventType = "…", also implied by an earlier
// spec of the same const block) or converted to it (X = EventType("…")).
func eventTypeConstants(t *testing.T, dir string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	out := map[string]string{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			var blockType ast.Expr // the type an implicit spec repeats
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				typ := vs.Type
				if typ == nil && len(vs.Values) == 0 {
					typ = blockType
				} else {
					blockType = vs.Type
				}
				for i, name := range vs.Names {
					var value ast.Expr
					if i < len(vs.Values) {
						value = vs.Values[i]
					}
					conv, isConv := value.(*ast.CallExpr)
					isConv = isConv && isEventTypeIdent(conv.Fun) && len(conv.Args) == 1
					if !isEventTypeIdent(typ) && !isConv {
						continue
					}
					if isConv {
						value = conv.Args[0]
					}
					lit, ok := value.(*ast.BasicLit)
					require.True(t, ok && lit.Kind == token.STRING, "%s: the EventType constant %s is not a string literal; teach this test to read it",
						fset.Position(name.Pos()), name.Name)
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					out[name.Name] = v
				}
			}
		}
	}
	return out
}

func isEventTypeIdent(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "EventType"
}

// The source scan of TestEventCatalogueIsDocumented finds constants however
// they are declared, so a new one cannot slip past it.
func TestEventTypeConstantsScan(t *testing.T) {
	dir := t.TempDir()
	src := `package licensing

type EventType string

const (
	A EventType = "A"
	B           = EventType("B")
	Other       = "not an event"
)

const C, D EventType = "C", "D"

var NotAConstant EventType = "V"
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x_test.go"), []byte("package licensing\n\nconst T EventType = \"T\"\n"), 0o600))
	assert.Equal(t, map[string]string{"A": "A", "B": "B", "C": "C", "D": "D"}, eventTypeConstants(t, dir))

	got := eventTypeConstants(t, ".")
	assert.Equal(t, string(EventSeatReclaimed), got["EventSeatReclaimed"])
	assert.Len(t, got, len(EventTypes))
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
