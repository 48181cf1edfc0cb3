# The two commands of the README are `make dev` and `make test`.
.PHONY: dev test build check clean bench-startup

dev:            ## start Azurite + the Service Bus fake + funchost + the handler (Ctrl-C stops them)
	@scripts/dev.sh

test:           ## run every test with -race, starting the services they need
	@scripts/test.sh

build:          ## build the handler (native), the local tools and connectorctl into bin/
	go build -o bin/local/handler ./cmd/handler
	go build -o bin/funchost ./cmd/funchost
	go build -o bin/connectorctl ./cmd/connectorctl

check:          ## formatting and vet, as CI runs them
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...

bench-startup:  ## measure how soon the handler answers GET / after it starts
	go test -run '^$$' -bench HandlerStartup -benchtime 50x ./cmd/handler

clean:
	rm -rf bin build .run .funchost
