package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// BuildBinaries builds the given main packages (paths relative to the
// calling test's folder) into a new temporary folder, for tests that run the
// real binaries. Call it from TestMain; remove the folder when done.
func BuildBinaries(pkgs ...string) (string, error) {
	dir, err := os.MkdirTemp("", "analytics-bin-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %v: %w", pkgs, err)
	}
	return dir, nil
}

// Process is a daemon binary running as a child process.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Out  *Buffer
	// URL is the address the daemon logged it listens on (a processor's
	// /healthz, /readyz and /metrics port).
	URL  string
	done chan error
}

var (
	listeningRe = regexp.MustCompile(`"url":"(http://[^"]+)"`)
	startedRe   = regexp.MustCompile(`"message":"(processor started)"`)
)

// StartProcess runs bin from dir with env added to the test's environment,
// and waits until it is listening (a collector or reporter, whose /healthz
// then answers) or has started (a processor). A processor gets a free port
// (PROCESSOR_PORT=0) unless env says otherwise, so several can run.
func StartProcess(t testing.TB, dir, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: bin, Out: &Buffer{}, done: make(chan error, 1)}
	p.Cmd = exec.Command(filepath.Join(dir, bin), args...)
	p.Cmd.Env = append(append(os.Environ(), "PROCESSOR_PORT=0"), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.Cmd.Wait() }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s output:\n%s", bin, p.Out.String())
		}
	})
	if bin == "processor" {
		WaitMatch(t, p.Out, startedRe, 30*time.Second)
		if m := listeningRe.FindStringSubmatch(p.Out.String()); m != nil {
			p.URL = m[1]
		}
	} else {
		p.URL = WaitMatch(t, p.Out, listeningRe, 30*time.Second)
		WaitHealthy(t, p.URL)
	}
	return p
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	if p.Cmd.ProcessState == nil {
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		p.done <- nil // later calls return at once
	}
}

// Stop sends SIGTERM and fails the test unless the process exits 0 within
// deadline. It returns how long the exit took.
func (p *Process) Stop(t testing.TB, deadline time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("%s exited with %v after SIGTERM; output:\n%s", p.Name, err, p.Out.String())
		}
	case <-time.After(deadline):
		t.Fatalf("%s still running %v after SIGTERM", p.Name, deadline)
	}
	return time.Since(start)
}

// MainWithBinaries is a TestMain body for packages that run the real
// binaries: it builds pkgs, stores the folder in *dir, runs the tests and
// removes the folder. It returns the exit code for os.Exit.
func MainWithBinaries(m *testing.M, dir *string, pkgs ...string) int {
	d, err := BuildBinaries(pkgs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*dir = d
	defer os.RemoveAll(d)
	return m.Run()
}
