package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// The data folder's lock. The embedded servers must have one writer each:
// a second redis-server on the same AOF or a second FerretDB on the same
// SQLite files answers 2xx for events it never stores, and a backup or a
// restore under a running server copies (or overwrites) files that change
// meanwhile. An OS file lock, unlike a PID check, holds across PID
// namespaces (two containers sharing a volume) and is released by the
// kernel whatever way its holder dies, so a crash never leaves a stale lock.
const (
	lockFile  = ".lock"
	ownerFile = ".lock.owner" // who holds the lock, for the message of the next one; not locked itself (Windows locks bar reading)
)

// lockOwner is what the holder of the lock writes beside it.
type lockOwner struct {
	Command string    `json:"command"`
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
}

// dataLock is a held lock on a data folder.
type dataLock struct {
	fl  *flock.Flock
	dir string
}

// lockData takes the data folder's lock for command (creating the folder),
// without waiting: when another process holds it, the error names that
// process and says what to do. Unlock releases it; the kernel releases it
// too if this process dies.
func lockData(dir, command string) (*dataLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dir, err)
	}
	fl := flock.New(filepath.Join(dir, lockFile))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock the data folder %s: %w (is it on a file system without locks? use a local folder for DATA_DIR)", dir, err)
	}
	if !ok {
		return nil, fmt.Errorf("the data folder %s is in use by %s: stop it first (Ctrl+C), or give this command another folder with --data or DATA_DIR",
			dir, describeOwner(dir))
	}
	host, _ := os.Hostname()
	b, _ := json.Marshal(lockOwner{Command: command, PID: os.Getpid(), Host: host, Started: time.Now().UTC().Truncate(time.Second)})
	_ = os.WriteFile(filepath.Join(dir, ownerFile), b, 0o600)
	return &dataLock{fl: fl, dir: dir}, nil
}

// describeOwner says who holds dir's lock, as well as the owner file tells.
// The holder writes that file just after it takes the lock, so a process
// that lost a race for it gives the file a moment to appear.
func describeOwner(dir string) string {
	var o lockOwner
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err == nil && json.Unmarshal(b, &o) == nil && o.Command != "" {
			break
		}
		if time.Now().After(deadline) {
			return "another process (it wrote no details)"
		}
	}
	s := fmt.Sprintf("`analytics-cli %s` (pid %d on %s, started %s)", o.Command, o.PID, o.Host, o.Started.Format(time.RFC3339))
	if e, ok := readEndpoints(dir); ok && e.PID == o.PID && e.Collector != "" {
		s += fmt.Sprintf(", collector %s, reporter %s", e.Collector, e.Reporter)
	}
	return s
}

// Unlock releases the lock. Safe on nil and twice.
func (l *dataLock) Unlock() {
	if l == nil || l.fl == nil {
		return
	}
	_ = os.Remove(filepath.Join(l.dir, ownerFile))
	_ = l.fl.Unlock()
	l.fl = nil
}
