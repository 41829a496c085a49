// Package stack reads the parts of the AWS SAM template (template.yaml) that
// the service needs at run time and in tests: the Lambda functions with their
// API routes, and the single DynamoDB table.
//
// The template is parsed into a yaml.Node tree, so CloudFormation short tags
// (!Ref, !Sub, !GetAtt, !If, ...) are accepted anywhere. A field that is read
// as a string but holds a tagged value (or any other non-literal, such as a
// long-form {"Fn::Sub": ...} mapping) is treated as "not a literal": string
// fields are left empty and map entries are skipped. The exceptions, where a
// literal is required, are documented on the fields concerned.
package stack

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Resource types this package understands. Every other resource is ignored.
const (
	typeFunction = "AWS::Serverless::Function"
	typeTable    = "AWS::DynamoDB::Table"
)

// Sentinel errors, wrapped by the errors Parse and Load return.
var (
	// ErrMissingUseCase is returned when an AWS::Serverless::Function has no
	// literal USE_CASE environment variable.
	ErrMissingUseCase = errors.New("missing literal USE_CASE environment variable")
	// ErrTableCount is returned when the template does not declare exactly
	// one AWS::DynamoDB::Table.
	ErrTableCount = errors.New("template must declare exactly one " + typeTable)
)

// Template is the subset of a SAM template used by the service.
type Template struct {
	// Functions lists the AWS::Serverless::Function resources in the
	// document order of Resources.
	Functions []Function
	// Table is the template's single AWS::DynamoDB::Table.
	Table Table
	// Globals holds the literal values of
	// Globals.Function.Environment.Variables; tagged values are skipped.
	// It is nil when there are none.
	Globals map[string]string
}

// Function is an AWS::Serverless::Function resource.
type Function struct {
	LogicalID string
	// UseCase is Properties.Environment.Variables.USE_CASE. It must be a
	// literal: Parse fails with ErrMissingUseCase otherwise.
	UseCase string
	// CodeURI is Properties.CodeUri when it is a literal string.
	CodeURI string
	// Handler is Properties.Handler when it is a literal string.
	Handler string
	// Environment holds the function's own literal environment variables
	// (USE_CASE included, Globals not merged in). Nil when there are none.
	Environment map[string]string
	// Policies names what Properties.Policies grants, in order: SAM policy
	// templates (e.g. "DynamoDBReadPolicy"), literal managed policy names or
	// ARNs, and "inline" for each policy document given with a Statement.
	// Tagged entries (e.g. !Sub "arn:...") are skipped.
	Policies []string
	// Routes are the Properties.Events entries of Type Api, in document
	// order.
	Routes []Route
}

// Route is an API Gateway (REST API) event of a function.
type Route struct {
	// EventName is the event's key under Properties.Events.
	EventName string
	// Method is the upper-cased HTTP method, e.g. "GET" or "ANY".
	Method string
	// Path is the resource path, e.g. /api/v1/brand/licenses/{id}.
	Path string
	// ApiKeyRequired is Properties.Auth.ApiKeyRequired; a tagged value reads
	// as false.
	ApiKeyRequired bool
}

// FunctionRoute is a Route together with the function serving it.
type FunctionRoute struct {
	UseCase   string
	LogicalID string
	Route
}

// Table is the AWS::DynamoDB::Table resource.
type Table struct {
	LogicalID string
	// TableName is Properties.TableName when it is a literal string; it is
	// usually generated or built with !Sub, in which case it is empty.
	TableName            string
	AttributeDefinitions []Attribute
	HashKey, RangeKey    string
	GSIs                 []Index
	// TTLAttribute is TimeToLiveSpecification.AttributeName when Enabled is
	// literally true, and empty otherwise.
	TTLAttribute string
	// StreamViewType is StreamSpecification.StreamViewType, e.g.
	// "NEW_AND_OLD_IMAGES", or empty when streams are not configured.
	StreamViewType string
}

// Attribute is an entry of AttributeDefinitions.
type Attribute struct {
	Name string
	Type string // "S", "N" or "B"
}

