"""bench/run --backtest: qoewatchd --backtest replaying a week of a simulated customer.

Imported by bench/run, which passes itself in as `bench` (its Sim, Receiver, measure,
median_run, print_targets, profile_report, child_env, log, BenchError): nothing here starts a
process or takes a measurement in a way of its own.

The simulated customer: smartsight-sim --rate 0 --backlog N --backlog-window SPAN-5m (N ended
sessions spread uniformly, nothing live) with a scenario of three incidents placed in that
backlog. The span replayed is SPAN long (7 days; 8 hours with --quick) and ends on the
5-minute grid just after the newest session, so every one of the N sessions lies in it and
every rule's windows cover it whole (their intervals, 30 s to 5 min, divide 5 min). The
rules: the 7 shipped ones in rules/*.yaml and the 3 of bench/backtest-rules.yaml.

Oracles that do not come from qoewatchd's output:
- the polls of each rule: its windows on its interval grid within the span, computed here
  from the intervals and windows --check-config prints;
- the fetches: rules whose --check-config URL is the same but for the period share one;
- the rows in the span: for each fetch, the simulator's totalcount for the same query over
  the whole span (limit=1; --counters records makes totalcount the matching rows);
- the incidents: the scenario's, each of which must fire in its group while it lasts.
"""
import datetime
import json
import math
import re
import shutil
import statistics
import subprocess
import time
import urllib.parse

QUICK_SESSIONS = 50_000
ALIGN_S = 300  # the span ends on this grid: every rule interval divides it
DAY_S = 86_400
RULE_FILES = ("rules/*.yaml", "bench/backtest-rules.yaml")
TARGETS = {  # from the issue
    "fetch_ratio": ("<=", 1.1),
    "peak_rss_mb": ("<=", 128.0),
}


class Incident:
    """A scenario incident: where it sits in the full week and in --quick's 8 hours, what it
    does, and the (rule, group) that must fire for it."""

    def __init__(self, name, start_full_s, start_quick_s, length_s, match, effect, expect):
        self.name, self.match, self.effect, self.expect = name, match, effect, expect
        self.start_full_s, self.start_quick_s, self.length_s = (start_full_s, start_quick_s,
                                                                length_s)


H, M = 3600, 60
SCENARIO = [
    # A CDN rebuffering for 2 hours: a third of all sessions rebuffer 6 % more.
    Incident("edgeB_rebuffering", -50 * H, -7 * H, 2 * H, {"cdn": "edgeB"},
             {"add": {"cirrbufferingratio": 6}},
             [("cdn_rebuffering", {"cdn": "edgeB"})]),
    # Slow starts on one platform for an hour: iOS (a quarter of sessions) 8 times slower,
    # which also takes the Mobile device class's p95 past its threshold.
    Incident("iOS_slow_start", -100 * H, -4 * H - 30 * M, 1 * H, {"platform": "iOS"},
             {"multiply": {"latency": 8}},
             [("platform_slow_startup", {"platform": "iOS"}),
              ("device_slow_startup", {"device": "Mobile"})]),
    # A PoP failing in one country for 90 minutes: UK sessions served by edgeB end in a
    # fatal error (about a third of the UK's sessions).
    Incident("UK_edgeB_failures", -130 * H, -3 * H, 90 * M, {"country": "UK", "cdn": "edgeB"},
             {"set": {"fatalerrors": 1}},
             [("country_fatal_errors", {"country": "UK"})]),
]


def seconds(text):
    """A duration as qoewatchd prints it ("30s", "1h30m", "500ms"), in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(n) * units[u] for n, u in parts)


def duration_text(s):
    s = int(s)
    out = "".join(f"{v}{u}" for v, u in ((s // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s"))
                  if v)
    return out or "0s"


def utc(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def epoch(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def scenario_yaml(quick):
    out = ["# written by bench/run --backtest", "incidents:"]
    for inc in SCENARIO:
        start = inc.start_quick_s if quick else inc.start_full_s
        out.append(f"  - name: {inc.name}")
        out.append(f"    start: -{duration_text(-start)}")
        out.append(f"    duration: {duration_text(inc.length_s)}")
        out.append("    match: {" + ", ".join(f"{k}: {v}" for k, v in inc.match.items()) + "}")
        for kind, values in inc.effect.items():
            out.append(f"    {kind}: {{" + ", ".join(f"{k}: {v}" for k, v in values.items())
                       + "}")
    return "\n".join(out) + "\n"


def write_config(path, bench, sim, sink_url, state_dir):
    """The backtest's config: the shipped rules and the bench's, the defaults of the issue's
    manual run, and the sink the shipped rules name (`oncall`)."""
    files = ", ".join(str(bench.REPO / f) for f in RULE_FILES)
    path.write_text(f"""# written by bench/run --backtest
