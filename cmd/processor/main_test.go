package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/testenv"
)

// Two processors on one host, neither given a port: both start (the
// README says processors scale out side by side), whichever finds the
// default port taken serves its health and metrics on a free port and
// says which.
func TestTwoProcessorsWithoutAPortSetting(t *testing.T) {
	// The default port is taken whatever else runs on this machine: by
	// this test when it is free, else by whoever holds it.
	if hold, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", config.Default().ProcessorPort)); err == nil {
		t.Cleanup(func() { hold.Close() })
	}
	_, prefix := testenv.Redis(t)
	env := map[string]string{"REDIS_URL": testenv.RedisURL(t), "MONGODB_URI": testenv.MongoDB(t), "QUEUE_PREFIX": prefix,
		"HOST": "127.0.0.1", "LEASE_TTL": "2s"}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	outs := make([]*testenv.Buffer, 2)
	exited := make([]chan error, 2)
	for i := range outs {
		outs[i], exited[i] = &testenv.Buffer{}, make(chan error, 1)
		wg.Go(func() { exited[i] <- run(ctx, []string{"processor"}, getenv, outs[i]) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	started := regexp.MustCompile(`"url":"(http://[^"]+)"[^\n]*"message":"processor started"`)
	for i, out := range outs {
		var url string
		err := testenv.Poll(60*time.Second, func() error {
			select {
			case err := <-exited[i]:
				exited[i] <- err
				return nil
			default:
			}
			m := started.FindStringSubmatch(out.String())
			if m == nil {
				return fmt.Errorf("processor %d has not started:\n%s", i, out.String())
			}
			url = m[1]
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if url == "" {
			t.Fatalf("processor %d exited: %v\n%s", i, <-exited[i], out.String())
		}
		testenv.WaitHealthy(t, url)
		if !strings.Contains(out.String(), "PROCESSOR_PORT") {
			t.Fatalf("processor %d does not say the default port was taken nor how to choose one:\n%s", i, out.String())
		}
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatalf("processor %d /metrics: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("processor %d /metrics: %s", i, resp.Status)
		}
	}
}

// A port the user chose is never swapped for another: taken, it stops the
// processor with an error naming it and the setting.
func TestChosenProcessorPortTakenStops(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := fmt.Sprint(busy.Addr().(*net.TCPAddr).Port)
	_, prefix := testenv.Redis(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"variable", map[string]string{"PROCESSOR_PORT": port}, nil},
		{"flag", nil, []string{"--port", port}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"REDIS_URL": testenv.RedisURL(t), "MONGODB_URI": testenv.MongoDB(t), "QUEUE_PREFIX": prefix, "HOST": "127.0.0.1"}
			for k, v := range tc.env {
				env[k] = v
			}
			var out testenv.Buffer
			err := run(context.Background(), append([]string{"processor"}, tc.args...), func(k string) string { return env[k] }, &out)
			if err == nil || !strings.Contains(err.Error(), "listen on port "+port) || !strings.Contains(err.Error(), "PROCESSOR_PORT") {
				t.Fatalf("err %v; output %s", err, out.String())
			}
		})
	}
}
