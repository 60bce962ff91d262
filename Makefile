# pgha — the two commands of the README: `make demo` and `make test`.
# `make test` installs what is missing on a fresh Debian machine (as root),
# then runs the same checks CI runs.

GO          ?= go
# Where `go install` and scripts/install-deps.sh put binaries: GOBIN, else
# the first GOPATH entry's bin (as scripts/lib.sh's go_bin_dir; an exported
# but empty GOBIN counts as unset).
GO_BIN_DIR  := $(or $(shell $(GO) env GOBIN),$(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin)
STATICCHECK ?= $(GO_BIN_DIR)/staticcheck
PG_MAJOR    ?= 15
TESTFLAGS   ?=
# The race detector and the real etcd/PostgreSQL tests share 2 cores in CI.
TEST_TIMEOUT ?= 40m

.PHONY: test deps deps-demo check fmt vet staticcheck importcheck unit sim bench demo

test: deps check unit sim

# deps installs what the tests need when it is missing: PostgreSQL 15,
# HAProxy, the postgres OS user, staticcheck and a Consul agent (pinned);
# deps-demo only what the demo runs.
deps:
	@./scripts/install-deps.sh

deps-demo:
	@./scripts/install-deps.sh --demo

check: fmt vet staticcheck importcheck

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

# Library packages must not pull in test-only servers or an OTel SDK
# (DESIGN.md §1): the embedded etcd server is for internal/testutil only.
# An embedder of failover brings its own pg.Instance: pgx comes only with
# pg/pglocal, Prometheus only with healthapi/metrics.
LIBRARY_PKGS = $(shell $(GO) list ./... | grep -v -e /internal/ -e /examples/ -e /dcstest)
importcheck:
	@bad=$$($(GO) list -deps $(LIBRARY_PKGS) | grep -E '^(go.etcd.io/etcd/server/v3|go.opentelemetry.io/otel/sdk|github.com/hashicorp/consul)(/|$$)' | grep -v '^github.com/hashicorp/consul/api'); \
	if [ -n "$$bad" ]; then echo "library packages import test-only or SDK modules:"; echo "$$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./failover ./failover/failovertest ./pg ./pg/pgtest | grep -E '^github.com/(jackc/pgx|prometheus)/'); \
	if [ -n "$$bad" ]; then echo "failover must not link a PostgreSQL driver or Prometheus (README, Embedding):"; echo "$$bad" | head; exit 1; fi

# The dcs/consul tests use the Consul that install-deps pinned and built.
unit:
	CONSUL_BIN=$${CONSUL_BIN:-$(GO_BIN_DIR)/consul} $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) ./...

# sim runs the fault simulation of the real Controller on 2,000 seeds
# without the race detector (unit runs a few dozen seeds with it). A failing
# seed S is replayed with: go test ./internal/sim -run TestSimulation -sim.seed=S
SIM_SEEDS ?= 2000
sim:
	$(GO) test -count=1 -timeout 30m ./internal/sim -run 'TestSimulation$$' -sim.seeds=$(SIM_SEEDS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

# demo runs a three-node cluster (embedded etcd, pgha-agent processes with
# PostgreSQL 15, HAProxy) on 127.0.0.1, kills the primary and shows the
# failover; everything is removed at the end, also on Ctrl-C.
demo: deps-demo
	$(GO) build -o bin/pgha-agent ./examples/agent
	$(GO) build -o bin/pgha-demo ./examples/demo
	./bin/pgha-demo -agent ./bin/pgha-agent

# bench-failover runs the failover benchmark on a local three-node cluster
# (real PostgreSQL, HAProxy, embedded etcd); BENCH_N repetitions per
# scenario, BENCH_FLAGS for more (e.g. -json, -idle 10s).
BENCH_N     ?= 3
BENCH_FLAGS ?=
.PHONY: bench-failover
bench-failover:
	$(GO) run ./examples/failover-bench -n $(BENCH_N) $(BENCH_FLAGS)
