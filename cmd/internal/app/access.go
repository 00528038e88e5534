package app

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics/collector"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/ratelimit"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/sites"
)

// collectorAccess sets who may send events to the collector and how fast:
// the rate limits, and in registered mode the sites registry (a
// connection of its own to MONGODB_URI, read once now, then every
// SITES_REFRESH in the background). The returned function stops it.
func collectorAccess(ctx context.Context, cfg *config.Config, cc *collector.Config, log zerolog.Logger) (func(), error) {
	trusted, err := enrich.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	cc.Limits = collector.NewLimits(ratelimit.Config{Rate: cfg.IPRate, Burst: cfg.IPBurst},
		ratelimit.Config{Rate: cfg.SiteRate, Burst: cfg.SiteBurst}, trusted)
	if cfg.SitesMode != string(sites.Registered) {
		return func() {}, nil
	}
	if cfg.MongoURI == "" {
		return nil, fmt.Errorf("SITES_MODE=registered: the collector reads the sites from MongoDB: set MONGODB_URI (or --mongodb-uri)")
	}
	src, err := mongostore.OpenRegistry(ctx, cfg.MongoURI)
	if err != nil {
		return nil, fmt.Errorf("SITES_MODE=registered: %w", err)
	}
	reg, err := startRegistry(ctx, src, cfg, false, nil, log)
	if err != nil {
		_ = src.Close(context.Background())
		return nil, err
	}
	cc.Sites, cc.SiteForKey, cc.SiteForDomain = reg, reg.SiteForKey, reg.SiteForDomain
	return func() { reg.Close(); _ = src.Close(context.Background()) }, nil
}

// startRegistry reads the registry once (the daemon does not start
// without a first copy) and keeps it fresh in the background. While
// MongoDB fails it keeps the last good copy and logs each failure.
func startRegistry(ctx context.Context, src sites.Source, cfg *config.Config, tokens bool, onLoad func(), log zerolog.Logger) (*sites.Registry, error) {
	reg := sites.NewRegistry(src, sites.RegistryConfig{Refresh: cfg.SitesRefresh, Tokens: tokens, OnLoad: onLoad, OnRefresh: func(err error) {
		if err != nil {
			log.Warn().Err(err).Msg("reading the sites registry failed; keeping the last copy read")
			return
		}
		log.Info().Msg("sites registry read again")
	}})
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := reg.Start(lctx); err != nil {
		return nil, err
	}
	return reg, nil
}

// reporterAccess is the reporter's view of the tokens and public sites,
// in the store's database. onLoad runs after every read of them.
//
// A reporter started with REPORTER_TOKEN records that a token existed, so
// that the same reporter started later without it stays closed until it is
// opened on purpose, as after revoking the last token of the registry.
func reporterAccess(ctx context.Context, cfg *config.Config, store *mongostore.Store, onLoad func(), log zerolog.Logger) (*sites.Registry, error) {
	src := store.Registry()
	if cfg.ReporterToken != "" {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := src.SetReporterClosed(wctx, true)
		cancel()
		if err != nil {
			log.Warn().Err(err).Msg("could not record that the reporter is closed (REPORTER_TOKEN is set); without REPORTER_TOKEN it would open again")
		}
	}
	return startRegistry(ctx, src, cfg, true, onLoad, log)
}
