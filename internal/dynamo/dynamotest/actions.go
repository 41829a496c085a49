package dynamotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Action is an IAM action a DynamoDB request needs, on the resource it
// needs it on: "table/<name>" or "table/<name>/index/<index>".
type Action struct {
	Name     string // e.g. "dynamodb:PutItem"
	Resource string
}

func (a Action) String() string { return a.Name + " on " + a.Resource }

// Actions records the IAM actions of the DynamoDB requests that pass
// through it, as IAM authorizes them: one action per operation, except that
// a transaction is authorized item by item (TransactWriteItems needs
// dynamodb:PutItem for each Put, dynamodb:UpdateItem for each Update,
// dynamodb:DeleteItem for each Delete and dynamodb:ConditionCheckItem for
// each ConditionCheck; TransactGetItems needs dynamodb:GetItem), and a Query
// or Scan of an index needs the action on the index. It sits in front of the
// engine as an HTTP handler (Wrap), so that it sees what any client sends:
// point a function's DYNAMODB_ENDPOINT at it.
type Actions struct {
	mu   sync.Mutex
	seen map[Action]int
	bad  []string
}

// NewActions returns an empty recorder.
func NewActions() *Actions { return &Actions{seen: map[Action]int{}} }

// Wrap records every request's actions, then hands it to next.
func (a *Actions) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		acts, err := IAMActions(r.Header.Get("X-Amz-Target"), body)
		a.mu.Lock()
		if err != nil {
			a.bad = append(a.bad, err.Error())
		}
		for _, act := range acts {
			a.seen[act]++
		}
		a.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Reset forgets what was recorded.
func (a *Actions) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = map[Action]int{}
	a.bad = nil
}

// Seen returns the actions recorded since the last Reset, sorted.
func (a *Actions) Seen() []Action {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Action, 0, len(a.seen))
	for act := range a.seen {
		out = append(out, act)
	}
	slices.SortFunc(out, func(x, y Action) int { return strings.Compare(x.String(), y.String()) })
	return out
}

// Unreadable lists the requests whose actions could not be told.
func (a *Actions) Unreadable() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.bad)
}

// request is the part of a DynamoDB request body that decides its actions.
type request struct {
	TableName     string
	IndexName     string
	TransactItems []map[string]struct{ TableName string }
	RequestItems  map[string]json.RawMessage
}

// transactItemActions maps the kinds of transaction items to the actions
// IAM checks for them.
var transactItemActions = map[string]string{
	"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem",
}

// IAMActions returns the actions of one DynamoDB request, given its
// X-Amz-Target header (DynamoDB_20120810.<Operation>) and JSON body.
func IAMActions(target string, body []byte) ([]Action, error) {
	service, op, ok := strings.Cut(target, ".")
	if !ok || !strings.HasPrefix(service, "DynamoDB_") || op == "" {
		return nil, fmt.Errorf("not a DynamoDB request: X-Amz-Target %q", target)
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("%s: body: %w", op, err)
	}
	table := func(name string) string { return "table/" + name }
	switch op {
	case "TransactWriteItems", "TransactGetItems":
		var out []Action
		for i, item := range req.TransactItems {
			if len(item) != 1 {
				return nil, fmt.Errorf("%s: item %d has %d kinds", op, i, len(item))
			}
			for kind, v := range item {
				name, ok := transactItemActions[kind]
				if !ok {
					return nil, fmt.Errorf("%s: item %d of unknown kind %q", op, i, kind)
				}
				out = append(out, Action{"dynamodb:" + name, table(v.TableName)})
			}
		}
		return out, nil
	case "BatchGetItem", "BatchWriteItem":
		var out []Action
		for name := range req.RequestItems {
			out = append(out, Action{"dynamodb:" + op, table(name)})
		}
		return out, nil
	}
	if req.TableName == "" {
		return nil, fmt.Errorf("%s: no TableName", op)
	}
	res := table(req.TableName)
	if req.IndexName != "" {
		res += "/index/" + req.IndexName
	}
	return []Action{{"dynamodb:" + op, res}}, nil
}
