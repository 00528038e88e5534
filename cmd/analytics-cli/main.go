// Command analytics-cli prints stats, rebuilds event blocks, and runs the whole
// pipeline in one process for a quick start (`analytics-cli serve`).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "analytics-cli:", err)
		os.Exit(1)
	}
}

// quietRedis drops the Redis client's own log lines ("connection pool:
// failed to dial"): a command that cannot reach Redis says so once, in its
// error.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	redis.SetLogger(quietRedis{})
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return err
	}
	command := &cli.App{
		Name:     "analytics-cli",
		Version:  version.String(),
		Usage:    "self-hosted website analytics: stats, maintenance, and a one-command quick start",
		Writer:   stdout,
		Commands: commands(&cfg, stdout),
	}
	return command.RunContext(ctx, args)
}

// commands are analytics-cli's commands, their flags writing into cfg.
func commands(cfg *config.Config, stdout io.Writer) []*cli.Command {
	return []*cli.Command{
		discovering(cfg, needs{reporter: true}, statsCommand(cfg, stdout)),
		validated(cfg, serveCommand(cfg, stdout)),
		validated(cfg, embeddedCommand(cfg, stdout)),
		validated(cfg, discovering(cfg, needs{redis: true, mongo: true}, rebuildCommand(cfg, stdout))),
		validated(cfg, discovering(cfg, needs{redis: true}, queueCommand(cfg, stdout))),
		discovering(cfg, needs{mongo: true, collector: true}, sitesCommand(cfg, stdout)),
		discovering(cfg, needs{mongo: true, reporter: true}, tokensCommand(cfg, stdout)),
		discovering(cfg, needs{mongo: true}, goalsCommand(cfg, stdout)),
		discovering(cfg, needs{mongo: true}, funnelsCommand(cfg, stdout)),
		validated(cfg, discovering(cfg, needs{redis: true, mongo: true}, forgetCommand(cfg, stdout))),
		discovering(cfg, needs{mongo: true}, exportCommand(cfg, stdout)),
		discovering(cfg, needs{collector: true, redis: true, mongo: true}, validated(cfg, importCommand(cfg, stdout))),
		backupCommand(cfg, stdout),
		restoreCommand(cfg, stdout),
	}
}

// discovering makes cmd and its subcommands take --data-dir and first look
// for the servers of a serve (or embedded) running from the data folder
// (see useServe); when none runs and a default server was used, the
// command's error says where it looked.
func discovering(cfg *config.Config, n needs, cmd *cli.Command) *cli.Command {
	addFlag(cmd, dataDirFlag(cfg))
	var hint string
	cmd = before(cmd, func(c *cli.Context) error {
		w := c.App.ErrWriter
		if w == nil {
			w = os.Stderr
		}
		var err error
		hint, err = useServe(c, cfg, w, n)
		return err
	})
	return after(cmd, func(err error) error {
		if err != nil && hint != "" && !strings.Contains(err.Error(), "serve") {
			return fmt.Errorf("%w\n(%s)", err, hint)
		}
		return err
	})
}

// addFlag gives cmd and each of its subcommands that acts the flag f.
func addFlag(cmd *cli.Command, f cli.Flag) {
	if cmd.Action != nil {
		cmd.Flags = append(cmd.Flags, f)
	}
	for _, sub := range cmd.Subcommands {
		addFlag(sub, f)
	}
}

// after passes the error of cmd's action, and of each of its subcommands',
// through then.
func after(cmd *cli.Command, then func(error) error) *cli.Command {
	if action := cmd.Action; action != nil {
		cmd.Action = func(c *cli.Context) error { return then(action(c)) }
	}
	for _, sub := range cmd.Subcommands {
		after(sub, then)
	}
	return cmd
}

// validated makes cmd and its subcommands check the settings once their own
// flags are parsed and before they act (before discovering looks for serve), so a bad value (LEASE_TTL=0, say) is
// a clear error naming the variable and the command's flag, not a panic or
// a partition held forever.
func validated(cfg *config.Config, cmd *cli.Command) *cli.Command {
	return before(cmd, func(c *cli.Context) error { return cfg.Validate(c.Command.Flags) })
}

// before makes cmd and each of its subcommands run first before its action
// (once its own flags are parsed), and not act when first fails.
func before(cmd *cli.Command, first func(*cli.Context) error) *cli.Command {
	if action := cmd.Action; action != nil {
		cmd.Action = func(c *cli.Context) error {
			if err := first(c); err != nil {
				return err
			}
			return action(c)
		}
	}
	for _, sub := range cmd.Subcommands {
		before(sub, first)
	}
	return cmd
}
