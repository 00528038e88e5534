package embedded

import (
	"os"
	"syscall"
)

// childAttr makes redis-server die with us even on SIGKILL, so a crashed
// quick start or test never leaves one behind holding the port; and puts it
// in its own process group, away from a terminal's Ctrl-C, so it is stopped
// in order after the daemons.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
}

// askToStop asks the child to shut down cleanly (redis-server flushes its
// AOF on SIGTERM).
func askToStop(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
