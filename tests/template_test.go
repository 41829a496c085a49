package tests

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/cloudfront"
	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	miniserver "github.com/truora/minidyn/server"
	"gopkg.in/yaml.v3"

	"github.com/clsvc/license-service/internal/apigw"
	"github.com/clsvc/license-service/internal/app"
	"github.com/clsvc/license-service/internal/bucket"
	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/locals3"
	"github.com/clsvc/license-service/internal/dev/stack"
	"github.com/clsvc/license-service/internal/dynamo"
	"github.com/clsvc/license-service/internal/dynamo/dynamotest"
	"github.com/clsvc/license-service/internal/licensing"
	"github.com/clsvc/license-service/internal/relay"
	"github.com/clsvc/license-service/internal/schedule"
	"github.com/clsvc/license-service/internal/service"
	"github.com/clsvc/license-service/internal/telemetry"
	"github.com/clsvc/license-service/internal/token"
	"github.com/clsvc/license-service/internal/webhook"
	"github.com/clsvc/license-service/internal/webhookqueue"
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
	// !Sub "${Res.Attr}/x" reads "getatt:Res.Attr/x", ${Param} its default.
	sub := func(_ string, input any, tpl any) any {
		s, ok := input.(string)
		if !ok {
			return nil
		}
		return subVariable.ReplaceAllStringFunc(s, func(v string) string {
			name := v[2 : len(v)-1]
			if strings.Contains(name, ".") {
				return fmt.Sprint(getAtt("", name, tpl))
			}
			return fmt.Sprint(ref("", name, tpl))
		})
	}
	tpl, err := goformation.ParseYAMLWithOptions(goformationYAML(t), &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{"Ref": ref, "Fn::GetAtt": getAtt, "Fn::Sub": sub},
	})
	require.NoError(t, err, "goformation parses template.yaml")
	return tpl
}

// untyped are the AWS::Serverless::Api properties goformation v7 cannot
// type (it refuses unknown fields, and types GatewayResponses as strings):
// loadTemplate leaves them out; tests read them with rawProperties.
var untyped = []string{"ApiKeySourceType", "GatewayResponses"}

// goformationYAML is template.yaml without the untyped properties.
func goformationYAML(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(templatePath(t))
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(b, &doc))
	resources := mappingValue(doc.Content[0], "Resources")
	require.NotNil(t, resources)
	for i := 1; i < len(resources.Content); i += 2 {
		res := resources.Content[i]
		if typ := mappingValue(res, "Type"); typ == nil || typ.Value != "AWS::Serverless::Api" {
			continue
		}
		props := mappingValue(res, "Properties")
		kept := props.Content[:0]
		for j := 0; j+1 < len(props.Content); j += 2 {
			if !slices.Contains(untyped, props.Content[j].Value) {
				kept = append(kept, props.Content[j], props.Content[j+1])
			}
		}
		props.Content = kept
	}
	out, err := yaml.Marshal(&doc)
	require.NoError(t, err)
	return out
}

// mappingValue is the value of key in a YAML mapping node, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

var subVariable = regexp.MustCompile(`\$\{[A-Za-z0-9:.]+\}`)

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

// The functions that change seats outlast a seat change's wait for its turn
// (apigw's SeatTimeout, and the margin it keeps before the Lambda's own
// deadline); the others keep the global timeout.
func TestTemplateSeatFunctionsOutlastTheirTurn(t *testing.T) {
	seats := map[string]bool{"activate-license": true, "deactivate-seat": true, "free-seat": true, "edd": true, "retry-webhook-delivery": true}
	found := 0
	for id, fn := range loadTemplate(t).GetAllServerlessFunctionResources() {
		if !seats[fn.Environment.Variables["USE_CASE"]] {
			continue
		}
		found++
		require.NotNil(t, fn.Timeout, "%s sets its own Timeout", id)
		assert.GreaterOrEqual(t, time.Duration(*fn.Timeout)*time.Second, apigw.DefaultSeatTimeout+time.Second, "%s: Timeout", id)
	}
	assert.Equal(t, len(seats), found)
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

	// The usage plan meters the key the authorizer returns as
	// usageIdentifierKey: the X-API-Key it resolved, whose value is the
	// usage-plan API key's (README, Deploy).
	raw, err := os.ReadFile(templatePath(t))
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	props := mappingValue(mappingValue(mappingValue(doc.Content[0], "Resources"), "LicenseApi"), "Properties")
	require.NotNil(t, mappingValue(props, "ApiKeySourceType"), "LicenseApi has ApiKeySourceType")
	assert.Equal(t, "AUTHORIZER", mappingValue(props, "ApiKeySourceType").Value)
	eng := dynamotest.Start(t)
	a := app.New(eng.Store, nil)
	require.NoError(t, demo.Seed(context.Background(), a.Ops()))
	resp, err := apigw.New(a, nil, apigw.Options{}).AuthorizeBrand(context.Background(), iamAuthorizerEvent(rmKey))
	require.NoError(t, err)
	assert.Equal(t, rmKey, resp.UsageIdentifierKey, "the authorizer hands the usage plan the brand's key")

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
	for _, attr := range []string{dynamo.AttrPK, dynamo.AttrSK, dynamo.AttrGSI1PK, dynamo.AttrGSI1SK, dynamo.AttrGSI2PK, dynamo.AttrGSI2SK} {
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
		if g.IndexName == dynamo.IndexByExpiry {
			assert.Equal(t, dynamo.AttrGSI2PK, g.KeySchema[0].AttributeName)
			assert.Equal(t, dynamo.AttrGSI2SK, g.KeySchema[1].AttributeName)
			assert.Equal(t, "ALL", deref(g.Projection.ProjectionType, nil), "the expiry job reads whole licenses from it")
		}
	}
	assert.ElementsMatch(t, []string{dynamo.IndexByMail, dynamo.IndexByExpiry}, gsi)
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
	readers := map[string]bool{"list-products": true, "list-licenses": true, "get-license": true, "license-events": true, "list-releases": true,
		"list-webhooks": true, "list-webhook-deliveries": true}
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
					own := resourceOf[strings.SplitN(a, ":", 2)[0]]
					if uc == "deliver-webhooks" && strings.HasPrefix(a, "sqs:") {
						own = "getatt:WebhookQueue.Arn" // its retries' waits, on its own queue
					}
					if a == "dynamodb:Query" && r != own {
						index := dynamo.IndexByMail // the index by e-mail
						if uc == "notify-expiries" {
							index = dynamo.IndexByExpiry // the licenses by expiry day
						}
						own += "/index/" + index
					}
					assert.Equal(t, own, r, "%s: %s only on its own resource", id, a)
				}
			}
		})
		// SAM policy templates (DynamoDBReadPolicy, DynamoDBCrudPolicy, …)
		// grant more than a use case makes (Scan, BatchGetItem, PartiQL, …).
		assert.NotRegexp(t, `Policy"?:`, string(raw), "%s lists its actions in inline statements", id)
		if readers[uc] {
			for _, a := range actions {
				assert.Contains(t, []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}, a, "%s only reads", id)
			}
			continue
		}
		for _, a := range actions {
			assert.NotContains(t, []string{"dynamodb:DeleteTable", "dynamodb:BatchWriteItem"}, a, id)
			if uc != "reclaim-seats" {
				assert.NotEqual(t, "dynamodb:Scan", a, "%s: only the daily reclaim scans", id)
			}
		}
		if uc == "check-license" {
			assert.ElementsMatch(t, []string{"dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem", "secretsmanager:GetSecretValue"}, actions,
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
			var objects []string
			for _, a := range actions {
				switch {
				case a == "sqs:ChangeMessageVisibility":
					assert.Equal(t, "deliver-webhooks", uc, "%s: only the webhook delivery sets its messages' waits", id)
				case a == "secretsmanager:GetSecretValue":
					assert.True(t, signingUseCases[uc], "%s reads the signing key but signs nothing", id)
				case strings.HasPrefix(a, "s3:"):
					objects = append(objects, a)
				default:
					assert.True(t, strings.HasPrefix(a, "dynamodb:"), "%s: %s", id, a)
				}
			}
			assert.ElementsMatch(t, bucketUseCases[uc], objects, "%s: the release bucket's actions its use case needs, and no other", id)
		}
	}
}

// resourceOf is the one resource each service's actions may name.
var resourceOf = map[string]string{
	"dynamodb":       "getatt:LicensesTable.Arn",
	"events":         "getatt:LicenseEventBus.Arn",
	"sqs":            "getatt:EventsDeadLetterQueue.Arn",
	"secretsmanager": "ref:SigningKeySecret",
	"s3":             "getatt:ReleaseBucket.Arn/*", // the bucket's objects: !Sub "${ReleaseBucket.Arn}/*"
}

// signingUseCases are the functions that read the signing key secret: they
// sign license tokens, or seal EDD download links (edd).
var signingUseCases = map[string]bool{"check-license": true, "activate-license": true, "product-keys": true, "edd": true}

