package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/internal/config"
)

// embeddedCommand runs only the servers serve would embed, for running the
// three daemons separately on one machine without installing MongoDB.
func embeddedCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "embedded",
		Usage: "run only the embedded Redis and FerretDB (MongoDB protocol) and print their URLs, for running the daemons separately",
		Description: "For trying the separate daemons on one machine. In production use a real MongoDB (6.0 or later)\n" +
			"and a Redis with AOF; see the README.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Value: cfg.DataDir, Destination: &cfg.DataDir, Usage: "folder of the servers' data (env DATA_DIR)"},
		},
		Action: func(c *cli.Context) error {
			es, err := startEmbedded(c.Context, cfg, "embedded")
			defer es.stop()
			if err != nil {
				return err
			}
			remove, err := writeEndpoints(cfg.DataDir, endpoints{Command: "embedded", RedisURL: cfg.RedisURL, MongoURI: cfg.MongoURI, Prefix: cfg.Prefix})
			if err != nil {
				return err
			}
			defer remove()
			fmt.Fprintf(stdout, `
Embedded servers are running.
  %s
  %s

In another terminal:
  export REDIS_URL=%s
  export MONGODB_URI=%s
  bin/collector & bin/processor & bin/reporter &

Press Ctrl+C to stop.
`, es.redisNote, es.mongoNote, cfg.RedisURL, cfg.MongoURI)
			if es.volatile {
				fmt.Fprintln(stdout, "Warning: without redis-server installed the queue is in this process's memory only.")
			}
			<-c.Context.Done()
			return nil
		},
	}
}
