# The two commands of the README are `make dev` and `make test`.
.PHONY: dev test install-chromium build check clean bench bench-ci bench-startup bench-sync bench-uploads bench-fleet package deploy demo

dev:            ## start Azurite, the Service Bus fake, entra-sim, dataverse-sim, funchost + the handler (Ctrl-C stops them)
	@scripts/dev.sh

test:           ## run every test with -race, starting the services they need (the browser tests when Chromium is installed)
	@scripts/test.sh

install-chromium: ## install Chromium (Debian's package, as root) for the browser tests of make test (localworld/browser)
	@scripts/install-chromium.sh

demo:           ## the downstream sync story on a local world of its own (free ports): approve, sign in, sync, edit in Dynamics, sync, read the changes, upload a report, download a file attached in Dynamics, an offline edit merged with and one refused by a colleague's change
	@scripts/demo.sh

build:          ## build the handler (native), the local tools and connectorctl into bin/
	go build -o bin/local/handler ./cmd/handler
	go build -o bin/funchost ./localworld/cmd/funchost
	go build -o bin/entra-sim ./localworld/cmd/entra-sim
	go build -o bin/dataverse-sim ./localworld/cmd/dataverse-sim
	go build -o bin/connectorctl ./cmd/connectorctl

check:          ## formatting and vet, as CI runs them
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...

package:        ## build the deployable app: build/app/ and build/connector.zip (static linux/amd64, reproducible)
	@scripts/package.sh build

deploy: package ## provision infra/ and upload the package with the Azure CLI (docs/deploy.md); not run in CI
	@scripts/deploy.sh

bench:          ## the end-to-end benchmark through funchost (full syncs of 10,000 and 100,000 rows against bare reads and writes, BENCH_ROWS=1000000 for more; 1,000 uploads, throttled uploads, cold start): one table, written into docs/performance.md
	@scripts/bench.sh full

bench-ci:       ## the short forms of make bench (10,000 rows, 200 uploads) and make bench-fleet (200 users), failing when a figure crosses its threshold
	@scripts/bench.sh ci
	@scripts/bench-fleet.sh ci

bench-fleet:    ## the fleet through funchost: 2,000 users in 20 tenants, first syncs then steady 5-minute intervals; lag per tenant size, cost per user, every user's view checked (docs/performance.md, "Fleet"); about 40 minutes
	@scripts/bench-fleet.sh full

bench-sync:     ## the sync benchmarks against a fresh Azurite (docs/performance.md)
	@scripts/bench-sync.sh

bench-startup:  ## measure how soon the handler answers GET / after it starts
	go test -run '^$$' -bench HandlerStartup -benchtime 50x ./cmd/handler

bench-uploads:  ## the upload pipeline's throughput, plain and throttled (docs/performance.md); a few minutes
	@scripts/bench-uploads.sh

clean:
	rm -rf bin build .run .funchost

.PHONY: chaos chaos-ci
chaos:          ## a seeded fault campaign on a local world of its own (CHAOS_SEED, CHAOS_DURATION=5m, CHAOS_USERS=3; docs/decisions.md, "Chaos campaign")
	@scripts/chaos.sh

chaos-ci:       ## the campaign's CI form: 60 s of faults, the seed taken from the commit
	@CHAOS_DURATION=$${CHAOS_DURATION:-60s} CHAOS_USERS=$${CHAOS_USERS:-2} CHAOS_ROWS=$${CHAOS_ROWS:-200} \
	  CHAOS_SEED=$${CHAOS_SEED:-$$(printf '%d' 0x$$(git rev-parse --short=8 HEAD 2>/dev/null || echo 2a))} scripts/chaos.sh
