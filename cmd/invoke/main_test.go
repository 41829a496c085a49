package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/clsvc/license-service/internal/dev/rie"
)

// Every variable template.yaml sets for a function (Globals or its own) has a
// local value, or is left unset on purpose, in localEnv: a function the
// template gives a new variable cannot start under `make invoke` without it.
func TestFunctionEnvCoversTheTemplate(t *testing.T) {
	root, err := rie.ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type environment struct {
		Variables map[string]yaml.Node `yaml:"Variables"`
	}
	var tpl struct {
		Globals struct {
			Function struct {
				Environment environment `yaml:"Environment"`
			} `yaml:"Function"`
		} `yaml:"Globals"`
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				Environment environment `yaml:"Environment"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	fns, err := rie.Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for id, res := range tpl.Resources {
		if res.Type != "AWS::Serverless::Function" {
			continue
		}
		seen++
		vars := res.Properties.Environment.Variables
		useCase := vars["USE_CASE"].Value
		if !slices.Contains(fns, useCase) {
			t.Errorf("%s: USE_CASE %q is not a directory under functions/", id, useCase)
		}
		env := strings.Join(functionEnv(useCase, "http://127.0.0.1:8000", "http://127.0.0.1:9", "http://127.0.0.1:9000", "INFO"), "\n") + "\n"
		for _, names := range []map[string]yaml.Node{tpl.Globals.Function.Environment.Variables, vars} {
			for name := range names {
				value, ok := localEnv[name]
				switch {
				case !ok:
					t.Errorf("%s: template.yaml sets %s; give it a local value (or leave it unset, saying why) in localEnv", id, name)
				case value != "" && !strings.Contains(env, "\n"+name+"="+value+"\n"):
					t.Errorf("%s: %s=%s is not in its environment:\n%s", id, name, value, env)
				}
			}
		}
		for _, want := range []string{"USE_CASE=" + useCase, "EVENTBRIDGE_ENDPOINT=http://127.0.0.1:9", "DYNAMODB_ENDPOINT=http://127.0.0.1:8000", "S3_ENDPOINT=http://127.0.0.1:9000"} {
			if !strings.Contains("\n"+env, "\n"+want+"\n") {
				t.Errorf("%s: no %s in its environment", id, want)
			}
		}
	}
	if seen == 0 {
		t.Fatal("template.yaml declares no function")
	}
}

// The local bus takes PutEvents as the relay's SDK client sends them and
// keeps the entries to be printed; it refuses anything else.
func TestLocalBus(t *testing.T) {
	bus, err := startLocalBus()
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	post := func(target, body string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodPost, bus.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", target)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := post("AWSEvents.PutEvents", `{"Entries":[{"EventBusName":"license-events","Source":"license-service","DetailType":"LicenseSuspended","Detail":"{\"brand\":\"rankmath\"}"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var out struct {
		FailedEntryCount int
		Entries          []struct{ EventId string }
	}
	if err := json.Unmarshal(body, &out); err != nil || out.FailedEntryCount != 0 || len(out.Entries) != 1 || out.Entries[0].EventId == "" {
		t.Fatalf("answer %s (%v)", body, err)
	}
	got := bus.Entries()
	if len(got) != 1 || got[0].DetailType != "LicenseSuspended" || !bytes.Equal(got[0].Detail, []byte(`{"brand":"rankmath"}`)) {
		t.Fatalf("entries %+v", got)
	}
	if len(bus.Entries()) != 0 {
		t.Fatal("Entries forgets what it returned")
	}
	if resp, body := post("AmazonSQS.SendMessage", `{}`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("another operation: status %d: %s", resp.StatusCode, body)
	}
}
