package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/cloudfront"
	"github.com/awslabs/goformation/v7/intrinsics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/clsvc/license-service/internal/dynamo"
	"github.com/clsvc/license-service/internal/stack"
)

// loadTemplate parses template.yaml with goformation, keeping references to
// resources as "ref:<LogicalId>" / "getatt:<LogicalId>.<Attr>" strings and
// resolving references to parameters to their defaults.
func loadTemplate(t *testing.T) *cloudformation.Template {
	t.Helper()
	ref := func(_ string, input any, tpl any) any {
		name, _ := input.(string)
		if params, ok := tpl.(map[string]any)["Parameters"].(map[string]any); ok {
			if p, ok := params[name].(map[string]any); ok {
				return p["Default"]
			}
		}
		return "ref:" + name
	}
	getAtt := func(_ string, input any, _ any) any {
		switch v := input.(type) {
		case string:
			return "getatt:" + v
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			return "getatt:" + strings.Join(parts, ".")
		}
		return nil
	}
	tpl, err := goformation.OpenWithOptions(templatePath(t), &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{"Ref": ref, "Fn::GetAtt": getAtt},
	})
	require.NoError(t, err, "goformation parses template.yaml")
	return tpl
}

type templateRoute struct{ function, method, path string }

func TestTemplateFunctionsAndFolders(t *testing.T) {
	tpl := loadTemplate(t)
	root := filepath.Dir(templatePath(t))
	byUseCase := map[string][]string{}
	for id, fn := range tpl.GetAllServerlessFunctionResources() {
		require.NotNil(t, fn.Environment, id)
		uc := fn.Environment.Variables["USE_CASE"]
		require.NotEmpty(t, uc, "%s has USE_CASE", id)
		byUseCase[uc] = append(byUseCase[uc], id)
		assert.Equal(t, "bootstrap", deref(fn.Handler, tpl.Globals), id)
	}
	dirs, err := os.ReadDir(filepath.Join(root, "functions"))
	require.NoError(t, err)
	var folders []string
	for _, d := range dirs {
		folders = append(folders, d.Name())
		assert.Len(t, byUseCase[d.Name()], 1, "functions/%s has exactly one function resource", d.Name())
		_, err := os.Stat(filepath.Join(root, "events", d.Name()+".json"))
		assert.NoError(t, err, "functions/%s has a sample event events/%s.json", d.Name(), d.Name())
	}
	for uc := range byUseCase {
		assert.Contains(t, folders, uc, "function with USE_CASE %s has a functions/ folder", uc)
	}
}

func deref(s *string, _ any) string {
	if s == nil {
		return "bootstrap" // from Globals
	}
	return *s
}

func TestTemplateGlobalsAndRuntime(t *testing.T) {
	raw, err := os.ReadFile(templatePath(t))
	require.NoError(t, err)
	for _, want := range []string{"Runtime: provided.al2023", "Architectures: [arm64]", "Handler: bootstrap", "Tracing: Active", "LogFormat: JSON"} {
		assert.Contains(t, string(raw), want)
	}
	tpl := loadTemplate(t)
	for id, fn := range tpl.GetAllServerlessFunctionResources() {
		assert.Equal(t, "makefile", fn.AWSCloudFormationMetadata["BuildMethod"], "%s is built by the Makefile's build-%s", id, id)
	}
}

// Every route of the template is served by the local API, and the local API
// serves nothing else.
func TestTemplateRoutesAreServedLocally(t *testing.T) {
	tpl := loadTemplate(t)
	var routes []templateRoute
	for id, fn := range tpl.GetAllServerlessFunctionResources() {
		for name, ev := range fn.Events {
			if ev.Type != "Api" {
				continue
			}
			require.NotNil(t, ev.Properties.ApiEvent, "%s event %s is an Api event", id, name)
			routes = append(routes, templateRoute{id, strings.ToUpper(ev.Properties.ApiEvent.Method), ev.Properties.ApiEvent.Path})
		}
	}
	require.NotEmpty(t, routes)

	local, err := stack.Load(templatePath(t))
	require.NoError(t, err)
	var served []templateRoute
	for _, r := range local.Routes() {
		served = append(served, templateRoute{r.LogicalID, r.Method, r.Path})
	}
	assert.ElementsMatch(t, routes, served, "the local API serves exactly the template's routes")

	e := start(t)
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, r := range routes {
		path := param.ReplaceAllString(r.path, "x")
		req, err := http.NewRequest(r.method, e.srv.APIURL+path, nil)
		require.NoError(t, err)
		resp, err := e.client.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.NotContains(t, []int{http.StatusMethodNotAllowed, http.StatusBadGateway}, resp.StatusCode, "%s %s", r.method, path)
		if resp.StatusCode == http.StatusNotFound {
			assert.NotEqual(t, "", resp.Header.Get("Content-Type"))
		}
	}
}

