#!/usr/bin/env bash
# Builds the Microsoft Teams app package to upload (docs/TEAMS.md): a zip holding
# manifest.json (bot id from teams.app_id), color.png and outline.png at its root.
#
#   scripts/teams-package.sh CONFIG [OUT.zip] [tier0 teams-package options...]
#   e.g. scripts/teams-package.sh /etc/tier0/tier0.yaml tier0-teams.zip --website https://ops.example.com
#
# TIER0_BIN selects the binary (default build/tier0). Needs zip (scripts/install-deps.sh).
set -euo pipefail

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
cfg=$1
out=${2:-tier0-teams.zip}
shift $(( $# >= 2 ? 2 : 1 ))
bin=${TIER0_BIN:-build/tier0}

command -v zip >/dev/null || { echo "teams-package: zip is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
[ -x "$bin" ] || { echo "teams-package: $bin not found; build first (scripts/build.sh) or set TIER0_BIN" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" teams-package --config "$cfg" --out "$tmp/pkg" "$@" >/dev/null
case "$out" in /*) abs=$out ;; *) abs=$PWD/$out ;; esac
rm -f "$abs"
# -X: no extra file attributes; -j is not needed, the files sit at the zip's root.
(cd "$tmp/pkg" && zip -q -X "$abs" manifest.json color.png outline.png)
echo "teams-package: wrote $out (upload it in Teams: Apps > Manage your apps > Upload an app)"
