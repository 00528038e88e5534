// Package deploy_test checks the deployment files: Dockerfile,
// compose.yaml, the Kubernetes example and the systemd units. No container
// engine or cluster runs here, so these tests check what can be checked
// without one: that the files parse, agree with the repository (binaries,
// Go version, settings) and keep the safe defaults the README promises.
package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// binaries lists the commands under cmd/.
func binaries(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("../cmd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "internal" { // cmd/internal: the wiring, no binary
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func TestDockerfile(t *testing.T) {
	df := read(t, "Dockerfile")
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(df, "\\\n", " "), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var froms []string
	var lastUser, cmd string
	for _, l := range lines {
		f := strings.Fields(l)
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
			lastUser = ""
		case "USER":
			lastUser = f[1]
		case "CMD", "ENTRYPOINT":
			cmd = l
		case "ADD":
			t.Errorf("ADD %s: use COPY", f[1])
		}
	}
	if len(froms) < 2 {
		t.Fatalf("not a multi-stage build: FROM %q", froms)
	}
	for _, img := range froms {
		if !strings.Contains(img, ":") || strings.HasSuffix(img, ":latest") {
			t.Errorf("FROM %s: pin the image's tag", img)
		}
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(read(t, "go.mod"))[1]
	if !strings.HasPrefix(froms[0], "golang:"+goVersion+"-") {
		t.Errorf("build stage %s; go.mod needs Go %s", froms[0], goVersion)
	}
	if lastUser == "" || strings.HasPrefix(lastUser, "root") || strings.HasPrefix(lastUser, "0") {
		t.Errorf("the final image runs as %q; want a non-root user", lastUser)
	}
	if !strings.Contains(cmd, `["`) {
		t.Errorf("%s: use the exec form", cmd)
	}
	if !strings.Contains(df, "CGO_ENABLED=0") || !strings.Contains(df, "COPY --from=build") {
		t.Error("the binaries must be static (CGO_ENABLED=0) and copied from the build stage")
	}
	for _, b := range binaries(t) {
		if !strings.Contains(df, "./cmd/"+b) {
			t.Errorf("the image lacks %s", b)
		}
	}
	if !strings.Contains(df, "internal/version.Commit=") {
		t.Error("the build does not stamp the version (--version)")
	}
}

func TestCompose(t *testing.T) {
	var c struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Deploy      struct {
				Replicas int `yaml:"replicas"`
			} `yaml:"deploy"`
		} `yaml:"services"`
	}
	dec := yaml.NewDecoder(strings.NewReader(read(t, "compose.yaml")))
	dec.KnownFields(false)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	redis := c.Services["redis"]
	if cmd := strings.Join(redis.Command, " "); !strings.Contains(cmd, "--appendonly yes") || !strings.Contains(cmd, "--maxmemory-policy noeviction") {
		t.Errorf("redis runs %q; want AOF and noeviction", cmd)
	}
	if !strings.HasPrefix(c.Services["mongo"].Image, "mongo:") {
		t.Errorf("mongo image %q", c.Services["mongo"].Image)
	}
	for _, name := range []string{"collector", "processor", "reporter"} {
		s, ok := c.Services[name]
		if !ok || len(s.Command) != 1 || s.Command[0] != name {
			t.Errorf("service %s: %+v", name, s)
			continue
		}
		if s.Environment["REDIS_URL"] == "" || s.Environment["MONGODB_URI"] == "" {
			t.Errorf("service %s has no REDIS_URL or MONGODB_URI", name)
		}
	}
	if r := c.Services["processor"].Deploy.Replicas; r < 2 {
		t.Errorf("%d processors; the example shows them scaling out", r)
	}
	if tok := c.Services["reporter"].Environment["REPORTER_TOKEN"]; !strings.Contains(tok, ":?") {
		t.Errorf("the published reporter does not require REPORTER_TOKEN: %q", tok)
	}
}

type k8sContainer struct {
	Name            string   `yaml:"name"`
	Image           string   `yaml:"image"`
	Command         []string `yaml:"command"`
	SecurityContext struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
}

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas int `yaml:"replicas"`
		Template struct {
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestKubernetes(t *testing.T) {
	dec := yaml.NewDecoder(strings.NewReader(read(t, "deploy/kubernetes/siteanalytics.yaml")))
	var objs []k8sObject
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("siteanalytics.yaml: %v", err)
		}
		objs = append(objs, o)
	}
	sidecar, processors := false, 0
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		for _, c := range o.Spec.Template.Spec.Containers {
			if len(c.Command) == 0 {
				continue // the user's own application
			}
			if !c.SecurityContext.RunAsNonRoot {
				t.Errorf("%s/%s may run as root", o.Metadata.Name, c.Name)
			}
			switch c.Command[0] {
			case "collector":
				sidecar = len(o.Spec.Template.Spec.Containers) > 1
			case "processor":
				processors = o.Spec.Replicas
			}
		}
	}
	if !sidecar {
		t.Error("no collector running as a sidecar of an application container")
	}
	if processors < 2 {
		t.Errorf("processor replicas %d; want a scaled-out Deployment", processors)
	}
	if k := read(t, "deploy/kubernetes/kustomization.yaml"); !strings.Contains(k, "siteanalytics.yaml") {
		t.Error("kustomization.yaml does not list siteanalytics.yaml")
	}
}

func TestSystemdUnits(t *testing.T) {
	for _, bin := range []string{"collector", "processor", "reporter"} {
		unit := read(t, "deploy/systemd/siteanalytics-"+bin+".service")
		keys := map[string]string{}
		section := ""
		sc := bufio.NewScanner(strings.NewReader(unit))
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			switch {
			case l == "" || strings.HasPrefix(l, "#"):
			case strings.HasPrefix(l, "["):
				section = l
			default:
				k, v, ok := strings.Cut(l, "=")
				if !ok {
					t.Errorf("%s: %q is not key=value", bin, l)
				}
				keys[section+k] = v
			}
		}
		for k, want := range map[string]string{
			"[Service]ExecStart":       "/usr/local/bin/" + bin,
			"[Service]KillSignal":      "SIGTERM",
			"[Service]DynamicUser":     "yes",
			"[Service]Restart":         "on-failure",
			"[Service]EnvironmentFile": "/etc/siteanalytics/env",
			"[Install]WantedBy":        "multi-user.target",
		} {
			if keys[k] != want {
				t.Errorf("siteanalytics-%s.service: %s=%q, want %q", bin, k, keys[k], want)
			}
		}
	}
	env := read(t, "deploy/systemd/env.example")
	for _, k := range []string{"REDIS_URL=", "MONGODB_URI=", "REPORTER_TOKEN="} {
		if !bytes.Contains([]byte(env), []byte(k)) {
			t.Errorf("env.example lacks %s", k)
		}
	}
}
