package app

import (
	"runtime/debug"
	"testing"

	"github.com/siteanalytics/analytics/mongostore"
)

// The reporter's soft memory limit is its block cache plus the headroom,
// unless the environment sets GOMEMLIMIT, which then stays as the runtime
// read it.
func TestTuneReporterMemory(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

	TuneReporterMemory(env(nil), 0)
	if got, want := debug.SetMemoryLimit(-1), int64(mongostore.DefaultBlockCache)+384<<20; got != want {
		t.Fatalf("default: limit %d, want %d (512 MiB cache + 384 MiB)", got, want)
	}
	TuneReporterMemory(env(nil), 64<<20)
	if got, want := debug.SetMemoryLimit(-1), int64(64<<20)+384<<20; got != want {
		t.Fatalf("64 MiB cache: limit %d, want %d", got, want)
	}
	debug.SetMemoryLimit(123 << 20)
	TuneReporterMemory(env(map[string]string{"GOMEMLIMIT": "123MiB"}), 64<<20)
	if got := debug.SetMemoryLimit(-1); got != 123<<20 {
		t.Fatalf("GOMEMLIMIT set: limit changed to %d", got)
	}
}