// bucketUseCases are the functions that reach the release bucket, with the
// object actions each needs (IAM authorizes a presigned request as the
// action of the request it signs, with the signer's grants): create-release
// signs the brand's PUT; publish-release makes a HeadObject and a GetObject
// (IAM has no s3:HeadObject: a HEAD is authorized as s3:GetObject);
// product-updates and edd sign the sites' GETs of the package.
var bucketUseCases = map[string][]string{
	"create-release":  {"s3:PutObject"},
	"publish-release": {"s3:GetObject"},
	"product-updates": {"s3:GetObject"},
	"edd":             {"s3:GetObject"},
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

	// A 5xx is never kept at the edge (CloudFront's default: 10 s).
	noCache := map[int]bool{}
	for _, e := range cfg.CustomErrorResponses {
		if e.ErrorCachingMinTTL != nil && *e.ErrorCachingMinTTL == 0 && e.ResponseCode == nil && e.ResponsePagePath == nil {
			noCache[e.ErrorCode] = true
		}
	}
	for _, code := range []int{500, 502, 503, 504} {
		assert.True(t, noCache[code], "a %d is not cached: CustomErrorResponses with ErrorCachingMinTTL 0", code)
	}
}

func TestTemplateOperations(t *testing.T) {
	tpl := loadTemplate(t)
	alarms := tpl.GetAllCloudWatchAlarmResources()
	for _, name := range []string{"ApiServerErrorRateAlarm", "LambdaThrottlesAlarm", "DynamoDBThrottlesAlarm", "EventsDeadLetterAlarm",
		"ServiceUnavailableAlarm", "RelayFailuresAlarm", "PublishEventsIteratorAgeAlarm", "SigningKeysUnavailableAlarm"} {
		assert.Contains(t, alarms, name)
	}
	if a, ok := alarms["SigningKeysUnavailableAlarm"]; ok {
		require.NotNil(t, a.MetricName)
		require.NotNil(t, a.Namespace)
		assert.Equal(t, service.SigningKeysUnavailableMetric, *a.MetricName, "the alarm watches the metric the service emits")
		assert.Equal(t, telemetry.Namespace, *a.Namespace)
	}
	_, err := tpl.GetCloudWatchDashboardWithName("ServiceDashboard")
	assert.NoError(t, err)
	_, err = tpl.GetEventsEventBusWithName("LicenseEventBus")
	assert.NoError(t, err)
	for _, out := range []string{"ApiUrl", "CdnUrl", "CheckUrl", "TableName", "EventBusName", "BrandUsagePlanId", "SigningKeySecretArn", "DashboardName"} {
		assert.Contains(t, tpl.Outputs, out)
	}
	assert.Equal(t, "ref:SigningKeySecret", tpl.Outputs["SigningKeySecretArn"].Value, "Ref of a secret is its ARN")
}

// Every function has its own alarm on its Lambda errors, named after it,
// and all those alarms have one shape.
func TestTemplateEveryFunctionHasAnErrorsAlarm(t *testing.T) {
	tpl := loadTemplate(t)
	alarms := tpl.GetAllCloudWatchAlarmResources()
	// shape is an alarm without what names its function.
	shape := func(a *cloudwatch.Alarm) string {
		c := *a
		c.AlarmDescription, c.Dimensions = nil, nil
		b, err := json.Marshal(c)
		require.NoError(t, err)
		return string(b)
	}
	var first string
	for _, id := range slices.Sorted(maps.Keys(tpl.GetAllServerlessFunctionResources())) {
		name := strings.TrimSuffix(id, "Function") + "ErrorsAlarm"
		a, ok := alarms[name]
		if !assert.True(t, ok, "%s has no %s", id, name) {
			continue
		}
		assert.Equal(t, "AWS/Lambda", deref(a.Namespace, nil), name)
		assert.Equal(t, "Errors", deref(a.MetricName, nil), name)
		assert.Equal(t, []cloudwatch.Alarm_Dimension{{Name: "FunctionName", Value: "ref:" + id}}, a.Dimensions, name)
		assert.Equal(t, "Sum", deref(a.Statistic, nil), name)
		assert.Contains(t, rawProperties(t, name), "AlarmActions", "%s notifies AlarmTopicArn", name)
		if first == "" {
			first = shape(a)
			continue
		}
		assert.JSONEq(t, first, shape(a), "%s has the shape of the other errors alarms", name)
	}

	// The relay's lag behind the stream.
	age, ok := alarms["PublishEventsIteratorAgeAlarm"]
	require.True(t, ok)
	assert.Equal(t, "IteratorAge", deref(age.MetricName, nil))
	assert.Equal(t, []cloudwatch.Alarm_Dimension{{Name: "FunctionName", Value: "ref:PublishEventsFunction"}}, age.Dimensions)
	assert.Equal(t, "Maximum", deref(age.Statistic, nil))
	require.NotNil(t, age.Threshold)
	assert.Less(t, *age.Threshold, 24*3600*1000.0, "in milliseconds, well before stream records expire")
}

// Every route that needs no API key (the usage plan throttles the others per
// key) has its own method throttle in the stage's MethodSettings.
func TestTemplateThrottlesEveryKeylessRoute(t *testing.T) {
	throttled := methodThrottles(t, loadTemplate(t))
	local, err := stack.Load(templatePath(t))
	require.NoError(t, err)
	n := 0
	for _, r := range local.Routes() {
		if r.ApiKeyRequired {
			continue
		}
		n++
		path := throttlePath(r.Path)
		assert.True(t, throttled[r.Method+" "+path], "%s %s (%s) needs no API key but has no throttle in MethodSettings (ResourcePath %q)", r.Method, r.Path, r.LogicalID, path)
	}
	assert.GreaterOrEqual(t, n, 7, "the product routes and health")
}

// methodThrottles are the "METHOD ResourcePath" of LicenseApi's
// MethodSettings that set both a rate and a burst limit.
func methodThrottles(t *testing.T, tpl *cloudformation.Template) map[string]bool {
	t.Helper()
	api, err := tpl.GetServerlessApiWithName("LicenseApi")
	require.NoError(t, err)
	raw, err := json.Marshal(api.MethodSettings)
	require.NoError(t, err)
	var settings []struct {
		ResourcePath, HttpMethod                  string
		ThrottlingRateLimit, ThrottlingBurstLimit any
	}
	require.NoError(t, json.Unmarshal(raw, &settings))
	throttled := map[string]bool{}
	for _, s := range settings {
		if s.ThrottlingRateLimit != nil && s.ThrottlingBurstLimit != nil {
			throttled[s.HttpMethod+" "+s.ResourcePath] = true
		}
	}
	return throttled
}

// throttlePath is a resource path as MethodSettings name it: each "/"
// written "~1".
func throttlePath(path string) string { return "/" + strings.ReplaceAll(path, "/", "~1") }

