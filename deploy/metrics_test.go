package deploy_test

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Every daemon of the deployment files serves /metrics on a port of its
// own that nothing publishes, and says where to scrape it.
func TestMetricsStayOffThePublishedPorts(t *testing.T) {
	var c struct {
		XApp struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"x-app"`
		Services map[string]struct {
			Ports []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "compose.yaml")), &c); err != nil {
		t.Fatal(err)
	}
	port := c.XApp.Environment["METRICS_PORT"]
	if port == "" {
		t.Fatal("compose.yaml: the daemons serve /metrics on their published ports (no METRICS_PORT)")
	}
	for name, s := range c.Services {
		for _, p := range s.Ports {
			if strings.HasSuffix(p, ":"+port) {
				t.Errorf("compose.yaml publishes %s's metrics port: %s", name, p)
			}
		}
	}

	k8s := read(t, "deploy/kubernetes/siteanalytics.yaml")
	for _, want := range []string{`prometheus.io/scrape: "true"`, `prometheus.io/port: "9300"`, `{name: METRICS_PORT, value: "9300"}`} {
		if n := strings.Count(k8s, want); n != 3 {
			t.Errorf("siteanalytics.yaml has %q %d times, want once per daemon (3)", want, n)
		}
	}
	if !strings.Contains(k8s, `{name: METRICS_HOST, value: "0.0.0.0"}`) {
		t.Error("the collector sidecar listens on 127.0.0.1; without METRICS_HOST its metrics cannot be scraped")
	}
	if !strings.Contains(k8s, "httpGet: {path: /readyz, port: 3002}") {
		t.Error("the processors have no readiness probe on PROCESSOR_PORT")
	}

	ports := map[string]bool{}
	for _, bin := range []string{"collector", "processor", "reporter"} {
		unit := read(t, "deploy/systemd/siteanalytics-"+bin+".service")
		_, rest, ok := strings.Cut(unit, "Environment=METRICS_PORT=")
		if !ok || !strings.Contains(unit, "Environment=METRICS_HOST=127.0.0.1") {
			t.Errorf("siteanalytics-%s.service: no METRICS_PORT on 127.0.0.1", bin)
			continue
		}
		p, _, _ := strings.Cut(rest, "\n")
		if ports[p] {
			t.Errorf("siteanalytics-%s.service: METRICS_PORT %s is another unit's too", bin, p)
		}
		ports[p] = true
	}
}
