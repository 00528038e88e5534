package config

import (
	"sort"
	"strings"
	"testing"
)

// Every variable FromEnv reads is documented in Settings, and every
// documented one is read.
func TestSettingsAreTheVariablesRead(t *testing.T) {
	read := map[string]bool{}
	if _, err := FromEnv(func(k string) string { read[k] = true; return "" }); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, s := range Settings {
		if documented[s.Env] {
			t.Errorf("%s is documented twice", s.Env)
		}
		documented[s.Env] = true
		if !read[s.Env] && !s.Runtime {
			t.Errorf("%s is documented in Settings but FromEnv does not read it", s.Env)
		}
		if s.Meaning == "" || strings.Contains(s.Meaning, "|") || strings.Contains(s.Default, "|") {
			t.Errorf("%s: a meaning is required, without |", s.Env)
		}
	}
	var missing []string
	for k := range read {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("FromEnv reads %s, which Settings does not document", strings.Join(missing, ", "))
	}
}
