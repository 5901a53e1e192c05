#!/usr/bin/env python3
"""Debian's real Prometheus scrapes a real qoewatchd polling smartsight-sim, with the alert
rules of dashboards/prometheus/qoewatch-alerts.yml loaded. Asserted through Prometheus's HTTP
API:

  1. up{job="qoewatch"} is 1;
  2. after two offending sessions and a fine one end, qoewatch_rule_offending_sessions{rule="slow"}
     is 2 and qoewatch_source_up{rule="slow"} is 1;
  3. every alert rule loaded and evaluates with health "ok", and none is pending or firing;
  4. every dashboard query (variables substituted) returns finite data, every label_values()
     variable finds values (the group panels from a population rule, "by_cdn", whose one
     group fires on the same sessions);
  5. once SmartSight goes away, QoewatchSourceFailing goes pending for rule "slow".

  prometheus_scrape_test.py --qoewatchd build/bin/qoewatchd --sim build/bin/smartsight-sim
"""

import argparse
import json
import math
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import opslib  # noqa: E402
from opslib import Failure, wait_for  # noqa: E402

KEY_ENV, KEY = "QW_OPS_KEY", "ops-scrape-key"


class Receiver(BaseHTTPRequestHandler):
    """A webhook sink that accepts everything, so deliveries (and their histogram) happen."""

    posts = 0  # POSTs received, for failure messages

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.posts += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


class Prometheus:
    """The Prometheus HTTP API at `base`."""

    def __init__(self, base: str):
        self.base = base

    def get(self, path: str, **params) -> dict:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        status, body = opslib.http("GET", url)
        try:
            data = json.loads(body)
        except ValueError:
            data = {}
        if status != 200 or data.get("status") != "success":
            raise Failure(f"GET {url} answered {status}: {body[:500]}")
        return data["data"]

    def query(self, expr: str) -> list[tuple[dict, float]]:
        """An instant query: (labels, value) per series (a scalar: one with no labels)."""
        data = self.get("/api/v1/query", query=expr)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def alerts(self, names: set[str]) -> list[dict]:
        """Pending or firing alerts among `names`."""
        return [a for a in self.get("/api/v1/alerts")["alerts"]
                if a["labels"].get("alertname") in names]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qoewatchd", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "prometheus")
    ap.add_argument("--dashboard", type=Path, default=opslib.DASHBOARD)
    ap.add_argument("--alerts", type=Path, default=opslib.ALERTS)
    args = ap.parse_args()
    args.prometheus = opslib.require_tool(args.prometheus, "prometheus")
    start = time.monotonic()

    def step(msg: str) -> None:
        print(f"[{time.monotonic() - start:5.1f}s] {msg}", flush=True)

    with tempfile.TemporaryDirectory(prefix="qoewatch-ops-") as tmp:
        tmp = Path(tmp)
        procs = opslib.Processes(tmp)
        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)  # bound and listening now
        serving = threading.Thread(target=receiver.serve_forever, daemon=True)
        try:
            run(args, tmp, procs, receiver, serving, step)
        finally:
            procs.stop_all()
            if serving.is_alive():
                receiver.shutdown()
            receiver.server_close()
    step("OK")


