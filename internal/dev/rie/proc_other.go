//go:build !unix

package rie

import "os/exec"

func setProcAttr(*exec.Cmd) {}

// signalGroup stops the emulator; without process groups, only it.
func signalGroup(cmd *exec.Cmd, _ bool) { _ = cmd.Process.Kill() }

// proc is a child process of the emulator; none are tracked here.
type proc struct{}

func children(int) []proc { return nil }

func (proc) kill() {}
