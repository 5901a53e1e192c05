# The per-group figures of `bench/run --population`'s rule, as an operator would compute them
# with jq from the saved listsessions pages (the peer and the oracle: it shares no code with
# qoewatchd). Reads every page given, in order:
#
#   jq -n -r -f bench/population.jq page-0000000.json page-0000001.json ...
#
# The rule: qoefilter `latency >= 5 OR cirrbufferingratio >= 3`, group_by [cdn, platform],
# when `ratio > 5% AND p95(latency) > 4`, min_sample 20 (the default). As qoewatchd judges it:
# - a row counts once per session id, where it is first seen; rows without a session id,
#   without a numeric endtime or without a numeric latency or cirrbufferingratio (the
#   qoefilter's metrics: numbers, or strings holding one) are not judged;
# - a session without cdn or platform, or with an empty one, is in group value `unknown`;
# - ratio = offending / sessions; p95 is nearest rank: the value at rank ceil(95 n / 100) of
#   the group's sorted latencies;
# - a group fires when it has at least min_sample sessions and `when` holds (the first poll,
#   `for: 1`).
# Prints one line per group, tab-separated:
#   cdn=..,platform=..  sessions  offending  ratio  p95(latency)  firing|-
def number_or_null:
  if type == "number" then .
  elif type == "string" then (tonumber? // null)
  else null end;
def text:
  if type == "string" then .
  elif type == "number" or type == "boolean" then tostring
  else "" end;
def dimension: text | if . == "" then "unknown" else . end;

[inputs | .response[] | objects
 | {id: (.sessionid | text),
    endtime: (.endtime | number_or_null),
    latency: (.latency | number_or_null),
    buffering: (.cirrbufferingratio | number_or_null),
    group: "cdn=\(.cdn | dimension),platform=\(.platform | dimension)"}
 | select(.id != "" and .endtime != null and .latency != null and .buffering != null)]
# unique_by sorts stably, so of a session's rows it keeps the one seen first.
| unique_by(.id)
| group_by(.group)[]
| length as $n
| (map(select(.latency >= 5 or .buffering >= 3)) | length) as $offending
| ($offending / $n) as $ratio
| (map(.latency) | sort) as $latencies
| ([((95 * $n + 99) / 100 | floor), 1] | max) as $rank
| $latencies[$rank - 1] as $p95
| [.[0].group, $n, $offending, $ratio, $p95,
   (if $n >= 20 and $ratio > 0.05 and $p95 > 4 then "firing" else "-" end)]
| @tsv
