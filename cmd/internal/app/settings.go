package app

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/reporter"
	"github.com/siteanalytics/analytics/sites"
)

// startSettings reads every site's settings (time zone, goals, funnels)
// once (the reporter does not start without them: answers in the wrong
// zone would be wrong, not late) and keeps them fresh every SITES_REFRESH,
// keeping the last copy while MongoDB fails.
func startSettings(ctx context.Context, cfg *config.Config, store *mongostore.Store, log zerolog.Logger) (*sites.SettingsCache, error) {
	c := sites.NewSettingsCache(store.Registry(), sites.RegistryConfig{Refresh: cfg.SitesRefresh, OnRefresh: func(err error) {
		if err != nil {
			log.Warn().Err(err).Msg("reading the site settings failed; keeping the last copy read")
			return
		}
		log.Info().Msg("site settings read again")
	}})
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Start(lctx); err != nil {
		return nil, err
	}
	return c, nil
}

// zonedSites lists the store's sites with their time zones
// (reporter.SiteZones), for /api/v1/sites.
type zonedSites struct {
	reporter.SiteLister
	*sites.SettingsCache
}
