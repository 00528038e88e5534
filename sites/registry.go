package sites

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siteanalytics/analytics"
)

// Source reads the registry from where it is kept (mongostore.Registry).
type Source interface {
	LoadSites(ctx context.Context) ([]Site, error)
	LoadTokens(ctx context.Context) ([]Token, error)
	LoadReporterAccess(ctx context.Context) (ReporterAccess, error)
}

// DefaultRefresh is how often a Registry reads its source again.
const DefaultRefresh = 5 * time.Second

// RegistryConfig tunes a Registry.
type RegistryConfig struct {
	// Refresh is the time between two reads of the source (default
	// DefaultRefresh): a site added, changed or removed, or a token
	// created or revoked, takes effect within it.
	Refresh time.Duration
	// Tokens loads the reporter's tokens too (the collector needs none).
	Tokens bool
	// OnRefresh, when set, is called after each background read with its
	// error (nil once the source answers again after failing), from the
	// refresh goroutine: for logs.
	OnRefresh func(err error)
	// OnLoad, when set, is called after every complete read, the first
	// included, from the goroutine that read: to notice changes (the
	// reporter logs when it opens or closes).
	OnLoad func()
}

// Registry is an in-memory copy of the sites (and, for the reporter, the
// tokens), read again in the background every Refresh. Lookups never wait
// on the source: they read the last copy that loaded completely, which is
// kept, however old, while the source fails. Its methods are safe for
// concurrent use.
type Registry struct {
	src Source
	cfg RegistryConfig
	cur atomic.Pointer[snapshot]

	startOnce, closeOnce sync.Once
	quit, done           chan struct{}
}

// snapshot is one complete read of the source; never modified once built.
// Hashes are kept as bytes, not as the hex text stored: a hash written in
// upper-case hex (by hand, by another tool) is the same hash.
type snapshot struct {
	sites map[string]*entry            // by id
	byKey map[[sha256.Size]byte]string // write key hash -> site id
	// byDomain: each entry of the sites' Domains ("example.com",
	// "*.example.com") -> site id; the first site by id keeps a domain
	// two sites list.
	byDomain map[string]string
	tokens   map[[sha256.Size]byte]*Token // by hash
	access   ReporterAccess
	loaded   time.Time
}

// entry is a site and its write key's hash, decoded for comparing.
type entry struct {
	*Site
	keySum [sha256.Size]byte
	hasKey bool
}

// NewRegistry returns a Registry reading src. It does no I/O: Start (or
// Refresh) loads it; until then it knows no site and no token.
func NewRegistry(src Source, cfg RegistryConfig) *Registry {
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	r := &Registry{src: src, cfg: cfg, quit: make(chan struct{}), done: make(chan struct{})}
	r.cur.Store(&snapshot{sites: map[string]*entry{}, byKey: map[[sha256.Size]byte]string{}, tokens: map[[sha256.Size]byte]*Token{}})
	return r
}

// Start reads the source once, blocking, and returns its error (the
// caller should not serve without a first copy); then it reads it again
// every Refresh in the background until Close.
func (r *Registry) Start(ctx context.Context) error {
	if err := r.Refresh(ctx); err != nil {
		return err
	}
	r.startOnce.Do(func() { go r.loop() })
	return nil
}

// Close stops the background refresh and waits for it. It is safe without
// a Start and safe twice.
func (r *Registry) Close() {
	r.closeOnce.Do(func() { close(r.quit) })
	// A Start after Close (or never) runs no loop; the first Do wins.
	r.startOnce.Do(func() { close(r.done) })
	<-r.done
}

func (r *Registry) loop() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.Refresh)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(r.cfg.Refresh, 2*time.Second))
		err := r.Refresh(ctx)
		cancel()
		if r.cfg.OnRefresh != nil && (err != nil || failing) {
			r.cfg.OnRefresh(err)
		}
		failing = err != nil
	}
}

// Refresh reads the source now and, when the read is complete, replaces
// the copy; on error the previous copy stays.
func (r *Registry) Refresh(ctx context.Context) error {
	list, err := r.src.LoadSites(ctx)
	if err != nil {
		return fmt.Errorf("sites: load the registry: %w", err)
	}
	s := &snapshot{sites: make(map[string]*entry, len(list)), byKey: make(map[[sha256.Size]byte]string, len(list)), tokens: map[[sha256.Size]byte]*Token{}, loaded: time.Now()}
	s.byDomain = map[string]string{}
	slices.SortFunc(list, func(a, b Site) int { return strings.Compare(a.ID, b.ID) })
	for i := range list {
		for _, d := range list[i].Domains {
			if d = strings.ToLower(d); s.byDomain[d] == "" {
				s.byDomain[d] = list[i].ID
			}
		}
	}
	for i := range list {
		e := &entry{Site: &list[i]}
		if sum, ok := decodeHash(e.KeyHash); ok {
			e.keySum, e.hasKey = sum, true
			s.byKey[sum] = e.ID
		}
		s.sites[e.ID] = e
	}
	if r.cfg.Tokens {
		toks, err := r.src.LoadTokens(ctx)
		if err != nil {
			return fmt.Errorf("sites: load the reporter tokens: %w", err)
		}
		for i := range toks {
			if sum, ok := decodeHash(toks[i].Hash); ok {
				s.tokens[sum] = &toks[i]
			}
		}
		if s.access, err = r.src.LoadReporterAccess(ctx); err != nil {
			return fmt.Errorf("sites: load the reporter's access mode: %w", err)
		}
	}
	r.cur.Store(s)
	if r.cfg.OnLoad != nil {
		r.cfg.OnLoad()
	}
	return nil
}

