package localdb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The embedded engine has no DynamoDB Streams. In their place the engine
// hands over the event items that each successful write put (PutItem,
// TransactWriteItems, BatchWriteItem) to the function set with
// OnEventItems, as they commit: the local relay is fed by the writes
// themselves, the way the table's stream feeds the relay in AWS, and never
// looks at the table to find them. Writes that carry event items take
// turns, so they are handed over in commit order.

// EventItems receives the event items of one committed write. It is called
// while the write still holds the engine's write turn: it must not block
// (queue them, and return).
type EventItems func(items []map[string]types.AttributeValue)

// OnEventItems sets the receiver of committed event items (nil: none).
func (e *Engine) OnEventItems(fn EventItems) {
	if fn == nil {
		e.feed.Store(nil)
		return
	}
	e.feed.Store(&fn)
}

// eventMarker is how an event item's type reads on the wire; a write
// without it carries no event and is served as it is.
var eventMarker = []byte(`{"S":"event"}`)

// serveFed serves a write and, when it succeeds, hands its event items to
// the feed. It answers false when r is not a write carrying event items
// (nothing is served then).
func (e *Engine) serveFed(w http.ResponseWriter, r *http.Request, op string, feed EventItems) bool {
	if op != "PutItem" && op != "TransactWriteItems" && op != "BatchWriteItem" {
		return false
	}
	body, err := readBody(r)
	if err != nil || !bytes.Contains(body, eventMarker) {
		return false
	}
	e.writeTurn.Lock()
	defer e.writeTurn.Unlock()
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	e.serveWithCapacity(sw, r, op)
	if sw.code != http.StatusOK {
		return true
	}
	if items := eventItemsOf(op, body); len(items) > 0 {
		feed(items)
	}
	return true
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// eventItemsOf reads the event items a write puts, in the request's order.
func eventItemsOf(op string, body []byte) []map[string]types.AttributeValue {
	var req struct {
		Item          map[string]json.RawMessage
		TransactItems []struct {
			Put *struct{ Item map[string]json.RawMessage }
		}
		RequestItems map[string][]struct {
			PutRequest *struct{ Item map[string]json.RawMessage }
		}
	}
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	var wire []map[string]json.RawMessage
	switch op {
	case "PutItem":
		wire = append(wire, req.Item)
	case "TransactWriteItems":
		for _, t := range req.TransactItems {
			if t.Put != nil {
				wire = append(wire, t.Put.Item)
			}
		}
	case "BatchWriteItem":
		for _, reqs := range req.RequestItems {
			for _, w := range reqs {
				if w.PutRequest != nil {
					wire = append(wire, w.PutRequest.Item)
				}
			}
		}
	}
	var out []map[string]types.AttributeValue
	for _, it := range wire {
		if !bytes.Equal(it["type"], eventMarker) {
			continue
		}
		item, err := fromWire(it)
		if err != nil {
			continue // the engine took it, so it is well formed; be safe
		}
		out = append(out, item)
	}
	return out
}

// fromWire decodes an item from DynamoDB's JSON wire format.
func fromWire(item map[string]json.RawMessage) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, len(item))
	for name, raw := range item {
		v, err := valueFromWire(raw)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

func valueFromWire(raw json.RawMessage) (types.AttributeValue, error) {
	var v struct {
		S    *string
		N    *string
		B    *string
		BOOL *bool
		NULL *bool
		M    map[string]json.RawMessage
		L    []json.RawMessage
		SS   []string
		NS   []string
		BS   []string
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	switch {
	case v.S != nil:
		return &types.AttributeValueMemberS{Value: *v.S}, nil
	case v.N != nil:
		return &types.AttributeValueMemberN{Value: *v.N}, nil
	case v.B != nil:
		b, err := base64.StdEncoding.DecodeString(*v.B)
		return &types.AttributeValueMemberB{Value: b}, err
	case v.BOOL != nil:
		return &types.AttributeValueMemberBOOL{Value: *v.BOOL}, nil
	case v.NULL != nil:
		return &types.AttributeValueMemberNULL{Value: *v.NULL}, nil
	case v.M != nil:
		m, err := fromWire(v.M)
		return &types.AttributeValueMemberM{Value: m}, err
	case v.L != nil:
		l := make([]types.AttributeValue, len(v.L))
		for i, e := range v.L {
			x, err := valueFromWire(e)
			if err != nil {
				return nil, err
			}
			l[i] = x
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case v.SS != nil:
		return &types.AttributeValueMemberSS{Value: v.SS}, nil
	case v.NS != nil:
		return &types.AttributeValueMemberNS{Value: v.NS}, nil
	case v.BS != nil:
		bs := make([][]byte, len(v.BS))
		for i, s := range v.BS {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, err
			}
			bs[i] = b
		}
		return &types.AttributeValueMemberBS{Value: bs}, nil
	}
	return nil, fmt.Errorf("unknown attribute value %s", raw)
}
