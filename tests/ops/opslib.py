"""Shared helpers for the ops tests (Python 3.11 stdlib only).

- child processes that are always stopped (and die with this process),
- the simulator and daemon as the e2e tests start them,
- HTTP, the Prometheus text format,
- Grafana dashboards, rule files and just enough PromQL to list the metrics and labels an
  expression selects.
"""

from __future__ import annotations

import ast
import ctypes
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "dashboards/grafana/qoewatch.json"
ALERTS = REPO / "dashboards/prometheus/qoewatch-alerts.yml"
ALERTS_TEST = REPO / "dashboards/prometheus/qoewatch-alerts.test.yml"
CUSTOMER_ID = "199493832"


class Failure(Exception):
    """A check failed; the message says what and why."""


def run_main(main) -> None:
    """Runs main(); a Failure prints its message and exits 1. SIGTERM/SIGINT (a CTest timeout,
    Ctrl-C) raise SystemExit so every `finally` stops its children."""

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        main()
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)


def require_tool(path: str, what: str) -> str:
    """The tool's path; without it the test is skipped: exit 77 (CTest SKIP_RETURN_CODE)."""
    found = shutil.which(path)
    if not found:
        print(f"SKIP: {what} not found ({path}); on Debian: apt-get install prometheus")
        sys.exit(77)
    return found


def wait_for(what: str, predicate, timeout: float, interval: float = 0.2, diagnostics=None):
    """Polls predicate() until it returns something truthy and returns that; a Failure naming
    `what` (plus diagnostics()) after `timeout` seconds. Failures raised by predicate pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = diagnostics() if diagnostics else ""
            raise Failure(f"timed out after {timeout:g}s waiting for {what}{extra}")
        time.sleep(interval)


# --- child processes ------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: SIGTERM it if the test process dies (even by
    # SIGKILL), so no simulator or daemon outlives a killed test.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    stdout: Path
    stderr: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 12) -> str:
        """The last lines of its stderr (and its exit status once it exited), for messages."""
        try:
            text = self.stderr.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            text = []
        state = "running" if self.alive() else f"exited with {self.popen.returncode}"
        body = "\n".join("    " + line for line in text) or "    (nothing)"
        return f"\n  --- {self.name} ({state}), last stderr lines:\n{body}"


@dataclass
class Processes:
    """Starts children with their output in `logdir`; stop_all() ends every one of them."""

    logdir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict | None = None) -> Child:
        out, err = self.logdir / f"{name}.out", self.logdir / f"{name}.err"
        # The binaries may be being rebuilt: retry a missing or busy executable for a while.
        deadline = time.monotonic() + 60
        while True:
            try:
                with open(out, "wb") as o, open(err, "wb") as e:
                    popen = subprocess.Popen(argv, stdout=o, stderr=e, stdin=subprocess.DEVNULL,
                                             env=env, preexec_fn=_die_with_parent)
                break
            except OSError as ex:
                transient = ex.errno in (errno.ENOENT, errno.ETXTBSY, errno.ENOEXEC, errno.EACCES)
                if not transient or time.monotonic() > deadline:
                    raise Failure(f"cannot start {name} ({argv[0]}): {ex}") from ex
                time.sleep(0.5)
        child = Child(name, popen, out, err)
        self.children.append(child)
        return child

    def stop(self, child: Child, timeout: float = 10) -> int | None:
        if child.alive():
            child.popen.terminate()
            try:
                child.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait()
        return child.popen.returncode

    def stop_all(self) -> None:
        for child in reversed(self.children):
            self.stop(child)

    def tails(self) -> str:
        return "".join(c.tail() for c in self.children)


def logged_port(child: Child, pattern: str, what: str, timeout: float = 20) -> int:
    """The port a child bound to port 0 logged: group 1 of the regex `pattern` in its stderr
    (qoewatchd: DAEMON_PORT; Prometheus and Alertmanager: GO_LISTENING_PORT). A Failure, with
    its last lines, when it exits first or logs no such line within `timeout` seconds."""

    def port():
        m = re.search(pattern, child.stderr.read_text(errors="replace"), re.M)
        if m and int(m.group(1)) != 0:
            return int(m.group(1))
        if not child.alive():
            raise Failure(f"{child.name} exited before it logged {what}" + child.tail())
        return None

    return wait_for(f"{child.name} to log {what}", port, timeout, interval=0.05,
                    diagnostics=child.tail)


# "serving /metrics, /healthz and /readyz on 127.0.0.1:0 (port 41234, HTTP)"
DAEMON_PORT = r"serving /metrics.*\(port (\d+), "
# Prometheus and Alertmanager (Go's exporter-toolkit): msg="Listening on" address=127.0.0.1:41234
GO_LISTENING_PORT = r'msg="Listening on" address=127\.0\.0\.1:(\d+)'


# --- HTTP -----------------------------------------------------------------------------------

def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 5) -> tuple[int, str]:
    """(status, body); (0, error text) when nothing answered."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


