# Tessera build, test and release machinery. `make help` lists the targets.

SHELL         := /bin/bash
.SHELLFLAGS   := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO           ?= go
# VERSION is semver (package version; scripts/version.sh): a release tag
# without its v when HEAD is exactly a clean v-tag (v0.2.0 → 0.2.0), else
# 0.0.0-dev+HASH[.dirty], which sorts below every release. BUILD_TIME is the
# commit time (RFC 3339), so builds stay reproducible; the agent's clock never
# goes below it.
ifeq ($(origin VERSION),undefined)
VERSION      := $(shell sh scripts/version.sh)
endif
BUILD_TIME   ?= $(shell git log -1 --format=%cI 2>/dev/null)
LDFLAGS      := -X main.buildVersion=$(VERSION) -X main.buildTime=$(BUILD_TIME)
# ROOT_KEYS=FILE builds agents that trust an organisation's update root
# keys (tessera-sign keygen's *.pub, one after the other in FILE) instead
# of the project's (firmware/roots.pem); docs/updates.md.
ifneq ($(ROOT_KEYS),)
ifeq ($(wildcard $(ROOT_KEYS)),)
$(error ROOT_KEYS=$(ROOT_KEYS): no such file)
endif
LDFLAGS      += -X main.rootKeys=$(shell base64 -w0 < $(ROOT_KEYS))
endif
BIN          := bin
DIST         := dist
AGENT_PKG    := ./cmd/tessera
HUB_PKG      := ./cmd/tessera-hub
SIGN_PKG     := ./cmd/tessera-sign
TEST_TIMEOUT ?= 25m
TEST_P       ?= 2
FUZZTIME     ?= 30s
BENCHCOUNT   ?= 5
FLEETCOUNT   ?= 1
# Packages for bench and fuzz (e.g. make fuzz PKGS=./cardreader/...).
PKGS         ?= ./...
# staticcheck 2026.2.2, pinned. Release 2025.1.1 is v0.6.1, which the module
# proxy does not serve under its "2025.1.1" name, and it predates Go 1.26.
STATICCHECK  := honnef.co/go/tools/cmd/staticcheck@v0.8.2
ARM_CC       ?= arm-linux-gnueabihf-gcc
ARM64_CC     ?= aarch64-linux-gnu-gcc

# Tests look at CI (CI=true) to turn a missing real component into a failure.
ifneq ($(origin CI),undefined)
export CI
endif

.PHONY: help build demo deps test cross bench soak lint fuzz screens clean version

help: ## list the targets
	@grep -E '^[a-z][a-z0-9_-]*:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/tessera, bin/tessera-hub and bin/tessera-sign (cgo, version stamped; ROOT_KEYS=FILE: an organisation's update roots)
	@mkdir -p $(BIN)
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ $(AGENT_PKG) $(HUB_PKG) $(SIGN_PKG)

version: ## print the version the build stamps (semver)
	@echo $(VERSION)

demo: build ## run the agent, a hub and a virtual printer; Ctrl-C stops them all
	$(BIN)/tessera demo --hub-bin $(BIN)/tessera-hub

deps: ## install what the tests need (root; apt only for what is missing)
	bash scripts/test-deps.sh

# The hub's tests run twice: on SQLite (with every package, under the race
# detector) and on a private PostgreSQL 15 (TESSERA_HUB_TEST_DB; issue 13:
# one suite, both engines). The second run is without -race: the same code
# ran under it in the first, and the detector would double its ~3 minutes.
test: deps ## deps, go vet, then every test with the race detector; the hub's tests on PostgreSQL too
	$(GO) vet ./...
	$(GO) test -race -count=1 -p $(TEST_P) -timeout $(TEST_TIMEOUT) ./...
	TESSERA_HUB_TEST_DB=postgres $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./hub/

