package config

import (
	"fmt"
	"reflect"
	"regexp"

	"github.com/urfave/cli/v2"
)

// envInUsage is how a flag's help names its variable: "(env NAME".
var envInUsage = regexp.MustCompile(`\(env ([A-Z_]+)`)

// FlagEnvDrift returns a line for each flag among flags that writes into c
// and whose help names a variable other than the one FromEnv reads into the
// same field: such help sends users to a variable that does not set what
// the flag sets. Tests call it on every command's flags.
func FlagEnvDrift(c *Config, flags []cli.Flag) []string {
	fields := envFields()
	cv := reflect.ValueOf(c).Elem()
	fieldOf := func(dst any) string {
		for i := range cv.NumField() {
			if f := cv.Field(i); cv.Type().Field(i).IsExported() && f.Addr().Interface() == dst {
				return cv.Type().Field(i).Name
			}
		}
		return ""
	}
	var out []string
	for _, f := range flags {
		u, ok := f.(interface{ GetUsage() string })
		if !ok {
			continue
		}
		m := envInUsage.FindStringSubmatch(u.GetUsage())
		got := fieldOf(flagDestination(f))
		if m == nil || got == "" {
			continue
		}
		switch want, ok := fields[m[1]]; {
		case !ok:
			out = append(out, fmt.Sprintf("--%s names %s, which FromEnv does not read", f.Names()[0], m[1]))
		case got != want:
			out = append(out, fmt.Sprintf("--%s names %s, which FromEnv reads into Config.%s, but the flag sets Config.%s", f.Names()[0], m[1], want, got))
		}
	}
	return out
}

// envFields maps each variable FromEnv reads to the Config field it sets,
// found by setting the variable alone and seeing which field changes.
func envFields() map[string]string {
	out := map[string]string{}
	def := reflect.ValueOf(Default())
	for _, s := range Settings {
		for _, v := range []string{"7", "true", "false", "7s"} {
			c, err := FromEnv(func(k string) string {
				if k == s.Env {
					return v
				}
				return ""
			})
			if err != nil {
				continue
			}
			got := reflect.ValueOf(c)
			for i := range got.NumField() {
				if got.Type().Field(i).IsExported() && !reflect.DeepEqual(got.Field(i).Interface(), def.Field(i).Interface()) {
					out[s.Env] = got.Type().Field(i).Name
				}
			}
			if out[s.Env] != "" {
				break
			}
		}
	}
	return out
}

// flagDestination is the pointer a flag writes to, or nil.
func flagDestination(f cli.Flag) any {
	switch f := f.(type) {
	case *cli.IntFlag:
		return f.Destination
	case *cli.Int64Flag:
		return f.Destination
	case *cli.StringFlag:
		return f.Destination
	case *cli.DurationFlag:
		return f.Destination
	case *cli.BoolFlag:
		return f.Destination
	case *cli.Float64Flag:
		return f.Destination
	}
	return nil
}