func TestTemplateAuthOfRoutes(t *testing.T) {
	tpl := loadTemplate(t)
	for id, fn := range tpl.GetAllServerlessFunctionResources() {
		for _, ev := range fn.Events {
			api := ev.Properties.ApiEvent
			if ev.Type != "Api" || api == nil {
				continue
			}
			if strings.HasPrefix(api.Path, "/api/v1/brand/") {
				require.NotNil(t, api.Auth, "%s: brand routes declare Auth", id)
				assert.True(t, api.Auth.ApiKeyRequired != nil && *api.Auth.ApiKeyRequired, "%s: brand routes need a usage-plan key", id)
				assert.Equal(t, "BrandAuthorizer", deref(api.Auth.Authorizer, nil), "%s: brand routes run the brand authorizer", id)
			} else if api.Auth != nil {
				assert.False(t, api.Auth.ApiKeyRequired != nil && *api.Auth.ApiKeyRequired, "%s: product routes need no key", id)
			}
		}
	}
	api, err := tpl.GetServerlessApiWithName("LicenseApi")
	require.NoError(t, err)
	authJSON, err := json.Marshal(api.Auth)
	require.NoError(t, err)
	assert.Contains(t, string(authJSON), `"FunctionPayloadType":"REQUEST"`)
	assert.Contains(t, string(authJSON), `"FunctionArn":"getatt:AuthorizeBrandFunction.Arn"`)
	assert.Contains(t, string(authJSON), `"Headers":["X-API-Key"]`)
	assert.Regexp(t, `"ReauthorizeEvery":[1-9]`, string(authJSON), "authorizer answers are cached")

	plan, err := tpl.GetApiGatewayUsagePlanWithName("BrandUsagePlan")
	require.NoError(t, err)
	require.NotNil(t, plan.Throttle)
	require.NotNil(t, plan.Quota)
	assert.NotNil(t, plan.Throttle.RateLimit)
	assert.NotNil(t, plan.Quota.Limit)
}

// The table declares every attribute the code keys on, exactly as used.
func TestTemplateTableMatchesTheCode(t *testing.T) {
	tpl := loadTemplate(t)
	table, err := tpl.GetDynamoDBTableWithName("LicensesTable")
	require.NoError(t, err)
	declared := map[string]string{}
	for _, a := range table.AttributeDefinitions {
		declared[a.AttributeName] = a.AttributeType
	}
	for _, attr := range []string{dynamo.AttrPK, dynamo.AttrSK, dynamo.AttrGSI1PK, dynamo.AttrGSI1SK} {
		assert.Equal(t, "S", declared[attr], "attribute %s is declared as a string", attr)
	}
	require.Len(t, table.KeySchema, 2)
	assert.Equal(t, dynamo.AttrPK, table.KeySchema[0].AttributeName)
	assert.Equal(t, "HASH", table.KeySchema[0].KeyType)
	assert.Equal(t, dynamo.AttrSK, table.KeySchema[1].AttributeName)
	var gsi []string
	for _, g := range table.GlobalSecondaryIndexes {
		gsi = append(gsi, g.IndexName)
		if g.IndexName == dynamo.IndexByMail {
			assert.Equal(t, dynamo.AttrGSI1PK, g.KeySchema[0].AttributeName)
			assert.Equal(t, dynamo.AttrGSI1SK, g.KeySchema[1].AttributeName)
			assert.Equal(t, "ALL", deref(g.Projection.ProjectionType, nil))
		}
	}
	assert.Contains(t, gsi, dynamo.IndexByMail)
	require.NotNil(t, table.TimeToLiveSpecification)
	assert.Equal(t, dynamo.AttrTTL, deref(table.TimeToLiveSpecification.AttributeName, nil))
	assert.Equal(t, "PAY_PER_REQUEST", deref(table.BillingMode, nil))
	require.NotNil(t, table.StreamSpecification)
	assert.Equal(t, "NEW_IMAGE", table.StreamSpecification.StreamViewType)
	require.NotNil(t, table.PointInTimeRecoverySpecification)
	assert.True(t, *table.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled)
	assert.True(t, table.DeletionProtectionEnabled != nil && *table.DeletionProtectionEnabled)
	assert.Equal(t, "Retain", string(table.AWSCloudFormationDeletionPolicy))
	require.NotNil(t, table.SSESpecification)
	assert.True(t, table.SSESpecification.SSEEnabled)
}

