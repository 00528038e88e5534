package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics/internal/config"
)

// The embedded servers keep everything under the data folder: FerretDB's
// SQLite files (ferretdb/) and the redis-server child's AOF (redis/). A copy
// is consistent only while nothing writes them, so backup and restore take
// the folder's lock (see lockData) and refuse while a serve (or embedded)
// holds it; serve's clean stop first drains the queue into the database,
// so the copy of the queue is then empty or nearly so, and restoring both
// together keeps them consistent (a queued event's raw copy and event blocks are
// either both in the database or both still to come).

func backupCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	var output string
	return &cli.Command{
		Name:  "backup",
		Usage: "copy the data folder of the embedded servers (serve, embedded) into one .tar.gz, while they are stopped",
		Description: "For the embedded FerretDB and redis-server of `analytics-cli serve`. With your own MongoDB and Redis\n" +
			"use mongodump and Redis's RDB/AOF instead (see the README).",
		UsageText: "analytics-cli backup [--data ./data] [-o analytics-backup.tar.gz]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Value: cfg.DataDir, Destination: &cfg.DataDir, Usage: "the data folder (env DATA_DIR)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Destination: &output, Usage: "the archive to write (default analytics-backup-<time>.tar.gz)"},
		},
		Action: func(c *cli.Context) error {
			dir := cfg.DataDir
			if _, err := os.Stat(filepath.Join(dir, "ferretdb")); err != nil {
				return fmt.Errorf("%s holds no embedded FerretDB data (no ferretdb folder): nothing to back up", dir)
			}
			lock, err := lockData(dir, "backup")
			if err != nil {
				return err
			}
			defer lock.Unlock()
			if output == "" {
				output = "analytics-backup-" + time.Now().UTC().Format("20060102-150405") + ".tar.gz"
			}
			n, size, err := writeArchive(dir, output)
			if err != nil {
				_ = os.Remove(output)
				return fmt.Errorf("backup of %s: %w", dir, err)
			}
			fmt.Fprintf(stdout, "backed up %s (%s, %d bytes) to %s\n", dir, plural(n, "file"), size, output)
			return nil
		},
	}
}

// writeArchive writes every file under dir but serve.json to a gzipped tar.
func writeArchive(dir, output string) (files int, size int64, err error) {
	f, err := os.Create(output)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." || rel == endpointsFile || rel == lockFile || rel == ownerFile || strings.HasSuffix(rel, ".tmp") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // sockets, pipes: not data
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		k, err := io.Copy(tw, src)
		files++
		size += k
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = f.Close()
	}
	return files, size, err
}

func restoreCommand(cfg *config.Config, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "restore a backup into an empty data folder (serve must be stopped)",
		UsageText: "analytics-cli restore [--data ./data] analytics-backup.tar.gz",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Value: cfg.DataDir, Destination: &cfg.DataDir, Usage: "the data folder (env DATA_DIR)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return errors.New("restore needs the backup file")
			}
			dir := cfg.DataDir
			lock, err := lockData(dir, "restore")
			if err != nil {
				return err
			}
			defer lock.Unlock()
			for _, sub := range []string{"ferretdb", "redis"} {
				if entries, err := os.ReadDir(filepath.Join(dir, sub)); err == nil && len(entries) > 0 {
					return fmt.Errorf("%s already holds data (%s): restore only into an empty data folder (move it aside first)", dir, sub)
				}
			}
			n, err := extractArchive(c.Args().First(), dir)
			if err != nil {
				return fmt.Errorf("restore into %s: %w", dir, err)
			}
			fmt.Fprintf(stdout, "restored %s into %s; start `analytics-cli serve` with this data folder\n", plural(n, "file"), dir)
			return nil
		},
	}
}

// extractArchive unpacks a backup under dir, refusing paths that leave it.
func extractArchive(file, dir string) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0, fmt.Errorf("%s is not a backup (gzip): %w", file, err)
	}
	tr := tar.NewReader(zr)
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s is not a backup (tar): %w", file, err)
		}
		name := filepath.FromSlash(h.Name)
		if !filepath.IsLocal(name) {
			return n, fmt.Errorf("%s: entry %q leaves the data folder", file, h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return n, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return n, err
			}
			out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fs.FileMode(h.Mode)&0o777|0o600)
			if err != nil {
				return n, err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return n, err
			}
			n++
		}
	}
}
