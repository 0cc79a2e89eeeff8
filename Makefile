# Milvus Edge. `make run` sets up and runs the gateway on the embedded default;
# `make test` runs every test against the real Envoy, milvus-lite and a Milvus
# standalone (PyPI milvus, .venv-milvus).
SHELL := /bin/bash
ROOT := $(abspath .)
BIN := $(ROOT)/bin/milvus-edge
# The in-process filter (edge.filters: in_process): a Go dynamic module Envoy
# loads, built with the edge from the same source (docs/in-process.md).
MODULE := $(ROOT)/bin/libmilvus_edge.so
# The calls filter: a C dynamic module Envoy loads to read the Milvus status
# of every response and count every call (callsmodule/, docs/metrics.md).
CALLS_MODULE := $(ROOT)/bin/libmilvus_edge_calls.so
export ENVOY_BIN ?= $(shell ls $(ROOT)/.venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -n 1)
export MILVUS_LITE_BIN ?= $(ROOT)/.venv/bin/milvus-lite
export MILVUS_SERVER_BIN ?= $(ROOT)/.venv-milvus/bin/milvus-server
export REDIS_SERVER_BIN ?= $(shell command -v redis-server 2>/dev/null)
export RATELIMIT_BIN ?= $(ROOT)/bin/ratelimit
export PROMETHEUS_BIN ?= $(shell command -v prometheus 2>/dev/null)
export PROMTOOL_BIN ?= $(shell command -v promtool 2>/dev/null)
export MILVUS_EDGE_BIN := $(BIN)
export MILVUS_EDGE_MODULE := $(MODULE)
export MILVUS_EDGE_CALLS_MODULE := $(CALLS_MODULE)
export PYTHON := $(ROOT)/.venv/bin/python

.PHONY: setup build run test test-go test-policy test-gosdk test-e2e bench bench-obs clean

setup:
	@scripts/setup.sh

build:
	go build -o $(BIN) ./cmd/milvus-edge
	CGO_ENABLED=1 go build -buildmode=c-shared -o $(MODULE) ./cmd/milvus-edge-module
	scripts/build-calls-module.sh $(CALLS_MODULE)

run: setup build
	$(BIN) run $(if $(CONFIG),--config $(CONFIG))

test: setup build test-go test-policy test-gosdk test-e2e

test-go:
	go vet ./...
	go test -count=1 -timeout 15m ./...

# The default bundle and every example bundle pass stock `opa test` (the CLI
# built from the pinned OPA module) and `milvus-edge policy test`.
test-policy: build
	go build -o bin/opa github.com/open-policy-agent/opa
	@for d in policy/bundle examples/policies/*/; do \
		echo "== $$d"; bin/opa test $$d && $(BIN) policy test $$d >/dev/null || exit 1; \
	done

test-gosdk:
	cd test/gosdk && go test -count=1 -timeout 10m ./...

test-e2e:
	$(PYTHON) -m pytest -q test/e2e

# The gateway's cost ladder (bench/README.md): direct → Envoy → + ext_authz →
# + ext_proc, for Search/Insert/Query on a fake backend and Search on
# milvus-lite; ~4 minutes; writes bench/results/latest.{json,md}. Not part of
# `make test`. BENCH_ARGS passes flags (e.g. -steps envoy,envoy+authz+proc -ops Search).
bench: setup build
	go build -o $(ROOT)/bin/bench-ladder ./bench/cmd/ladder
	$(ROOT)/bin/bench-ladder -edge $(BIN) -out $(ROOT)/bench/results $(BENCH_ARGS)

# What the metrics (on) and tracing at 1 % cost the full chain's throughput,
# directly side by side and by parts (bench/cmd/obscost, docs/metrics.md "Cost"); ~12
# minutes; writes bench/results/obscost.md. OBS_ARGS passes flags (-pairs N, -split).
bench-obs: setup build
	go build -o $(ROOT)/bin/bench-ladder ./bench/cmd/ladder
	go build -o $(ROOT)/bin/obscost ./bench/cmd/obscost
	$(ROOT)/bin/obscost -ladder $(ROOT)/bin/bench-ladder -edge $(BIN) -out $(ROOT)/bench/results $(OBS_ARGS)

clean:
	rm -rf bin .data
