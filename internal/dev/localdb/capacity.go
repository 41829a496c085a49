package localdb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
)

// Consumed capacity, as DynamoDB accounts it, for the requests that ask for
// it (ReturnConsumedCapacity TOTAL or INDEXES). The embedded engine does not
// account capacity, so Engine does, from the items each call reads or
// writes, by DynamoDB's published rules:
//
//   - a read unit is one strongly consistent read of up to 4 KB (half a unit
//     eventually consistent); GetItem and each item of a BatchGetItem are
//     rounded up on their own, an item that does not exist still costs the
//     minimum; a Query or Scan rounds up the summed size of the items it
//     returns;
//   - a write unit is one write of up to 1 KB, of the larger of the item
//     before and after the write;
//   - a transaction costs twice: two write units a KB for each write, two
//     read units per 4 KB for each condition check.
//
// Only the table's own capacity is counted, not its indexes', and a filtered
// Query or Scan is counted on what it returns, not on what it evaluated.
type capacity struct {
	Table     string  `json:"TableName"`
	Units     float64 `json:"CapacityUnits"`
	ReadUnits float64 `json:"ReadCapacityUnits,omitempty"`
	Write     float64 `json:"WriteCapacityUnits,omitempty"`
}

type item = map[string]json.RawMessage

type capacityRequest struct {
	ReturnConsumedCapacity string
	TableName              string
	ConsistentRead         bool
	Key                    item
	Item                   item
	RequestItems           json.RawMessage
	TransactItems          []struct {
		ConditionCheck, Put, Delete, Update *struct {
			TableName string
			Key, Item item
		}
	}
}

// serveWithCapacity serves r and adds ConsumedCapacity to a successful answer
// when the request asks for it. It is called with the read lock held.
func (e *Engine) serveWithCapacity(w http.ResponseWriter, r *http.Request, op string) {
	body, err := readBody(r)
	var req capacityRequest
	if err != nil || json.Unmarshal(body, &req) != nil || req.ReturnConsumedCapacity == "" || req.ReturnConsumedCapacity == "NONE" {
		e.srv.ServeHTTP(w, r)
		return
	}
	// Writes are charged on the larger of the item before and after.
	var before []float64
	var written []writeRef
	if op == "PutItem" || op == "UpdateItem" || op == "DeleteItem" || op == "TransactWriteItems" {
		written = e.writeRefs(op, req)
		for _, ref := range written {
			before = append(before, e.itemSize(ref.table, ref.key))
		}
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, r)
	out := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		if cc, list := e.consumed(op, req, out, written, before); cc != nil {
			out = withConsumed(out, cc, list)
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(out)
}

type writeRef struct {
	table string
	key   item
	check bool // a condition check: read units
}

// writeRefs are the items a write touches, by table and key.
func (e *Engine) writeRefs(op string, req capacityRequest) []writeRef {
	if op != "TransactWriteItems" {
		key := req.Key
		if key == nil {
			key = e.keyOf(req.TableName, req.Item)
		}
		return []writeRef{{table: req.TableName, key: key}}
	}
	var refs []writeRef
	for _, t := range req.TransactItems {
		switch {
		case t.ConditionCheck != nil:
			refs = append(refs, writeRef{table: t.ConditionCheck.TableName, key: t.ConditionCheck.Key, check: true})
		case t.Put != nil:
			refs = append(refs, writeRef{table: t.Put.TableName, key: e.keyOf(t.Put.TableName, t.Put.Item)})
		case t.Delete != nil:
			refs = append(refs, writeRef{table: t.Delete.TableName, key: t.Delete.Key})
		case t.Update != nil:
			refs = append(refs, writeRef{table: t.Update.TableName, key: t.Update.Key})
		}
	}
	return refs
}

// consumed is the capacity of a successful call: one entry, or a list (the
// batch and transaction calls answer a list).
func (e *Engine) consumed(op string, req capacityRequest, out []byte, written []writeRef, before []float64) (*capacity, bool) {
	var resp struct {
		Item      item
		Items     []item
		Responses map[string][]item
	}
	_ = json.Unmarshal(out, &resp)
	half := func(consistent bool) float64 {
		if consistent {
			return 1
		}
		return 0.5
	}
	switch op {
	case "GetItem":
		u := readUnits(size(resp.Item)) * half(req.ConsistentRead)
		return &capacity{Table: req.TableName, Units: u, ReadUnits: u}, false
	case "Query", "Scan":
		total := 0.0
		for _, it := range resp.Items {
			total += size(it)
		}
		u := readUnits(total) * half(req.ConsistentRead)
		return &capacity{Table: req.TableName, Units: u, ReadUnits: u}, false
	case "BatchGetItem":
		var asked map[string]struct {
			Keys           []item
			ConsistentRead bool
		}
		_ = json.Unmarshal(req.RequestItems, &asked)
		for table, a := range asked { // one table per call in this service
			got := resp.Responses[table]
			u := 0.0
			for _, it := range got {
				u += readUnits(size(it))
			}
			u += float64(max(len(a.Keys)-len(got), 0)) // each missing item: the minimum
			u *= half(a.ConsistentRead)
			return &capacity{Table: table, Units: u, ReadUnits: u}, true
		}
	case "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems":
		c := &capacity{}
		for i, ref := range written {
			c.Table = ref.table
			sz := math.Max(before[i], e.itemSize(ref.table, ref.key))
			if ref.check {
				c.ReadUnits += 2 * readUnits(sz)
				continue
			}
			u := writeUnits(sz)
			if op == "TransactWriteItems" {
				u *= 2
			}
			c.Write += u
		}
		c.Units = c.ReadUnits + c.Write
		return c, op == "TransactWriteItems"
	}
	return nil, false
}

func readUnits(size float64) float64  { return math.Max(1, math.Ceil(size/4096)) }
func writeUnits(size float64) float64 { return math.Max(1, math.Ceil(size/1024)) }

// withConsumed adds ConsumedCapacity to a JSON answer.
func withConsumed(out []byte, c *capacity, list bool) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(out, &m) != nil {
		return out
	}
	var v any = c
	if list {
		v = []*capacity{c}
	}
	raw, _ := json.Marshal(v)
	m["ConsumedCapacity"] = raw
	b, err := json.Marshal(m)
	if err != nil {
		return out
	}
	return b
}

