// Command layers lists the imports that run from a lower layer of the
// module to a higher one; its test fails on any, so the layering holds.
//
// The layers, lowest first (a package may import its own layer and those
// below it):
//
//	0 domain   the root package: the Event, its rules, the contracts
//	1 sdk      the client SDK (a module of its own, standard library only)
//	2 core     helpers and pure computation: internal/*, enrich, block,
//	           sites, retention, dashboard, js, engine, query, ...
//	3 adapters what talks to Redis or MongoDB: redisqueue, mongostore,
//	           realtime, visits
//	4 daemons  collector, processor, reporter
//	5 wiring   cmd/internal/app, the composition root
//	6 commands cmd/*, tools/*, e2e
//
// With -brief, engine and query count as daemons and visits as a helper, as
// the redesign's brief first drew them (issue 20): engine and query are
// pure computation the adapters implement contracts of, and visits runs
// Redis scripts on the queue's publisher, so the default table places them
// where their imports say they are.
package main

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const module = "github.com/siteanalytics/analytics"

var layerNames = []string{"domain", "sdk", "core", "adapters", "daemons", "wiring", "commands"}

// layer returns the layer of the package in dir (relative to the module
// root, "/"-separated, "" for the root), or -1 when no rule places it: a
// new top-level package must be given a layer here.
func layer(dir string, brief bool) int {
	top, _, _ := strings.Cut(dir, "/")
	switch {
	case dir == "", dir == "sdk/rules":
		// The event rules the SDK owns are the domain's too (one copy):
		// standard library only, below everything.
		return 0
	case top == "sdk":
		return 1
	case dir == "cmd/internal/app" || strings.HasPrefix(dir, "cmd/internal/app/"):
		return 5
	case top == "cmd" || top == "tools" || top == "e2e":
		return 6
	}
	if brief {
		switch top {
		case "engine", "query":
			return 4
		case "visits":
			return 2
		}
	}
	switch top {
	case "internal", "enrich", "block", "sites", "retention", "dashboard", "js", "engine", "query", "ingest", "imported",
		"faults", "docs", "deploy", "testdata":
		return 2
	case "redisqueue", "mongostore", "realtime", "visits":
		return 3
	case "collector", "processor", "reporter":
		return 4
	}
	return -1
}

// upward is one import from a package to a package of a higher layer.
type upward struct {
	from, to   string // directories relative to the module root
	fromL, toL int
	file       string
}

func (u upward) String() string {
	name := func(d string) string {
		if d == "" {
			return "(root)"
		}
		return d
	}
	return fmt.Sprintf("%s (%s) imports %s (%s) in %s", name(u.from), layerNames[u.fromL], name(u.to), layerNames[u.toL], u.file)
}

// check reads the imports of every non-test Go file below root and returns
// the upward ones, and the directories no rule places.
func check(root string, brief bool) (ups []upward, unplaced []string, err error) {
	fset := token.NewFileSet()
	seen := map[string]bool{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		dir := filepath.ToSlash(rel)
		if dir == "." {
			dir = ""
		}
		from := layer(dir, brief)
		if from < 0 {
			if !seen[dir] {
				seen[dir] = true
				unplaced = append(unplaced, dir)
			}
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, im := range f.Imports {
			ip, _ := strconv.Unquote(im.Path.Value)
			if ip != module && !strings.HasPrefix(ip, module+"/") {
				continue
			}
			to := strings.TrimPrefix(strings.TrimPrefix(ip, module), "/")
			if tl := layer(to, brief); tl > from {
				file, _ := filepath.Rel(root, p)
				ups = append(ups, upward{from: dir, to: to, fromL: from, toL: tl, file: filepath.ToSlash(file)})
			}
		}
		return nil
	})
	sort.Slice(ups, func(i, j int) bool { return ups[i].file < ups[j].file })
	return ups, unplaced, err
}

func main() {
	brief := len(os.Args) > 1 && os.Args[1] == "-brief"
	root := "."
	if n := len(os.Args); n > 1 && os.Args[n-1] != "-brief" {
		root = os.Args[n-1]
	}
	ups, unplaced, err := check(root, brief)
	if err != nil {
		fmt.Fprintln(os.Stderr, "layers:", err)
		os.Exit(2)
	}
	pairs := map[string]bool{}
	for _, u := range ups {
		fmt.Println(u)
		pairs[path.Join(u.from, "->", u.to)] = true
	}
	for _, d := range unplaced {
		fmt.Printf("%s: no layer (add it to tools/layers)\n", d)
	}
	fmt.Printf("%d upward imports (%d package pairs), %d unplaced packages\n", len(ups), len(pairs), len(unplaced))
}