// No function gets more than its use case needs: no wildcard actions, no
// "*" resources, data actions only on the table.
func TestTemplatePoliciesAreLeast(t *testing.T) {
	tpl := loadTemplate(t)
	readers := map[string]bool{"list-products": true, "list-licenses": true, "get-license": true, "license-events": true}
	for id, fn := range tpl.GetAllServerlessFunctionResources() {
		uc := fn.Environment.Variables["USE_CASE"]
		raw, err := json.Marshal(fn.Policies)
		require.NoError(t, err)
		var policies any
		require.NoError(t, json.Unmarshal(raw, &policies))
		var actions []string
		walkStatements(policies, func(st map[string]any) {
			for _, a := range strings_(st["Action"]) {
				actions = append(actions, a)
				assert.NotEqual(t, "*", a, "%s grants *", id)
				assert.NotEqual(t, "dynamodb:*", a, "%s grants dynamodb:*", id)
			}
			for _, r := range strings_(st["Resource"]) {
				assert.NotEqual(t, "*", r, "%s grants actions on every resource", id)
				for _, a := range strings_(st["Action"]) {
					assert.Equal(t, resourceOf[strings.SplitN(a, ":", 2)[0]], r, "%s: %s only on its own resource", id, a)
				}
			}
		})
		if readers[uc] {
			assert.NotContains(t, string(raw), "DynamoDBCrudPolicy", id)
			if !strings.Contains(string(raw), "DynamoDBReadPolicy") {
				for _, a := range actions {
					assert.Contains(t, []string{"dynamodb:GetItem", "dynamodb:Query", "secretsmanager:GetSecretValue"}, a, "%s only reads", id)
				}
			}
			continue
		}
		assert.NotContains(t, string(raw), "DynamoDBCrudPolicy", "%s lists its actions", id)
		for _, a := range actions {
			assert.NotContains(t, []string{"dynamodb:DeleteTable", "dynamodb:BatchWriteItem"}, a, id)
			if uc != "reclaim-seats" {
				assert.NotEqual(t, "dynamodb:Scan", a, "%s: only the daily reclaim scans", id)
			}
		}
		if uc == "check-license" {
			assert.ElementsMatch(t, []string{"dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem", "secretsmanager:GetSecretValue"}, actions,
				"check reads, refreshes last_seen_at at most daily, and reads its signing key")
		}
		if uc == "health" {
			assert.Equal(t, []string{"dynamodb:GetItem"}, actions, "health makes one cheap read")
		}
		if uc == "authorize-brand" {
			assert.Equal(t, []string{"dynamodb:GetItem"}, actions)
		}
		if uc == "publish-events" {
			assert.ElementsMatch(t, []string{"events:PutEvents", "sqs:SendMessage"}, actions, "the relay only publishes and dead-letters")
		} else {
			signs := uc == "check-license" || uc == "activate-license" || uc == "product-keys"
			for _, a := range actions {
				if a == "secretsmanager:GetSecretValue" {
					assert.True(t, signs, "%s reads the signing key but signs nothing", id)
					continue
				}
				assert.True(t, strings.HasPrefix(a, "dynamodb:"), "%s: %s", id, a)
			}
		}
	}
}

// resourceOf is the one resource each service's actions may name.
var resourceOf = map[string]string{
	"dynamodb":       "getatt:LicensesTable.Arn",
	"events":         "getatt:LicenseEventBus.Arn",
	"sqs":            "getatt:EventsDeadLetterQueue.Arn",
	"secretsmanager": "ref:SigningKeySecret",
}

