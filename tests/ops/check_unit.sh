#!/usr/bin/env bash
# The shipped unit, as configured for the build tree: `systemd-analyze verify` prints nothing,
# and `systemd-analyze security --offline=yes` scores its exposure at 1.5 or lower.
set -euo pipefail
unit=$1
out=$(systemd-analyze verify "$unit" 2>&1) || { echo "systemd-analyze verify failed:"; echo "$out"; exit 1; }
if [ -n "$out" ]; then
  echo "systemd-analyze verify is not clean:"
  echo "$out"
  exit 1
fi
report=$(systemd-analyze security --offline=yes "$unit" 2>&1 || true)
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$report")
if [ -z "$score" ] || ! awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }'; then
  echo "exposure level ${score:-unknown} is above 1.5:"
  echo "$report"
  exit 1
fi
echo "systemd-analyze verify: clean; security exposure: $score"
