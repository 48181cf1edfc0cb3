#!/usr/bin/env bash
# Builds the deployable Function App into OUT (default build/): a static
# linux/amd64 handler, the assembled app folder OUT/app, and OUT/connector.zip,
# which is byte-for-byte the same for the same sources and Go version.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build}
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' \
  -o "$out/linux-amd64/handler" ./cmd/handler
go run ./devtools/cmd/apppack -root . -binary "$out/linux-amd64/handler" -dir "$out/app" -zip "$out/connector.zip"