func walkStatements(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		if sts, ok := x["Statement"].([]any); ok {
			for _, s := range sts {
				if m, ok := s.(map[string]any); ok {
					fn(m)
				}
			}
		}
		for _, child := range x {
			walkStatements(child, fn)
		}
	case []any:
		for _, child := range x {
			walkStatements(child, fn)
		}
	}
}

func strings_(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// check has its own CloudFront behaviour with a cache policy keyed on
// exactly the query strings that change its answer; everything else passes
// through uncached.
func TestTemplateEdgeCache(t *testing.T) {
	tpl := loadTemplate(t)
	dist, err := tpl.GetCloudFrontDistributionWithName("ApiDistribution")
	require.NoError(t, err)
	cfg := dist.DistributionConfig
	require.NotNil(t, cfg.DefaultCacheBehavior)
	assert.Equal(t, "4135ea2d-6df8-44a3-9df3-4b5a84be39ad", deref(cfg.DefaultCacheBehavior.CachePolicyId, nil), "default: managed CachingDisabled")
	assert.Equal(t, "b689b0a8-53d0-40ab-baf2-68738e2966ac", deref(cfg.DefaultCacheBehavior.OriginRequestPolicyId, nil), "default: managed AllViewerExceptHostHeader")
	i := slices.IndexFunc(cfg.CacheBehaviors, func(b cloudfront.Distribution_CacheBehavior) bool {
		return b.PathPattern == "/api/v1/product/licenses/check"
	})
	require.GreaterOrEqual(t, i, 0, "check has a cache behaviour")
	assert.Len(t, cfg.CacheBehaviors, 1, "only check is cached")
	check := cfg.CacheBehaviors[i]
	assert.Equal(t, "ref:CheckCachePolicy", deref(check.CachePolicyId, nil))

	policy, err := tpl.GetCloudFrontCachePolicyWithName("CheckCachePolicy")
	require.NoError(t, err)
	c := policy.CachePolicyConfig
	qs := c.ParametersInCacheKeyAndForwardedToOrigin.QueryStringsConfig
	assert.Equal(t, "whitelist", qs.QueryStringBehavior)
	got := append([]string(nil), qs.QueryStrings...)
	sort.Strings(got)
	assert.Equal(t, []string{"instance_identifier", "instance_type", "license_key", "product"}, got)
	assert.Equal(t, "none", c.ParametersInCacheKeyAndForwardedToOrigin.HeadersConfig.HeaderBehavior)
	assert.Equal(t, "none", c.ParametersInCacheKeyAndForwardedToOrigin.CookiesConfig.CookieBehavior)
	assert.Equal(t, 0.0, c.MinTTL, "the function's Cache-Control decides")
}

func TestTemplateOperations(t *testing.T) {
	tpl := loadTemplate(t)
	alarms := tpl.GetAllCloudWatchAlarmResources()
	for _, name := range []string{"ApiServerErrorRateAlarm", "ProductFunctionErrorsAlarm", "BrandFunctionErrorsAlarm", "LambdaThrottlesAlarm", "DynamoDBThrottlesAlarm", "AuthorizerErrorsAlarm", "EventsDeadLetterAlarm", "ServiceUnavailableAlarm", "RelayFailuresAlarm"} {
		assert.Contains(t, alarms, name)
	}
	_, err := tpl.GetCloudWatchDashboardWithName("ServiceDashboard")
	assert.NoError(t, err)
	_, err = tpl.GetEventsEventBusWithName("LicenseEventBus")
	assert.NoError(t, err)
	for _, out := range []string{"ApiUrl", "CdnUrl", "CheckUrl", "TableName", "EventBusName", "BrandUsagePlanId"} {
		assert.Contains(t, tpl.Outputs, out)
	}
}

// The relay reads the table's stream, filtered to inserted event items, in
// order, reporting batch item failures, bisecting on errors, with bounded
// retries and a dead-letter queue that has an alarm.
func TestTemplateEventRelay(t *testing.T) {
	tpl := loadTemplate(t)
	fn, err := tpl.GetServerlessFunctionWithName("PublishEventsFunction")
	require.NoError(t, err)
	assert.Equal(t, "publish-events", fn.Environment.Variables["USE_CASE"])
	require.Len(t, fn.Events, 1)
	// goformation v7 cannot type a DynamoDB event with FilterCriteria and
	// DestinationConfig, so its properties are read from the YAML itself.
	stream := rawProperties(t, "PublishEventsFunction", "Events", "TableStream")
	assert.Equal(t, "DynamoDB", stream["Type"])
	props, ok := stream["Properties"].(map[string]any)
	require.True(t, ok)
	assert.Equal(t, "!GetAtt LicensesTable.StreamArn", props["Stream"])
	assert.Equal(t, true, props["BisectBatchOnFunctionError"])
	assert.Equal(t, []any{"ReportBatchItemFailures"}, props["FunctionResponseTypes"])
	assert.Greater(t, props["MaximumRetryAttempts"], 0)
	assert.LessOrEqual(t, props["MaximumRetryAttempts"], 100, "bounded retries")
	assert.Equal(t, 1, props["ParallelizationFactor"], "one batch per shard at a time keeps stream order")
	raw, err := json.Marshal(props)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `\"type\": {\"S\": [\"event\"]}`, "filtered to event items")
	assert.Contains(t, string(raw), `\"eventName\": [\"INSERT\"]`, "inserts only")
	assert.Contains(t, string(raw), `"Destination":"!GetAtt EventsDeadLetterQueue.Arn"`)
	assert.Equal(t, "ref:EventsDeadLetterQueue", fn.Environment.Variables["DEAD_LETTER_QUEUE_URL"])

	table, err := tpl.GetDynamoDBTableWithName("LicensesTable")
	require.NoError(t, err)
	assert.Equal(t, "NEW_IMAGE", table.StreamSpecification.StreamViewType)
	alarm, err := tpl.GetCloudWatchAlarmWithName("EventsDeadLetterAlarm")
	require.NoError(t, err)
	assert.Equal(t, "AWS/SQS", deref(alarm.Namespace, nil))
	assert.Equal(t, "ApproximateNumberOfMessagesVisible", deref(alarm.MetricName, nil))
}

