// Package enrich derives the non-personal fields of an analytics event
// (source, referrer host, browser, OS, device, country, cookieless visitor
// id) from the HTTP request at the collector, the only place that sees the
// client's address and User-Agent. Nothing it returns lets anyone recover
// either: the address becomes a country and, in cookieless mode, part of a
// keyed hash whose key (the daily salt) is deleted after 48 hours.
package enrich