# The three builds run one after the other: a cold cgo build of SQLite keeps a
# core busy for ~40 s, and the machine has two.
cross: ## build the agent for linux/arm (v7), linux/arm64 and linux/amd64 into dist/
	@command -v $(ARM_CC) >/dev/null && [ -e /usr/arm-linux-gnueabihf/include/stdio.h ] || \
		{ echo "cross: $(ARM_CC) or its libc missing: apt-get install gcc-arm-linux-gnueabihf libc6-dev-armhf-cross (or make deps)" >&2; exit 1; }
	@command -v $(ARM64_CC) >/dev/null && [ -e /usr/aarch64-linux-gnu/include/stdio.h ] || \
		{ echo "cross: $(ARM64_CC) or its libc missing: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross (or make deps)" >&2; exit 1; }
	@command -v file >/dev/null || { echo "cross: file missing: apt-get install file (or make deps)" >&2; exit 1; }
	@mkdir -p $(DIST)
	CGO_ENABLED=1 GOOS=linux GOARCH=arm GOARM=7 CC=$(ARM_CC) \
		$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/tessera-linux-arm $(AGENT_PKG)
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=$(ARM64_CC) \
		$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/tessera-linux-arm64 $(AGENT_PKG)
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 \
		$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/tessera-linux-amd64 $(AGENT_PKG)
	file $(DIST)/*

# The fleet (issue 12: 1,000 and 15,000 simulated agents against the real
# hub, ws and wss; docs/benchmarks.md, Fleet) takes ~10 minutes a run: it has
# its own line, FLEETCOUNT runs, and only when PKGS covers internal/e2e.
bench: ## every benchmark, 5 runs each, then per-benchmark medians; then the fleet (BenchmarkFleet) and the hub of three nodes (BenchmarkCluster)
	$(GO) test -run '^$$' -bench . -skip '^Benchmark(Fleet|Cluster)$$' -benchmem -count $(BENCHCOUNT) -timeout 90m $(PKGS) | $(GO) run ./scripts/benchsummary
ifneq ($(filter ./... ./internal/e2e/ ./internal/e2e,$(PKGS)),)
	$(GO) test -run '^$$' -bench '^BenchmarkFleet$$' -benchtime 1x -count $(FLEETCOUNT) -timeout 120m ./internal/e2e/ | $(GO) run ./scripts/benchsummary
	$(GO) test -run '^$$' -bench '^BenchmarkCluster$$' -benchtime 1x -count $(FLEETCOUNT) -timeout 60m ./internal/e2e/ | $(GO) run ./scripts/benchsummary
endif

# make test kills the ledger's writer 8 times (TestPowerCut) and runs 6
# sessions through a hub outage (TestOutage); the soak, 200 kills and 500
# sessions.
soak: ## long runs: the ledger's writer killed 200 times (TestPowerCut), 500 sessions through a hub outage (TestOutage)
	TESSERA_SOAK_KILLS=200 $(GO) test -count=1 -run '^TestPowerCut$$' -timeout 60m -v ./offline/ | grep -E '^(---|ok|FAIL|PASS)|records committed'
	TESSERA_SOAK_SESSIONS=500 $(GO) test -count=1 -run '^TestOutage$$' -timeout 90m -v ./internal/e2e/ | grep -E '^(---|ok|FAIL|PASS)|outage_test'

# The second vet type-checks every package for a developer's Mac: code that
# needs Linux lives in _linux.go files beside an _other.go (cgo is off when
# cross-checking, so cgo-only code has a !cgo twin too).
lint: ## gofmt, go vet (linux and darwin), staticcheck
	@out=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 gofmt -l); \
		if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# The PNGs are committed: a change to the page shows in review as pictures.
screens: ## every panel screen, en and fr, at 800x480 and 1024x600, into panel/testdata/screens/
	rm -f panel/testdata/screens/*.png
	TESSERA_SCREENS=$(CURDIR)/panel/testdata/screens $(GO) test -count=1 -run '^TestPanelScreens$$' -timeout 10m ./internal/e2e/

fuzz: ## run every Fuzz target for FUZZTIME (default 30s)
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh $(PKGS)

clean: ## remove bin/ and dist/
	rm -rf $(BIN) $(DIST)
