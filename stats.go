package analytics

import (
	"strconv"
	"time"
)

// Stats limits for top_paths.
const (
	DefaultTopPaths = 10
	MaxTopPaths     = 100
)

// StatsQuery asks for a site's stats on one UTC day, or all-time when Date
// is empty.
type StatsQuery struct {
	SiteID string
	Date   string // YYYY-MM-DD, or "" for all-time
	Limit  int    // number of top paths
}

// ParseStatsQuery validates the parameters of GET /stats. Errors are of kind
// Invalid and name the parameter.
func ParseStatsQuery(siteID, date, limit string) (StatsQuery, error) {
	q := StatsQuery{SiteID: siteID, Date: date, Limit: DefaultTopPaths}
	if siteID == "" {
		return q, Errorf(Invalid, "site_id: required, e.g. /stats?site_id=site-abc-123")
	}
	if err := ValidateSiteID(siteID); err != nil {
		return q, err
	}
	if date != "" {
		d, err := time.Parse(DateLayout, date)
		if err != nil || d.Format(DateLayout) != date {
			return q, Errorf(Invalid, "date: %q is not a date in YYYY-MM-DD format", truncate(date, 40))
		}
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxTopPaths {
			return q, Errorf(Invalid, "limit: %q must be a whole number from 1 to %d", truncate(limit, 40), MaxTopPaths)
		}
		q.Limit = n
	}
	return q, nil
}

// Stats is the answer of GET /stats, in the seed's shape.
type Stats struct {
	SiteID      string      `json:"site_id"`
	Date        *string     `json:"date"`
	TotalViews  int64       `json:"total_views"`
	UniqueUsers int64       `json:"unique_users"`
	TopPaths    []PathViews `json:"top_paths"`
	// Truncated says that the period had more distinct paths than the
	// rollups keep (see ShardKeys); the views of the rest are in the
	// "(other)" row.
	Truncated bool `json:"truncated,omitempty"`
	// Note explains zeros that are not a quiet day: "no events recorded for
	// site X" when the site has never sent one (a typo in site_id, say).
	Note string `json:"note,omitempty"`
}

// PathViews is one row of top_paths.
type PathViews struct {
	Path  string `json:"path"`
	Views int64  `json:"views"`
}
