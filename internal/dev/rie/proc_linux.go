//go:build linux

package rie

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// setProcAttr puts the emulator in its own process group and has the kernel
// kill it should the process that started it die first (a test binary that
// times out does not run its cleanups).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup asks the emulator's process group to stop, or kills it.
func signalGroup(cmd *exec.Cmd, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}

// proc is a process as /proc/<pid>/stat describes it.
type proc struct {
	pid, ppid, pgrp int
	state           string
	start           string // start time since boot, in clock ticks
}

// children lists the live child processes of pid: the emulator starts its
// runtime (the bootstrap) in a process group of its own, which killing the
// emulator's group does not reach.
func children(pid int) []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var kids []proc
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(n); ok && p.ppid == pid && p.state != "Z" {
			kids = append(kids, p)
		}
	}
	return kids
}

// kill kills p and, if it leads one, its process group, unless p is gone or
// its pid now names another process.
func (p proc) kill() {
	now, ok := readProc(p.pid)
	if !ok || now.start != p.start || now.state == "Z" {
		return
	}
	if now.pgrp == p.pid {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		return
	}
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
}

func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	// pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt
	// majflt cmajflt utime stime cutime cstime priority nice num_threads
	// itrealvalue starttime ...; comm may contain spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return proc{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return proc{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return proc{}, false
	}
	return proc{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0], start: f[19]}, true
}
