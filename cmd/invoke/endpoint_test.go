package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// closedAddr is a loopback address where nothing listens (a port just
// released).
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// When nothing answers at the DynamoDB endpoint, invoke stops with an error
// that names the endpoint and says how to get an engine there; it starts
// nothing itself.
func TestNothingAnswersAtTheDynamoDBEndpoint(t *testing.T) {
	addr := closedAddr(t)
	_, _, _, err := ensureDynamo(context.Background(), ".", "http://"+addr, "http://127.0.0.1:9", false)
	if err == nil {
		t.Fatal("no error with nothing at the endpoint")
	}
	var ue usageError
	if errors.As(err, &ue) {
		t.Fatalf("a usage error (exit 2) rather than a failure: %v", err)
	}
	for _, want := range []string{
		"DynamoDB endpoint http://" + addr + ": nothing answers there",
		"`make run DYNAMODB_ADDR=" + addr + "`",
		"STANDALONE=1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

// Something that answers HTTP but is no DynamoDB engine with the table is
// refused too.
func TestSomethingElseAnswersAtTheDynamoDBEndpoint(t *testing.T) {
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	_, _, _, err := ensureDynamo(context.Background(), ".", other.URL, "http://127.0.0.1:9", false)
	if err == nil || !strings.Contains(err.Error(), "something answers at "+other.URL+", but not a DynamoDB engine") {
		t.Fatalf("error %v", err)
	}
}

// The command itself, as `make invoke FN=health EVENT=events/health.json
// DYNAMODB_ADDR=<nothing there>` runs it: exit status 1 and the message on
// stderr, before anything is built or the emulator is looked for.
func TestInvokeExitsWhenNothingAnswers(t *testing.T) {
	if os.Getenv("INVOKE_TEST_MAIN") == "1" {
		os.Args = append([]string{"invoke"}, strings.Fields(os.Getenv("INVOKE_TEST_ARGS"))...)
		main()
		return
	}
	addr := closedAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestInvokeExitsWhenNothingAnswers$")
	cmd.Env = append(os.Environ(), "INVOKE_TEST_MAIN=1",
		"INVOKE_TEST_ARGS=-fn health -event ../../events/health.json -rie /nonexistent/aws-lambda-rie -dynamodb-endpoint http://"+addr)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "invoke: DynamoDB endpoint http://"+addr+": nothing answers there") {
		t.Fatalf("output:\n%s", out)
	}
	if strings.Contains(string(out), "built ") {
		t.Fatalf("it built the function first:\n%s", out)
	}
}
