package sites

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // zones on machines without a zone database (Windows), so every reporter knows them

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

// Settings are how a site's stats are told, in open and registered mode
// alike (they need no registered site): its time zone, goals and funnels.
type Settings struct {
	Site string
	// TimeZone is an IANA name ("America/Los_Angeles"); "" is UTC.
	TimeZone string
	// Goals and Funnels in the order they were added.
	Goals   []engine.Goal
	Funnels []engine.Funnel
}

// Limits of a site's settings: they are read whole into every reporter's
// memory, so none grows without bound.
const (
	MaxGoals         = 200
	MaxFunnels       = 50
	MinFunnelSteps   = 2
	MaxFunnelSteps   = 8
	MaxFunnelNameLen = 64
)

// zoneExamples ends every message about a bad time zone.
const zoneExamples = "give an IANA time zone name such as America/Los_Angeles, Europe/Berlin or UTC"

// LoadTimeZone returns the location of an IANA time zone name; "" is UTC.
// An unknown name (and "Local", which means whatever machine reads it) is
// an error of kind Invalid that names the zone and gives examples.
func LoadTimeZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if name == "Local" || strings.TrimSpace(name) != name {
		return nil, analytics.Errorf(analytics.Invalid, "time zone %q: %s", name, zoneExamples)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, analytics.Errorf(analytics.Invalid, "time zone %q is unknown: %s", name, zoneExamples)
	}
	return loc, nil
}

// EventGoal returns the goal of a custom event by name (1-64 characters,
// the rule of event_type); Invalid otherwise.
func EventGoal(event string) (engine.Goal, error) {
	if event == "" || len(event) > analytics.MaxEventTypeLen || hasControlChar(event) {
		return engine.Goal{}, analytics.Errorf(analytics.Invalid, "event goal %q: give the event's name as sent in event_type (1-%d characters), e.g. signup", event, analytics.MaxEventTypeLen)
	}
	return engine.Goal{Name: event, Event: event}, nil
}

// PageGoal returns the goal of a page view of pattern, named "Visit " +
// pattern as Plausible names page goals. The pattern is a path ("/pricing")
// in which "*" matches within one segment and "**" across segments
// ("/blog/**"); it is put in the canonical form stored paths have (a full
// URL is reduced to its path, percent-encoding made uniform), so it matches
// them. Invalid when it is not a path.
func PageGoal(pattern string) (engine.Goal, error) {
	p, err := analytics.NormalizePath(pattern)
	if err != nil {
		return engine.Goal{}, analytics.Errorf(analytics.Invalid, "page goal %q: give a path such as /pricing or a pattern such as /blog/** (%s)", pattern, analytics.Message(err))
	}
	return engine.Goal{Name: "Visit " + p, Page: p}, nil
}

// ParseStep reads one funnel step: "event:<name>" or "page:<pattern>"; a
// bare value is a page when it starts with "/", else an event.
func ParseStep(s string) (engine.Goal, error) {
	switch {
	case strings.HasPrefix(s, "event:"):
		return EventGoal(strings.TrimPrefix(s, "event:"))
	case strings.HasPrefix(s, "page:"):
		return PageGoal(strings.TrimPrefix(s, "page:"))
	case strings.HasPrefix(s, "/"):
		return PageGoal(s)
	case s == "":
		return engine.Goal{}, analytics.Errorf(analytics.Invalid, "funnel step \"\": give event:<name> or page:<path pattern>, e.g. page:/pricing or event:signup")
	default:
		return EventGoal(s)
	}
}

// StepText is how ParseStep reads goal back: "event:signup", "page:/pricing".
func StepText(g engine.Goal) string {
	if g.Event != "" {
		return "event:" + g.Event
	}
	return "page:" + g.Page
}

// NewFunnel checks a funnel: a name (1-64 characters) and 2 to 8 distinct
// steps; errors are Invalid.
func NewFunnel(name string, steps []engine.Goal) (engine.Funnel, error) {
	if name == "" || len(name) > MaxFunnelNameLen || hasControlChar(name) {
		return engine.Funnel{}, analytics.Errorf(analytics.Invalid, "funnel name %q: give 1-%d characters, e.g. checkout", name, MaxFunnelNameLen)
	}
	if len(steps) < MinFunnelSteps || len(steps) > MaxFunnelSteps {
		return engine.Funnel{}, analytics.Errorf(analytics.Invalid, "funnel %q has %d steps: give %d to %d", name, len(steps), MinFunnelSteps, MaxFunnelSteps)
	}
	seen := map[string]bool{}
	for _, s := range steps {
		if seen[s.Name] {
			return engine.Funnel{}, analytics.Errorf(analytics.Invalid, "funnel %q: step %q is given twice; every step is a different goal", name, StepText(s))
		}
		seen[s.Name] = true
	}
	return engine.Funnel{Name: name, Steps: steps}, nil
}