// itemSize reads an item's current size (0 when there is none) from the
// engine itself.
func (e *Engine) itemSize(table string, key item) float64 {
	if key == nil {
		return 0
	}
	body, _ := json.Marshal(map[string]any{"TableName": table, "Key": key, "ConsistentRead": true})
	var out struct{ Item item }
	if e.call("GetItem", body, &out) != nil {
		return 0
	}
	return size(out.Item)
}

// keyOf is an item's primary key, by the table's key schema.
func (e *Engine) keyOf(table string, it item) item {
	e.keyMu.Lock()
	names, ok := e.keys[table]
	e.keyMu.Unlock()
	if !ok {
		body, _ := json.Marshal(map[string]string{"TableName": table})
		var out struct {
			Table struct {
				KeySchema []struct{ AttributeName string }
			}
		}
		if e.call("DescribeTable", body, &out) != nil {
			return nil
		}
		for _, k := range out.Table.KeySchema {
			names = append(names, k.AttributeName)
		}
		e.keyMu.Lock()
		e.keys[table] = names
		e.keyMu.Unlock()
	}
	key := item{}
	for _, n := range names {
		key[n] = it[n]
	}
	return key
}

// call makes one API call on the engine itself.
func (e *Engine) call(op string, body []byte, out any) error {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		return errCall
	}
	return json.Unmarshal(rec.Body.Bytes(), out)
}

var errCall = errors.New("engine call failed")

// size is an item's size as DynamoDB counts it: each attribute's name in
// UTF-8 bytes plus its value's size.
func size(it item) float64 {
	total := 0.0
	for name, v := range it {
		total += float64(len(name)) + valueSize(v)
	}
	return total
}

// valueSize is the size of one attribute value in the JSON wire format: a
// string's UTF-8 bytes, a number's about one byte per two digits plus one,
// a binary's bytes, 1 for a boolean or null, and for lists and maps 3 bytes
// plus their elements (with each map key's name) plus one byte each.
func valueSize(raw json.RawMessage) float64 {
	var v map[string]json.RawMessage
	if json.Unmarshal(raw, &v) != nil {
		return 0
	}
	for typ, val := range v {
		switch typ {
		case "S":
			var s string
			_ = json.Unmarshal(val, &s)
			return float64(len(s))
		case "N":
			var n string
			_ = json.Unmarshal(val, &n)
			return numberSize(n)
		case "B":
			var b string
			_ = json.Unmarshal(val, &b)
			d, _ := base64.StdEncoding.DecodeString(b)
			return float64(len(d))
		case "BOOL", "NULL":
			return 1
		case "SS", "NS", "BS":
			var xs []string
			_ = json.Unmarshal(val, &xs)
			t := 0.0
			for _, x := range xs {
				switch typ {
				case "NS":
					t += numberSize(x)
				case "BS":
					d, _ := base64.StdEncoding.DecodeString(x)
					t += float64(len(d))
				default:
					t += float64(len(x))
				}
			}
			return t
		case "L":
			var xs []json.RawMessage
			_ = json.Unmarshal(val, &xs)
			t := 3.0
			for _, x := range xs {
				t += valueSize(x) + 1
			}
			return t
		case "M":
			var m map[string]json.RawMessage
			_ = json.Unmarshal(val, &m)
			t := 3.0
			for k, x := range m {
				t += float64(len(k)) + valueSize(x) + 1
			}
			return t
		}
	}
	return 0
}

func numberSize(n string) float64 {
	digits := strings.TrimLeft(strings.NewReplacer("-", "", ".", "").Replace(n), "0")
	return float64(len(digits)+1)/2 + 1
}

// readBody reads a request's body and puts it back for the engine.
func readBody(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, err
	}
	_ = r.Body.Close()
	r.Body = readCloser{bytes.NewReader(buf.Bytes())}
	return buf.Bytes(), nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
