package main

import (
	"io"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/internal/config"
)

// Every flag of every command that names a variable in its help names the
// one FromEnv reads into the flag's setting: help and environment cannot
// drift apart.
func TestFlagsNameTheVariableOfTheirSetting(t *testing.T) {
	cfg := config.Default()
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, d := range config.FlagEnvDrift(&cfg, c.Flags) {
				t.Errorf("%s%s: %s", path, c.Name, d)
			}
			walk(path+c.Name+" ", c.Subcommands)
		}
	}
	walk("", commands(&cfg, io.Discard))
}
