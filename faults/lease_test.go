//go:build unix

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// TestLeaseLapseBothOwnersWrite freezes a processor (SIGSTOP) while it has a
// batch in hand, lets its leases lapse (LEASE_TTL=1s) and another processor
// take its partitions over, then lets the frozen one go on (SIGCONT): a real
// stale owner resuming its batch while the new owner writes. It resumes in
// turn the moment the new owner holds the lease or has read that same batch
// again (both then apply the same entries to the same rollups at once), or
// once the new owner has stored it and moved on to newer entries. Each
// processor in turn is the stale one, under load; counts must be exact.
func TestLeaseLapseBothOwnersWrite(t *testing.T) {
	e := newEnv(t, testenv.RedisURL(t), testenv.MongoURI(t))
	col := e.start(t, "collector")
	e.reporterURL(t)
	a := e.start(t, "processor")
	procs := []*testenv.Process{a}
	// Paced so the processors keep up: rounds stay short and the queue
	// drains quickly at the end.
	l := startPacedLoad(col.URL, 2, 20*time.Millisecond)
	l.waitAccepted(t, 2000)

	const rounds = 9
	var resumed []string // per round: entries of the stale batch unacknowledged/in hand when it resumed
	start := time.Now()
	for round := 0; round < rounds && !t.Failed(); round++ {
		victim := procs[round%len(procs)]
		froze := time.Now()
		held, err := e.pauseMidBatch(t, victim)
		if err != nil {
			t.Errorf("round %d: could not freeze %s with a batch in hand: %v", round+1, procName(t, victim), err)
			break
		}
		if round == 0 { // the second owner arrives while the first is frozen
			procs = append(procs, e.start(t, "processor"))
		}
		other := procs[(round+1)%2]
		at := resumeAt(round % 3)
		err = e.waitTakenOver(held, procName(t, other), at)
		unacked := e.stillPending(t, held)
		victim.Continue(t)
		resumed = append(resumed, fmt.Sprintf("%d/%d", unacked, count(held)))
		if err != nil {
			t.Errorf("round %d: the new owner did not take the frozen owner's batch over: %v", round+1, err)
			break
		}
		t.Logf("round %d: froze %s with %d entries in hand, resumed it %v later when the new owner had %s them (%d not acknowledged yet)",
			round+1, procName(t, victim), count(held), time.Since(froze).Round(time.Millisecond), at, unacked)
		// Wait until the stale owner has come back as a live owner with a
		// new batch (so its stale batch is over) while the load flows on.
		if err := e.waitWorkingAgain(t, victim, held); err != nil {
			t.Errorf("round %d: %v", round+1, err)
			break
		}
		l.waitAccepted(t, l.count()+300)
	}
	accepted := l.finish()
	// No stale writer may be left when judging: both processors finish (a
	// clean SIGTERM, exit 0) and a fresh one stores whatever is left.
	for _, p := range procs {
		p.Stop(t, 40*time.Second)
	}
	e.start(t, "processor")
	r := verify(t, e, accepted, 90*time.Second)
	report(t, "lease lapse, both writing", r, time.Since(start),
		fmt.Sprintf("(%d SIGSTOP/SIGCONT rounds; entries of the stale batch unacknowledged/in hand when resumed: %v)", len(resumed), resumed))
}

func count(held map[int]map[string]int64) int {
	n := 0
	for _, ids := range held {
		n += len(ids)
	}
	return n
}

// procName is the name a processor leases partitions under (its start log).
func procName(t *testing.T, p *testenv.Process) string {
	t.Helper()
	for _, line := range strings.Split(p.Out.String(), "\n") {
		var m struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Message == "processor started" && m.Name != "" {
			return m.Name
		}
	}
	t.Fatalf("processor did not log its name:\n%s", p.Out.String())
	return ""
}

// inHand returns, for each partition leased to name, its entries delivered
// and not acknowledged (the batch its owner has in hand), each with the
// number of times it was delivered.
func (e *env) inHand(name string) (map[int]map[string]int64, error) {
	out := map[int]map[string]int64{}
	for p := 0; p < e.keys().Partitions; p++ {
		owner, err := e.rdb.Get(context.Background(), e.keys().Lease(p)).Result()
		if err == redis.Nil || (err == nil && !strings.Contains(owner, name)) {
			continue
		}
		if err != nil {
			return nil, err
		}
		pend, err := e.pending(p)
		if err != nil {
			return nil, err
		}
		if len(pend) > 0 {
			out[p] = pend
		}
	}
	return out, nil
}

