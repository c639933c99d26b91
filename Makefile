# connect-bridge: NATS JetStream ⇄ 1C-Connect PartnerWebAPI2.
# `make run` shows it working on this machine; `make test` runs every test.

GO      ?= go
PKG     ?= ./...
T       ?=
BIN     := bin
TESTFLAGS := -race -timeout 15m -count=1 -parallel 8
ifneq ($(T),)
TESTFLAGS += -run '$(T)'
endif

.DEFAULT_GOAL := help

.PHONY: help build test bench lint fmt tidy run fuzz static clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build the binaries (worker, enqueue, connect-emulator, bench, demo) into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

test: ## run every test (race detector on); narrow with T=<regexp> PKG=<packages>
	$(GO) test $(TESTFLAGS) $(PKG)

bench: ## measure the worker side by side with the broker and the naive way; writes BENCHMARKS.md
	$(GO) run ./cmd/bench -out BENCHMARKS.md

lint: ## gofmt, go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKG)

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

tidy: ## tidy go.mod
	$(GO) mod tidy

run: build ## start the sandbox, an embedded NATS and the worker; send a sample; print the results; stop
	bash scripts/demo.sh

fuzz: ## fuzz the SOAP decoder (whole and row by row, against each other) and the command decoder, 60s each (FUZZTIME=10m for longer)
	$(GO) test -run '^$$' -fuzz FuzzDecodeResponse -fuzztime $${FUZZTIME:-60s} -fuzzminimizetime 5s ./internal/soap
	$(GO) test -run '^$$' -fuzz FuzzDecodeCommand -fuzztime $${FUZZTIME:-60s} -fuzzminimizetime 5s ./internal/contract

static: ## build the static binary the container image uses (CGO_ENABLED=0)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/static/ ./cmd/worker

clean: ## remove build output
	rm -rf $(BIN)