smartsight:
  base_url: {sim.base}
  customer_id: {bench.CUSTOMER}
  api_key_env: {bench.KEY_ENV}
  timeout: 60s
  page_size: 1000
state_dir: {state_dir}
defaults: {{interval: 60s, window: 10m, delay: 2m}}
sinks:
  - {{name: oncall, type: webhook, url: "{sink_url}"}}
rule_files: [{files}]
rules: []
""")


CHECK_RULE = re.compile(r"^(\S+) \(every (\S+), window (\S+), delay (\S+),.*\): GET (http\S+)$")


def planned_rules(bench, build, cfg):
    """Each rule's interval, window and delay (s) and listsessions URL, from --check-config."""
    r = subprocess.run([str(build / "qoewatchd"), "--config", str(cfg), "--check-config"],
                       capture_output=True, text=True, env=bench.child_env())
    if r.returncode != 0:
        raise bench.BenchError(f"qoewatchd --check-config failed:\n{r.stdout}{r.stderr}")
    rules, last = {}, None
    for line in r.stdout.splitlines():
        if m := CHECK_RULE.match(line):
            name, every, window, delay, url = m.groups()
            last = rules[name] = {"interval": seconds(every), "window": seconds(window),
                                  "delay": seconds(delay), "url": url, "population": False}
        elif last and line.startswith("  population rule:"):
            last["population"] = True
    if len(rules) != 10:
        raise bench.BenchError(f"expected 10 rules in --check-config, read {len(rules)}:\n"
                               + r.stdout)
    return rules


