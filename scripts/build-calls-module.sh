#!/usr/bin/env bash
# Builds the calls filter (callsmodule/), a C dynamic module Envoy loads to
# read the Milvus status of responses and count calls (docs/metrics.md),
# into $1 (default bin/libmilvus_edge_calls.so). Its ABI header comes from
# Envoy's dynamic-module SDK, the Go module pinned in go.mod (the in-process
# module's), so both modules speak the ABI of the same Envoy.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin/libmilvus_edge_calls.so}
sdk=github.com/envoyproxy/envoy/source/extensions/dynamic_modules
abi=$(go mod download -json "$sdk" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/abi
if [[ ! -f $abi/abi.h ]]; then
  echo "build-calls-module: no abi.h under $abi (go mod download $sdk)" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
${CC:-gcc} -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -fPIC -shared \
  -I callsmodule -I callsmodule/envoy -I "$abi" -o "$out" callsmodule/*.c callsmodule/envoy/*.c -lpthread
