#!/usr/bin/env python3
"""Checks the Grafana dashboard and the Prometheus alert rules against the real tools and the
real daemon:

  (a) `promtool check rules` on the alert rules and `promtool test rules` on their unit tests;
  (b) every dashboard query (panel targets and label_values() variables), with its template
      variables substituted, parses: all are wrapped as recording rules for `promtool check rules`;
  (c) a running qoewatchd (against smartsight-sim, with offending sessions, a rule that fetches
      latency and cirrbufferingratio, a population rule with a firing group and an aggregate,
      and a webhook sink nobody answers) exports every metric, label and literal label value
      the dashboard and the alerts use.

Exit 0 when all hold; otherwise 1 and one line per problem naming the panel (or rule) and its
expression.

  check_dashboards.py --qoewatchd build/bin/qoewatchd --sim build/bin/smartsight-sim
"""

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import opslib  # noqa: E402
from opslib import Failure, Target  # noqa: E402

KEY_ENV, KEY = "QW_OPS_KEY", "ops-check-key"


def promtool(bin_: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([bin_, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


# --- (a) the alert rules --------------------------------------------------------------------

def check_alert_rules(args) -> list[str]:
    problems = []
    r = promtool(args.promtool, "check", "rules", str(args.alerts))
    if r.returncode != 0:
        problems.append(f"promtool check rules {args.alerts} failed:\n{r.stdout}{r.stderr}")
    # promtool resolves the test file's rule_files relative to the working directory.
    r = promtool(args.promtool, "test", "rules", args.alerts_test.name, cwd=args.alerts_test.parent)
    if r.returncode != 0:
        problems.append(f"promtool test rules {args.alerts_test} failed:\n{r.stdout}{r.stderr}")
    return problems


# --- (b) the dashboard ----------------------------------------------------------------------

def check_dashboard_structure(dash: dict) -> list[str]:
    """What an importable dashboard needs and what the panels rely on."""
    problems = []
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("templating: no 'datasource' variable of type datasource/prometheus")
    rule = variables.get("rule", {})
    if not (rule.get("multi") and rule.get("includeAll")
            and "qoewatch_rule_offending_sessions" in opslib.variable_query(rule)):
        problems.append("templating: 'rule' must be a multi/All label_values() variable over "
                        "qoewatch_rule_offending_sessions")
    if not dash.get("uid") or not isinstance(dash.get("schemaVersion"), int):
        problems.append("dashboard: uid and schemaVersion are required")
    ids = [p.get("id") for p in opslib.all_panels(dash)]
    if len(ids) != len(set(ids)):
        problems.append(f"panels: duplicate ids in {ids}")
    for p in opslib.all_panels(dash):
        where = f'panel {p.get("id")} "{p.get("title")}"'
        g = p.get("gridPos", {})
        if not (0 <= g.get("x", -1) and g.get("x", 0) + g.get("w", 99) <= 24 and g.get("h")):
            problems.append(f"{where}: bad gridPos {g}")
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            problems.append(f"{where}: datasource must be the ${{datasource}} variable")
        if not any(t.get("expr", "").strip() for t in p.get("targets", [])):
            problems.append(f"{where}: no query")
    return problems


def parse_values(dash: dict) -> dict[str, str]:
    """Values for every template variable that make a query parse (the All value, '.*')."""
    values = {}
    for v in dash.get("templating", {}).get("list", []):
        values[v["name"]] = "prometheus" if v.get("type") == "datasource" else (
            v.get("allValue") or ".*")
    return values


def check_parse(args, targets: list[Target], values: dict[str, str], tmp: Path) -> list[str]:
    """Every expression as a recording rule of one temporary file, through promtool."""
    problems, exprs = [], []
    for t in targets:
        try:
            exprs.append(opslib.substitute(t.expr, values))
        except Failure as e:
            problems.append(f"{t.where}: {e}")
            exprs.append("vector(0)")
    rules = {"groups": [{"name": "dashboard_check", "rules": [
        {"record": f"dashboard_check:expr_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp / "dashboard-exprs.rules.yml"
    path.write_text(json.dumps(rules, indent=1))  # JSON is YAML
    r = promtool(args.promtool, "check", "rules", str(path))
    if r.returncode != 0:
        named = False
        for line in (r.stdout + r.stderr).splitlines():
            m = re.search(r'"dashboard_check:expr_(\d+)": (.*)', line)
            if m:
                i = int(m.group(1))
                problems.append(f"{targets[i].where}: does not parse: {m.group(2)}\n"
                                f"    expr: {targets[i].expr}\n    as checked: {exprs[i]}")
                named = True
        if not named:
            problems.append(f"promtool check rules on the dashboard's queries failed:\n"
                            f"{r.stdout}{r.stderr}")
    return problems


# --- (c) against the running daemon ---------------------------------------------------------

def scrape_daemon(args, tmp: Path) -> dict:
    """Starts smartsight-sim and qoewatchd, waits until a poll found the offending sessions and
    returns the parsed /metrics."""
    procs = opslib.Processes(tmp)
    # A webhook receiver that refuses connections: a bound socket that never listens.
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    try:
        _, sim_port = opslib.start_sim(procs, args.sim, KEY_ENV, KEY)
        now = int(time.time())
        opslib.add_sessions(sim_port, KEY, [
            opslib.session("slow1", now - 1, latency=9, cirrbufferingratio=0),
            opslib.session("rebuf1", now - 1, latency=1, cirrbufferingratio=3),
            opslib.session("fine1", now - 1, latency=1, cirrbufferingratio=0)])
        config = opslib.write_daemon_config(
            tmp / "qoewatch.yaml", sim_port=sim_port, key_env=KEY_ENV,
            sinks=f"""
  - name: hook
    type: webhook
    url: http://127.0.0.1:{refused.getsockname()[1]}/qoe""",
            rules="""
  - name: slow
    qoefilter: "latency > 5 OR cirrbufferingratio > 0.1"
    interval: 1s
    window: 5m
    delay: 0s
  - name: by_cdn
    qoefilter: "cirrbufferingratio > 0.1"
    group_by: [cdn]
    when: "ratio > 10% AND p95(latency) > 0"
    min_sample: 1
    interval: 1s
    window: 5m
    delay: 0s""")
        _, listen = opslib.start_daemon(procs, args.qoewatchd, config, KEY_ENV, KEY)

        def polled():
            status, text = opslib.http("GET", f"http://127.0.0.1:{listen}/metrics")
            rule = {"rule": "slow"}
            ready = (status == 200
                     and opslib.sample_value(text, "qoewatch_rule_offending_sessions", rule) == 2
                     and opslib.sample_value(text, "qoewatch_rule_startup_time_seconds",
                                             {**rule, "stat": "max"}) is not None
                     and opslib.sample_value(text, "qoewatch_rule_rebuffering_ratio",
                                             {**rule, "stat": "max"}) is not None
                     and (opslib.sample_value(text, "qoewatch_notifications_total",
                                              {"sink": "hook", "outcome": "failure"}) or 0) > 0
                     # The sessions carry no cdn: one group, cdn=unknown, firing.
                     and opslib.sample_value(text, "qoewatch_group_firing",
                                             {"rule": "by_cdn", "group": "cdn=unknown"}) == 1
                     and opslib.sample_value(text, "qoewatch_group_aggregate",
                                             {"rule": "by_cdn", "aggregate": "p95(latency)"})
                     is not None)
            return text if ready else None

        text = opslib.wait_for("a poll with 2 offending sessions, a firing group and a failed "
                               "delivery in /metrics", polled, 30, diagnostics=procs.tails)
        return opslib.parse_exposition(text)
    finally:
        procs.stop_all()
        refused.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qoewatchd", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--promtool", default=shutil.which("promtool") or "promtool")
    ap.add_argument("--dashboard", type=Path, default=opslib.DASHBOARD)
    ap.add_argument("--alerts", type=Path, default=opslib.ALERTS)
    ap.add_argument("--alerts-test", type=Path, default=opslib.ALERTS_TEST)
    args = ap.parse_args()
    args.alerts_test = args.alerts_test.resolve()
    args.promtool = opslib.require_tool(args.promtool, "promtool")
    start = time.monotonic()

    def step(msg: str) -> None:
        print(f"[{time.monotonic() - start:5.1f}s] {msg}", flush=True)

    problems = check_alert_rules(args)
    step(f"(a) promtool check/test rules: {'FAILED' if problems else 'ok'}")

    try:
        dash = json.loads(args.dashboard.read_text())
    except (OSError, ValueError) as e:
        raise Failure(f"{args.dashboard}: not readable JSON: {e}") from e
    panel_targets = opslib.panel_targets(dash)
    variables = opslib.variable_selectors(dash)
    alert_targets = opslib.rule_exprs(args.alerts)
    n = len(problems)
    problems += [f"{args.dashboard.name}: {p}" for p in check_dashboard_structure(dash)]
    with tempfile.TemporaryDirectory(prefix="qoewatch-ops-") as tmp:
        tmp = Path(tmp)
        problems += check_parse(args, panel_targets + [t for t, _ in variables],
                                parse_values(dash), tmp)
        step(f"(b) {len(panel_targets)} panel queries and {len(variables)} variable queries "
             f"parse: {'FAILED' if len(problems) > n else 'ok'}")

        n = len(problems)
        scrape = scrape_daemon(args, tmp)
        checked = ([(t, None) for t in panel_targets] + variables
                   + [(t, None) for t in alert_targets])
        used = set()
        for target, label in checked:
            for p in opslib.problems_against_scrape(target, scrape, label):
                problems.append(f"{target.where}: {p}\n    expr: {target.expr}")
            used |= {s.metric for s in opslib.promql_usage(target.expr).selectors}
        step(f"(c) {len(scrape)} exported series names; metrics and labels of "
             f"{len(checked)} queries exported: {'FAILED' if len(problems) > n else 'ok'}")
        # Informational: a metric the daemon exports that nothing shows (histogram parts aside).
        histograms = {m.removesuffix("_bucket") for m in used if m.endswith("_bucket")}
        parts = {h + suffix for h in histograms for suffix in ("_sum", "_count")}
        unused = sorted(set(scrape) - used - parts)
        if unused:
            step(f"    (exported but on no panel or alert: {', '.join(unused)})")

    if problems:
        raise Failure(f"{len(problems)} problem(s):\n" + "\n".join(f"- {p}" for p in problems))
    step("OK")


if __name__ == "__main__":
    opslib.run_main(main)
