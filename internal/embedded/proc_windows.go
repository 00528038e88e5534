package embedded

import (
	"os"
	"syscall"
)

// childAttr: Windows has neither process groups for signals nor Pdeathsig;
// a serve killed outright leaves its redis-server running.
func childAttr() *syscall.SysProcAttr { return nil }

// askToStop: Windows cannot send SIGTERM; the child is killed (its AOF is
// fsynced every second, so at most the last second is lost, and a stop
// comes only after the pipeline has drained).
func askToStop(p *os.Process) error { return p.Kill() }
