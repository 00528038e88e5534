// Segment's analytics.js 2.0 (@segment/analytics-next), bundled for the
// browser test: the page loads the bundle and calls
// AnalyticsBrowser.load({writeKey, cdnSettings}) itself.
import { AnalyticsBrowser } from '@segment/analytics-next'

window.AnalyticsBrowser = AnalyticsBrowser
