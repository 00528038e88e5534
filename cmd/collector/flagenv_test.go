package main

import (
	"testing"

	"github.com/siteanalytics/analytics/internal/config"
)

// Each flag that names a variable in its help names the one FromEnv reads
// into the flag's setting.
func TestFlagsNameTheVariableOfTheirSetting(t *testing.T) {
	cfg := config.Default()
	for _, d := range config.FlagEnvDrift(&cfg, flags(&cfg)) {
		t.Error(d)
	}
}
