package main

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the kernel kill a child if the benchmark dies without
// running its cleanup (SIGKILL, crash), so no gateway or redis-server is
// left behind.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