// pending returns partition p's entries delivered and not acknowledged, with
// their delivery counts, whatever the consumer group is called.
func (e *env) pending(p int) (map[string]int64, error) {
	ctx := context.Background()
	groups, err := e.rdb.XInfoGroups(ctx, e.keys().Stream(p)).Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, g := range groups {
		pend, err := e.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: e.keys().Stream(p), Group: g.Name, Start: "-", End: "+", Count: 100000}).Result()
		if err != nil {
			return nil, err
		}
		for _, pe := range pend {
			out[pe.ID] = pe.RetryCount
		}
	}
	return out, nil
}

// pauseMidBatch freezes p while it has a batch in hand (entries delivered to
// it and not acknowledged, checked again once it is stopped) and returns
// that batch's entry ids by partition.
func (e *env) pauseMidBatch(t *testing.T, p *testenv.Process) (map[int]map[string]int64, error) {
	t.Helper()
	name := procName(t, p)
	var held map[int]map[string]int64
	err := testenv.Poll(30*time.Second, func() error {
		h, err := e.inHand(name)
		if err != nil {
			return err
		}
		if len(h) == 0 {
			return fmt.Errorf("%s has no batch in hand", name)
		}
		p.Pause(t)
		if h, err = e.inHand(name); err != nil || len(h) == 0 {
			p.Continue(t)
			return fmt.Errorf("%s was frozen between batches (%v); trying again", name, err)
		}
		held = h
		return nil
	})
	return held, err
}

// When a frozen owner is let go on, relative to the new owner's work on the
// batch it has in hand.
type resumeAt int

const (
	resumeLeased resumeAt = iota // the new owner holds the lease: both go for the batch at once
	resumeReread                 // the new owner has read the batch again
	resumeStored                 // the new owner has stored and acknowledged it
)

func (m resumeAt) String() string {
	return [...]string{"leased", "re-read", "stored"}[m]
}

// waitTakenOver waits until the partitions of a frozen owner's batch are
// leased to newOwner and, depending on at, newOwner has read that batch
// again (its entries were delivered once more) or stored and acknowledged
// it. The frozen owner can do nothing meanwhile.
func (e *env) waitTakenOver(held map[int]map[string]int64, newOwner string, at resumeAt) error {
	ctx := context.Background()
	return testenv.Poll(30*time.Second, func() error {
		for p, ids := range held {
			owner, err := e.rdb.Get(ctx, e.keys().Lease(p)).Result()
			if err != nil && err != redis.Nil {
				return err
			}
			if !strings.Contains(owner, newOwner) {
				return fmt.Errorf("partition %d leased to %q, not yet to %s", p, owner, newOwner)
			}
			if at == resumeLeased {
				continue
			}
			pend, err := e.pending(p)
			if err != nil {
				return err
			}
			for id, deliveries := range ids {
				n, ok := pend[id]
				switch {
				case !ok: // acknowledged
				case at == resumeStored:
					return fmt.Errorf("entry %s of partition %d (in the frozen owner's batch) not yet stored by %s", id, p, newOwner)
				case n <= deliveries:
					return fmt.Errorf("entry %s of partition %d (in the frozen owner's batch) not yet read again by %s", id, p, newOwner)
				}
			}
		}
		return nil
	})
}

// stillPending counts the entries of held not acknowledged yet.
func (e *env) stillPending(t *testing.T, held map[int]map[string]int64) int {
	t.Helper()
	n := 0
	for p, ids := range held {
		pend, err := e.pending(p)
		if err != nil {
			t.Fatal(err)
		}
		for id := range ids {
			if _, ok := pend[id]; ok {
				n++
			}
		}
	}
	return n
}

// waitWorkingAgain waits until a resumed processor owns a partition again and
// has a new batch in hand: it fetches one batch at a time, so the batch it
// had when frozen is over (stored, or dropped) by then.
func (e *env) waitWorkingAgain(t *testing.T, p *testenv.Process, stale map[int]map[string]int64) error {
	t.Helper()
	name := procName(t, p)
	old := map[string]bool{}
	for _, ids := range stale {
		for id := range ids {
			old[id] = true
		}
	}
	return testenv.Poll(30*time.Second, func() error {
		h, err := e.inHand(name)
		if err != nil {
			return err
		}
		for _, ids := range h {
			for id := range ids {
				if !old[id] {
					return nil
				}
			}
		}
		return fmt.Errorf("resumed %s has no new batch in hand yet", name)
	})
}
