# One image with the four binaries (collector, processor, reporter,
# analytics-cli), static and run as a non-root user. Choose the binary with
# the command:  docker run IMAGE collector  (see compose.yaml).
#
#   docker build --build-arg VERSION=v1.0.0 --build-arg COMMIT=$(git rev-parse HEAD) -t siteanalytics .

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum go.work ./
COPY sdk/go.mod sdk/
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w \
        -X github.com/siteanalytics/analytics/internal/version.Version=${VERSION} \
        -X github.com/siteanalytics/analytics/internal/version.Commit=${COMMIT} \
        -X github.com/siteanalytics/analytics/internal/version.Date=${DATE}" \
      -o /out/ ./cmd/collector ./cmd/processor ./cmd/reporter ./cmd/analytics-cli

# distroless/static: no shell, no package manager, CA certificates and
# tzdata only; "nonroot" is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
ENV LOG_FORMAT=json
EXPOSE 3000 3001
CMD ["collector"]
