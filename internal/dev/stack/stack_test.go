package stack

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fullTemplate exercises every short tag the SAM templates use, in places
// that are read (where they must read as "not a literal") and in places that
// are ignored (where they must simply not break parsing).
const fullTemplate = `
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Or [!Condition NotProd, !Condition IsProd]]
Mappings:
  Sizes:
    dev: {Memory: 128}
Globals:
  Function:
    Runtime: provided.al2023
    MemorySize: !FindInMap [Sizes, !Ref Stage, Memory]
    Environment:
      Variables:
        TABLE_NAME: !Ref LicenseTable
        LOG_LEVEL: info
        RETRIES: 3
        DEBUG: false
        REGION_AZ: !Select [0, !GetAZs ""]
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      Auth:
        ApiKeyRequired: false
  GetLicenseFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ./cmd/get-license
      Handler: bootstrap
      Environment:
        Variables:
          USE_CASE: get-license
          QUEUE: !ImportValue shared-queue
          NAME: !Sub "${AWS::StackName}-get"
      Policies:
        - DynamoDBReadPolicy:
            TableName: !Ref LicenseTable
        - AWSLambdaBasicExecutionRole
        - !Sub "arn:${AWS::Partition}:iam::aws:policy/Tagged"
        - Statement:
            - Effect: Allow
              Action: [dynamodb:Query]
              Resource: !Join ["", [!GetAtt LicenseTable.Arn, "/index/*"]]
      Events:
        GetOne:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /api/v1/brand/licenses/{id}
            Method: get
            Auth:
              ApiKeyRequired: true
        List:
          Type: Api
          Properties:
            Path: /api/v1/brand/licenses
            Method: GET
        Nightly:
          Type: Schedule
          Properties:
            Schedule: rate(1 day)
  WriteLicenseFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: !If [IsProd, ./a, ./b]
      Handler: bootstrap
      Environment:
        Variables:
          USE_CASE: write-license
          SPLIT: !Split [",", "a,b"]
      Policies: DynamoDBCrudPolicy-not-a-list
      Events:
        Create:
          Type: Api
          Properties:
            Path: /api/v1/brand/licenses
            Method: post
            Auth:
              ApiKeyRequired: !If [IsProd, true, false]
        Any:
          Type: Api
          Properties:
            Path: /api/v1/{proxy+}
            Method: any
  UserData:
    Type: AWS::EC2::Instance
    Properties:
      UserData: !Base64 "echo hi"
      Cidr: !Cidr [10.0.0.0/16, 4, 8]
  LicenseTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-licenses"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: gsi1pk, AttributeType: S}
        - {AttributeName: expires, AttributeType: N}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: gsi1
          KeySchema:
            - {AttributeName: gsi1pk, KeyType: HASH}
            - {AttributeName: expires, KeyType: RANGE}
          Projection:
            ProjectionType: INCLUDE
            NonKeyAttributes: [status, !Ref Dynamic]
        - IndexName: bySk
          KeySchema:
            - {AttributeName: sk, KeyType: HASH}
          Projection: {ProjectionType: KEYS_ONLY}
      TimeToLiveSpecification:
        AttributeName: expires
        Enabled: true
      StreamSpecification:
        StreamViewType: NEW_AND_OLD_IMAGES
Outputs:
  TableArn:
    Value: !GetAtt LicenseTable.Arn
`

