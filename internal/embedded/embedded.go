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
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
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
	return ferret(ctx, &ferretdb.Config{Handler: "sqlite", SQLiteURL: "file:" + abs + "/"}, addr, logw)
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
	cfg.Logger = slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
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
// back what it held, as a restarted production Redis would.
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
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--dir", abs,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--maxmemory-policy", "noeviction", "--protected-mode", "yes", "--daemonize", "no",
		"--logfile", filepath.Join(abs, "redis.log"))
	// Die with us even on SIGKILL, so a crashed quick start or test never
	// leaves a redis-server behind holding the port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("embedded redis: start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer rdb.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := rdb.Ping(ctx).Err(); err == nil {
			break
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(abs, "redis.log"))
			return nil, fmt.Errorf("embedded redis: redis-server exited: %v; its log %s ends:\n%s",
				err, filepath.Join(abs, "redis.log"), lastLines(string(log), 10))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, errors.New("embedded redis: redis-server did not answer within 30s")
		}
	}
	return &Server{
		URL:     url,
		Kind:    "redis-server",
		Durable: true,
		stop: func() error {
			// SIGTERM makes redis-server fsync its AOF before exiting.
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			return nil
		},
	}, nil
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
