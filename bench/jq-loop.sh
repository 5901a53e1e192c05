#!/usr/bin/env bash
# The peer an operator would write instead of qoewatchd: page through listsessions with curl
# and select the offending sessions with jq. Prints their session ids, one per line.
#
#   SMARTSIGHT_API_KEY=... bench/jq-loop.sh URL [JQ_CONDITION]
#
# URL is the listsessions request of `qoewatchd --check-config` (it carries limit=N and
# offset=0); the loop asks for offset 0, N, 2N, ... and stops at the first page with fewer
# than N rows, as qoewatchd does. JQ_CONDITION is evaluated on every row; the default is
# qoewatchd's `latency >= 5 OR cirrbufferingratio >= 3`. One curl and one jq per page.
set -euo pipefail
url=${1:?usage: jq-loop.sh URL [JQ_CONDITION]}
cond=${2:-'.latency >= 5 or .cirrbufferingratio >= 3'}
: "${SMARTSIGHT_API_KEY:?set SMARTSIGHT_API_KEY}"
[[ $url =~ [?\&]limit=([0-9]+) ]] || { echo "jq-loop.sh: URL has no limit=N" >&2; exit 2; }
limit=${BASH_REMATCH[1]}
base=${url/&offset=0/}
base=${base/?offset=0&/?}

offset=0
while :; do
  # The ids, then one last line "#rows=<rows in this page>" to know when to stop.
  out=$(curl -sS --fail -H "X-API-Key: $SMARTSIGHT_API_KEY" "$base&offset=$offset" |
    jq -r "(.response[] | select($cond) | .sessionid), \"#rows=\(.response | length)\"")
  rows=${out##*#rows=}
  ids=${out%#rows=*}
  [[ -n $ids ]] && printf '%s' "$ids"
  ((rows < limit)) && break
  offset=$((offset + limit))
done
