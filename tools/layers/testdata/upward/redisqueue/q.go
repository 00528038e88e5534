package redisqueue

import (
	"fmt"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/collector"
)
