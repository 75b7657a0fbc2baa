#!/usr/bin/env bash
# Installs what is missing, builds, and opens the console demo on config/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >&2
./scripts/build.sh >&2
exec ./build/tier0 demo "$@"