func TestParseFullTemplate(t *testing.T) {
	tpl, err := Parse([]byte(fullTemplate))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}

	wantGlobals := map[string]string{"LOG_LEVEL": "info", "RETRIES": "3", "DEBUG": "false"}
	if !reflect.DeepEqual(tpl.Globals, wantGlobals) {
		t.Errorf("Globals = %v, want %v", tpl.Globals, wantGlobals)
	}

	wantFunctions := []Function{
		{
			LogicalID:   "GetLicenseFunction",
			UseCase:     "get-license",
			CodeURI:     "./cmd/get-license",
			Handler:     "bootstrap",
			Environment: map[string]string{"USE_CASE": "get-license"},
			Policies:    []string{"DynamoDBReadPolicy", "AWSLambdaBasicExecutionRole", "inline"},
			Routes: []Route{
				{EventName: "GetOne", Method: "GET", Path: "/api/v1/brand/licenses/{id}", ApiKeyRequired: true},
				{EventName: "List", Method: "GET", Path: "/api/v1/brand/licenses"},
			},
		},
		{
			LogicalID:   "WriteLicenseFunction",
			UseCase:     "write-license",
			Handler:     "bootstrap",
			Environment: map[string]string{"USE_CASE": "write-license"},
			Policies:    []string{"DynamoDBCrudPolicy-not-a-list"},
			Routes: []Route{
				{EventName: "Create", Method: "POST", Path: "/api/v1/brand/licenses"},
				{EventName: "Any", Method: "ANY", Path: "/api/v1/{proxy+}"},
			},
		},
	}
	if !reflect.DeepEqual(tpl.Functions, wantFunctions) {
		t.Errorf("Functions =\n%+v\nwant\n%+v", tpl.Functions, wantFunctions)
	}

	wantTable := Table{
		LogicalID: "LicenseTable",
		AttributeDefinitions: []Attribute{
			{"pk", "S"}, {"sk", "S"}, {"gsi1pk", "S"}, {"expires", "N"},
		},
		HashKey:  "pk",
		RangeKey: "sk",
		GSIs: []Index{
			{Name: "gsi1", HashKey: "gsi1pk", RangeKey: "expires", ProjectionType: "INCLUDE", NonKeyAttributes: []string{"status"}},
			{Name: "bySk", HashKey: "sk", ProjectionType: "KEYS_ONLY"},
		},
		TTLAttribute:   "expires",
		StreamViewType: "NEW_AND_OLD_IMAGES",
	}
	if !reflect.DeepEqual(tpl.Table, wantTable) {
		t.Errorf("Table =\n%+v\nwant\n%+v", tpl.Table, wantTable)
	}

	wantRoutes := []FunctionRoute{
		{"get-license", "GetLicenseFunction", wantFunctions[0].Routes[1]},
		{"write-license", "WriteLicenseFunction", wantFunctions[1].Routes[0]},
		{"get-license", "GetLicenseFunction", wantFunctions[0].Routes[0]},
		{"write-license", "WriteLicenseFunction", wantFunctions[1].Routes[1]},
	}
	if got := tpl.Routes(); !reflect.DeepEqual(got, wantRoutes) {
		t.Errorf("Routes() =\n%+v\nwant\n%+v", got, wantRoutes)
	}
}

// minimalTable is a valid table resource, to be appended under Resources.
const minimalTable = `
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantIs  error  // checked with errors.Is when set
		wantSub string // substring of the message
	}{
		{
			name:    "invalid yaml",
			yaml:    "Resources: [",
			wantSub: "parse YAML",
		},
		{
			name:    "not a mapping",
			yaml:    "- a\n- b\n",
			wantSub: "not a YAML mapping",
		},
		{
			name:    "empty document",
			yaml:    "",
			wantSub: "not a YAML mapping",
		},
		{
			name:   "no table",
			yaml:   "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n",
			wantIs: ErrTableCount,
		},
		{
			name:    "two tables",
			yaml:    "Resources:" + minimalTable + strings.ReplaceAll(minimalTable, "  Table:", "  Other:"),
			wantIs:  ErrTableCount,
			wantSub: "[Table Other]",
		},
		{
			name: "function without USE_CASE",
			yaml: "Resources:" + minimalTable + `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {OTHER: x}}
`,
			wantIs:  ErrMissingUseCase,
			wantSub: "function Fn",
		},
		{
			name: "USE_CASE not a literal",
			yaml: "Resources:" + minimalTable + `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {USE_CASE: !Ref UseCase}}
`,
			wantIs: ErrMissingUseCase,
		},
		{
			name: "tagged route path",
			yaml: "Resources:" + minimalTable + `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {USE_CASE: x}}
      Events:
        E: {Type: Api, Properties: {Path: !Sub "/${P}", Method: get}}
`,
			wantSub: "function Fn: event E: path",
		},
		{
			name: "route without method",
			yaml: "Resources:" + minimalTable + `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {USE_CASE: x}}
      Events:
        E: {Type: Api, Properties: {Path: /x}}
`,
			wantSub: "missing literal Method",
		},
		{
			name: "bad ApiKeyRequired",
			yaml: "Resources:" + minimalTable + `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {USE_CASE: x}}
      Events:
        E: {Type: Api, Properties: {Path: /x, Method: get, Auth: {ApiKeyRequired: maybe}}}
