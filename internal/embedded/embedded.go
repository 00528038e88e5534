// Package embedded starts the servers the quick start and the tests use
// when no Redis or MongoDB is configured: FerretDB in-process on SQLite, and
// a redis-server child process with AOF (or in-process miniredis when no
// redis-server binary exists).
package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/retry"
)

// Server is a running embedded server.
type Server struct {
	// URL is how clients reach it: a mongodb:// or redis:// URL.
	URL string
	// Kind says what runs: "ferretdb", "redis-server" or "miniredis".
	Kind string
	// Durable is false when a crash loses what it holds (miniredis).
	Durable bool
	stop    func() error
	child   *redisChild // a redis-server child process, else nil
}

// Stop shuts the server down, letting it write what it holds to disk.
func (s *Server) Stop() error {
	if s == nil || s.stop == nil {
		return nil
	}
	stop := s.stop
	s.stop = nil
	return stop()
}

// FerretDB starts FerretDB in this process on SQLite files under dir,
// listening on addr ("127.0.0.1:0" for any free port). Only one process may
// embed FerretDB on a folder: others must connect to it over TCP.
func FerretDB(ctx context.Context, dir, addr string, logw io.Writer) (*Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded ferretdb: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	srv, err := ferret(ctx, &ferretdb.Config{Handler: "sqlite", SQLiteURL: "file:" + abs + "/"}, addr, logw)
	if err != nil {
		return nil, err
	}
	ictx, cancel := context.WithCancel(context.Background())
	indexed := make(chan struct{})
	go func() {
		defer close(indexed)
		indexIDs(ictx, abs, 500*time.Millisecond)
	}()
	stop := srv.stop
	srv.stop = func() error {
		cancel()
		<-indexed
		return stop()
	}
	return srv, nil
}

func ferret(ctx context.Context, cfg *ferretdb.Config, addr string, logw io.Writer) (*Server, error) {
	if addr == "" || strings.HasSuffix(addr, ":0") {
		// FerretDB wants a concrete port before Run; pick a free one.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("embedded ferretdb: find a free port: %w", err)
		}
		addr = ln.Addr().String()
		_ = ln.Close()
	}
	if logw == nil {
		logw = io.Discard
	}
	cfg.Listener = ferretdb.ListenerConfig{TCP: addr}
	cfg.Logger = slog.New(lazyHandler{h: slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn})})
	f, err := ferretdb.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded ferretdb: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(runCtx)
	}()
	if err := waitTCP(ctx, addr, 30*time.Second); err != nil {
		cancel()
		<-done
		return nil, fmt.Errorf("embedded ferretdb: %w", err)
	}
	return &Server{
		URL:     "mongodb://" + addr + "/",
		Kind:    "ferretdb",
		Durable: true,
		stop: func() error {
			cancel()
			<-done
			return nil
		},
	}, nil
}

// Redis starts a redis-server child process with AOF (appendfsync everysec)
// under dir when the binary exists, else miniredis in this process.
func Redis(ctx context.Context, dir string) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return Miniredis()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("embedded redis: find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return RedisServer(ctx, dir, port)
}

// RedisServer starts a redis-server child process with AOF under dir on the
// given port. Starting it again on the same dir and port after Stop brings
// back what it held, as a restarted production Redis would; Supervise does
// that by itself whenever the child dies.
func RedisServer(ctx context.Context, dir string, port int) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("embedded redis: %w (apt-get install redis-server)", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &redisChild{bin: bin, dir: abs, port: port}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return &Server{
		URL:     fmt.Sprintf("redis://127.0.0.1:%d/0", port),
		Kind:    "redis-server",
		Durable: true,
		child:   c,
		stop:    c.stop,
	}, nil
}

// PID returns the process id of a server running as a child process (a
// redis-server; after a restart, the new one), or 0 for in-process servers.
func (s *Server) PID() int {
	if s == nil || s.child == nil {
		return 0
	}
	s.child.mu.Lock()
	defer s.child.mu.Unlock()
	if s.child.proc == nil {
		return 0
	}
	return s.child.proc.cmd.Process.Pid
}

// LogFile is the log of a redis-server child ("" for other servers).
func (s *Server) LogFile() string {
	if s == nil || s.child == nil {
		return ""
	}
	return filepath.Join(s.child.dir, "redis.log")
}

// Restart is what Supervise reports after each attempt to bring a dead
// redis-server back.
type Restart struct {
	Exit     error // how the previous process ended
	Attempt  int   // failed attempts in a row before this one
	PID      int   // the new process, when Err is nil
	Err      error // why this attempt failed
	Downtime time.Duration
}

