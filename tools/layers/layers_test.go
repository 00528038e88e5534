package main

import (
	"strings"
	"testing"
)

// The module's layering holds: no package imports one of a higher layer,
// and every package has a layer.
func TestNoUpwardImports(t *testing.T) {
	ups, unplaced, err := check("../..", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups {
		t.Errorf("upward import: %s", u)
	}
	if len(unplaced) > 0 {
		t.Errorf("packages with no layer (place them in layer()): %s", strings.Join(unplaced, ", "))
	}
}

// The check finds an upward import: a daemon imported by an adapter.
func TestCheckFindsUpwardImport(t *testing.T) {
	ups, _, err := check("testdata/upward", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 1 || ups[0].from != "redisqueue" || ups[0].to != "collector" || ups[0].file != "redisqueue/q.go" {
		t.Fatalf("got %v, want redisqueue importing collector in redisqueue/q.go", ups)
	}
}
