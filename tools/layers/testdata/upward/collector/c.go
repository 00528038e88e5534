package collector

import "github.com/siteanalytics/analytics/redisqueue"
