package rie

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
)

var functionName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Functions lists the functions of the module at root: the directories under
// functions/ with a main.go.
func Functions(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	var fns []string
	for _, e := range entries {
		if !e.IsDir() || !functionName.MatchString(e.Name()) {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "functions", e.Name(), "main.go")); err == nil {
			fns = append(fns, e.Name())
		}
	}
	return fns, nil // os.ReadDir sorts by name
}

// Build builds function (a directory name under root/functions) as a Lambda
// bootstrap for this machine's GOOS/GOARCH, the way `make build` builds it for
// Lambda, into dir/bootstrap, and returns its path.
func Build(ctx context.Context, root, function, dir string) (string, error) {
	fns, err := Functions(root)
	if err != nil {
		return "", fmt.Errorf("list functions: %w", err)
	}
	if !functionName.MatchString(function) || !slices.Contains(fns, function) {
		return "", fmt.Errorf("no function %q under %s; the functions are: %s",
			function, filepath.Join(root, "functions"), strings.Join(fns, ", "))
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("the go command is not on PATH")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(dir, "bootstrap"))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w",
		"-o", out, "./functions/"+function)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./functions/%s: %w\n%s", function, err, b)
	}
	return out, nil
}

// Find returns the emulator: root/bin/tools/aws-lambda-rie, else
// aws-lambda-rie on PATH.
func Find(root string) (string, error) {
	p := filepath.Join(root, ToolPath)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		return p, nil
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the AWS Lambda Runtime Interface Emulator is neither at %s nor on PATH: "+
		"run `make %s` (or `make test`, which installs it)", p, ToolPath)
}

// ModuleRoot finds the directory with go.mod at or above dir.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}
