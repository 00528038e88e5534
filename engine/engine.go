package engine

import (
	"context"

	"github.com/siteanalytics/analytics"
)

// Answerer is what the APIs ask: an Engine, or anything answering like one.
type Answerer interface {
	// Query answers q exactly. Errors of kind analytics.Invalid name what
	// in q cannot be answered (an unknown metric or dimension, a metric
	// that needs a goal filter); others are the store's.
	Query(ctx context.Context, q Query) (Result, error)
	// Funnel answers how many visitors of q's range and filter reached
	// each step of f, in order, within one visit.
	Funnel(ctx context.Context, q Query, f Funnel) ([]FunnelStep, error)
}

// Engine answers queries by scanning a site's event blocks.
type Engine struct {
	// placeholder until the scan lands
}

var _ Answerer = (*Engine)(nil)

// Query implements Answerer.
func (e *Engine) Query(ctx context.Context, q Query) (Result, error) {
	return Result{}, analytics.Errorf(analytics.Internal, "engine: not built yet")
}

// Funnel implements Answerer.
func (e *Engine) Funnel(ctx context.Context, q Query, f Funnel) ([]FunnelStep, error) {
	return nil, analytics.Errorf(analytics.Internal, "engine: not built yet")
}
