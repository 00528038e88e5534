package redisqueue

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// startCluster starts a three-master Redis Cluster from Debian's
// redis-server and redis-cli, for the queue's Cluster test.
func startCluster(t *testing.T) []string {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("the Cluster test needs %s: apt-get install redis-server (.ci/run does)", bin)
		}
	}
	dir := t.TempDir()
	var addrs []string
	for i := 0; i < 3; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port), "--dir", dir, "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	for _, a := range addrs {
		testenv.Eventually(t, 10*time.Second, func() error {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		testenv.Eventually(t, 20*time.Second, func() error {
			out, err := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strings.Split(a, ":")[1], "cluster", "info").Output()
			if err != nil || !strings.Contains(string(out), "cluster_state:ok") {
				return fmt.Errorf("%s not ready: %v %s", a, err, out)
			}
			return nil
		})
	}
	return addrs
}

// TestOnRedisCluster runs the queue on a real Redis Cluster: every
// partition's stream and lease share a hash slot, so the scripts that touch
// both run on one node, and the partitions spread over the masters.
func TestOnRedisCluster(t *testing.T) {
	addrs := startCluster(t)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, IsClusterMode: true})
	defer rdb.Close()
	k := Keys{Prefix: "cluster:", Partitions: 8}
	ctx := context.Background()
	slots := map[int64]bool{}
	for p := 0; p < k.Partitions; p++ {
		s1, _ := rdb.(*redis.ClusterClient).ClusterKeySlot(ctx, k.Stream(p)).Result()
		s2, _ := rdb.(*redis.ClusterClient).ClusterKeySlot(ctx, k.Lease(p)).Result()
		if s1 != s2 {
			t.Fatalf("partition %d: stream in slot %d, lease in slot %d", p, s1, s2)
		}
		slots[s1] = true
	}
	if len(slots) < 2 {
		t.Fatalf("all partitions in one slot: %v", slots)
	}
	pub := NewPublisher(rdb, k, PublisherConfig{MaxBacklog: 100000})
	defer pub.Close()
	if err := pub.Publish(ctx, events(200, "a", "b", "c", "d", "e", "f", "g")); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConsumerConfig()
	cfg.LeaseTTL = 500 * time.Millisecond
	cfg.IdlePoll = 10 * time.Millisecond
	a, err := NewConsumer(ctx, rdb, k, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.Fetch(ctx, 10)
	if err != nil || len(first.Entries) == 0 {
		t.Fatalf("fetch: %v", err)
	}
	a.crash()
	cfg.Name = "b"
	b, err := NewConsumer(ctx, rdb, k, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	testenv.Eventually(t, 10*time.Second, func() error {
		b.maintain(ctx)
		if len(b.Owned()) != 8 {
			return fmt.Errorf("b owns %v", b.Owned())
		}
		return nil
	})
	ids := drainIDs(t, b, 200)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s delivered twice after acks", id)
		}
		seen[id] = true
	}
	st, err := ReadStatus(ctx, rdb, k)
	if err != nil || st.Backlog != 0 || len(st.Processors) == 0 {
		t.Fatalf("status %+v %v", st, err)
	}
}
