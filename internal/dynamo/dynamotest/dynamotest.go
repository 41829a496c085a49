// Package dynamotest runs the embedded DynamoDB-compatible engine (minidyn in
// its HTTP server mode) for tests, with the table of template.yaml, reached
// through the real AWS SDK client.
package dynamotest

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clsvc/license-service/internal/dev/localdb"
	"github.com/clsvc/license-service/internal/dev/stack"
	"github.com/clsvc/license-service/internal/dynamo"
)

// Engine is a running embedded engine with the service's table.
type Engine struct {
	Server *localdb.Engine // failure emulation: EmulateFailure, EmulateFailureForTable
	URL    string
	Client *dynamodb.Client
	Table  string
	Store  *dynamo.Store
}

// Start runs an engine for the test and creates the table; it stops with the test.
func Start(t testing.TB, opts ...func(*dynamodb.Options)) *Engine {
	t.Helper()
	srv := localdb.New()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	ctx := context.Background()
	// Two attempts: a transient loopback connection error is retried, and an
	// injected failure still shows after one retry.
	db, err := dynamo.NewClient(ctx, dynamo.ClientConfig{Endpoint: ts.URL, Region: "us-east-1", MaxAttempts: 2})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	if len(opts) > 0 {
		db = dynamodb.New(db.Options(), opts...)
	}
	tpl, err := stack.Load(TemplatePath(t))
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	const table = "licenses"
	if _, err := localdb.EnsureTable(ctx, db, table, tpl.Table); err != nil {
		t.Fatalf("table: %v", err)
	}
	return &Engine{Server: srv, URL: ts.URL, Client: db, Table: table, Store: dynamo.New(db, table)}
}

// TemplatePath finds template.yaml at the module root above the working directory.
func TemplatePath(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "template.yaml")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Dump returns every item of the table as sorted JSON lines, for asserting
// that a request changed nothing.
func (e *Engine) Dump(t testing.TB) []string {
	t.Helper()
	items := e.Scan(t, &dynamodb.ScanInput{TableName: &e.Table})
	lines := make([]string, 0, len(items))
	for _, it := range items {
		var m map[string]any
		if err := attributevalue.UnmarshalMap(it, &m); err != nil {
			t.Fatalf("decode: %v", err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		lines = append(lines, string(b))
	}
	sort.Strings(lines)
	return lines
}

// Scan reads every page of a scan; a scan that meets a broken connection is
// tried again a few times rather than failing the test.
func (e *Engine) Scan(t testing.TB, in *dynamodb.ScanInput) []map[string]types.AttributeValue {
	t.Helper()
	var err error
	for range 3 {
		var items []map[string]types.AttributeValue
		p := dynamodb.NewScanPaginator(e.Client, in)
		for p.HasMorePages() {
			var out *dynamodb.ScanOutput
			if out, err = p.NextPage(context.Background()); err != nil {
				break
			}
			items = append(items, out.Items...)
		}
		if err == nil {
			return items
		}
	}
	t.Fatalf("scan: %v", err)
	return nil
}
