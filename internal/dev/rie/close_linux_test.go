//go:build linux

package rie

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a stubborn fake emulator (it ignores SIGTERM and
// reports no init duration) and as its runtime (a process group of its own
// that never exits), to show that Close leaves nothing behind even then.
func TestMain(m *testing.M) {
	switch os.Getenv("RIE_FAKE") {
	case "emulator":
		fakeEmulator()
		return
	case "runtime":
		time.Sleep(time.Hour)
		return
	}
	os.Exit(m.Run())
}

func fakeEmulator() {
	signal.Ignore(syscall.SIGTERM)
	var addr string
	for i, a := range os.Args {
		if a == "--runtime-interface-emulator-address" && i+1 < len(os.Args) {
			addr = os.Args[i+1]
		}
	}
	runtime := exec.Command(os.Args[0])
	runtime.Env = append(os.Environ(), "RIE_FAKE=runtime")
	runtime.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := runtime.Start(); err != nil {
		fmt.Println("start runtime:", err)
		os.Exit(1)
	}
	fmt.Printf("runtime pid %d\n", runtime.Process.Pid)
	http.HandleFunc(InvokePath, func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("REPORT RequestId: %s\tDuration: 1.50 ms\tBilled Duration: 2 ms\t\n", r.Header.Get("X-Amzn-RequestId"))
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	fmt.Println(http.ListenAndServe(addr, nil))
	os.Exit(1)
}

func TestCloseLeavesNothing(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e, err := Start(ctx, Config{Emulator: self, Bootstrap: self, Env: []string{"RIE_FAKE=emulator"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Invoke(ctx, []byte(`{}`))
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	if string(res.Body) != `{"ok":true}` || !res.Cold || res.Duration != 1500*time.Microsecond {
		t.Errorf("result %+v", res)
	}
	if res.InitSource != SourceWallClock || res.InitDuration != res.SinceStart {
		t.Errorf("without an init report the init duration is the wall clock; got %v from %q", res.InitDuration, res.InitSource)
	}
	m := regexp.MustCompile(`runtime pid (\d+)`).FindStringSubmatch(e.Output())
	if m == nil {
		e.Close()
		t.Fatalf("no runtime pid in the output:\n%s", e.Output())
	}
	pid, _ := strconv.Atoi(m[1])

	e.Close()
	for _, p := range []int{e.cmd.Process.Pid, pid} {
		deadline := time.Now().Add(5 * time.Second)
		for alive(p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(p) {
			t.Errorf("process %d still runs after Close", p)
		}
	}
	e.Close() // idempotent
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.state != "Z"
}
