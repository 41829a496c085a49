package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clsvc/license-service/internal/dev/demo"
	"github.com/clsvc/license-service/internal/dev/rie"
)

// The functions' real bootstraps, built for this machine, run under the AWS
// Lambda Runtime Interface Emulator as Lambda runs them: the emulator starts
// the bootstrap, which asks the Runtime API for the event, and the answer is
// an API Gateway proxy response. The emulator comes from `make
// bin/tools/aws-lambda-rie` (`make test` installs it); without it the test is
// skipped.

// rieCheckEvent is the check-license event used while events/check-license.json
// does not exist.
const rieCheckEvent = `{
  "resource": "/api/v1/product/licenses/check",
  "path": "/api/v1/product/licenses/check",
  "httpMethod": "GET",
  "headers": {"Accept": "application/json"},
  "queryStringParameters": {
    "license_key": "RM-DEMA-2222-3333-4444",
    "instance_identifier": "demo.example.com",
    "product": "rankmath-pro"
  },
  "requestContext": {"resourcePath": "/api/v1/product/licenses/check", "httpMethod": "GET", "stage": "dev"},
  "body": null,
  "isBase64Encoded": false
}`

func TestRIE(t *testing.T) {
	root := filepath.Dir(templatePath(t))
	emulator, err := rie.Find(root)
	if err != nil {
		// make test installs the emulator first; only a bare go test on a
		// machine without it skips, never CI.
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("CI must run the emulator tests: %v (make test installs it)", err)
		}
		t.Skip(err.Error())
	}

	t.Run("health", func(t *testing.T) {
		t.Parallel()
		event := `{"httpMethod":"GET","path":"/api/v1/health","resource":"/api/v1/health"}`
		// Health reads DynamoDB once: up with the engine, degraded without.
		srv := start(t).srv
		e := rieStart(t, root, emulator, "health", srv.DynamoURL)
		resp := rieInvoke(t, e, event, true)
		assert.JSONEq(t, `{"status":"ok","dynamodb":"ok"}`, resp.Body)
		down := rieStart(t, root, emulator, "health", "http://127.0.0.1:9")
		resp = rieInvokeStatus(t, down, event, true, http.StatusServiceUnavailable)
		assert.JSONEq(t, `{"status":"degraded","dynamodb":"unreachable"}`, resp.Body)
	})

	t.Run("check-license", func(t *testing.T) {
		t.Parallel()
		event := rieCheckEvent
		if b, err := os.ReadFile(filepath.Join(root, "events", "check-license.json")); err == nil {
			event = string(b)
		}
		srv := start(t).srv // the engine with the demo data
		e := rieStart(t, root, emulator, "check-license", srv.DynamoURL)
		resp := rieInvoke(t, e, event, true)
		var body struct {
			IsValid     bool `json:"is_valid"`
			IsActivated bool `json:"is_activated"`
		}
		require.NoError(t, json.Unmarshal([]byte(resp.Body), &body), resp.Body)
		assert.True(t, body.IsValid, resp.Body)
		assert.True(t, body.IsActivated, resp.Body)

		// The same process answers again, without another init.
		resp = rieInvoke(t, e, event, false)
		assert.Contains(t, resp.Body, `"is_valid":true`)
	})

	t.Run("product-updates", func(t *testing.T) {
		t.Parallel()
		event, err := os.ReadFile(filepath.Join(root, "events", "product-updates.json"))
		require.NoError(t, err)
		srv := start(t).srv // the engine, the local S3 and the demo releases
		// The bucket as `make invoke` hands it over (see cmd/invoke).
		e := rieStart(t, root, emulator, "product-updates", srv.DynamoURL,
			"RELEASE_BUCKET="+srv.Service.Config.ReleaseBucket, "S3_ENDPOINT="+srv.S3URL)
		resp := rieInvoke(t, e, string(event), true)
		var body struct {
			Package *struct {
				URL string `json:"url"`
			} `json:"package"`
		}
		require.NoError(t, json.Unmarshal([]byte(resp.Body), &body), resp.Body)
		require.NotNil(t, body.Package, "the demo site is offered the package: %s", resp.Body)
		// The presigned URL the bootstrap signed is good for the package.
		dl, err := http.Get(body.Package.URL)
		require.NoError(t, err)
		defer dl.Body.Close()
		pkg, err := io.ReadAll(dl.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, dl.StatusCode, "%s", pkg)
		assert.Equal(t, demo.Package("rankmath-pro"), pkg)
	})
}

// rieStart builds the function and starts it under the emulator with the
// environment template.yaml gives it (and extra KEY=VALUE variables); the
// emulator stops with the test, and nothing it started may outlive it.
func rieStart(t *testing.T, root, emulator, fn, dynamoURL string, extra ...string) *rie.Emulator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bootstrap, err := rie.Build(ctx, root, fn, dir)
	require.NoError(t, err)
	e, err := rie.Start(ctx, rie.Config{
		Emulator:  emulator,
		Bootstrap: bootstrap,
		Env: append([]string{
			"TABLE_NAME=licenses", "DYNAMODB_ENDPOINT=" + dynamoURL, "AWS_REGION=us-east-1",
			"USE_CASE=" + fn, "LOG_LEVEL=WARN", "AWS_LAMBDA_FUNCTION_NAME=" + fn,
		}, extra...),
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		e.Close()
		if t.Failed() {
			t.Logf("emulator output:\n%s", e.Output())
		}
		u, err := url.Parse(e.URL())
		require.NoError(t, err)
		if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
			_ = conn.Close()
			t.Errorf("the emulator still listens on %s after Close", u.Host)
		}
		assert.Empty(t, processesRunning(bootstrap), "processes left running %s", bootstrap)
	})
	return e
}

// rieInvoke sends the event and requires a 200 API Gateway proxy response
// with a JSON body; a cold invoke must report the function's init duration.
func rieInvoke(t *testing.T, e *rie.Emulator, event string, cold bool) events.APIGatewayProxyResponse {
	t.Helper()
	return rieInvokeStatus(t, e, event, cold, http.StatusOK)
}

// rieInvokeStatus is rieInvoke for a proxy response of another status.
func rieInvokeStatus(t *testing.T, e *rie.Emulator, event string, cold bool, status int) events.APIGatewayProxyResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := e.Invoke(ctx, []byte(event))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "emulator answer: %s", res.Body)
	var resp events.APIGatewayProxyResponse
	require.NoError(t, json.Unmarshal(res.Body, &resp), "not an API Gateway proxy response: %s", res.Body)
	require.Equal(t, status, resp.StatusCode, "response: %s", res.Body)
	mt, _, err := mime.ParseMediaType(resp.Headers["Content-Type"])
	assert.NoError(t, err)
	assert.Equal(t, "application/json", mt)
	assert.Equal(t, cold, res.Cold)
	if cold {
		assert.Equal(t, rie.SourceInitReport, res.InitSource, "the emulator reports the init duration")
		assert.Positive(t, res.InitDuration)
		t.Logf("init duration %v (%s); REPORT Init Duration %v, Duration %v; first response %v after the emulator started",
			res.InitDuration, res.InitSource, res.ReportInitDuration, res.Duration, res.SinceStart)
	} else {
		assert.Zero(t, res.InitDuration)
	}
	return resp
}

// processesRunning lists the processes whose command line names path
// (Linux; nil where /proc is missing).
func processesRunning(path string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(path)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