func hasControlChar(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

// SettingsSource reads every site's settings (mongostore.Registry).
type SettingsSource interface {
	LoadSettings(ctx context.Context) ([]Settings, error)
}

// SettingsCache is an in-memory copy of every site's settings, read again
// in the background every Refresh, as Registry keeps the sites: lookups
// never wait on the database and keep the last complete copy while it
// fails. Its methods are safe for concurrent use.
type SettingsCache struct {
	src SettingsSource
	cfg RegistryConfig // Refresh and OnRefresh; Tokens is unused
	cur atomic.Pointer[settingsSnapshot]

	zonesMu sync.Mutex
	zones   map[string]*time.Location // loaded once per name

	startOnce, closeOnce sync.Once
	quit, done           chan struct{}
}

type settingsSnapshot struct {
	sites map[string]*siteSettings
}

type siteSettings struct {
	zone    string // as stored; "" is UTC
	loc     *time.Location
	zoneErr error // the stored zone is unknown here
	goals   []engine.Goal
	funnels []engine.Funnel
}

// NewSettingsCache returns a cache reading src (cfg.Refresh, default
// DefaultRefresh; cfg.OnRefresh as for Registry). It does no I/O: Start
// (or Refresh) loads it; until then every site has the defaults.
func NewSettingsCache(src SettingsSource, cfg RegistryConfig) *SettingsCache {
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	c := &SettingsCache{src: src, cfg: cfg, zones: map[string]*time.Location{}, quit: make(chan struct{}), done: make(chan struct{})}
	c.cur.Store(&settingsSnapshot{sites: map[string]*siteSettings{}})
	return c
}

// Start reads the source once, blocking, and returns its error; then it
// reads it again every Refresh in the background until Close.
func (c *SettingsCache) Start(ctx context.Context) error {
	if err := c.Refresh(ctx); err != nil {
		return err
	}
	c.startOnce.Do(func() { go c.loop() })
	return nil
}

// Close stops the background refresh and waits for it. Safe without a
// Start and safe twice.
func (c *SettingsCache) Close() {
	c.closeOnce.Do(func() { close(c.quit) })
	c.startOnce.Do(func() { close(c.done) })
	<-c.done
}

func (c *SettingsCache) loop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.Refresh)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(c.cfg.Refresh, 2*time.Second))
		err := c.Refresh(ctx)
		cancel()
		if c.cfg.OnRefresh != nil && (err != nil || failing) {
			c.cfg.OnRefresh(err)
		}
		failing = err != nil
	}
}

// Refresh reads the source now and, when the read is complete, replaces
// the copy; on error the previous copy stays.
func (c *SettingsCache) Refresh(ctx context.Context) error {
	list, err := c.src.LoadSettings(ctx)
	if err != nil {
		return fmt.Errorf("sites: load site settings: %w", err)
	}
	s := &settingsSnapshot{sites: make(map[string]*siteSettings, len(list))}
	for _, st := range list {
		ss := &siteSettings{zone: st.TimeZone, goals: st.Goals, funnels: st.Funnels}
		ss.loc, ss.zoneErr = c.zone(st.TimeZone)
		s.sites[st.Site] = ss
	}
	c.cur.Store(s)
	return nil
}

func (c *SettingsCache) zone(name string) (*time.Location, error) {
	c.zonesMu.Lock()
	defer c.zonesMu.Unlock()
	if loc, ok := c.zones[name]; ok {
		return loc, nil
	}
	loc, err := LoadTimeZone(name)
	if err != nil {
		// Checked when stored, so only a machine whose zone database lacks
		// it gets here: answering in UTC would be silently wrong.
		return time.UTC, analytics.Errorf(analytics.Internal, "this machine does not know the site's time zone %q", name)
	}
	c.zones[name] = loc
	return loc, nil
}

// SiteSettings returns site's time zone, goals and funnels from memory
// (it never blocks): UTC and none for a site without settings. The slices
// are shared: callers must not modify them. The error, of kind Internal,
// says the stored zone is unknown on this machine (loc is then UTC).
func (c *SettingsCache) SiteSettings(ctx context.Context, site string) (loc *time.Location, goals []engine.Goal, funnels []engine.Funnel, err error) {
	s, ok := c.cur.Load().sites[site]
	if !ok {
		return time.UTC, nil, nil, nil
	}
	return s.loc, s.goals, s.funnels, s.zoneErr
}

// TimeZone returns the IANA name of site's time zone ("UTC" by default).
func (c *SettingsCache) TimeZone(site string) string {
	if s, ok := c.cur.Load().sites[site]; ok && s.zone != "" {
		return s.zone
	}
	return "UTC"
}
