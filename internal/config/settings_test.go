package config

import (
	"sort"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
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

// The help of every flag of the daemons (the shared ones among them) names
// the variable FromEnv reads into the flag's setting; analytics-cli's
// commands are checked in their package.
func TestDaemonFlagsNameTheirVariable(t *testing.T) {
	c := Default()
	for name, flags := range map[string][]cli.Flag{
		"collector": c.CollectorFlags(), "processor": c.ProcessorFlags(), "reporter": c.ReporterFlags(),
	} {
		for _, d := range FlagEnvDrift(&c, flags) {
			t.Errorf("%s: %s", name, d)
		}
	}
	// The check can fail: a flag of BatchSize whose help names LEASE_TTL.
	bad := &cli.IntFlag{Name: "batch-size", Destination: &c.BatchSize, Usage: "entries (env LEASE_TTL)"}
	if d := FlagEnvDrift(&c, []cli.Flag{bad}); len(d) != 1 || !strings.Contains(d[0], "Config.LeaseTTL") {
		t.Errorf("a drifting flag: %v", d)
	}
}

// FlagEnvDrift knows the field of every variable FromEnv reads, so no
// flag's variable is passed over.
func TestEveryVariableSetsAField(t *testing.T) {
	fields := envFields()
	for _, s := range Settings {
		if !s.Runtime && fields[s.Env] == "" {
			t.Errorf("%s: setting it alone changes no Config field", s.Env)
		}
	}
}
