package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// TestSeparateCollectorRegistered: the collector binary in registered
// mode reads the sites from MONGODB_URI, and a site `analytics-cli sites
// add` registers (another process) is taken with its key within
// SITES_REFRESH; before that, and without the key, it is refused.
func TestSeparateCollectorRegistered(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	mongo := testenv.MongoDB(t)
	env := []string{"REDIS_URL=" + testenv.RedisURL(t), "MONGODB_URI=" + mongo, "QUEUE_PREFIX=" + prefix,
		"INGESTION_PORT=0", "HOST=127.0.0.1", "SITES_MODE=registered", "SITES_REFRESH=200ms"}
	col := testenv.StartProcess(t, binDir, "collector", env)
	defer col.Stop(t, 20*time.Second)
	post := func(key string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", col.URL+"/event", strings.NewReader(`{"site_id":"e2e-site","event_type":"page_view","path":"/"}`))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("sak_x"); code != 403 {
		t.Fatalf("unregistered site: %d", code)
	}
	cmd := exec.Command(filepath.Join(binDir, "analytics-cli"), "sites", "add", "--domain", "e2e.example", "e2e-site")
	cmd.Env = []string{"MONGODB_URI=" + mongo}
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sites add: %v\n%s", err, out)
	}
	key := regexp.MustCompile(`sak_[A-Za-z0-9_-]{43}`).FindString(string(out))
	testenv.Eventually(t, 10*time.Second, func() error {
		if code := post(key); code != 202 {
			return fmt.Errorf("with its key: %d", code)
		}
		return nil
	})
	if code := post(""); code != 401 {
		t.Fatalf("without a key: %d", code)
	}
}