// Supervise watches a redis-server child and, whenever it exits without
// Stop having been called, starts it again on the same port and data folder
// (its AOF brings the queue back), calling report after each attempt. It
// returns nil when ctx ends or the server is stopped, and an error once
// maxFailures attempts in a row have failed (a process that dies within
// stableAfter of starting counts as a failed attempt too). It returns nil at
// once for servers that are not child processes.
func (s *Server) Supervise(ctx context.Context, maxFailures int, report func(Restart)) error {
	if s == nil || s.child == nil {
		return nil
	}
	c := s.child
	failures := 0
	for {
		c.mu.Lock()
		p := c.proc
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-p.exited:
		}
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if stopping {
			return nil
		}
		died := time.Now()
		if died.Sub(p.started) < stableAfter {
			failures++ // a crash loop is as bad as a failed start
		} else {
			failures = 0
		}
		for {
			if failures >= maxFailures {
				return fmt.Errorf("embedded redis: redis-server on port %d died (%v) and could not be restarted %d times in a row; its log %s ends:\n%s",
					c.port, p.err, failures, filepath.Join(c.dir, "redis.log"), c.logTail())
			}
			if failures > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(backoff(failures)):
				}
			}
			err := c.start(ctx)
			r := Restart{Exit: p.err, Attempt: failures, Err: err, Downtime: time.Since(died)}
			if err == nil {
				r.PID = s.PID()
			}
			c.mu.Lock()
			stopping := c.stopping
			c.mu.Unlock()
			if ctx.Err() != nil || stopping {
				return nil
			}
			if report != nil {
				report(r)
			}
			if err == nil {
				break
			}
			failures++
		}
	}
}

// stableAfter is how long a restarted redis-server must live for its
// restart to count as a success.
const stableAfter = 5 * time.Second

// backoff is the wait before the restart that follows failures failed
// ones: doubling from 100ms to 2s, jittered.
func backoff(failures int) time.Duration {
	d := 100 * time.Millisecond << (failures - 1)
	if d > 2*time.Second {
		d = 2 * time.Second
	}
	return retry.Jitter(d)
}

// redisChild is a redis-server child process that may be restarted.
type redisChild struct {
	bin, dir string
	port     int

	mu       sync.Mutex
	proc     *redisProc // the current process
	stopping bool       // Stop was called: an exit is expected
}

type redisProc struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{} // closed once cmd has exited; err is set then
	err     error
}

// start runs redis-server and waits until it answers; it becomes the
// current process. When Stop was called meanwhile it is stopped again.
func (c *redisChild) start(ctx context.Context) error {
	cmd := exec.Command(c.bin,
		"--bind", "127.0.0.1", "--port", fmt.Sprint(c.port), "--dir", c.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--maxmemory-policy", "noeviction", "--protected-mode", "yes", "--daemonize", "no",
		"--logfile", filepath.Join(c.dir, "redis.log"))
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("embedded redis: start %s: %w", c.bin, err)
	}
	p := &redisProc{cmd: cmd, started: time.Now(), exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", c.port), MaxRetries: -1, DialerRetries: 1,
		DialTimeout: time.Second, ReadTimeout: time.Second, ContextTimeoutEnabled: true})
	defer rdb.Close()
	deadline := time.Now().Add(30 * time.Second)
	addr := fmt.Sprintf("127.0.0.1:%d", c.port)
	for {
		// Ping only once the port accepts, which keeps go-redis from
		// logging dial failures while the server loads its AOF.
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err = rdb.Ping(pctx).Err()
			cancel()
			if err == nil {
				break
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("embedded redis: redis-server exited: %v; its log %s ends:\n%s",
				p.err, filepath.Join(c.dir, "redis.log"), c.logTail())
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-p.exited
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-p.exited
			return errors.New("embedded redis: redis-server did not answer within 30s")
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		terminate(p)
		return errors.New("embedded redis: stopped while starting")
	}
	c.proc = p
	return nil
}

// stop shuts the current process down (SIGTERM makes redis-server fsync
// its AOF first) and keeps Supervise from starting another.
func (c *redisChild) stop() error {
	c.mu.Lock()
	c.stopping = true
	p := c.proc
	c.mu.Unlock()
	if p != nil {
		terminate(p)
	}
	return nil
}

func terminate(p *redisProc) {
	_ = askToStop(p.cmd.Process)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (c *redisChild) logTail() string {
	log, _ := os.ReadFile(filepath.Join(c.dir, "redis.log"))
	return lastLines(string(log), 10)
}

// Miniredis starts an in-memory Redis in this process. What it holds is
// lost when the process dies.
func Miniredis() (*Server, error) {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		return nil, fmt.Errorf("embedded miniredis: %w", err)
	}
	return &Server{URL: "redis://" + m.Addr() + "/0", Kind: "miniredis", stop: func() error { m.Close(); return nil }}, nil
}

func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within %v: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FerretDBPostgres starts FerretDB in this process on a PostgreSQL database
// (for measurements and deployments that want FerretDB's PostgreSQL backend).
func FerretDBPostgres(ctx context.Context, pgURL, addr string, logw io.Writer) (*Server, error) {
	return ferret(ctx, &ferretdb.Config{Handler: "postgresql", PostgreSQLURL: pgURL}, addr, logw)
}