// rawProperties reads a resource's YAML (short tags rendered as "!Tag value")
// down the given path of keys under its Properties.
func rawProperties(t *testing.T, resource string, path ...string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(templatePath(t))
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(b, &doc))
	v := yamlValue(doc.Content[0])
	for _, k := range append([]string{"Resources", resource, "Properties"}, path...) {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%s is a mapping", k)
		v = m[k]
	}
	m, ok := v.(map[string]any)
	require.True(t, ok)
	return m
}

func yamlValue(n *yaml.Node) any {
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = yamlValue(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			l[i] = yamlValue(c)
		}
		return l
	case yaml.AliasNode:
		return yamlValue(n.Alias)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return n.Tag + " " + n.Value
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return n.Value
	}
	return v
}

// The WordPress-grade parts: the daily reclaim on a schedule, the signing
// key secret read only by the functions that sign, and the new routes.
func TestTemplateScheduleSecretAndRoutes(t *testing.T) {
	tpl := loadTemplate(t)
	reclaim := rawProperties(t, "ReclaimSeatsFunction", "Events", "Daily")
	assert.Equal(t, "Schedule", reclaim["Type"])
	props := reclaim["Properties"].(map[string]any)
	assert.Equal(t, "rate(1 day)", props["Schedule"])

	_, err := tpl.GetSecretsManagerSecretWithName("SigningKeySecret")
	require.NoError(t, err, "the signing keys live in a declared secret")
	for id, fn := range tpl.GetAllServerlessFunctionResources() {
		uc := fn.Environment.Variables["USE_CASE"]
		signs := uc == "check-license" || uc == "activate-license" || uc == "product-keys"
		assert.Equal(t, signs, fn.Environment.Variables["SIGNING_KEY_SECRET_ID"] == "ref:SigningKeySecret", "%s: the secret id only where tokens are signed", id)
	}

	local, err := stack.Load(templatePath(t))
	require.NoError(t, err)
	var routes []string
	for _, r := range local.Routes() {
		routes = append(routes, r.Method+" "+r.Path)
	}
	for _, want := range []string{"GET /api/v1/product/keys", "GET /api/v1/product/edd", "POST /api/v1/product/edd", "GET /api/v1/brand/licenses/{id}/events"} {
		assert.Contains(t, routes, want)
	}
}
