//go:build unix

package testenv

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Pause freezes the process with SIGSTOP, as a long GC pause, a swapped-out
// or migrated VM or a debugger would: it keeps its connections and the work
// in hand but runs nothing until Continue. On Linux it returns once the
// kernel reports the process stopped.
func (p *Process) Pause(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %s: %v", p.Name, err)
	}
	stat := fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid)
	if _, err := os.Stat(stat); err != nil {
		return // no procfs: the signal is sent, which is all we can know
	}
	Eventually(t, 10*time.Second, func() error {
		b, err := os.ReadFile(stat)
		if err != nil {
			return err
		}
		// Fields after the command name, which is in parentheses: state first.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && (s[i+2] == 'T' || s[i+2] == 't') {
			return nil
		}
		return fmt.Errorf("%s not stopped yet: %s", p.Name, s)
	})
}

// Continue resumes a process frozen by Pause with SIGCONT.
func (p *Process) Continue(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT %s: %v", p.Name, err)
	}
}
