#!/usr/bin/env bash
# Installs the Debian 12 packages tier0 builds and tests with. Idempotent: when every
# package is already installed it changes nothing and touches no network.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libwebsockets-dev libuv1-dev libcurl4-openssl-dev libjansson-dev
  libsqlite3-dev libpcre2-dev libyaml-dev libssl-dev libcmocka-dev
  sqlite3 clang curl valgrind zip unzip openssl
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