// Index is a global secondary index.
type Index struct {
	Name             string
	HashKey          string
	RangeKey         string
	ProjectionType   string   // "ALL", "KEYS_ONLY" or "INCLUDE"
	NonKeyAttributes []string // for ProjectionType INCLUDE
}

// Load reads and parses the template file at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("stack: %s: %w", path, err)
	}
	return t, nil
}

// Parse parses a SAM template.
func Parse(data []byte) (*Template, error) {
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	return t, nil
}

// Routes returns every route of every function, sorted by path, then method,
// then function logical ID.
func (t *Template) Routes() []FunctionRoute {
	var out []FunctionRoute
	for _, f := range t.Functions {
		for _, r := range f.Routes {
			out = append(out, FunctionRoute{UseCase: f.UseCase, LogicalID: f.LogicalID, Route: r})
		}
	}
	slices.SortStableFunc(out, func(a, b FunctionRoute) int {
		return cmp.Or(
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Method, b.Method),
			cmp.Compare(a.LogicalID, b.LogicalID),
		)
	})
	return out
}

// parse does the work of Parse; its errors carry no "stack:" prefix.
func parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root = resolve(root); root == nil || root.Kind != yaml.MappingNode {
		return nil, errors.New("template is not a YAML mapping")
	}
	resources := get(root, "Resources")
	if resources != nil && resources.Kind != yaml.MappingNode {
		return nil, errors.New("the Resources section is not a mapping")
	}

	t := &Template{
		Globals: literalMap(path(root, "Globals", "Function", "Environment", "Variables")),
	}
	var tables []string
	seen := make(map[string]bool)
	var err error
	pairs(resources, func(id string, res *yaml.Node) {
		if err != nil {
			return
		}
		if seen[id] {
			err = fmt.Errorf("resource %s: duplicate logical ID", id)
			return
		}
		seen[id] = true
		switch str(get(res, "Type")) {
		case typeFunction:
			var f Function
			if f, err = parseFunction(id, get(res, "Properties")); err != nil {
				err = fmt.Errorf("function %s: %w", id, err)
				return
			}
			t.Functions = append(t.Functions, f)
		case typeTable:
			tables = append(tables, id)
			if len(tables) > 1 {
				return // reported below
			}
			if t.Table, err = parseTable(id, get(res, "Properties")); err != nil {
				err = fmt.Errorf("table %s: %w", id, err)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if len(tables) != 1 {
		return nil, fmt.Errorf("%w, found %d %v", ErrTableCount, len(tables), tables)
	}
	return t, nil
}

// parseFunction reads the Properties of an AWS::Serverless::Function.
func parseFunction(id string, props *yaml.Node) (Function, error) {
	f := Function{
		LogicalID:   id,
		CodeURI:     str(get(props, "CodeUri")),
		Handler:     str(get(props, "Handler")),
		Environment: literalMap(path(props, "Environment", "Variables")),
		Policies:    parsePolicies(get(props, "Policies")),
	}
	f.UseCase = f.Environment["USE_CASE"]
	if f.UseCase == "" {
		return Function{}, ErrMissingUseCase
	}
	var err error
	pairs(get(props, "Events"), func(name string, ev *yaml.Node) {
		if err != nil || str(get(ev, "Type")) != "Api" {
			return
		}
		var r Route
		if r, err = parseRoute(name, get(ev, "Properties")); err != nil {
			err = fmt.Errorf("event %s: %w", name, err)
			return
		}
		f.Routes = append(f.Routes, r)
	})
	if err != nil {
		return Function{}, err
	}
	return f, nil
}

// parseRoute reads the Properties of an Api event. Path and Method must be
// literals since a route cannot be served without them.
func parseRoute(name string, props *yaml.Node) (Route, error) {
	r := Route{
		EventName: name,
		Method:    strings.ToUpper(str(get(props, "Method"))),
		Path:      str(get(props, "Path")),
	}
	if r.Method == "" {
		return Route{}, errors.New("missing literal Method")
	}
	if !strings.HasPrefix(r.Path, "/") {
		return Route{}, fmt.Errorf("path %q is not a literal starting with /", r.Path)
	}
	if s, ok := literal(path(props, "Auth", "ApiKeyRequired")); ok {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return Route{}, fmt.Errorf("Auth.ApiKeyRequired: %w", err)
		}
		r.ApiKeyRequired = b
	}
	return r, nil
}

// parsePolicies reads a function's Policies property, which SAM accepts as a
// single managed policy name, a single policy document, or a list mixing
// names, policy documents and one-key {TemplateName: {...}} mappings.
func parsePolicies(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		var out []string
		for _, it := range items(n) {
			out = append(out, policyNames(it)...)
		}
		return out
	}
	return policyNames(n)
}

// policyNames names a single Policies entry.
func policyNames(n *yaml.Node) []string {
	if s, ok := literal(n); ok {
		return []string{s}
	}
	if n.Kind != yaml.MappingNode {
		return nil // a tagged name or ARN such as !Sub "arn:..."
	}
	if get(n, "Statement") != nil {
		return []string{"inline"}
	}
	var out []string
	pairs(n, func(k string, _ *yaml.Node) { out = append(out, k) })
	return out
}

// parseTable reads the Properties of the AWS::DynamoDB::Table.
func parseTable(id string, props *yaml.Node) (Table, error) {
	t := Table{
		LogicalID:      id,
		TableName:      str(get(props, "TableName")),
		StreamViewType: str(path(props, "StreamSpecification", "StreamViewType")),
	}
	if ttl := get(props, "TimeToLiveSpecification"); strings.EqualFold(str(get(ttl, "Enabled")), "true") {
		t.TTLAttribute = str(get(ttl, "AttributeName"))
	}

	defined := make(map[string]bool)
	for _, a := range items(get(props, "AttributeDefinitions")) {
		attr := Attribute{Name: str(get(a, "AttributeName")), Type: str(get(a, "AttributeType"))}
		if attr.Name == "" {
			return Table{}, errors.New("AttributeDefinitions: entry without a literal AttributeName")
		}
		t.AttributeDefinitions = append(t.AttributeDefinitions, attr)
		defined[attr.Name] = true
	}

	// checkKeys verifies a key schema names defined attributes.
	checkKeys := func(where, hash, rng string) error {
		if hash == "" {
			return fmt.Errorf("%s: no literal HASH key", where)
		}
		for _, k := range []string{hash, rng} {
			if k != "" && !defined[k] {
				return fmt.Errorf("%s: key %q is not in AttributeDefinitions", where, k)
			}
		}
		return nil
	}

	t.HashKey, t.RangeKey = keySchema(get(props, "KeySchema"))
	if err := checkKeys("KeySchema", t.HashKey, t.RangeKey); err != nil {
		return Table{}, err
	}
	for _, g := range items(get(props, "GlobalSecondaryIndexes")) {
		ix := Index{
			Name:           str(get(g, "IndexName")),
			ProjectionType: str(path(g, "Projection", "ProjectionType")),
		}
		if ix.Name == "" {
			return Table{}, errors.New("GlobalSecondaryIndexes: index without a literal IndexName")
		}
		ix.HashKey, ix.RangeKey = keySchema(get(g, "KeySchema"))
		if err := checkKeys("index "+ix.Name+" KeySchema", ix.HashKey, ix.RangeKey); err != nil {
			return Table{}, err
		}
		for _, a := range items(path(g, "Projection", "NonKeyAttributes")) {
			if s, ok := literal(a); ok {
				ix.NonKeyAttributes = append(ix.NonKeyAttributes, s)
			}
		}
		t.GSIs = append(t.GSIs, ix)
	}
	return t, nil
}

// keySchema returns the HASH and RANGE attribute names of a KeySchema list.
func keySchema(n *yaml.Node) (hash, rng string) {
	for _, k := range items(n) {
		switch str(get(k, "KeyType")) {
		case "HASH":
			hash = str(get(k, "AttributeName"))
		case "RANGE":
			rng = str(get(k, "AttributeName"))
		}
	}
	return hash, rng
}
