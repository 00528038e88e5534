package mongostore

import (
	"context"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/sites"
)

// Site settings (time zone, goals, funnels) are kept beside the registry,
// keyed by site id alone, so a site has them in open mode too, where it has
// no document in sites:
//
//	site_settings: {_id: site id, timezone: IANA name, updated_at: date}
//	goals:         {_id: "<site>/<goal name>", site, name, event | page, created_at}
//	funnels:       {_id: "<site>/<funnel name>", site, name, steps: [{name, event | page}], created_at}
//
// Site ids hold no "/", so an _id names one site's goal or funnel. Every
// change is one upsert, insert or delete by _id: no read-modify-write of a
// shared document, which two concurrent commands could undo on FerretDB
// (whose compare-and-set is not atomic). All three are small (a site has at
// most sites.MaxGoals goals and sites.MaxFunnels funnels) and read whole by
// sites.SettingsCache.
const (
	settingsColl = "site_settings"
	goalsColl    = "goals"
	funnelsColl  = "funnels"
)

var _ sites.SettingsSource = (*Registry)(nil)

func (r *Registry) coll(name string) *mongo.Collection { return r.sites.Database().Collection(name) }

type settingsDoc struct {
	Site      string    `bson:"_id"`
	TimeZone  string    `bson:"timezone"`
	UpdatedAt time.Time `bson:"updated_at"`
}