def run(args, tmp: Path, procs: opslib.Processes, receiver: ThreadingHTTPServer,
        serving: threading.Thread, step) -> None:
    diagnostics = procs.tails

    # smartsight-sim and qoewatchd: rule "slow" (latency > 5) and the population rule "by_cdn"
    # (the same sessions, grouped by cdn: all in cdn=unknown) every second, one webhook sink.
    sim, sim_port = opslib.start_sim(procs, args.sim, KEY_ENV, KEY)
    config = opslib.write_daemon_config(
        tmp / "qoewatch.yaml", sim_port=sim_port, key_env=KEY_ENV,
        sinks=f"""
  - name: hook
    type: webhook
    url: http://127.0.0.1:{receiver.server_address[1]}/qoe""",
        rules="""
  - name: slow
    qoefilter: "latency > 5"
    fields: [cirrbufferingratio]   # so the rebuffering panels have data too
    interval: 1s
    window: 5m
    delay: 0s
  - name: by_cdn
    qoefilter: "latency > 5"
    group_by: [cdn]
    when: "ratio > 50% AND p95(latency) > 5"   # an aggregate, for the aggregates panel
    min_sample: 1
    interval: 1s
    window: 5m
    delay: 0s""")
    _, listen = opslib.start_daemon(procs, args.qoewatchd, config, KEY_ENV, KEY)

    # Prometheus: a 1s scrape of job "qoewatch" and the alert rules evaluated every second.
    prom_config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(args.alerts.resolve())],
        "scrape_configs": [{"job_name": "qoewatch",
                            "static_configs": [{"targets": [f"127.0.0.1:{listen}"]}]}]}
    (tmp / "prometheus.yml").write_text(json.dumps(prom_config, indent=1))  # JSON is YAML
    prom_child = procs.start("prometheus", [
        args.prometheus, f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'tsdb'}", "--web.listen-address=127.0.0.1:0"])
    # Every child is started: the receiver's thread may run now (no fork with threads around).
    serving.start()
    prom_port = opslib.logged_port(prom_child, opslib.GO_LISTENING_PORT, "its port")
    prom = Prometheus(f"http://127.0.0.1:{prom_port}")

    def ready():
        if not prom_child.alive():
            raise Failure("prometheus exited during start" + prom_child.tail())
        return opslib.http("GET", f"{prom.base}/-/ready")[0] == 200

    wait_for("prometheus to be ready", ready, 20, diagnostics=diagnostics)
    step("smartsight-sim, qoewatchd and prometheus are running")

    def equals(expr: str, want: float, timeout: float = 20) -> None:
        last = []

        def check():
            last[:] = prom.query(expr)
            return [v for _, v in last] == [want]

        wait_for(f"{expr} == {want:g} in Prometheus",
                 check, timeout, diagnostics=lambda: f" (last result: {last})" + diagnostics())

    # 1. Prometheus scrapes qoewatch.
    equals('up{job="qoewatch"}', 1)
    step('up{job="qoewatch"} is 1')

    # 2. Two offending sessions and a fine one end now.
    now = int(time.time())
    opslib.add_sessions(sim_port, KEY, [
        opslib.session("slow1", now - 1, latency=9, cirrbufferingratio=2),
        opslib.session("slow2", now - 1, latency=7, cirrbufferingratio=0),
        opslib.session("fine1", now - 1, latency=1, cirrbufferingratio=0)])
    equals('qoewatch_rule_offending_sessions{job="qoewatch", rule="slow"}', 2)
    equals('qoewatch_source_up{job="qoewatch", rule="slow"}', 1)
    step('qoewatch_rule_offending_sessions{rule="slow"} is 2, qoewatch_source_up is 1')

    # 3. The alert rules loaded, evaluate cleanly, and nothing about qoewatch is wrong.
    names = set(opslib.rule_names(args.alerts))
    rules_seen = {}

    def rules_healthy():
        rules_seen.clear()
        for g in prom.get("/api/v1/rules", type="alert")["groups"]:
            for r in g["rules"]:
                rules_seen[r["name"]] = (r["health"], r.get("lastError", ""))
        return set(rules_seen) == names and all(h == "ok" for h, _ in rules_seen.values())

    wait_for(f"the {len(names)} alert rules of {args.alerts.name} to load with health ok",
             rules_healthy, 15,
             diagnostics=lambda: f" (rules: {rules_seen}; expected {sorted(names)})"
             + diagnostics())
    active = []

    def all_quiet():
        active[:] = prom.alerts(names)
        return not active

    wait_for("no qoewatch alert pending or firing while all is well", all_quiet, 15,
             diagnostics=lambda: f" (active: {json.dumps(active)})" + diagnostics())
    step(f"{len(names)} alert rules loaded with health ok; none pending or firing")

    # 4. Every dashboard query returns finite data for rules "slow" and "by_cdn", sink "hook".
    dash = json.loads(args.dashboard.read_text())
    values = {"datasource": "prometheus", "job": "qoewatch", "instance": ".*",
              "rule": "slow|by_cdn", "group": ".*", "sink": "hook"}
    targets = opslib.panel_targets(dash)
    bad = {}

    def dashboard_has_data():
        bad.clear()
        for t in targets:
            expr = opslib.substitute(t.expr, values)
            result = prom.query(expr)
            if not result or not all(math.isfinite(v) for _, v in result):
                bad[t.where] = f"{expr} -> {result}"
        return not bad

    wait_for(f"all {len(targets)} dashboard queries to return finite data", dashboard_has_data,
             20, diagnostics=lambda: "".join(f"\n  {w}: {r}" for w, r in bad.items())
             + f"\n  (webhook POSTs received: {Receiver.posts})" + diagnostics())
    for var, label in opslib.variable_selectors(dash):
        found = {m.get(label) for m, _ in prom.query(opslib.substitute(var.expr, values))}
        if not found - {None}:
            raise Failure(f"{var.where}: label_values({var.expr}, {label}) finds no values")
    step(f"{len(targets)} dashboard queries return data; its variables find values")

    # 5. SmartSight goes away: the rule's source is down and QoewatchSourceFailing pending.
    procs.stop(sim)
    equals('qoewatch_source_up{job="qoewatch", rule="slow"}', 0)
    pending = []

    def source_failing_pending():
        pending[:] = prom.alerts({"QoewatchSourceFailing"})
        return any(a["state"] == "pending" and a["labels"].get("rule") == "slow"
                   and a["labels"].get("severity") == "warning" for a in pending)

    wait_for("QoewatchSourceFailing{rule=\"slow\"} to be pending after SmartSight stopped",
             source_failing_pending, 15,
             diagnostics=lambda: f" (alerts: {json.dumps(pending)})" + diagnostics())
    step('SmartSight stopped: qoewatch_source_up is 0, QoewatchSourceFailing{rule="slow"} pending')


if __name__ == "__main__":
    opslib.run_main(main)