# --- the simulator and the daemon -----------------------------------------------------------

def wait_executable(path: str, timeout: float = 60) -> None:
    """The binaries may be being rebuilt: wait for `path` to be there and executable."""
    wait_for(f"{path} to exist and be executable", lambda: os.access(path, os.X_OK), timeout)


def start_sim(procs: Processes, sim_bin: str, key_env: str, key: str) -> tuple[Child, int]:
    """smartsight-sim on a free loopback port with no generated sessions; (child, port)."""
    wait_executable(sim_bin)
    sim = procs.start("smartsight-sim",
                      [sim_bin, "--listen", "127.0.0.1:0", "--customer-id", CUSTOMER_ID,
                       "--api-key-env", key_env, "--rate", "0"],
                      env={**os.environ, key_env: key})

    def address():
        if not sim.alive():
            raise Failure("smartsight-sim exited during start" + sim.tail())
        m = re.search(r"^listening on \S+:(\d+)$", sim.stdout.read_text(), re.M)
        return m and int(m.group(1))

    return sim, wait_for("smartsight-sim to print 'listening on'", address, 15,
                         diagnostics=sim.tail)


def session(sid: str, endtime: int, latency: float, cirrbufferingratio: float) -> dict:
    return {"sessionid": sid, "endtime": endtime, "starttime": endtime - 300, "latency": latency,
            "cirrbufferingratio": cirrbufferingratio, "fatalerrors": 0}


def add_sessions(sim_port: int, key: str, sessions: list[dict]) -> None:
    status, body = http("POST", f"http://127.0.0.1:{sim_port}/_sim/sessions",
                        json.dumps(sessions).encode(),
                        {"X-API-Key": key, "Content-Type": "application/json"})
    if status != 200:
        raise Failure(f"POST /_sim/sessions answered {status}: {body}")


def write_daemon_config(path: Path, *, sim_port: int, key_env: str, sinks: str,
                        rules: str) -> Path:
    """A qoewatchd config in the e2e tests' style, serving /metrics on a port the kernel
    picks (start_daemon reads it from the log); `sinks` and `rules` are YAML lists."""
    path.write_text(f"""smartsight:
  base_url: http://127.0.0.1:{sim_port}
  customer_id: {CUSTOMER_ID}
  api_key_env: {key_env}
  timeout: 2s
listen: 127.0.0.1:0
state_dir: state
sinks: {sinks}
rules: {rules}
""")
    return path


def start_daemon(procs: Processes, qoewatchd: str, config: Path, key_env: str,
                 key: str) -> tuple[Child, int]:
    """qoewatchd --config; (child, the port of /metrics) once /metrics answers."""
    wait_executable(qoewatchd)
    check = subprocess.run([qoewatchd, "--config", str(config), "--check-config"],
                           env={**os.environ, key_env: key}, capture_output=True, text=True)
    if check.returncode != 0:
        raise Failure(f"qoewatchd --check-config rejected the test config:\n"
                      f"{check.stdout}{check.stderr}\n{config.read_text()}")
    daemon = procs.start("qoewatchd", [qoewatchd, "--config", str(config)],
                         env={**os.environ, key_env: key})

    port = logged_port(daemon, DAEMON_PORT, "the port of /metrics")

    def serving():
        if not daemon.alive():
            raise Failure("qoewatchd exited during start" + daemon.tail())
        return http("GET", f"http://127.0.0.1:{port}/metrics")[0] == 200

    wait_for("qoewatchd to serve /metrics", serving, 20, diagnostics=daemon.tail)
    return daemon, port


# --- the Prometheus text format -------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_exposition(text: str) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets of its samples (histograms: name_bucket, _sum, _count)."""
    out: dict[str, list[dict[str, str]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise Failure(f"unparsable /metrics line: {line!r}")
        labels = {k: v for k, v in _LABEL.findall(m.group(2) or "")}
        out.setdefault(m.group(1), []).append(labels)
    return out


def sample_value(text: str, name: str, labels: dict[str, str]) -> float | None:
    """The value of the sample `name` whose labels include `labels`, from /metrics text."""
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) == name:
            got = dict(_LABEL.findall(m.group(2) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(m.group(3))
    return None


# --- Grafana --------------------------------------------------------------------------------

@dataclass
class Target:
    """One query of the dashboard: a panel target's expr, or a templating variable's query."""

    where: str  # 'panel 9 "Offending sessions per rule" target A', 'variable rule'
    expr: str


def all_panels(dashboard: dict) -> list[dict]:
    """Every panel, including those inside (collapsed) rows."""
    out = []
    for p in dashboard.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def panel_targets(dashboard: dict) -> list[Target]:
    out = []
    for p in all_panels(dashboard):
        for t in p.get("targets", []):
            if t.get("expr", "").strip():
                out.append(Target(f'panel {p.get("id")} "{p.get("title")}" target {t.get("refId")}',
                                  t["expr"]))
    return out


def variable_query(var: dict) -> str:
    q = var.get("query", "")
    return q.get("query", "") if isinstance(q, dict) else q


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_]\w*)\s*\)\s*$", re.S)