type goalDoc struct {
	ID        string    `bson:"_id"`
	Site      string    `bson:"site"`
	Name      string    `bson:"name"`
	Event     string    `bson:"event,omitempty"`
	Page      string    `bson:"page,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
}

func (d goalDoc) goal() engine.Goal { return engine.Goal{Name: d.Name, Event: d.Event, Page: d.Page} }

type stepDoc struct {
	Name  string `bson:"name"`
	Event string `bson:"event,omitempty"`
	Page  string `bson:"page,omitempty"`
}

type funnelDoc struct {
	ID        string    `bson:"_id"`
	Site      string    `bson:"site"`
	Name      string    `bson:"name"`
	Steps     []stepDoc `bson:"steps"`
	CreatedAt time.Time `bson:"created_at"`
}

func (d funnelDoc) funnel() engine.Funnel {
	f := engine.Funnel{Name: d.Name, Steps: make([]engine.Goal, len(d.Steps))}
	for i, s := range d.Steps {
		f.Steps[i] = engine.Goal{Name: s.Name, Event: s.Event, Page: s.Page}
	}
	return f
}

// SetTimeZone sets site's time zone (an IANA name the caller checked with
// sites.LoadTimeZone); the site need not be registered.
func (r *Registry) SetTimeZone(ctx context.Context, site, zone string) error {
	_, err := r.coll(settingsColl).UpdateOne(ctx, bson.D{{Key: "_id", Value: site}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "timezone", Value: zone}, {Key: "updated_at", Value: time.Now().UTC().Truncate(time.Millisecond)}}}},
		options.UpdateOne().SetUpsert(true))
	return classify("mongodb: set time zone", err)
}

// AddGoal adds g (made by sites.EventGoal or sites.PageGoal) to site's
// goals; Invalid when the site has it already or has sites.MaxGoals.
func (r *Registry) AddGoal(ctx context.Context, site string, g engine.Goal) error {
	c := r.coll(goalsColl)
	n, err := c.CountDocuments(ctx, bson.D{{Key: "site", Value: site}})
	if err != nil {
		return classify("mongodb: count goals", err)
	}
	if n >= sites.MaxGoals {
		return analytics.Errorf(analytics.Invalid, "site %q has %d goals, the most a site may have: remove one first (analytics-cli goals remove)", site, n)
	}
	_, err = c.InsertOne(ctx, goalDoc{ID: site + "/" + g.Name, Site: site, Name: g.Name, Event: g.Event, Page: g.Page, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)})
	if mongo.IsDuplicateKeyError(err) {
		return analytics.Errorf(analytics.Invalid, "site %q has the goal %q already (see `analytics-cli goals list --site %s`)", site, g.Name, site)
	}
	return classify("mongodb: add goal", err)
}

// RemoveGoal deletes site's goal called name; NotFound when it has none.
func (r *Registry) RemoveGoal(ctx context.Context, site, name string) error {
	return deleteByID(ctx, r.coll(goalsColl), site+"/"+name, "goal", "analytics-cli goals list --site "+site)
}

// AddFunnel adds f (checked by sites.NewFunnel) to site's funnels;
// Invalid when one of that name exists or the site has sites.MaxFunnels.
func (r *Registry) AddFunnel(ctx context.Context, site string, f engine.Funnel) error {
	c := r.coll(funnelsColl)
	n, err := c.CountDocuments(ctx, bson.D{{Key: "site", Value: site}})
	if err != nil {
		return classify("mongodb: count funnels", err)
	}
	if n >= sites.MaxFunnels {
		return analytics.Errorf(analytics.Invalid, "site %q has %d funnels, the most a site may have: remove one first (analytics-cli funnels remove)", site, n)
	}
	d := funnelDoc{ID: site + "/" + f.Name, Site: site, Name: f.Name, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	for _, s := range f.Steps {
		d.Steps = append(d.Steps, stepDoc{Name: s.Name, Event: s.Event, Page: s.Page})
	}
	_, err = c.InsertOne(ctx, d)
	if mongo.IsDuplicateKeyError(err) {
		return analytics.Errorf(analytics.Invalid, "site %q has a funnel named %q already (remove it first, or choose another --name)", site, f.Name)
	}
	return classify("mongodb: add funnel", err)
}

// RemoveFunnel deletes site's funnel called name; NotFound when it has
// none.
func (r *Registry) RemoveFunnel(ctx context.Context, site, name string) error {
	return deleteByID(ctx, r.coll(funnelsColl), site+"/"+name, "funnel", "analytics-cli funnels list --site "+site)
}

// LoadSettings returns every site's settings, sorted by site, goals and
// funnels in the order they were added.
func (r *Registry) LoadSettings(ctx context.Context) ([]sites.Settings, error) {
	return r.loadSettings(ctx, bson.D{}, bson.D{})
}

// SiteSettings returns site's settings (the defaults when it has none).
func (r *Registry) SiteSettings(ctx context.Context, site string) (sites.Settings, error) {
	list, err := r.loadSettings(ctx, bson.D{{Key: "_id", Value: site}}, bson.D{{Key: "site", Value: site}})
	if err != nil || len(list) == 0 {
		return sites.Settings{Site: site}, err
	}
	return list[0], nil
}

// loadSettings reads the settings documents matching bySite (site_settings)
// and byField (goals, funnels).
func (r *Registry) loadSettings(ctx context.Context, bySite, byField bson.D) ([]sites.Settings, error) {
	var zones []settingsDoc
	var goals []goalDoc
	var funnels []funnelDoc
	for _, q := range []struct {
		coll   string
		filter bson.D
		into   any
	}{{settingsColl, bySite, &zones}, {goalsColl, byField, &goals}, {funnelsColl, byField, &funnels}} {
		cur, err := r.coll(q.coll).Find(ctx, q.filter)
		if err == nil {
			err = cur.All(ctx, q.into)
		}
		if err != nil {
			return nil, classify("mongodb: read "+q.coll, err)
		}
	}
	sort.Slice(goals, func(i, j int) bool {
		return createdBefore(goals[i].CreatedAt, goals[i].ID, goals[j].CreatedAt, goals[j].ID)
	})
	sort.Slice(funnels, func(i, j int) bool {
		return createdBefore(funnels[i].CreatedAt, funnels[i].ID, funnels[j].CreatedAt, funnels[j].ID)
	})
	by := map[string]*sites.Settings{}
	get := func(site string) *sites.Settings {
		s := by[site]
		if s == nil {
			s = &sites.Settings{Site: site}
			by[site] = s
		}
		return s
	}
	for _, d := range zones {
		get(d.Site).TimeZone = d.TimeZone
	}
	for _, d := range goals {
		s := get(d.Site)
		s.Goals = append(s.Goals, d.goal())
	}
	for _, d := range funnels {
		s := get(d.Site)
		s.Funnels = append(s.Funnels, d.funnel())
	}
	out := make([]sites.Settings, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Site < out[j].Site })
	return out, nil
}

func createdBefore(a time.Time, aID string, b time.Time, bID string) bool {
	if !a.Equal(b) {
		return a.Before(b)
	}
	return aID < bID
}
