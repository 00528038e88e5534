module github.com/siteanalytics/analytics/sdk

go 1.26