def variable_selectors(dashboard: dict) -> list[tuple[Target, str]]:
    """(the selector of `label_values(selector, label)` as a Target, label) per query variable."""
    out = []
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        m = _LABEL_VALUES.match(variable_query(v))
        if not m:
            raise Failure(f"variable {v.get('name')}: expected label_values(selector, label), "
                          f"got {variable_query(v)!r}")
        out.append((Target(f"variable {v['name']}", m.group(1)), m.group(2)))
    return out


# Grafana's built-in variables, with values a real query could have.
BUILTINS = {"__rate_interval": "1m", "__interval": "30s", "__interval_ms": "30000",
            "__range": "1h", "__range_s": "3600", "__range_ms": "3600000"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replaces $var, ${var}, ${var:fmt} and [[var]] by values[var] (or a built-in's value)."""

    def one(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in values:
            return values[name]
        if name in BUILTINS:
            return BUILTINS[name]
        raise Failure(f"unknown template variable ${name} in {expr!r}")

    return _VARIABLE.sub(one, expr)


# --- rule files -----------------------------------------------------------------------------

def rule_exprs(path: Path) -> list[Target]:
    """The `expr` of every alerting/recording rule of a rule file, without a YAML library:
    handles `expr:` as a plain or quoted scalar or a `|`/`>` block, and checks that every
    `- alert:`/`- record:` got exactly one."""
    lines = path.read_text().splitlines()
    out: list[Target] = []
    names: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\s*-\s+(alert|record):\s*(\S+)", line)
        if m:
            names.append(m.group(2).strip("'\""))
        m = re.match(r"^(\s*)(?:-\s+)?expr:\s*(.*?)\s*$", line)
        if m:
            indent, value = len(m.group(1)), m.group(2)
            where = f"{path.name}:{i + 1} rule {names[-1] if names else '?'}"
            if value[:1] in ("|", ">"):  # a block: the following lines indented deeper
                block = []
                while i + 1 < len(lines):
                    following = lines[i + 1]
                    if following.strip() and len(following) - len(following.lstrip()) <= indent:
                        break
                    i += 1
                    block.append(following.strip())
                value = "\n".join(block).strip()
            elif value[:1] in ("'", '"'):
                value = (value[1:-1].replace("''", "'") if value[0] == "'"
                         else json.loads(value))
            else:
                value = re.sub(r"\s+#.*$", "", value)
            out.append(Target(where, value))
        i += 1
    if len(out) != len(names):
        raise Failure(f"{path}: found {len(names)} rules but {len(out)} expr: keys; "
                      "rule_exprs() understands only plain, quoted and |/> block scalars")
    return out


def rule_names(path: Path) -> list[str]:
    return re.findall(r"^\s*-\s+alert:\s*(\S+)", path.read_text(), re.M)


# --- PromQL, just enough --------------------------------------------------------------------

@dataclass
class Selector:
    metric: str
    matchers: list[tuple[str, str, str]]  # (label, op, value)


@dataclass
class Usage:
    selectors: list[Selector]
    grouping: set[str]  # labels named in by/without/on/ignoring/group_left/group_right


_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# Aggregations are keywords too: in `sum by (x) (...)` no "(" follows the name.
_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                 "count_values", "bottomk", "topk", "quantile"}
_KEYWORDS = _GROUPING | _AGGREGATIONS | {"and", "or", "unless", "bool", "offset", "inf", "nan",
                                         "atan2"}
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_MATCHER = re.compile(r"\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"
                      r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*(,|$)")


def _skip_string(s: str, i: int) -> int:
    """Index just past the string literal starting at s[i]."""
    quote, i = s[i], i + 1
    while i < len(s) and s[i] != quote:
        i += 2 if s[i] == "\\" and quote != "`" else 1
    return i + 1


def _unquote(lit: str) -> str:
    return lit[1:-1] if lit[0] == "`" else ast.literal_eval(lit)


def _matchers(body: str, expr: str) -> list[tuple[str, str, str]]:
    out, pos = [], 0
    while body[pos:].strip():
        m = _MATCHER.match(body, pos)
        if not m:
            raise Failure(f"cannot read label matchers {{{body}}} in {expr!r}")
        out.append((m.group(1), m.group(2), _unquote(m.group(3))))
        pos = m.end()
    return out


def promql_usage(expr: str) -> Usage:
    """The selectors (metric name and label matchers) and grouping labels of an expression.
    A token scanner, not a parser: promtool proves the expression parses; this lists names.
    `$variables` are skipped; matcher values keep them verbatim."""
    s, i, n = expr, 0, len(expr)
    usage = Usage([], set())

    def next_char(j):
        while j < n and s[j].isspace():
            j += 1
        return j

    def braces(j):  # s[j] == "{": (matchers text, index after "}")
        k = j + 1
        while k < n and s[k] != "}":
            k = _skip_string(s, k) if s[k] in "\"'`" else k + 1
        return s[j + 1:k], k + 1

    while i < n:
        c = s[i]
        if c.isspace() or c in "()[],+-*/%^<>=!@":
            if c == "[":  # a range or subquery: durations and $__rate_interval only
                i = s.index("]", i)
            i += 1
        elif c == "#":  # a comment, to the end of the line
            j = s.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'`":
            i = _skip_string(s, i)
        elif c == "$":  # a template variable outside a string
            v = _VARIABLE.match(s, i)
            i = v.end() if v else i + 1
        elif c.isdigit() or c == ".":  # numbers, durations (5m), hex
            while i < n and (s[i].isalnum() or s[i] in "._"):
                i += 1
        elif c == "{":  # a selector without a metric name: {__name__="x", ...}
            body, i = braces(i)
            ms = _matchers(body, expr)
            name = next((v for label, op, v in ms if label == "__name__" and op == "="), "")
            usage.selectors.append(Selector(name, [m for m in ms if m[0] != "__name__"]))
        else:
            m = _IDENT.match(s, i)
            if not m:
                raise Failure(f"unexpected character {c!r} at {i} in {expr!r}")
            word, i = m.group(0), m.end()
            j = next_char(i)
            if word.lower() in _GROUPING and j < n and s[j] == "(":
                k = s.index(")", j)
                usage.grouping.update(x.strip() for x in s[j + 1:k].split(",") if x.strip())
                i = k + 1
            elif word.lower() in _KEYWORDS or (j < n and s[j] == "("):
                pass  # an operator keyword, or a function/aggregation name
            else:
                matchers = []
                if j < n and s[j] == "{":
                    body, i = braces(j)
                    matchers = _matchers(body, expr)
                usage.selectors.append(Selector(word, matchers))
    return usage


# Series Prometheus makes up itself rather than scraping them.
SYNTHETIC = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds",
             "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
             "scrape_series_added"}
TARGET_LABELS = {"job", "instance"}


def problems_against_scrape(target: Target, scrape: dict[str, list[dict[str, str]]],
                            extra_label: str | None = None) -> list[str]:
    """What in `target` the scraped daemon does not export: metric names, label names,
    literal label values (`stat="p99"`), grouping labels; and `extra_label` (the label of a
    label_values() variable)."""
    problems = []
    usage = promql_usage(target.expr)
    known_labels = set(TARGET_LABELS)
    for sel in usage.selectors:
        if not sel.metric:
            problems.append(f"a selector without a metric name ({sel.matchers})")
            continue
        if sel.metric in SYNTHETIC:
            continue
        samples = scrape.get(sel.metric)
        if not samples:
            near = sorted(n for n in scrape if n.split("_")[:2] == sel.metric.split("_")[:2])
            problems.append(f"metric {sel.metric} is not exported by qoewatchd"
                            + (f" (exported: {', '.join(near[:12])})" if near else ""))
            continue
        labels = {k for s in samples for k in s}
        known_labels |= labels
        for label, op, value in sel.matchers:
            if label in TARGET_LABELS or label == "__name__":
                continue
            if label not in labels:
                problems.append(f"{sel.metric} has no label {label!r} (it has: "
                                f"{', '.join(sorted(labels)) or 'none'})")
                continue
            values = {s.get(label, "") for s in samples}
            if "$" in value or op in ("!=", "!~"):
                continue
            if op == "=" and value and value not in values:
                problems.append(f'{sel.metric}{{{label}="{value}"}} matches no exported series '
                                f"({label} values: {', '.join(sorted(values))})")
            if op == "=~":
                try:
                    rx = re.compile(value)
                except re.error:
                    continue
                if not any(rx.fullmatch(v) for v in values):
                    problems.append(f'{sel.metric}{{{label}=~"{value}"}} matches no exported '
                                    f"series ({label} values: {', '.join(sorted(values))})")
    if problems:  # a missing metric would make every grouping label look wrong too
        return problems
    for label in sorted(usage.grouping | ({extra_label} if extra_label else set())):
        if label not in known_labels:
            problems.append(f"label {label!r} (grouping or label_values) is on none of the "
                            f"selected metrics (their labels: {', '.join(sorted(known_labels))})")
    return problems