`,
			wantSub: "Auth.ApiKeyRequired",
		},
		{
			name: "table key not defined",
			yaml: `Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
`,
			wantSub: `table T: KeySchema: key "sk" is not in AttributeDefinitions`,
		},
		{
			name: "table without hash key",
			yaml: `Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: !Ref K, KeyType: HASH}]
`,
			wantSub: "table T: KeySchema: no literal HASH key",
		},
		{
			name: "gsi key not defined",
			yaml: `Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: g
          KeySchema: [{AttributeName: gpk, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
`,
			wantSub: `index g KeySchema: key "gpk"`,
		},
		{
			name:    "duplicate logical id",
			yaml:    "Resources:" + minimalTable + minimalTable,
			wantSub: "resource Table: duplicate logical ID",
		},
		{
			name:    "resources not a mapping",
			yaml:    "Resources: !Ref X\n",
			wantSub: "Resources section is not a mapping",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error", tpl)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %q", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantSub) {
				t.Errorf("error %q does not contain %q", err, tt.wantSub)
			}
			if !strings.HasPrefix(err.Error(), "stack: ") {
				t.Errorf("error %q lacks the stack: prefix", err)
			}
		})
	}
}

func TestParseVariants(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, tpl *Template)
	}{
		{
			name: "ttl disabled and no stream",
			yaml: `Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: false}
`,
			check: func(t *testing.T, tpl *Template) {
				if tpl.Table.TTLAttribute != "" || tpl.Table.StreamViewType != "" || tpl.Table.GSIs != nil {
					t.Errorf("Table = %+v, want no TTL, stream or GSIs", tpl.Table)
				}
			},
		},
		{
			name: "ttl enabled by a condition is not literal",
			yaml: `Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: !If [C, true, false]}
`,
			check: func(t *testing.T, tpl *Template) {
				if tpl.Table.TTLAttribute != "" {
					t.Errorf("TTLAttribute = %q, want empty", tpl.Table.TTLAttribute)
				}
			},
		},
		{
			name: "anchors, aliases and long-form intrinsics",
			yaml: `Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  A:
    Type: AWS::Serverless::Function
    Properties:
      Handler: {"Fn::Sub": "x"}
      Environment: &env
        Variables: {USE_CASE: shared, TABLE: {"Ref": "T"}}
      Events:
        E: &ev {Type: Api, Properties: {Path: /a, Method: delete}}
  B:
    Type: AWS::Serverless::Function
    Properties:
      Environment: *env
      Policies: {Statement: [{Effect: Allow}]}
      Events:
        E: *ev
`,
			check: func(t *testing.T, tpl *Template) {
				if len(tpl.Functions) != 2 {
					t.Fatalf("got %d functions, want 2", len(tpl.Functions))
				}
				a, b := tpl.Functions[0], tpl.Functions[1]
				if a.Handler != "" || a.UseCase != "shared" || b.UseCase != "shared" {
					t.Errorf("functions = %+v", tpl.Functions)
				}
				if !reflect.DeepEqual(b.Policies, []string{"inline"}) {
					t.Errorf("B.Policies = %v, want [inline]", b.Policies)
				}
				if len(b.Routes) != 1 || b.Routes[0].Method != "DELETE" || b.Routes[0].Path != "/a" {
					t.Errorf("B.Routes = %+v", b.Routes)
				}
			},
		},
		{
			name: "no globals, function without events",
			yaml: `Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  F:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {USE_CASE: "7"}}
`,
			check: func(t *testing.T, tpl *Template) {
				if tpl.Globals != nil {
					t.Errorf("Globals = %v, want nil", tpl.Globals)
				}
				if f := tpl.Functions[0]; f.UseCase != "7" || f.Routes != nil || f.Policies != nil {
					t.Errorf("function = %+v", f)
				}
				if r := tpl.Routes(); len(r) != 0 {
					t.Errorf("Routes() = %v, want none", r)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, tpl)
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(file, []byte(fullTemplate), 0o600); err != nil {
		t.Fatal(err)
	}
	tpl, err := Load(file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(tpl.Functions) != 2 || tpl.Table.LogicalID != "LicenseTable" {
		t.Errorf("Load returned %+v", tpl)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want ErrNotExist", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("Resources: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); !errors.Is(err, ErrTableCount) || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load(bad) error = %v, want ErrTableCount naming the file", err)
	}
}