// decodeHash reads a stored hex SHA-256, in either case.
func decodeHash(h string) (sum [sha256.Size]byte, ok bool) {
	n, err := hex.Decode(sum[:], []byte(strings.TrimSpace(h)))
	return sum, err == nil && n == sha256.Size
}

// Loaded is when the copy in use was read.
func (r *Registry) Loaded() time.Time { return r.cur.Load().loaded }

// Site returns the registered site id, if any.
func (r *Registry) Site(id string) (*Site, bool) {
	if e, ok := r.cur.Load().sites[id]; ok {
		return e.Site, true
	}
	return nil, false
}

// Refusal is an access decision against a request: 401 (no or a wrong
// write key) or 403 (an unregistered site, a page on another domain).
type Refusal struct {
	Status int
	Msg    string
}

func (e *Refusal) Error() string { return e.Msg }

// HTTPStatus is the status the refusal is answered with.
func (e *Refusal) HTTPStatus() int { return e.Status }

// Key is a write key as a request sent it, hashed once for all the sites
// of the request.
type Key struct {
	sum [sha256.Size]byte
	set bool
}

// Present reports whether the request carried a key at all.
func (k Key) Present() bool { return k.set }

// NewKey hashes secret; "" is no key.
func NewKey(secret string) Key {
	if secret == "" {
		return Key{}
	}
	return Key{sum: sha256.Sum256([]byte(secret)), set: true}
}

// Admit decides whether a request may send events for site in registered
// mode. A key the request carries must be the site's, whatever else it
// sends: an Origin or Referer is no credential (any client can send one).
// A browser request (one with an Origin or Referer; pageHost its host, see
// PageHost) must come from one of the site's domains; any other request
// must carry the site's write key. It returns nil or a *Refusal.
func (r *Registry) Admit(site, pageHost string, browser bool, key Key) error {
	s, ok := r.cur.Load().sites[site]
	if !ok {
		return &Refusal{http.StatusForbidden, fmt.Sprintf("site_id %q is not registered on this collector (register it with `analytics-cli sites add --domain <host> %s`)", site, site)}
	}
	if key.set && (!s.hasKey || subtle.ConstantTimeCompare(key.sum[:], s.keySum[:]) != 1) {
		return &Refusal{http.StatusUnauthorized, fmt.Sprintf("wrong write key for site %q: send the key `analytics-cli sites add` (or `sites update --rotate-key`) printed, or none from a page on the site's domains", site)}
	}
	if browser {
		if pageHost == "" {
			return &Refusal{http.StatusForbidden, fmt.Sprintf("events for site %q are accepted only from its domains; this request's Origin or Referer names no host", site)}
		}
		if !s.AllowsHost(pageHost) {
			return &Refusal{http.StatusForbidden, fmt.Sprintf("events for site %q are accepted only from its domains; this page's host %q is not one (add it with `analytics-cli sites update --domain ... %s`)", site, pageHost, site)}
		}
		return nil
	}
	if !key.set {
		return &Refusal{http.StatusUnauthorized, fmt.Sprintf("site %q needs its write key for events sent without a browser's Origin: send Authorization: Bearer <write key>", site)}
	}
	return nil
}

// SiteForKey returns the site whose write key is key, for Segment's
// write keys in registered mode; an error of kind Invalid when there is
// none (answered 401).
func (r *Registry) SiteForKey(_ context.Context, key string) (string, error) {
	if id, ok := r.cur.Load().byKey[sha256.Sum256([]byte(key))]; ok {
		return id, nil
	}
	return "", analytics.Errorf(analytics.Invalid, "unknown write key: in registered mode the write key is the one `analytics-cli sites add` printed")
}

// SiteForDomain returns the registered site a domain names, for the
// trackers that address a site by domain (Plausible's domain, GoatCounter's
// host) or by an id of their own (Umami's website id): the site with that
// id, else the site that lists it in its Domains, else the one with a
// "*.parent" entry for it. "www." in front is ignored, as Plausible
// ignores it. ok is false when no site claims it.
func (r *Registry) SiteForDomain(domain string) (string, bool) {
	s := r.cur.Load()
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	for _, d := range [...]string{domain, strings.TrimPrefix(domain, "www.")} {
		if _, ok := s.sites[d]; ok {
			return d, true
		}
		if id, ok := s.byDomain[d]; ok {
			return id, true
		}
	}
	for d := domain; ; {
		_, parent, ok := strings.Cut(d, ".")
		if !ok {
			return "", false
		}
		if id, ok := s.byDomain["*."+parent]; ok {
			return id, true
		}
		d = parent
	}
}

// HasTokens reports whether any reporter token exists.
func (r *Registry) HasTokens() bool { return len(r.cur.Load().tokens) > 0 }

// Tokens is the number of reporter tokens.
func (r *Registry) Tokens() int { return len(r.cur.Load().tokens) }

// Closed reports whether the reporter wants a token even when none exists:
// a token has existed, or `analytics-cli tokens close` closed it, and
// `tokens open` has not opened it since.
func (r *Registry) Closed() bool {
	s := r.cur.Load()
	return s.access.Closed || len(s.tokens) > 0
}

// Token returns the token whose secret is secret, if any.
func (r *Registry) Token(secret string) (*Token, bool) {
	t, ok := r.cur.Load().tokens[sha256.Sum256([]byte(secret))]
	return t, ok
}

// Public reports whether site is registered and public.
func (r *Registry) Public(site string) bool {
	s, ok := r.cur.Load().sites[site]
	return ok && s.Public
}