// API Gateway's own answers are part of the API definition (SAM's
// GatewayResponses), not separate AWS::ApiGateway::GatewayResponse
// resources, which a later deployment of the SAM-generated API can lose
// (cfn-lint W3660); each answers in the service's error shape.
func TestTemplateGatewayResponses(t *testing.T) {
	b, err := os.ReadFile(templatePath(t))
	require.NoError(t, err)
	assert.NotContains(t, string(b), "AWS::ApiGateway::GatewayResponse")
	responses := rawProperties(t, "LicenseApi", "GatewayResponses")
	want := map[string]struct {
		status, code string
	}{
		"UNAUTHORIZED": {"401", "unauthorized"}, "INVALID_API_KEY": {"401", "unauthorized"}, "ACCESS_DENIED": {"401", "unauthorized"},
		"THROTTLED": {"429", "rate_limited"}, "QUOTA_EXCEEDED": {"429", "rate_limited"}, "REQUEST_TOO_LARGE": {"413", "payload_too_large"},
		"MISSING_AUTHENTICATION_TOKEN": {"404", "route_not_found"}, "DEFAULT_5XX": {"", "service_unavailable"},
	}
	assert.ElementsMatch(t, slices.Collect(maps.Keys(want)), slices.Collect(maps.Keys(responses)))
	for typ, w := range want {
		r, ok := responses[typ].(map[string]any)
		if !assert.True(t, ok, "%s is declared", typ) {
			continue
		}
		for k := range r {
			assert.Contains(t, []string{"StatusCode", "ResponseParameters", "ResponseTemplates"}, k, "%s: SAM knows %s", typ, k)
		}
		if w.status != "" {
			assert.Equal(t, w.status, fmt.Sprint(r["StatusCode"]), typ)
		}
		tmpl, _ := r["ResponseTemplates"].(map[string]any)
		var body struct {
			Error struct{ Code, Message string }
		}
		require.NoError(t, json.Unmarshal([]byte(fmt.Sprint(tmpl["application/json"])), &body), typ)
		assert.Equal(t, w.code, body.Error.Code, typ)
		assert.NotEmpty(t, body.Error.Message, typ)
	}
	params, _ := responses["DEFAULT_5XX"].(map[string]any)["ResponseParameters"].(map[string]any)
	assert.Equal(t, map[string]any{"Headers": map[string]any{"Retry-After": "'1'"}}, params, "5xx ask to retry after a second")
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

// Webhook delivery: the bus's rule puts every event of the service on a
// queue (which only that rule may send to); the queue invokes the delivery
// function, which reports batch item failures, and after webhook.MaxAttempts
// receives moves a message to a dead-letter queue that has an alarm. The
// queue keeps a message longer than its retries last, and hides a message
// being delivered longer than the function may run.
func TestTemplateWebhookDelivery(t *testing.T) {
	tpl := loadTemplate(t)
	rule := rawProperties(t, "WebhookRule")
	assert.Equal(t, "!Ref LicenseEventBus", rule["EventBusName"])
	assert.Equal(t, map[string]any{"source": []any{relay.Source}}, rule["EventPattern"], "every event of the service")
	targets, ok := rule["Targets"].([]any)
	require.True(t, ok)
	require.Len(t, targets, 1)
	assert.Equal(t, "!GetAtt WebhookQueue.Arn", targets[0].(map[string]any)["Arn"])

	queue := rawProperties(t, "WebhookQueue")
	assert.Equal(t, map[string]any{"deadLetterTargetArn": "!GetAtt WebhookDeadLetterQueue.Arn", "maxReceiveCount": webhook.MaxAttempts},
		queue["RedrivePolicy"], "dead-lettered after the schedule's last attempt")
	var retries time.Duration
	for n := 1; n < webhook.MaxAttempts; n++ {
		d, _ := webhook.Backoff(n, 0.999999)
		retries += d
	}
	assert.Greater(t, time.Duration(queue["MessageRetentionPeriod"].(int))*time.Second, retries, "a message outlives its retries (%s)", retries)
	assert.Equal(t, true, queue["SqsManagedSseEnabled"])

	policy := rawProperties(t, "WebhookQueuePolicy")
	assert.Equal(t, []any{"!Ref WebhookQueue"}, policy["Queues"])
	doc, err := json.Marshal(policy["PolicyDocument"])
	require.NoError(t, err)
	assert.JSONEq(t, `{"Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage",
		"Resource":"!GetAtt WebhookQueue.Arn","Condition":{"ArnEquals":{"aws:SourceArn":"!GetAtt WebhookRule.Arn"}}}]}`, string(doc),
		"only the rule sends to the queue")

	fn, err := tpl.GetServerlessFunctionWithName("DeliverWebhooksFunction")
	require.NoError(t, err)
	assert.Equal(t, "deliver-webhooks", fn.Environment.Variables["USE_CASE"])
	assert.Equal(t, "ref:WebhookQueue", fn.Environment.Variables["WEBHOOK_QUEUE_URL"])
	require.NotNil(t, fn.Timeout)
	timeout := time.Duration(*fn.Timeout) * time.Second
	assert.GreaterOrEqual(t, timeout, 2*webhook.Timeout, "endpoints have webhook.Timeout each, posted to at once")
	assert.GreaterOrEqual(t, time.Duration(queue["VisibilityTimeout"].(int))*time.Second, 6*timeout, "AWS: 6 × the function's timeout")
	source := rawProperties(t, "DeliverWebhooksFunction", "Events", "WebhookQueue")
	assert.Equal(t, "SQS", source["Type"])
	props := source["Properties"].(map[string]any)
	assert.Equal(t, "!GetAtt WebhookQueue.Arn", props["Queue"])
	assert.Equal(t, []any{"ReportBatchItemFailures"}, props["FunctionResponseTypes"])

	dlq := rawProperties(t, "WebhookDeadLetterQueue")
	assert.Equal(t, 1209600, dlq["MessageRetentionPeriod"], "14 days to look into")
	alarm, err := tpl.GetCloudWatchAlarmWithName("WebhookDeadLetterAlarm")
	require.NoError(t, err)
	assert.Equal(t, "AWS/SQS", deref(alarm.Namespace, nil))
	assert.Equal(t, "ApproximateNumberOfMessagesVisible", deref(alarm.MetricName, nil))
	raw, err := json.Marshal(alarm.Dimensions)
	require.NoError(t, err)
	assert.Contains(t, string(raw), "WebhookDeadLetterQueue.QueueName")
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
		assert.Equal(t, signingUseCases[uc], fn.Environment.Variables["SIGNING_KEY_SECRET_ID"] == "ref:SigningKeySecret", "%s: the secret id only where tokens are signed or links sealed", id)
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

// The release bucket: private (every public access block on, objects owned
// by the bucket owner), encrypted by default, versioned, kept when the
// stack goes or the bucket is replaced, reachable over TLS only; only the
// four functions that need it may touch its objects, and the release
// routes have the auth of their kind (brand routes: usage-plan key and the
// brand authorizer; updates: keyless, throttled).
func TestTemplateReleaseBucket(t *testing.T) {
	tpl := loadTemplate(t)
	assert.Len(t, tpl.GetAllS3BucketResources(), 1, "one bucket: the release packages")
	b, err := tpl.GetS3BucketWithName("ReleaseBucket")
	require.NoError(t, err)
	assert.Equal(t, "Retain", string(b.AWSCloudFormationDeletionPolicy))
	assert.Equal(t, "Retain", string(b.AWSCloudFormationUpdateReplacePolicy))
	require.NotNil(t, b.PublicAccessBlockConfiguration, "the bucket blocks public access")
	pab := b.PublicAccessBlockConfiguration
	for name, flag := range map[string]*bool{"BlockPublicAcls": pab.BlockPublicAcls, "BlockPublicPolicy": pab.BlockPublicPolicy,
		"IgnorePublicAcls": pab.IgnorePublicAcls, "RestrictPublicBuckets": pab.RestrictPublicBuckets} {
		assert.True(t, flag != nil && *flag, "PublicAccessBlockConfiguration.%s is true", name)
	}
	assert.Nil(t, b.AccessControl, "no canned ACL")
	assert.Nil(t, b.WebsiteConfiguration, "not a website")
	require.NotNil(t, b.OwnershipControls)
	require.Len(t, b.OwnershipControls.Rules, 1)
	assert.Equal(t, "BucketOwnerEnforced", deref(b.OwnershipControls.Rules[0].ObjectOwnership, nil), "ACLs are off")
	require.NotNil(t, b.BucketEncryption, "encrypted by default")
	require.NotEmpty(t, b.BucketEncryption.ServerSideEncryptionConfiguration)
	for _, rule := range b.BucketEncryption.ServerSideEncryptionConfiguration {
		require.NotNil(t, rule.ServerSideEncryptionByDefault)
		assert.Contains(t, []string{"AES256", "aws:kms", "aws:kms:dsse"}, rule.ServerSideEncryptionByDefault.SSEAlgorithm)
	}
	require.NotNil(t, b.VersioningConfiguration)
	assert.Equal(t, "Enabled", b.VersioningConfiguration.Status, "an overwritten or deleted package can be recovered")
	assert.Equal(t, "ref:ReleaseBucket", tpl.Outputs["ReleaseBucketName"].Value)

	// Its policy only denies: any request not over TLS, on the bucket and
	// on every object.
	policy, err := tpl.GetS3BucketPolicyWithName("ReleaseBucketPolicy")
	require.NoError(t, err)
	assert.Equal(t, "ref:ReleaseBucket", policy.Bucket)
	tls := false
	walkStatements(policy.PolicyDocument, func(st map[string]any) {
		assert.Equal(t, "Deny", st["Effect"], "the bucket policy grants nothing: %v", st)
		cond, _ := st["Condition"].(map[string]any)
		boolCond, _ := cond["Bool"].(map[string]any)
		if st["Principal"] == "*" && slices.Equal(strings_(st["Action"]), []string{"s3:*"}) && fmt.Sprint(boolCond["aws:SecureTransport"]) == "false" {
			assert.ElementsMatch(t, []string{"getatt:ReleaseBucket.Arn", "getatt:ReleaseBucket.Arn/*"}, strings_(st["Resource"]))
			tls = true
		}
	})
	assert.True(t, tls, "the bucket policy denies every request without TLS (aws:SecureTransport false)")

	// Only the functions that need the bucket name it, and may act on it.
	for id, fn := range tpl.GetAllServerlessFunctionResources() {
		uc := fn.Environment.Variables["USE_CASE"]
		_, needs := bucketUseCases[uc]
		assert.Equal(t, needs, fn.Environment.Variables["RELEASE_BUCKET"] == "ref:ReleaseBucket", "%s: RELEASE_BUCKET only where the bucket is used", id)
		raw, err := json.Marshal(fn.Policies)
		require.NoError(t, err)
		var policies any
		require.NoError(t, json.Unmarshal(raw, &policies))
		var actions []string
		walkStatements(policies, func(st map[string]any) {
			for _, a := range strings_(st["Action"]) {
				if strings.HasPrefix(a, "s3:") {
					actions = append(actions, a)
					assert.Equal(t, []string{"getatt:ReleaseBucket.Arn/*"}, strings_(st["Resource"]), "%s: %s on the bucket's objects only", id, a)
				}
			}
			for _, r := range strings_(st["Resource"]) {
				if strings.Contains(r, "ReleaseBucket") {
					assert.True(t, needs, "%s is granted %v on %s", id, st["Action"], r)
				}
			}
		})
		assert.ElementsMatch(t, bucketUseCases[uc], actions, "%s: its S3 actions", id)
	}

	// The release routes.
	type route struct{ method, path string }
	want := map[string]route{
		"CreateReleaseFunction":  {"POST", "/api/v1/brand/products/{product}/releases"},
		"ListReleasesFunction":   {"GET", "/api/v1/brand/products/{product}/releases"},
		"PublishReleaseFunction": {"POST", "/api/v1/brand/products/{product}/releases/{version}/publish"},
		"YankReleaseFunction":    {"POST", "/api/v1/brand/products/{product}/releases/{version}/yank"},
		"ProductUpdatesFunction": {"GET", "/api/v1/product/updates"},
	}
	throttled := methodThrottles(t, tpl)
	for id, w := range want {
		fn, err := tpl.GetServerlessFunctionWithName(id)
		require.NoError(t, err)
		require.Len(t, fn.Events, 1, "%s serves one route", id)
		for name, ev := range fn.Events {
			api := ev.Properties.ApiEvent
			require.True(t, ev.Type == "Api" && api != nil, "%s: event %s is an Api event", id, name)
			assert.Equal(t, w, route{strings.ToUpper(api.Method), api.Path}, id)
			assert.Equal(t, "ref:LicenseApi", deref(api.RestApiId, nil), "%s is on LicenseApi", id)
			if strings.HasPrefix(w.path, "/api/v1/brand/") {
				require.NotNil(t, api.Auth, "%s: brand routes declare Auth", id)
				assert.True(t, api.Auth.ApiKeyRequired != nil && *api.Auth.ApiKeyRequired, "%s: a usage-plan key", id)
				assert.Equal(t, "BrandAuthorizer", deref(api.Auth.Authorizer, nil), "%s: the brand authorizer", id)
				continue
			}
			if api.Auth != nil {
				assert.False(t, api.Auth.ApiKeyRequired != nil && *api.Auth.ApiKeyRequired, "%s: sites have no API key", id)
				assert.Contains(t, []string{"", "NONE"}, deref(api.Auth.Authorizer, nil), "%s: the license key is the credential", id)
			}
			assert.True(t, throttled[w.method+" "+throttlePath(w.path)], "%s: %s %s is throttled in MethodSettings", id, w.method, w.path)
		}
	}
}

// --- IAM: every AWS call of every function is allowed by its policy ----------

// IAM authorizes each call on its own, and a transaction item by item: a
// TransactWriteItems with a Put needs dynamodb:PutItem, an Update
// dynamodb:UpdateItem, a Delete dynamodb:DeleteItem and a ConditionCheck
// dynamodb:ConditionCheckItem. So the policies are checked against what the
// functions do rather than against a list: every function of the template is
// wired as its main wires it (service.Must's service.ConfigFromEnv and
// service.New, from the function's environment in the template with local
// stand-ins for its resources), driven through the paths of its use case,
// and each AWS call it makes — DynamoDB (through dynamotest.Actions, which
// splits transactions into their items' actions and names the index of a
// Query), EventBridge, SQS and Secrets Manager (through iamFakeAWS), S3
// (through iamS3, which also sees the presigned requests the function signed
// and the scenario then makes as a brand or a site would) — must be allowed
// by a statement of its policy on that resource. A function whose
// USE_CASE has no scenario fails the test, so a new function cannot be
// skipped silently.
func TestTemplatePoliciesAllowEveryCall(t *testing.T) {
	tpl := loadTemplate(t)
	ids := slices.Sorted(maps.Keys(tpl.GetAllServerlessFunctionResources()))
	require.NotEmpty(t, ids)
	for _, id := range ids {
		fn := tpl.GetAllServerlessFunctionResources()[id]
		uc := fn.Environment.Variables["USE_CASE"]
		t.Run(id, func(t *testing.T) {
			scenario, ok := iamScenarios[uc]
			require.True(t, ok, "%s (USE_CASE %s) has no entry in iamScenarios: add one that drives its use case, so that its policy is checked", id, uc)
			grants := policyGrants(t, id, fn.Policies)
			w := newIAMWorld(t, id, uc, fn)
			scenario(w)
			if keyRoutes(fn) {
				w.brandFallback()
			}
			calls := w.calls()
			if len(grants) == 0 {
				require.Empty(t, calls, "%s is granted nothing, so it must call nothing", id)
				return
			}
			require.NotEmpty(t, calls, "%s made no AWS call: is its scenario running?", id)
			used := map[string]bool{}
			for _, c := range calls {
				used[c.Name+" on "+c.Resource] = true
				assert.True(t, slices.Contains(grants[c.Name], c.Resource),
					"%s (USE_CASE %s) calls %s on %s, which its policy does not allow (it allows %v)", id, uc, c.Name, c.Resource, grants)
			}
			// And nothing more: a grant no step of the scenario needs is
			// dropped, or its path gets a step.
			for action, resources := range grants {
				for _, r := range resources {
					assert.True(t, used[action+" on "+r], "%s (USE_CASE %s) is granted %s on %s, which its use case never calls", id, uc, action, r)
				}
			}
		})
	}
}

// policyGrants reads a function's policy statements: the resources each
// action is allowed on, as loadTemplate renders them. Only inline Allow
// statements are understood: a SAM policy template (DynamoDBReadPolicy, …)
// grants more than the function needs and cannot be checked here.
func policyGrants(t *testing.T, id string, policies any) map[string][]string {
	t.Helper()
	raw, err := json.Marshal(policies)
	require.NoError(t, err)
	var list []map[string]any
	require.NoError(t, json.Unmarshal(raw, &list), "%s: Policies is a list of inline policy documents: %s", id, raw)
	grants := map[string][]string{}
	for _, p := range list {
		_, inline := p["Statement"]
		require.True(t, inline && len(p) == 1, "%s: %v is not an inline policy document (a SAM policy template grants more than the use case needs)", id, p)
		walkStatements(p, func(st map[string]any) {
			require.Equal(t, "Allow", st["Effect"], "%s: only Allow statements", id)
			for _, a := range strings_(st["Action"]) {
				grants[a] = append(grants[a], strings_(st["Resource"])...)
			}
		})
	}
	return grants
}

// keyRoutes tells whether a function serves routes that need an API key.
func keyRoutes(fn *serverless.Function) bool {
	for _, ev := range fn.Events {
		if api := ev.Properties.ApiEvent; ev.Type == "Api" && api != nil && api.Auth != nil && api.Auth.ApiKeyRequired != nil && *api.Auth.ApiKeyRequired {
			return true
		}
	}
	return false
}

// Local stand-ins for the resources the functions' environments name.
const (
	iamBus    = "license-events"
	iamSecret = "license-signing-keys"
	iamQueue  = "/123456789012/license-events-dlq"
	// iamWebhookQueue is the queue of webhook deliveries.
	iamWebhookQueue = "/123456789012/license-webhooks"
	iamBucket       = "license-releases"
)

// iamWorld is one function, wired from its environment, on a fresh engine
// with the demo data.
type iamWorld struct {
	t      *testing.T
	id, uc string
	clock  *iamClock
	dynamo *dynamotest.Actions
	aws    *iamFakeAWS
	s3     *iamS3
	eng    *dynamotest.Engine
	setup  *app.App // unrecorded: arranges state, with the bucket reached past the recorder
	// conflict answers a transaction as DynamoDB does under contention
	conflict dynamotest.Conflict
	svc      *service.Service
	auth     map[string]any // what the brand authorizer hands the brand functions
}

func newIAMWorld(t *testing.T, id, uc string, fn *serverless.Function) *iamWorld {
	ctx := context.Background()
	w := &iamWorld{t: t, id: id, uc: uc, clock: &iamClock{now: time.Now().UTC()}, dynamo: dynamotest.NewActions()}
	w.eng = dynamotest.Start(t)
	w.setup = app.New(w.eng.Store, w.clock.Now)
	require.NoError(t, demo.Seed(ctx, w.setup.Ops()))
	recorded := httptest.NewServer(w.dynamo.Wrap(w.conflict.Wrap(w.eng.Server)))
	t.Cleanup(recorded.Close)
	w.aws = newIAMFakeAWS(t)
	w.s3 = newIAMS3(t)

	// The process environment of the function, as Lambda would set it.
	env := map[string]string{}
	for name, value := range templateEnvironment(t, id) {
		env[name] = w.localValue(name, value)
	}
	assert.Equal(t, uc, env["USE_CASE"], "%s: USE_CASE", id)
	for k, v := range map[string]string{
		"DYNAMODB_ENDPOINT": recorded.URL, "AWS_REGION": "us-east-1",
		"EVENTBRIDGE_ENDPOINT": w.aws.srv.URL, "SQS_ENDPOINT": w.aws.srv.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": w.aws.srv.URL, "S3_ENDPOINT": w.s3.srv.URL,
		// The local S3 checks presigned URLs' signatures with its secret.
		"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": locals3.SecretKey, "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		env[k] = v
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	// The setup reaches the bucket past the recorder, and publishes the
	// demo releases (1.0.0 of every demo product) as the dev server does.
	setupBucket, err := bucket.New(ctx, bucket.Config{Bucket: iamBucket, Endpoint: w.s3.direct.URL, Region: "us-east-1"})
	require.NoError(t, err)
	w.setup.UsePackages(setupBucket)
	require.NoError(t, demo.SeedReleases(ctx, w.setup, nil))
	if uc != "publish-events" { // its main wires the relay alone (see iamRelay)
		svc, err := service.New(ctx, service.ConfigFromEnv(), slog.New(slog.DiscardHandler), w.clock.Now)
		require.NoError(t, err, "%s starts", id)
		w.svc = svc
	}
	if keyRoutes(fn) {
		resp, err := apigw.New(w.setup, nil, apigw.Options{}).AuthorizeBrand(ctx, iamAuthorizerEvent(rmKey))
		require.NoError(t, err)
		w.auth = resp.Context
	}
	return w
}

// templateEnvironment is a function's environment as template.yaml writes
// it (Globals merged in), short tags kept ("!Ref LicensesTable").
func templateEnvironment(t *testing.T, id string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(templatePath(t))
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(b, &doc))
	root := yamlValue(doc.Content[0])
	env := map[string]string{}
	for _, path := range [][]string{
		{"Globals", "Function", "Environment", "Variables"},
		{"Resources", id, "Properties", "Environment", "Variables"},
	} {
		v := root
		for _, k := range path {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		m, _ := v.(map[string]any)
		for k, val := range m {
			env[k] = fmt.Sprint(val)
		}
	}
	return env
}

// localValue is the local stand-in of an environment variable's value.
func (w *iamWorld) localValue(name, value string) string {
	switch value {
	case "!Ref LicensesTable":
		return w.eng.Table
	case "!Ref LicenseEventBus":
		return iamBus
	case "!Ref SigningKeySecret":
		return iamSecret
	case "!Ref EventsDeadLetterQueue":
		return w.aws.srv.URL + iamQueue
	case "!Ref WebhookQueue":
		return w.aws.srv.URL + iamWebhookQueue
	case "!Ref ReleaseBucket":
		return iamBucket
	case "!Ref LogLevel":
		return "ERROR"
	case "!Ref Stage":
		return "dev"
	case "!Sub ${CheckCacheMaxAge}":
		return "60"
	}
	require.False(w.t, strings.HasPrefix(value, "!"), "%s: no local stand-in for %s: %s; add one to iamWorld.localValue", w.id, name, value)
	return value
}

// calls are the AWS calls recorded, as IAM actions on template resources.
func (w *iamWorld) calls() []dynamotest.Action {
	w.t.Helper()
	assert.Empty(w.t, w.dynamo.Unreadable(), "DynamoDB requests whose actions could not be told")
	var out []dynamotest.Action
	for _, a := range w.dynamo.Seen() {
		table, index, _ := strings.Cut(strings.TrimPrefix(a.Resource, "table/"+w.eng.Table), "/")
		if table != "" || !strings.HasPrefix(a.Resource, "table/") {
			out = append(out, a) // another table: no policy names it
			continue
		}
		a.Resource = "getatt:LicensesTable.Arn"
		if index != "" {
			a.Resource += "/" + index
		}
		out = append(out, a)
	}
	out = append(out, w.aws.seen()...)
	return append(out, w.s3.seen()...)
}

// call sends a proxy request to the function's handler and requires the status.
// contend makes the function's next change of the demo RankMath Pro
// license (a seat or its lifecycle) meet contention: its transaction is
// cancelled as DynamoDB cancels one that another transaction holds, and
// another writer's turn on the license stalls ahead of it. So it takes a
// ticket, looks at the queue, skips the stalled turn and writes in its own
// turn, all under its policy.
func (w *iamWorld) contend() {
	w.conflict.Next()
	w.eng.StallTurn(w.t, demo.RankMathKey, "rankmath-pro", time.Now())
}

func (w *iamWorld) call(status int, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	w.t.Helper()
	h, ok := w.svc.API.Handlers()[w.uc]
	require.True(w.t, ok, "%s: no handler for USE_CASE %s", w.id, w.uc)
	resp, err := h(context.Background(), req)
	require.NoError(w.t, err)
	require.Equal(w.t, status, resp.StatusCode, "%s %s %v: %s", req.HTTPMethod, req.Path, req.QueryStringParameters, resp.Body)
	return resp
}

// brand sends a brand request as API Gateway does once the authorizer
// allowed it: with the key and the authorizer's context.
func (w *iamWorld) brand(status int, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	w.t.Helper()
	req.Headers["X-API-Key"] = rmKey
	req.RequestContext.Authorizer = w.auth
	return w.call(status, req)
}

// brandFallback sends a brand function a request without the authorizer's
// context (the function resolves the key itself) and one with an unknown key.
func (w *iamWorld) brandFallback() {
	w.t.Helper()
	h := w.svc.API.Handlers()[w.uc]
	for key, ok := range map[string]bool{rmKey: true, "unknown-key": false} {
		resp, err := h(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Headers: map[string]string{"X-API-Key": key}})
		require.NoError(w.t, err)
		if ok {
			require.NotContains(w.t, []int{401, 403}, resp.StatusCode, resp.Body)
			require.Less(w.t, resp.StatusCode, 500, resp.Body)
		} else {
			require.Equal(w.t, 401, resp.StatusCode, resp.Body)
		}
	}
}

// keyed sends a brand request under an Idempotency-Key as a retry after a
// lost answer: its transaction commits and answers 500 (the function claims
// the key, writes the change with the key's completion, answers 503 and
// releases the key), then the same request again (status; a replay when the
// change was committed: the claim reads the completed record).
func (w *iamWorld) keyed(status int, key string, req events.APIGatewayProxyRequest) {
	w.t.Helper()
	req.Headers["Idempotency-Key"] = key
	func() {
		w.eng.Server.EmulateCommitThenFailure("TransactWriteItems")
		defer w.eng.Server.EmulateFailure(miniserver.FailureConditionNone)
		w.brand(http.StatusServiceUnavailable, req)
	}()
	w.brand(status, req)
}

// arrange runs a brand use case on the unrecorded setup wiring.
func (w *iamWorld) arrange(useCase string, req events.APIGatewayProxyRequest) {
	w.t.Helper()
	req.Headers["X-API-Key"] = rmKey
	resp, err := apigw.New(w.setup, nil, apigw.Options{}).Handlers()[useCase](context.Background(), req)
	require.NoError(w.t, err)
	require.Less(w.t, resp.StatusCode, 300, resp.Body)
}

func iamReq(method, path string, params map[string]string, body string) events.APIGatewayProxyRequest {
	req := events.APIGatewayProxyRequest{HTTPMethod: method, Path: path, PathParameters: params,
		Headers: map[string]string{"Content-Type": "application/json"}}
	for k, v := range params {
		req.Path = strings.ReplaceAll(req.Path, "{"+k+"}", v)
	}
	if body != "" {
		req.Body = body
	}
	return req
}

func iamQuery(path string, query map[string]string) events.APIGatewayProxyRequest {
	req := iamReq(http.MethodGet, path, nil, "")
	req.QueryStringParameters = query
	return req
}

func iamAuthorizerEvent(key string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	return events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", Headers: map[string]string{"X-API-Key": key},
		MethodArn: "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/GET/api/v1/brand/products",
	}
}

func iamSeatBody(site, previous string) string {
	body := map[string]string{"license_key": demo.RankMathKey, "instance_identifier": site, "product": "rankmath-pro"}
	if previous != "" {
		body["previous_instance_identifier"] = previous
	}
	b, _ := json.Marshal(body)
	return string(b)
}

var (
	iamLicense     = map[string]string{"id": demo.RankMathProLicense}
	iamLicensePath = pathLicenses + "/{id}"
)

// iamScenarios drive each USE_CASE through the paths of its use case that
// call AWS. Every step requires its answer, so that a scenario that stops
// reaching a path (and so stops checking its calls) fails.
var iamScenarios = map[string]func(w *iamWorld){
	"health": func(w *iamWorld) { w.call(200, iamReq("GET", pathHealth, nil, "")) },
	"authorize-brand": func(w *iamWorld) {
		_, err := w.svc.API.AuthorizeBrand(context.Background(), iamAuthorizerEvent(rmKey))
		require.NoError(w.t, err)
		_, err = w.svc.API.AuthorizeBrand(context.Background(), iamAuthorizerEvent("unknown-key"))
		require.ErrorIs(w.t, err, apigw.ErrUnauthorized)
	},
	"create-product": func(w *iamWorld) {
		w.keyed(201, "iam-product", iamReq("POST", pathProducts, nil, `{"slug":"iam-once","name":"IAM Once"}`))
		w.brand(201, iamReq("POST", pathProducts, nil, `{"slug":"iam-pro","name":"IAM Pro"}`))
		w.brand(409, iamReq("POST", pathProducts, nil, `{"slug":"iam-pro","name":"IAM Pro"}`))
	},
	"list-products": func(w *iamWorld) { w.brand(200, iamReq("GET", pathProducts, nil, "")) },
	"provision-license": func(w *iamWorld) {
		body := `{"customer_email":"iam@example.com","products":["rankmath-pro"],"max_seats":2}`
		idem := func(req events.APIGatewayProxyRequest, key string) events.APIGatewayProxyRequest {
			req.Headers["Idempotency-Key"] = key
			return req
		}
		w.brand(201, idem(iamReq("POST", pathProvision, nil, body), "iam-order-1")) // claims, then completes the record
		w.brand(201, idem(iamReq("POST", pathProvision, nil, body), "iam-order-1")) // replays it
		w.keyed(201, "iam-order-2", iamReq("POST", pathProvision, nil, body))       // releases it
		w.brand(201, iamReq("POST", pathProvision, nil, body))
	},
	"list-licenses": func(w *iamWorld) {
		req := iamQuery(pathLicenses, map[string]string{"email": "demo@example.com"})
		w.brand(200, req)
	},
	"get-license": func(w *iamWorld) { w.brand(200, iamReq("GET", iamLicensePath, iamLicense, "")) },
	"renew-license": func(w *iamWorld) {
		w.contend()
		w.keyed(200, "iam-renew", iamReq("POST", iamLicensePath+"/renew", iamLicense, `{"expiration_date":"2031-12-31T23:59:59Z"}`))
	},
	"suspend-license": func(w *iamWorld) {
		w.contend()
		w.keyed(200, "iam-suspend", iamReq("POST", iamLicensePath+"/suspend", iamLicense, `{"reason":"payment failed"}`))
	},
	"resume-license": func(w *iamWorld) {
		w.arrange("suspend-license", iamReq("POST", iamLicensePath+"/suspend", iamLicense, `{"reason":"payment failed"}`))
		w.contend()
		w.keyed(200, "iam-resume", iamReq("POST", iamLicensePath+"/resume", iamLicense, `{}`))
	},
	"cancel-license": func(w *iamWorld) {
		w.keyed(200, "iam-cancel", iamReq("POST", iamLicensePath+"/cancel", map[string]string{"id": demo.ContentAILicense}, `{"reason":"refund"}`))
	},
	"license-events": func(w *iamWorld) { w.brand(200, iamReq("GET", iamLicensePath+"/events", iamLicense, "")) },
	"free-seat": func(w *iamWorld) {
		params := map[string]string{"id": demo.RankMathProLicense, "activation_id": demo.DemoActivation}
		w.contend()
		w.keyed(200, "iam-free", iamReq("DELETE", iamLicensePath+"/activations/{activation_id}", params, ""))
	},
	"activate-license": func(w *iamWorld) {
		activate := func(status int, site, previous string) {
			w.call(status, iamReq("POST", "/api/v1/product/licenses/activate", nil, iamSeatBody(site, previous)))
		}
		w.contend()
		activate(201, "new-site.example.com", "")
		w.clock.Advance(48 * time.Hour)
		activate(200, "new-site.example.com", "")                              // held: last_seen_at refreshed
		activate(201, "staging.new-site.example.com", "")                      // a staging site: the brand's cap
		activate(201, "moved-site.example.com", "new-site.example.com")        // a site move
		activate(201, "live-site.example.com", "staging.new-site.example.com") // a move that takes a seat
		// Without a product, the key's licenses are read first: this key
		// covers two products, so the product is required.
		w.call(400, iamReq("POST", "/api/v1/product/licenses/activate", nil, fmt.Sprintf(`{"license_key":%q,"instance_identifier":"x.example.com"}`, demo.RankMathKey)))
	},
	"check-license": func(w *iamWorld) {
		w.clock.Advance(48 * time.Hour)
		w.call(200, iamQuery("/api/v1/product/licenses/check", map[string]string{
			"license_key": demo.RankMathKey, "instance_identifier": demo.DemoSite, "product": "rankmath-pro"}))
		w.call(400, iamQuery("/api/v1/product/licenses/check", map[string]string{"license_key": demo.RankMathKey})) // the key's licenses, then "product is required"
	},
	"deactivate-seat": func(w *iamWorld) {
		w.contend()
		w.call(200, iamReq("POST", "/api/v1/product/licenses/deactivate", nil, iamSeatBody(demo.DemoSite, "")))
		w.call(400, iamReq("POST", "/api/v1/product/licenses/deactivate", nil, fmt.Sprintf(`{"license_key":%q,"instance_identifier":"x.example.com"}`, demo.RankMathKey)))
	},
	"edd": func(w *iamWorld) {
		edd := func(action, site string, extra map[string]string) map[string]string {
			q := map[string]string{"edd_action": action, "license": demo.RankMathKey, "item_name": "Rank Math Pro", "url": site}
			for k, v := range extra {
				q[k] = v
			}
			return q
		}
		w.contend()
		w.call(200, iamQuery("/api/v1/product/edd", edd("activate_license", "https://edd-site.example.com", nil)))
		w.call(200, iamQuery("/api/v1/product/edd", edd("activate_license", "https://staging.edd-site.example.com", nil))) // the brand's staging cap
		w.clock.Advance(48 * time.Hour)
		w.call(200, iamQuery("/api/v1/product/edd", edd("check_license", "https://"+demo.DemoSite, nil)))
		w.call(200, iamQuery("/api/v1/product/edd", edd("check_license", "https://"+demo.DemoSite, map[string]string{"item_name": "", "item_id": "42"})))
		form := url.Values{}
		for k, v := range edd("deactivate_license", "https://edd-site.example.com", nil) {
			form.Set(k, v)
		}
		post := iamReq("POST", "/api/v1/product/edd", nil, form.Encode())
		post.Headers["Content-Type"] = "application/x-www-form-urlencoded"
		w.call(200, post)

		// An update check of the demo site, which holds a seat: the answer
		// links to this endpoint's package_download, which redirects to a
		// presigned GET the function signs, and the site follows.
		resp := w.call(200, iamQuery("/api/v1/product/edd", edd("get_version", "https://"+demo.DemoSite, map[string]string{"version": "0.9.0"})))
		var version struct {
			NewVersion   string `json:"new_version"`
			DownloadLink string `json:"download_link"`
		}
		require.NoError(w.t, json.Unmarshal([]byte(resp.Body), &version), resp.Body)
		require.Equal(w.t, demo.ReleaseVersion, version.NewVersion, resp.Body)
		link, err := url.Parse(version.DownloadLink)
		require.NoError(w.t, err)
		require.Equal(w.t, "/api/v1/product/edd", link.Path, "the download link is package_download: %s", version.DownloadLink)
		query := map[string]string{}
		for k := range link.Query() {
			query[k] = link.Query().Get(k)
		}
		require.Equal(w.t, "package_download", query["edd_action"])
		resp = w.call(302, iamQuery("/api/v1/product/edd", query))
		iamFetch(w.t, resp.Headers["Location"], demo.Package("rankmath-pro"))
	},
	"create-webhook": func(w *iamWorld) {
		w.keyed(201, "iam-webhook", iamReq("POST", pathWebhooks, nil, `{"url":"https://203.0.113.50/hook","event_types":["*"]}`))
		for range licensing.MaxWebhooks - 1 {
			w.brand(201, iamReq("POST", pathWebhooks, nil, `{"url":"https://203.0.113.50/hook","event_types":["*"]}`))
		}
		w.brand(409, iamReq("POST", pathWebhooks, nil, `{"url":"https://203.0.113.50/hook","event_types":["*"]}`)) // the limit: a read alone
	},
	"list-webhooks": func(w *iamWorld) {
		w.arrangeWebhook()
		w.brand(200, iamReq("GET", pathWebhooks, nil, ""))
	},
	"delete-webhook": func(w *iamWorld) {
		w.arrangeWebhook()
		w.keyed(200, "iam-delete", iamReq("DELETE", pathWebhooks+"/{webhook}", iamWebhook, ""))
		w.brand(404, iamReq("DELETE", pathWebhooks+"/{webhook}", iamWebhook, ""))
	},
	"rotate-webhook-secret": func(w *iamWorld) {
		w.arrangeWebhook()
		w.keyed(200, "iam-rotate", iamReq("POST", pathWebhooks+"/{webhook}/rotate-secret", iamWebhook, `{}`))
	},
	"list-webhook-deliveries": func(w *iamWorld) {
		w.arrangeWebhook()
		w.brand(200, iamReq("GET", pathWebhooks+"/{webhook}/deliveries", iamWebhook, ""))
	},
	"retry-webhook-delivery": func(w *iamWorld) {
		w.arrangeWebhook()
		// The endpoint is on loopback, which the function refuses (SSRF):
		// the attempt fails, so the delivery and the endpoint's failing
		// state are written, with no request leaving the machine.
		params := map[string]string{"webhook": whTestID, "delivery": whTestDelivery()}
		resp := w.brand(200, iamReq("POST", pathWebhooks+"/{webhook}/deliveries/{delivery}/retry", params, `{}`))
		require.Contains(w.t, resp.Body, "webhook endpoint refused")
		w.keyed(200, "iam-retry", iamReq("POST", pathWebhooks+"/{webhook}/deliveries/{delivery}/retry", params, `{}`))
	},
	"deliver-webhooks": func(w *iamWorld) {
		w.arrangeWebhook()
		ctx := context.Background()
		h, err := webhookqueue.FromEnv(ctx, w.svc)
		require.NoError(w.t, err)
		var batch events.SQSEvent
		evDecode(w.t, evFile(w.t, "deliver-webhooks"), &batch)
		// The endpoint is refused (loopback), so the event is put back for
		// a retry: the delivery is written, the endpoint starts failing and
		// the message's wait is set on the queue.
		resp, err := h.Handle(ctx, batch)
		require.NoError(w.t, err)
		require.Len(w.t, resp.BatchItemFailures, 1)
	},
	"notify-expiries": func(w *iamWorld) {
		ctx := context.Background()
		exp := w.clock.Now().Add(40 * 24 * time.Hour).Format(time.RFC3339)
		_, _, err := w.setup.Provision(ctx, licensing.Tenant{Brand: "rankmath", KeyPrefix: "RM"},
			app.ProvisionInput{CustomerEmail: "expiring@example.com", Products: []string{"rankmath-pro"}, ExpirationDate: exp}, "")
		require.NoError(w.t, err)
		w.clock.Advance(35 * 24 * time.Hour)
		res, err := schedule.Expiries(w.svc.App, w.svc.Log)(ctx, events.CloudWatchEvent{ID: "iam"})
		require.NoError(w.t, err)
		require.Equal(w.t, 1, res.ExpiringSoon, "the license 5 days before its expiry gets its 7-day reminder")
	},
	"reclaim-seats": func(w *iamWorld) {
		require.NoError(w.t, w.setup.Ops().ConfigureBrand(context.Background(), demo.Brands[0].Slug, licensing.BrandSettings{StaleAfterDays: 30}))
		w.clock.Advance(40 * 24 * time.Hour)
		w.contend()
		res, err := schedule.Reclaim(w.svc.App, w.svc.Log)(context.Background(), events.CloudWatchEvent{ID: "iam"})
		require.NoError(w.t, err)
		require.Positive(w.t, res.Seats, "a stale seat is reclaimed")
	},
	"product-keys": func(w *iamWorld) { w.call(200, iamReq("GET", "/api/v1/product/keys", nil, "")) },
	"openapi":      func(w *iamWorld) { w.call(200, iamReq("GET", "/api/v1/openapi.json", nil, "")) },
	"create-release": func(w *iamWorld) {
		pkg, body := iamPackage("1.1.0")
		resp := w.brand(201, iamReq("POST", iamReleasesPath, iamProduct, body))
		var out struct {
			Upload struct {
				URL     string            `json:"url"`
				Method  string            `json:"method"`
				Headers map[string]string `json:"headers"`
			} `json:"upload"`
		}
		require.NoError(w.t, json.Unmarshal([]byte(resp.Body), &out), resp.Body)
		// The brand's PUT of the package, with the function's signature.
		up := app.Presigned{URL: out.Upload.URL, Method: out.Upload.Method, Headers: out.Upload.Headers}
		require.NoError(w.t, demo.Upload(context.Background(), nil, up, pkg))
		_, again := iamPackage(demo.ReleaseVersion)
		w.brand(409, iamReq("POST", iamReleasesPath, iamProduct, again)) // the version exists
		_, once := iamPackage("1.2.0")
		w.keyed(201, "iam-release", iamReq("POST", iamReleasesPath, iamProduct, once))
	},
	"list-releases": func(w *iamWorld) {
		resp := w.brand(200, iamReq("GET", iamReleasesPath, iamProduct, ""))
		require.Contains(w.t, resp.Body, `"version":"`+demo.ReleaseVersion+`"`)
		w.brand(404, iamReq("GET", iamReleasesPath, map[string]string{"product": "nope"}, ""))
	},
	"publish-release": func(w *iamWorld) {
		w.arrangeRelease("1.1.0", true)
		w.keyed(200, "iam-publish", iamReq("POST", iamReleasesPath+"/{version}/publish", iamRelease("1.1.0"), `{}`)) // HeadObject, then GetObject
		w.arrangeRelease("1.2.0", false)
		w.brand(409, iamReq("POST", iamReleasesPath+"/{version}/publish", iamRelease("1.2.0"), `{}`)) // package_missing: HeadObject finds nothing
	},
	"yank-release": func(w *iamWorld) {
		w.keyed(200, "iam-yank", iamReq("POST", iamReleasesPath+"/{version}/yank", iamRelease(demo.ReleaseVersion), `{}`))
		w.brand(409, iamReq("POST", iamReleasesPath+"/{version}/yank", iamRelease(demo.ReleaseVersion), `{}`)) // yanked already
	},
	"product-updates": func(w *iamWorld) {
		w.clock.Advance(48 * time.Hour) // the seat's last_seen_at is refreshed
		resp := w.call(200, iamQuery("/api/v1/product/updates", map[string]string{
			"license_key": demo.RankMathKey, "instance_identifier": demo.DemoSite, "product": "rankmath-pro", "version": "0.9.0"}))
		var out struct {
			Package *struct {
				URL string `json:"url"`
			} `json:"package"`
		}
		require.NoError(w.t, json.Unmarshal([]byte(resp.Body), &out), resp.Body)
		require.NotNil(w.t, out.Package, resp.Body)
		iamFetch(w.t, out.Package.URL, demo.Package("rankmath-pro")) // the site's GET, with the function's signature
		// Without a product, the key's licenses are read first: this key
		// covers two products, so the product is required.
		w.call(400, iamQuery("/api/v1/product/updates", map[string]string{
			"license_key": demo.RankMathKey, "instance_identifier": demo.DemoSite, "version": "0.9.0"}))
	},
	"publish-events": func(w *iamWorld) {
		var batch events.DynamoDBEvent
		evDecode(w.t, evFile(w.t, "publish-events"), &batch)
		p := iamRelay(w.t)
		resp, err := p.Handle(context.Background(), batch)
		require.NoError(w.t, err)
		require.Empty(w.t, resp.BatchItemFailures, "published")
		w.aws.rejectEntries(true) // EventBridge refuses it for good: dead-lettered
		resp, err = p.Handle(context.Background(), batch)
		require.NoError(w.t, err)
		require.Empty(w.t, resp.BatchItemFailures, "dead-lettered")
		require.Equal(w.t, 1, w.aws.deadLettered())
	},
}

// iamRelay wires the relay as functions/publish-events/main.go does, from
// the environment.
func iamRelay(t *testing.T) *relay.Publisher {
	ctx := context.Background()
	bus := os.Getenv("EVENT_BUS_NAME")
	require.NotEmpty(t, bus, "EVENT_BUS_NAME")
	region := os.Getenv("AWS_REGION")
	eb, err := relay.NewEventBridgeClient(ctx, relay.ClientConfig{Endpoint: os.Getenv("EVENTBRIDGE_ENDPOINT"), Region: region})
	require.NoError(t, err)
	q, err := relay.NewSQSClient(ctx, relay.ClientConfig{Endpoint: os.Getenv("SQS_ENDPOINT"), Region: region})
	require.NoError(t, err)
	queue := os.Getenv("DEAD_LETTER_QUEUE_URL")
	require.NotEmpty(t, queue, "DEAD_LETTER_QUEUE_URL")
	return relay.New(eb, bus, slog.New(slog.DiscardHandler), relay.NewSQSDeadLetter(q, queue))
}

type iamClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *iamClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *iamClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// iamFakeAWS answers EventBridge PutEvents, SQS SendMessage and Secrets
// Manager GetSecretValue on loopback, recording each call as the IAM action
// it needs on the template resource it names.
type iamFakeAWS struct {
	t       *testing.T
	srv     *httptest.Server
	keyring string
	mu      sync.Mutex
	actions map[dynamotest.Action]bool
	reject  bool
	dead    int
}

func newIAMFakeAWS(t *testing.T) *iamFakeAWS {
	key, err := token.GenerateKey("iam-1")
	require.NoError(t, err)
	ring, err := token.EncodeKeyring(key)
	require.NoError(t, err)
	f := &iamFakeAWS{t: t, keyring: ring, actions: map[dynamotest.Action]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *iamFakeAWS) record(action, resource string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions[dynamotest.Action{Name: action, Resource: resource}] = true
}

func (f *iamFakeAWS) seen() []dynamotest.Action {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Collect(maps.Keys(f.actions))
}

func (f *iamFakeAWS) rejectEntries(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reject = on
}

func (f *iamFakeAWS) deadLettered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dead
}

// iamResource is resource when got is want, else a name no policy grants.
func iamResource(got, want, resource string) string {
	if got == want {
		return resource
	}
	return "unexpected:" + got
}

func (f *iamFakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	var in struct {
		Entries     []struct{ EventBusName string }
		QueueUrl    string
		MessageBody string
		SecretId    string
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out any
	switch target {
	case "AWSEvents.PutEvents":
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		f.mu.Lock()
		reject := f.reject
		f.mu.Unlock()
		entries := []map[string]string{}
		for i, e := range in.Entries {
			f.record("events:PutEvents", iamResource(e.EventBusName, iamBus, "getatt:LicenseEventBus.Arn"))
			if reject {
				entries = append(entries, map[string]string{"ErrorCode": "AccessDeniedException", "ErrorMessage": "denied"})
			} else {
				entries = append(entries, map[string]string{"EventId": fmt.Sprintf("e-%d", i)})
			}
		}
		failed := 0
		if reject {
			failed = len(entries)
		}
		out = map[string]any{"FailedEntryCount": failed, "Entries": entries}
	case "AmazonSQS.SendMessage":
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		f.record("sqs:SendMessage", iamResource(in.QueueUrl, f.srv.URL+iamQueue, "getatt:EventsDeadLetterQueue.Arn"))
		f.mu.Lock()
		f.dead++
		f.mu.Unlock()
		sum := md5.Sum([]byte(in.MessageBody))
		out = map[string]string{"MessageId": "m-1", "MD5OfMessageBody": hex.EncodeToString(sum[:])}
	case "AmazonSQS.ChangeMessageVisibility":
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		f.record("sqs:ChangeMessageVisibility", iamResource(in.QueueUrl, f.srv.URL+iamWebhookQueue, "getatt:WebhookQueue.Arn"))
		out = map[string]string{}
	case "secretsmanager.GetSecretValue":
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		f.record("secretsmanager:GetSecretValue", iamResource(in.SecretId, iamSecret, "ref:SigningKeySecret"))
		out = map[string]string{"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + iamSecret, "Name": iamSecret,
			"SecretString": f.keyring, "VersionId": "v1"}
	default:
		f.record(target, "unexpected")
		http.Error(w, "unexpected operation "+target, http.StatusBadRequest)
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// iamS3 is the embedded S3 (locals3, which checks presigned URLs as S3
// does) behind a recorder that notes each request as the IAM action S3
// authorizes it as, on the template resource it names. srv is the
// functions' S3_ENDPOINT, so that both the calls a function makes (HeadObject,
// GetObject) and the presigned requests it signed and a brand or a site then
// makes (a presigned URL carries its signer's credentials: S3 authorizes it
// with the signer's grants) are recorded against it; direct serves the same
// bucket unrecorded, for the setup.
type iamS3 struct {
	s3      *locals3.Server
	srv     *httptest.Server
	direct  *httptest.Server
	mu      sync.Mutex
	actions map[dynamotest.Action]bool
}

func newIAMS3(t *testing.T) *iamS3 {
	s3, err := locals3.New(iamBucket)
	require.NoError(t, err)
	s := &iamS3{s3: s3, actions: map[dynamotest.Action]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.direct = httptest.NewServer(s3)
	t.Cleanup(s.direct.Close)
	return s
}

// iamS3Subresources are the query parameters that make an object request
// another operation (its ACL, tags, a multipart upload, …), which the
// release functions never make: each reads as an action no policy grants.
var iamS3Subresources = []string{"acl", "tagging", "attributes", "legal-hold", "retention", "torrent", "restore", "select",
	"uploads", "uploadId", "partNumber", "versionId"}

// serve records the request, then hands it to the local S3. Requests are
// path-style (/<bucket>/<key>), as the adapter and the presigner send them
// to an S3_ENDPOINT.
func (s *iamS3) serve(w http.ResponseWriter, r *http.Request) {
	bucketName, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	action := "s3:" + r.Method + " " + r.URL.Path // unexpected: no policy grants it
	switch {
	case key == "":
		// A bucket-level request (ListObjectsV2, HeadBucket, …).
	case slices.ContainsFunc(iamS3Subresources, r.URL.Query().Has):
		action += "?" + r.URL.RawQuery
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") == "":
		action = "s3:PutObject"
	case r.Method == http.MethodGet, r.Method == http.MethodHead:
		// IAM has no s3:HeadObject action: a HEAD of an object (the
		// adapter's Stat) is authorized as s3:GetObject, as a GET is.
		action = "s3:GetObject"
	}
	s.mu.Lock()
	s.actions[dynamotest.Action{Name: action, Resource: iamResource(bucketName, iamBucket, "getatt:ReleaseBucket.Arn/*")}] = true
	s.mu.Unlock()
	s.s3.ServeHTTP(w, r)
}

func (s *iamS3) seen() []dynamotest.Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.actions))
}

// iamFetch makes a GET of a presigned URL, as a site does, and requires
// the package's bytes.
func iamFetch(t *testing.T, rawURL string, want []byte) {
	t.Helper()
	require.NotEmpty(t, rawURL)
	resp, err := http.Get(rawURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", rawURL, body)
	require.Equal(t, want, body, "the package's bytes")
}

// iamPackage is a release package of rankmath-pro and its create-release body.
func iamPackage(version string) ([]byte, string) {
	pkg := append(demo.Package("rankmath-pro"), []byte(version)...) // other bytes than the demo release's
	sum := sha256.Sum256(pkg)
	b, _ := json.Marshal(map[string]any{"version": version, "changelog": "- IAM", "package_sha256": hex.EncodeToString(sum[:]), "package_size": len(pkg)})
	return pkg, string(b)
}

// arrangeRelease creates a release of rankmath-pro (pending its upload) on
// the setup wiring and, with upload, uploads its package past the recorder.
func (w *iamWorld) arrangeRelease(version string, upload bool) {
	w.t.Helper()
	ctx := context.Background()
	pkg, _ := iamPackage(version)
	sum := sha256.Sum256(pkg)
	size := int64(len(pkg))
	tenant := licensing.Tenant{Brand: demo.Brands[0].Slug, KeyPrefix: demo.Brands[0].Prefix}
	out, err := w.setup.CreateRelease(ctx, tenant, "rankmath-pro", licensing.ReleaseInput{Version: version, PackageSHA256: hex.EncodeToString(sum[:]), PackageSize: &size})
	require.NoError(w.t, err)
	if upload {
		require.NoError(w.t, demo.Upload(ctx, nil, out.Upload, pkg))
	}
}

var (
	iamProduct      = map[string]string{"product": "rankmath-pro"}
	iamReleasesPath = pathProducts + "/{product}/releases"
)

func iamRelease(version string) map[string]string {
	return map[string]string{"product": "rankmath-pro", "version": version}
}

// The product routes have per-client protection in AWS: a regional web ACL,
// attached to the API's stage, whose rate-based rules count product
// requests per viewer address (the first X-Forwarded-For address CloudFront
// adds) and, for a request without that header, per source address, and
// answer 429 rate_limited with Retry-After beyond the limit. Brand routes
// and health are not counted (their usage plan throttles them per key).
func TestTemplateProductWebACL(t *testing.T) {
	tpl := loadTemplate(t)
	acl, err := tpl.GetWAFv2WebACLWithName("ProductWebAcl")
	require.NoError(t, err)
	assert.Equal(t, "REGIONAL", acl.Scope, "API Gateway stages take regional web ACLs")
	require.NotNil(t, acl.DefaultAction.Allow, "everything else is allowed")
	body, ok := acl.CustomResponseBodies["rate_limited"]
	require.True(t, ok)
	var answer struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(body.Content), &answer), body.Content)
	assert.Equal(t, "rate_limited", answer.Error.Code, "the API's own error shape and code")
	assert.Equal(t, "APPLICATION_JSON", body.ContentType)

	keys := map[string]bool{}
	require.Len(t, acl.Rules, 2)
	for _, r := range acl.Rules {
		rb := r.Statement.RateBasedStatement
		require.NotNil(t, rb, "%s is rate based", r.Name)
		assert.Equal(t, 1500, rb.Limit, "%s: the ProductRateLimitPerIp default", r.Name)
		require.NotNil(t, rb.EvaluationWindowSec)
		assert.Equal(t, 300, *rb.EvaluationWindowSec)
		keys[rb.AggregateKeyType] = true
		require.NotNil(t, r.Action.Block, r.Name)
		cr := r.Action.Block.CustomResponse
		require.NotNil(t, cr, r.Name)
		assert.Equal(t, 429, cr.ResponseCode)
		assert.Equal(t, "rate_limited", deref(cr.CustomResponseBodyKey, nil))
		require.Len(t, cr.ResponseHeaders, 1)
		assert.Equal(t, "Retry-After", cr.ResponseHeaders[0].Name)
		// Only product paths are counted.
		scope := rb.ScopeDownStatement
		require.NotNil(t, scope, r.Name)
		path := scope.ByteMatchStatement
		if scope.AndStatement != nil {
			require.Len(t, scope.AndStatement.Statements, 2)
			path = scope.AndStatement.Statements[0].ByteMatchStatement
			not := scope.AndStatement.Statements[1].NotStatement
			require.NotNil(t, not, "%s: only requests without X-Forwarded-For", r.Name)
			size := not.Statement.SizeConstraintStatement
			require.NotNil(t, size)
			assert.Equal(t, "x-forwarded-for", size.FieldToMatch.SingleHeader.Name)
			assert.Equal(t, "GE", size.ComparisonOperator)
			assert.Zero(t, size.Size)
			assert.Equal(t, "IP", rb.AggregateKeyType)
		} else {
			require.NotNil(t, rb.ForwardedIPConfig)
			assert.Equal(t, "FORWARDED_IP", rb.AggregateKeyType)
			assert.Equal(t, "X-Forwarded-For", rb.ForwardedIPConfig.HeaderName)
		}
		require.NotNil(t, path, r.Name)
		assert.Equal(t, "/api/v1/product/", deref(path.SearchString, nil))
		assert.NotNil(t, path.FieldToMatch.UriPath)
		assert.Equal(t, "CONTAINS", path.PositionalConstraint, "the path with or without the stage's prefix")
		require.NotNil(t, r.VisibilityConfig)
		assert.True(t, r.VisibilityConfig.CloudWatchMetricsEnabled, "%s has its metric", r.Name)
	}
	assert.Equal(t, map[string]bool{"FORWARDED_IP": true, "IP": true}, keys)

	// Every product route falls under the scope; no other route does.
	products := 0
	for _, fn := range tpl.GetAllServerlessFunctionResources() {
		for _, ev := range fn.Events {
			if ev.Properties == nil || ev.Properties.ApiEvent == nil {
				continue
			}
			p := ev.Properties.ApiEvent.Path
			isProduct := strings.HasPrefix(p, "/api/v1/product/")
			assert.Equal(t, isProduct, strings.Contains(strings.ToLower(p), "/api/v1/product/"), p)
			if isProduct {
				products++
			}
		}
	}
	assert.GreaterOrEqual(t, products, 6, "activate, check, deactivate, EDD, updates, keys")

	assoc, err := tpl.GetWAFv2WebACLAssociationWithName("ProductWebAclAssociation")
	require.NoError(t, err)
	assert.Equal(t, "getatt:ProductWebAcl.Arn", assoc.WebACLArn)
	assert.Equal(t, "arn:ref:AWS::Partition:apigateway:ref:AWS::Region::/restapis/ref:LicenseApi/stages/getatt:LicenseApi.Stage", assoc.ResourceArn,
		"attached to the API's stage")
}

var iamWebhook = map[string]string{"webhook": whTestID}

// arrangeWebhook gives rankmath the endpoint whTestID (on loopback,
// subscribed to everything) and one delivery, past the recorder.
func (w *iamWorld) arrangeWebhook() {
	w.t.Helper()
	ctx := context.Background()
	secret, err := webhook.NewSecret()
	require.NoError(w.t, err)
	// Created before the sample events it is to receive.
	require.NoError(w.t, w.eng.Store.CreateWebhook(ctx, licensing.WebhookEndpoint{ID: whTestID, Brand: "rankmath", URL: "http://127.0.0.1:9/hook",
		EventTypes: []string{"*"}, Secret: secret, Status: licensing.WebhookEnabled, CreatedAt: whTestAt.AddDate(0, -1, 0), Version: 1}, nil))
	d := licensing.WebhookDelivery{ID: whTestDelivery(), Brand: "rankmath", EndpointID: whTestID, EventID: whTestEvent,
		EventType: licensing.EventWebhookEndpointDisabled, EventAt: whTestAt, Body: []byte(`{}`), Status: licensing.DeliveryPending}
	d = d.Record(licensing.DeliveryAttempt{At: whTestAt, StatusCode: 500}, true)
	require.NoError(w.t, w.eng.Store.PutDelivery(ctx, d, 0, w.clock.Now().Add(time.Hour), nil))
}
