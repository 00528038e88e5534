//go:build unix && !linux

package embedded

import (
	"os"
	"syscall"
)

// childAttr puts redis-server in its own process group. Only Linux can tie
// the child's life to ours (Pdeathsig): elsewhere a serve killed with
// SIGKILL leaves its redis-server running until it is stopped by hand.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// askToStop asks the child to shut down cleanly (redis-server flushes its
// AOF on SIGTERM).
func askToStop(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
