//go:build unix && !linux

package rie

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the emulator in its own process group.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup asks the emulator's process group to stop, or kills it.
func signalGroup(cmd *exec.Cmd, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}

// proc is a child process of the emulator; without /proc none are tracked,
// and the emulator's own shutdown stops its runtime.
type proc struct{}

func children(int) []proc { return nil }

func (proc) kill() {}