def window_ends(interval_s, window_s, lo, hi):
    """The ends of the windows on the interval's grid (epoch multiples) that lie in [lo, hi]:
    the polls the daemon would have made."""
    step = round(interval_s * 1000)
    k_first = -((-(lo + window_s) * 1000) // step)
    k_last = (hi * 1000) // step
    return sorted({k * step // 1000 for k in range(k_first, k_last + 1)})


def query_key(url):
    """The listsessions query but for its period and offset."""
    return re.sub(r"&offset=\d+", "", re.sub(r"period=[^&]*", "period=", url))


def span_url(url, lo, hi):
    period = urllib.parse.quote(f"start={lo},end={hi}", safe="")
    url = re.sub(r"period=[^&]*", f"period={period}", url)
    return re.sub(r"limit=\d+", "limit=1", url)


def plan(bench, sim, rules, lo, hi):
    """The fetches: rules with the same query, the span they walk and its rows per the sim."""
    fetches = {}
    for name, r in rules.items():
        r["ends"] = window_ends(r["interval"], r["window"], lo, hi)
        if not r["ends"]:
            raise bench.BenchError(f"rule {name}: no window fits the span")
        f = fetches.setdefault(query_key(r["url"]), {"rules": [], "lo": None, "hi": None,
                                                      "url": r["url"]})
        f["rules"].append(name)
        start, end = r["ends"][0] - r["window"], r["ends"][-1]
        f["lo"] = start if f["lo"] is None else min(f["lo"], start)
        f["hi"] = end if f["hi"] is None else max(f["hi"], end)
    out = list(fetches.values())
    for f in out:
        u = span_url(f["url"], f["lo"], f["hi"])
        f["rows_in_span"] = sim.request("GET", u[len(sim.base):])["totalcount"]
    return out


def newest_endtime(bench, sim, n, around):
    """The end time of the newest session, and a check that the simulator holds n."""
    period = urllib.parse.quote(f"start={around - 30 * DAY_S},end={around + DAY_S}", safe="")
    doc = sim.request("GET", f"/mm-apis/listsessions/{bench.CUSTOMER}?period={period}"
                      "&metrics=endtime,sessionid&orderby=endtime&order=desc"
                      "&sessiontype=ended&limit=1")
    if doc["totalcount"] != n or not doc["response"]:
        raise bench.BenchError(f"smartsight-sim holds {doc['totalcount']} ended sessions, not {n}")
    return int(doc["response"][0]["endtime"])


def sessions_between(bench, sim, lo, hi):
    period = urllib.parse.quote(f"start={lo},end={hi}", safe="")
    return sim.request("GET", f"/mm-apis/listsessions/{bench.CUSTOMER}?period={period}"
                       "&metrics=sessionid&sessiontype=ended&limit=1")["totalcount"]


# qoewatchd's stderr: the plan (info) and the last progress line.
PLAN_LINE = re.compile(r"backtest of (\d+) rule\(s\) from \S+ to \S+: (\d+) polls, (\d+) fetch")
PROGRESS_LINE = re.compile(r"backtest: 100% of windows \((\d+)/(\d+)\), (\d+) rows fetched")


def read_run(bench, r, out_path, err_path):
    """Adds to the measured run `r` what qoewatchd printed."""
    summaries, incidents, days = {}, [], {}
    for line in out_path.read_text().splitlines():
        o = json.loads(line)
        if o["type"] == "summary":
            summaries[o["rule"]] = o
        elif o["type"] == "incident":
            incidents.append(o)
        elif o["type"] == "day":
            d = days.setdefault(o["rule"], {"polls": 0, "incidents": 0})
            d["polls"] += o["polls"]
            d["incidents"] += o["incidents"]
    err = err_path.read_text()
    # The last progress line: qoewatchd rounds to "100%" before the last windows are done.
    p, g = PLAN_LINE.search(err), PROGRESS_LINE.findall(err)
    if not p or not g:
        raise bench.BenchError(f"no plan or no final progress line in {err_path}")
    r["summaries"], r["incidents"], r["days"] = summaries, incidents, days
    r["plan_rules"], r["plan_polls"], r["plan_fetches"] = map(int, p.groups())
    r["progress_done"], r["progress_total"], r["progress_rows"] = map(int, g[-1])
    # What must not change from run to run.
    r["counts"] = json.dumps([summaries, sorted(json.dumps(i, sort_keys=True)
                                                for i in incidents)], sort_keys=True)


def check_run(r, rules, fetches):
    """Problems with one run's output against the plan made here (empty: none)."""
    problems = []
    s = r["summaries"]
    if r["rc"] != 0:
        problems.append(f"qoewatchd exited {r['rc']}")
    if set(s) != set(rules):
        problems.append(f"summaries for {sorted(s)}, rules {sorted(rules)}")
        return problems
    for name, rule in rules.items():
        x = s[name]
        if x["polls"] != len(rule["ends"]):
            problems.append(f"{name}: {x['polls']} polls, {len(rule['ends'])} windows in the span")
        if x["polls_failed"] or x["gaps"]:
            problems.append(f"{name}: {x['polls_failed']} polls failed, {x['gaps']} gaps")
        d = r["days"].get(name, {"polls": 0, "incidents": 0})
        if d["polls"] != x["polls"] or d["incidents"] != x["incidents"]:
            problems.append(f"{name}: its days add up to {d['polls']} polls and {d['incidents']} "
                            f"incidents, its summary says {x['polls']} and {x['incidents']}")
        listed = sum(1 for i in r["incidents"] if i["rule"] == name)
        if listed != x["incidents"]:
            problems.append(f"{name}: {listed} incident lines, summary {x['incidents']}")
    for f in fetches:
        shared = {frozenset([n] + s[n]["fetch_shared_with"]) for n in f["rules"]}
        if shared != {frozenset(f["rules"])}:
            problems.append(f"fetch of {', '.join(f['rules'])}: qoewatchd's fetch_shared_with "
                            f"say {sorted(sorted(x) for x in shared)}")
        fetched = {s[n]["rows_fetched"] for n in f["rules"]}
        if len(fetched) != 1:
            problems.append(f"rules sharing a fetch report different rows_fetched: {fetched}")
        elif fetched.pop() < f["rows_in_span"]:
            problems.append(f"fetch of {', '.join(f['rules'])}: fewer rows fetched than the "
                            f"span holds ({f['rows_in_span']})")
    polls = sum(x["polls"] for x in s.values())
    rows = sum(s[f["rules"][0]]["rows_fetched"] for f in fetches)
    if (r["plan_rules"], r["plan_polls"], r["plan_fetches"]) != (len(rules), polls, len(fetches)):
        problems.append(f"qoewatchd planned {r['plan_rules']} rules, {r['plan_polls']} polls, "
                        f"{r['plan_fetches']} fetches; here {len(rules)}, {polls}, "
                        f"{len(fetches)}")
    if (r["progress_done"], r["progress_total"], r["progress_rows"]) != (polls, polls, rows):
        problems.append(f"its last progress line says {r['progress_done']}/"
                        f"{r['progress_total']} windows and {r['progress_rows']} rows; the "
                        f"summaries {polls} polls and {rows} rows")
    return problems


def find_expected(r, rules, bounds):
    """For each scenario incident and (rule, group) it must fire: the incident found, or None.
    `bounds`: the incident -> (earliest start, latest end) in epoch seconds."""
    found = []
    for inc in SCENARIO:
        lo, hi = bounds[inc.name]
        for rule, group in inc.expect:
            rc = rules[rule]
            # Fired by a poll of a window holding its sessions: at most a window, the delay and
            # two intervals (the rule's `for`, its jitter) after the incident's end.
            latest = hi + rc["window"] + rc["delay"] + 2 * rc["interval"]
            hits = [i for i in r["incidents"]
                    if i["rule"] == rule and i["group"] == group
                    and lo <= epoch(i["fired_at"]) <= latest]
            found.append((inc, rule, group, hits[0] if hits else None))
    return found


def run_backtest(args, build, workdir, bench):
    n = args.sessions
    quick = args.quick
    span_s = 8 * H if quick else 7 * DAY_S
    # Every session in the span: the backlog is 5 min shorter, and the span ends on the 5-min
    # grid at or after the newest session.
    backlog_s = span_s - ALIGN_S
    # --quick (CTest, also under the sanitizers, where memory is several times larger): the
    # counts and the fetch ratio, a count too; never a time or the memory.
    check_targets = args.check_targets
    scenario = workdir / "scenario.yaml"
    scenario.write_text(scenario_yaml(quick))
    sim_args = ["--rate", "0", "--backlog", str(n), "--backlog-window", f"{backlog_s}s",
                "--scenario", str(scenario)]
    bench.log(f"smartsight-sim: {n} sessions over {duration_text(backlog_s)}, 3 incidents "
              "in the backlog")
    t_before = time.time()
    sim = bench.Sim(build, workdir, sim_args)
    t_after = time.time()
    receiver = bench.Receiver()
    runs = []
    profile = None
    try:
        # The simulator's start is a whole second within [t_before, t_after]: the incidents are
        # placed from it.
        bounds = {}
        for inc in SCENARIO:
            start = inc.start_quick_s if quick else inc.start_full_s
            bounds[inc.name] = (math.floor(t_before) + start,
                                math.floor(t_after) + start + inc.length_s)
        newest = newest_endtime(bench, sim, n, int(t_after))
        hi = -(-newest // ALIGN_S) * ALIGN_S
        lo = hi - span_s
        in_span = sessions_between(bench, sim, lo, hi)
        if in_span != n:
            raise bench.BenchError(f"the span {utc(lo)}..{utc(hi)} holds {in_span} of the {n} "
                                   "sessions")

        cfg = workdir / "qoewatch.yaml"
        state_dir = workdir / "state"
        write_config(cfg, bench, sim, receiver.url, state_dir)
        rules = planned_rules(bench, build, cfg)
        fetches = plan(bench, sim, rules, lo, hi)
        fetch_of = {name: i for i, f in enumerate(fetches) for name in f["rules"]}

        cmd = [str(build / "qoewatchd"), "--config", str(cfg), "--backtest", "--from", utc(lo),
               "--to", utc(hi), "--output", "json"]
        for i in range(args.repeat):
            bench.log(f"qoewatchd --backtest ({i + 1}/{args.repeat}): {len(rules)} rules, "
                      f"{sum(len(r['ends']) for r in rules.values())} polls, {len(fetches)} "
                      "fetches")
            out_path = workdir / f"backtest-{i + 1}.jsonl"
            err_path = workdir / f"backtest-{i + 1}.log"
            c0 = sim.cpu()
            with open(out_path, "w") as out, open(err_path, "w") as err:
                r = bench.measure(cmd, stdout=out, stderr=err)
            r["sim_cpu"] = sim.cpu() - c0
            read_run(bench, r, out_path, err_path)
            runs.append(r)
        if args.profile:
            profile = backtest_profile(args, bench, workdir, cmd)
        posts = receiver.posts
    finally:
        receiver.stop()
        sim.stop()

    med = bench.median_run(runs)
    s = med["summaries"]
    problems = []
    for i, r in enumerate(runs):
        problems += [f"run {i + 1}: {p}" for p in check_run(r, rules, fetches)]
    if len({r["counts"] for r in runs}) != 1:
        problems.append("the runs differ in their summaries or incidents")
    if posts:
        problems.append(f"the sink received {posts} POSTs (a backtest sends nothing)")
    if state_dir.exists():
        problems.append(f"{state_dir} was created (a backtest writes no state)")
    found = find_expected(med, rules, bounds) if s else []
    missing = [f for f in found if f[3] is None]

    rows_fetched = sum(s[f["rules"][0]]["rows_fetched"] for f in fetches) if s else 0
    rows_in_span = sum(f["rows_in_span"] for f in fetches)
    polls = sum(x["polls"] for x in s.values())
    pages = sum(s[f["rules"][0]]["pages"] for f in fetches) if s else 0
    metrics = {
        "sessions": n,
        "days": round(span_s / DAY_S, 3),
        "rules": len(rules),
        "fetches": len(fetches),
        "polls": polls,
        "wall_s": med["wall"],
        "cpu_s": med["cpu"],
        "peak_rss_mb": med["rss_mb"],
        "rows_fetched": rows_fetched,
        "rows_in_span": rows_in_span,
        "fetch_ratio": rows_fetched / rows_in_span if rows_in_span else float("inf"),
        "rows_judged": sum(x["rows_judged"] for x in s.values()),
        "pages": pages,
        "sim_cpu_s": med["sim_cpu"],
        "incidents": sum(x["incidents"] for x in s.values()),
        "expected_found": f"{len(found) - len(missing)}/{len(found)}",
    }

    print(f"qoewatch backtest benchmark: {n} sessions over {duration_text(span_s)} "
          f"({utc(lo)} .. {utc(hi)}), {len(rules)} rules ({', '.join(RULE_FILES)}), "
          f"{len(fetches)} fetches")
    print(f"smartsight-sim {' '.join(sim_args[:-2])} --scenario (3 incidents): start "
          f"{sim.startup_s:.1f} s (untimed)"
          + (f"; median of {args.repeat} runs" if args.repeat > 1 else ""))
    print()
    print(f"{'':28}{'wall s':>9}{'CPU s':>9}{'user s':>9}{'sys s':>8}{'peak RSS MB':>13}"
          f"{'sim CPU s':>11}")
    print(f"{'qoewatchd --backtest':28}{med['wall']:9.3f}{med['cpu']:9.3f}{med['user']:9.3f}"
          f"{med['sys']:8.3f}{med['rss_mb']:13.1f}{med['sim_cpu']:11.3f}")
    if args.repeat > 1:
        for key, label in (("wall", "wall s"), ("cpu", "CPU s"), ("rss_mb", "peak RSS MB"),
                           ("sim_cpu", "sim CPU s")):
            v = [r[key] for r in runs]
            print(f"  {label} over the {len(runs)} runs: " + ", ".join(f"{x:.3f}" for x in v)
                  + f" (median {statistics.median(v):.3f})")
    print()
    print(f"{'rule':24}{'kind':12}{'every':>6}{'window':>7}{'fetch':>6}{'polls':>8}"
          f"{'rows judged':>13}{'incidents':>10}{'notifications':>14}{'sessions':>10}")
    for name, rc in rules.items():
        x = s.get(name, {})
        kind = "population" if rc["population"] else "per-session"
        print(f"{name:24}{kind:12}{duration_text(rc['interval']):>6}"
              f"{duration_text(rc['window']):>7}{'F' + str(fetch_of[name] + 1):>6}"
              f"{x.get('polls', '-'):>8}{x.get('rows_judged', '-'):>13}"
              f"{x.get('incidents', '-'):>10}{x.get('notifications', '-'):>14}"
              f"{x.get('sessions_notified', '-') if not rc['population'] else '-':>10}")
    print()
    print(f"{'fetch':6}{'rules':46}{'pages':>7}{'rows fetched':>14}{'rows in span':>14}"
          f"{'ratio':>8}")
    for i, f in enumerate(fetches):
        x = s.get(f["rules"][0], {})
        fetched = x.get("rows_fetched")
        ratio = fetched / f["rows_in_span"] if fetched is not None and f["rows_in_span"] else None
        print(f"{'F' + str(i + 1):6}{', '.join(f['rules']):46}{x.get('pages', '-'):>7}"
              f"{fetched if fetched is not None else '-':>14}{f['rows_in_span']:>14}"
              f"{bench.fmt(ratio):>8}")
    print(f"{'all':6}{str(len(fetches)) + ' fetches':46}{pages:>7}{rows_fetched:>14}"
          f"{rows_in_span:>14}{metrics['fetch_ratio']:8.4f}")
    per_row = metrics["rows_judged"] / max(rows_fetched, 1)
    print(f"rows judged {metrics['rows_judged']} ({per_row:.1f} per row fetched); sim CPU per "
          f"page {1000 * med['sim_cpu'] / max(pages, 1):.2f} ms")
    print()
    print("expected incidents (the scenario's):")
    for inc, rule, group, hit in found:
        lo_i, hi_i = bounds[inc.name]
        label = ",".join(f"{k}={v}" for k, v in group.items())
        where = (f"fired {hit['fired_at']}, resolved {hit['resolved_at'] or 'never'}, "
                 f"{hit['polls']} polls" if hit else "NOT FOUND")
        print(f"  {inc.name:20} {utc(lo_i)} .. {utc(hi_i)}: {rule} {label}: {where}")
    expected = {(rule, json.dumps(group, sort_keys=True)) for _, rule, group, _ in found}
    others = {}
    for i in med["incidents"]:
        if i["group"] and (i["rule"], json.dumps(i["group"], sort_keys=True)) not in expected:
            others.setdefault(i["rule"], []).append(
                ",".join(f"{k}={v}" for k, v in i["group"].items()) + " " + i["fired_at"])
    if others:
        print("  other groups that fired (no scenario incident; the simulator's noise or a "
              "side effect):")
        for rule, what in others.items():
            print(f"    {rule}: {len(what)}: " + "; ".join(what[:4])
                  + ("; ..." if len(what) > 4 else ""))
    # Not a failure (the fetches are shared as planned either way), but worth saying.
    for name in rules:
        if name in s.get(name, {}).get("fetch_shared_with", []):
            print(f"note: qoewatchd's fetch_shared_with for {name} lists {name} itself: "
                  f"{s[name]['fetch_shared_with']}")
    print()
    ok = not problems and not missing
    print(f"checks: polls per rule as planned here, no failed poll or gap, fetches shared as "
          f"planned, no fetch short of its span, days and incidents adding up, nothing sent "
          f"({posts} POSTs), no state written"
          + (f", the same counts in all {len(runs)} runs" if len(runs) > 1 else "")
          + (" -> ok" if not problems else " -> FAILED"))
    for p in problems:
        print(f"  {p}")
    missed = bench.print_targets(TARGETS, metrics)
    if profile:
        print()
        print(profile)
    print("backtest " + " ".join(f"{k}={bench.fmt(v)}" for k, v in metrics.items()))
    if not ok:
        return 1
    if check_targets and missed:
        return 1
    if quick and "fetch_ratio" in missed:
        return 1
    return 0


def backtest_profile(args, bench, workdir, cmd):
    """One more run under perf record (DWARF call graphs, 199 Hz: the run takes a minute)."""
    if not shutil.which("perf"):
        return "profile: perf is not installed"
    bench.log("profile: qoewatchd --backtest under perf record")
    data = workdir / "perf.data"
    r = subprocess.run(["perf", "record", "-F", "199", "--call-graph", "dwarf,16384", "-o",
                        str(data), "--"] + cmd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=bench.child_env())
    if r.returncode != 0:
        return f"profile: perf record exited {r.returncode}"
    return bench.profile_report(args, data, "profile of qoewatchd --backtest (perf, DWARF call "
                                "graphs; % of its samples)")
