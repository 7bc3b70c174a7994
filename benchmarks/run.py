#!/usr/bin/env python3
"""Measure agtrace-mcp on a generated corpus and print a report (also written as JSON).

    python benchmarks/run.py --home /tmp/agtrace-bench/home [--data-dir DIR]
    python benchmarks/run.py --quick          # generates a 5 MB corpus in a temp dir: a smoke test (< 1 min)

Measurements (see benchmarks/README.md for what each means and its target):
 1. parse floor: read every log file and orjson-decode every line (the legacy Gemini .json as one document),
    in a child process;
 2. cold index: `Store.refresh(force=True, wait=True)` on an empty data dir, in a child process (its peak RSS:
    VmHWM on Linux, which unlike ru_maxrss does not inherit the parent's peak at fork);
 3. index size: the data dir's bytes / the corpus bytes;
 4. no-change refresh: `refresh(force=True)` again with nothing changed, median of 10;
 5. append-one-line latency: one new Claude prompt line appended to a session log -> the moment
    `get_turn(session, -1)` (refresh_interval = 0) returns it; median of 10, for a mid-size and the big session;
 6. query latency p50/p95 of the Python API (`agtrace_mcp.api.Agtrace`), refresh throttled away, plus one
    series with the freshness check on (refresh_interval = 0).

The appended lines are cut off again at the end (the log files get back their size and mtime), so the corpus
can be measured again; the data dir is wiped before the cold index.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MB = 1_000_000
TARGETS = {
    "cold_index_ratio_to_floor": 5.0,  # ×
    "first_by_id_answer_s": 1.0,
    "initialize_ratio_to_bare": 1.5,
    "cold_index_peak_rss_mb": 300.0,
    "index_size_ratio": 0.30,
    "no_change_refresh_ms": 150.0,  # for 5,000 files
    "append_latency_ms": 100.0,
    "query_p95_ms": 50.0,
}


# -- helpers ---------------------------------------------------------------------------------------------------------


def make_config(home: str | Path, data_dir: str | Path, refresh_interval: float) -> Any:
    """A Config that sees only `home` (never the real user's logs) and keeps its index in `data_dir`."""
    from agtrace_mcp.config import Config

    home = str(home)
    env = {"HOME": home, "PATH": os.environ.get("PATH", "")}
    if "AGTRACE_MCP_WORKERS" in os.environ:  # set by run_child for the runs by worker count
        env["AGTRACE_MCP_WORKERS"] = os.environ["AGTRACE_MCP_WORKERS"]
    cfg = Config.load(env=env, home=home, data_dir=str(data_dir))
    cfg.refresh_interval = refresh_interval
    return cfg


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def series(times_s: list[float]) -> dict[str, Any]:
    ms = [t * 1000 for t in times_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 2), "p95_ms": round(pct(ms, 95), 2),
            "max_ms": round(max(ms), 2), "mean_ms": round(statistics.fmean(ms), 2)}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def dir_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


def git_info() -> dict[str, Any]:
    """The product version measured (read-only git queries)."""
    repo = HERE.parent
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "--",
                                "agtrace_mcp"], capture_output=True, text=True, timeout=10).stdout.strip()
        return {"head": head, "product_files_modified": len(dirty.splitlines())}
    except (OSError, subprocess.SubprocessError):
        return {}


def table_sizes(db_path: Path, top: int = 12) -> list[dict[str, Any]]:
    """Per table/index: bytes of pages, of payload, and unused (SQLite's dbstat, when compiled in)."""
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT name, sum(pgsize), sum(payload), sum(unused), "
                              "sum(pagetype = 'overflow') FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return []
    return [{"name": n, "bytes": b, "payload": p, "unused": u, "overflow_pages": o} for n, b, p, u, o in rows[:top]]


def iso_now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


# -- 0. the corpus ---------------------------------------------------------------------------------------------------


def corpus_files(home: Path, data_dir: Path) -> list[Any]:
    """Every log file the product would read, found by the product's own discovery."""
    from agtrace_mcp.store.ingest import discover

    return discover(make_config(home, data_dir, 2.0))


def corpus_stats(found: list[Any]) -> dict[str, Any]:
    by: dict[str, dict[str, int]] = {}
    for f in found:
        d = by.setdefault(f.src.provider, {"files": 0, "bytes": 0})
        d["files"] += 1
        d["bytes"] += f.size
    return {"files": len(found), "bytes": sum(f.size for f in found), "by_provider": by,
            "subagent_files": sum(1 for f in found if f.src.kind == "subagent"),
            "largest_file_bytes": max((f.size for f in found), default=0)}


# -- 1. parse floor, 2. cold index: each in a child process -----------------------------------------------------------


def parse_floor(found: list[Any]) -> dict[str, Any]:
    loads = orjson.loads
    lines = 0
    nbytes = 0
    t0 = time.perf_counter()
    for f in found:
        if f.src.kind == "db":  # OpenCode: one SQLite file; the floor reads every JSON data column
            n, b = _db_floor(f.src.path)
            lines += n
            nbytes += b
            continue
        with open(f.src.path, "rb") as fh:
            data = fh.read()
        nbytes += len(data)
        if f.src.kind == "legacy_json":
            loads(data)
            lines += 1
            continue
        for line in data.split(b"\n"):
            if line:
                loads(line)
                lines += 1
        del data
    sec = time.perf_counter() - t0
    return {"seconds": round(sec, 3), "mb_per_s": round(nbytes / MB / sec, 1), "lines": lines, "bytes": nbytes}


def _db_floor(path: str) -> tuple[int, int]:
    """Read and decode every `data` column of an OpenCode database (its rows are the log's lines)."""
    import sqlite3

    loads = orjson.loads
    n = b = 0
    con = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        for table in ("message", "part"):
            for (data,) in con.execute(f"SELECT data FROM {table}"):
                loads(data)
                n += 1
        b = os.path.getsize(path)
    finally:
        con.close()
    return n, b


def _vm_hwm_kb() -> int | None:
    """Peak RSS of this process image (Linux; unlike ru_maxrss it does not inherit the parent's peak at fork)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def child_floor(home: str, data_dir: str) -> None:
    found = corpus_files(Path(home), Path(data_dir))
    c0 = time.process_time()
    out = parse_floor(found)
    out["cpu_seconds_self"] = round(time.process_time() - c0, 3)
    out["vm_hwm_kb"] = _vm_hwm_kb()
    sys.stdout.write(json.dumps(out) + "\n")


def child_index(home: str, data_dir: str) -> None:
    """The cold index, then one JSON line on stdout."""
    from agtrace_mcp.store import Store

    cfg = make_config(home, data_dir, 2.0)
    last = [time.perf_counter()]

    def progress(done: int, total: int, _path: str) -> None:
        now = time.perf_counter()
        if now - last[0] > 15:
            last[0] = now
            log(f"    cold index: {done / MB:.0f} of {total / MB:.0f} MB")

    t0 = time.perf_counter()
    store = Store(cfg)
    t1 = time.perf_counter()
    c1 = time.process_time()
    rep = store.refresh(force=True, wait=True, progress=progress)
    c2 = time.process_time()
    t2 = time.perf_counter()
    store.close()
    t3 = time.perf_counter()
    assert rep is not None
    rss: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "RssAnon", "RssFile"):
                    rss[k] = int(v.split()[0])
    except OSError:
        pass
    out = {"seconds": t2 - t1, "cpu_seconds": c2 - c1, "open_seconds": t1 - t0, "close_seconds": t3 - t2,
           "files_seen": rep.files_seen, "files_ingested": rep.files_ingested, "bytes_read": rep.bytes_read,
           "errors": rep.errors[:10], "vm_hwm_kb": _vm_hwm_kb(), "rss_at_end_kb": rss}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


def run_child(mode: str, home: Path, data_dir: Path, workers: int | None = None) -> tuple[dict[str, Any], float, float]:
    """Run this script in `--child-<mode>`; returns (its JSON + the child's CPU seconds, wall seconds, ru_maxrss MB
    of exactly that child)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        env = dict(os.environ)
        if workers is not None:
            env["AGTRACE_MCP_WORKERS"] = str(workers)
        p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), f"--child-{mode}", str(home),
                              str(data_dir)], stdout=out, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        raw = out.read().decode()
    if p.returncode != 0:
        raise SystemExit(f"the {mode} child failed with exit code {p.returncode}:\n{raw}")
    d = json.loads(raw.strip().splitlines()[-1])
    d["child_cpu_seconds"] = round(ru.ru_utime + ru.ru_stime, 2)  # robust to other load on the machine
    return d, wall, ru.ru_maxrss / 1024  # Linux: KB


def floor_in_child(home: Path, data_dir: Path) -> dict[str, Any]:
    d, _, maxrss = run_child("floor", home, data_dir)
    d["cpu_seconds"] = d.pop("cpu_seconds_self")
    d["peak_rss_mb"] = round((d.pop("vm_hwm_kb") or maxrss * 1024) / 1024, 1)
    return d


def cold_index(home: Path, data_dir: Path, corpus_bytes: int, floor: dict[str, Any],
               workers: int | None = None) -> dict[str, Any]:
    d, wall, maxrss = run_child("index", home, data_dir, workers)
    sec = d["seconds"]
    floor_s = floor["seconds"]
    hwm = d.get("vm_hwm_kb")
    end = d.get("rss_at_end_kb") or {}
    return {"seconds": round(sec, 2), "process_wall_seconds": round(wall, 2),
            "mb_per_s": round(corpus_bytes / MB / sec, 1), "ratio_to_floor": round(sec / floor_s, 2),
            "cpu_seconds": round(d["cpu_seconds"], 2),
            "cpu_ratio_to_floor": round(d["cpu_seconds"] / max(1e-9, floor["cpu_seconds"]), 2),
            "peak_rss_mb": round(hwm / 1024 if hwm else maxrss, 1),
            "ru_maxrss_mb": round(maxrss, 1),  # wait4() rusage of this child (includes the parent's RSS at fork)
            "rusage_children_maxrss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "rss_at_end_mb": {k: round(v / 1024, 1) for k, v in end.items()},
            "files_seen": d["files_seen"], "files_ingested": d["files_ingested"], "bytes_read": d["bytes_read"],
            "errors": d["errors"]}


# -- 4. no-change refresh ----------------------------------------------------------------------------------------------


def no_change_refresh(home: Path, data_dir: Path, n: int = 10) -> dict[str, Any]:
    from agtrace_mcp.store import Store

    store = Store(make_config(home, data_dir, 0))
    try:
        t0 = time.perf_counter()
        first = store.refresh(force=True, wait=True)
        first_s = time.perf_counter() - t0
        times, ingested = [], 0
        for _ in range(n):
            t0 = time.perf_counter()
            rep = store.refresh(force=True, wait=True)
            times.append(time.perf_counter() - t0)
            assert rep is not None
            ingested += rep.files_ingested
        assert first is not None
        return {"median_ms": round(statistics.median(times) * 1000, 1), "min_ms": round(min(times) * 1000, 1),
                "max_ms": round(max(times) * 1000, 1), "first_in_new_process_ms": round(first_s * 1000, 1),
                "files_seen": first.files_seen, "files_reingested_first": first.files_ingested,
                "files_reingested_after": ingested, "runs": n}
    finally:
        store.close()


# -- 6. query latency ---------------------------------------------------------------------------------------------------


def query_latency(home: Path, data_dir: Path, big_sid: str | None, words: dict[str, list[str]], n: int,
                  seed: int = 7) -> dict[str, Any]:
    from agtrace_mcp.api import Agtrace

    rng = random.Random(seed)
    at = Agtrace(make_config(home, data_dir, 1e9))  # the freshness check never fires after the first call
    at.list_projects()  # first call: opens the index and runs the (no-change) refresh once
    db = at.store.db
    sessions = [tuple(r) for r in db.execute("SELECT id, turns FROM sessions WHERE turns > 0 AND parent_id IS NULL")]
    projects = [r[0] for r in db.execute("SELECT DISTINCT project_root FROM sessions WHERE project_root IS NOT NULL")]
    tools = [tuple(r) for r in db.execute("SELECT session_id, call_id FROM tools")]
    big_turns = 0
    if big_sid:
        row = db.execute("SELECT turns FROM sessions WHERE id = ?", (big_sid,)).fetchone()
        big_turns = row[0] if row else 0
    sessions.sort()
    projects.sort()
    tools.sort()

    def rand_turn() -> tuple[str, int]:
        sid, turns = rng.choice(sessions)
        return sid, rng.randrange(turns)

    cases: dict[str, Callable[[int], Any]] = {
        "list_sessions": lambda i: at.list_sessions(),
        "list_sessions(project)": lambda i: at.list_sessions(project=rng.choice(projects)),
        "list_sessions(has_failures)": lambda i: at.list_sessions(has_failures=True),
        "get_session": lambda i: at.get_session(rng.choice(sessions)[0]),
        "get_turn": lambda i: at.get_turn(*rand_turn()),
        "get_turn(big session)": (lambda i: at.get_turn(big_sid, rng.randrange(big_turns))) if big_turns else None,
        "find_failed_tools": lambda i: at.find_failed_tools(),
        "find_failed_tools(project)": lambda i: at.find_failed_tools(project=rng.choice(projects)),
        "search_history(common)": lambda i: at.search_history(words["common"][i % len(words["common"])]),
        "search_history(rare)": lambda i: at.search_history(words["rare"][i % len(words["rare"])]),
        "list_projects": lambda i: at.list_projects(),
        "get_tool_output": lambda i: at.get_tool_output(*rng.choice(tools)),
    }
    out: dict[str, Any] = {}
    hits: dict[str, int] = {}
    try:
        for name, fn in cases.items():
            if fn is None:
                continue
            fn(0)  # warm-up (not counted)
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                r = fn(i)
                times.append(time.perf_counter() - t0)
                if name.startswith("search_history"):
                    hits[name] = hits.get(name, 0) + len(r.hits)
            out[name] = series(times)
        for name in ("search_history(common)", "search_history(rare)"):
            if name in out:
                out[name]["mean_hits"] = round(hits.get(name, 0) / n, 1)
    finally:
        at.close()
    # the same list_sessions with the freshness check on every call (one discover + stat per call)
    at = Agtrace(make_config(home, data_dir, 0))
    try:
        at.list_sessions()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            at.list_sessions()
            times.append(time.perf_counter() - t0)
        out["list_sessions(freshness check on)"] = series(times)
    finally:
        at.close()
    out["_sampled_from"] = {"sessions": len(sessions), "projects": len(projects), "tool_calls": len(tools),
                            "big_session_turns": big_turns}
    return out


# -- 5. append-one-line latency -----------------------------------------------------------------------------------------


def _tail_lines(path: Path, nbytes: int = 4 << 20) -> list[bytes]:
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - nbytes))
        return f.read().split(b"\n")


class _Prompts:
    """Real-looking user-prompt lines to append to one session log, in its agent's own format."""

    def __init__(self, provider: str, path: Path) -> None:
        self.provider = provider
        if provider == "claude_code":
            tpl = self._last(path, lambda o: o.get("type") in ("user", "assistant", "system") and o.get("uuid"))
            self.sid, self.tpl, self.parent = tpl["sessionId"], tpl, tpl["uuid"]
        elif provider == "gemini_cli":
            with open(path, "rb") as f:
                self.sid = orjson.loads(f.readline())["sessionId"]
        elif provider == "antigravity":
            self.sid = path.parents[2].name  # brain/<conversation id>/.system_generated/logs/
            self.step = self._last(path, lambda o: isinstance(o.get("step_index"), int))["step_index"]
        else:
            raise ValueError(provider)

    @staticmethod
    def _last(path: Path, ok: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        for line in reversed(_tail_lines(path)):
            try:
                o = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(o, dict) and ok(o):
                return o
        raise SystemExit(f"no record to continue near the end of {path}")

    def line(self, text: str) -> bytes:
        import uuid as uuidlib

        now = iso_now()
        if self.provider == "claude_code":
            u = str(uuidlib.uuid4())
            rec = {"parentUuid": self.parent, "isSidechain": False, "userType": "external", "cwd": self.tpl.get("cwd"),
                   "sessionId": self.sid, "version": self.tpl.get("version"),
                   "gitBranch": self.tpl.get("gitBranch", ""), "type": "user",
                   "message": {"role": "user", "content": text}, "uuid": u, "timestamp": now}
            self.parent = u
            return orjson.dumps(rec) + b"\n"
        if self.provider == "gemini_cli":
            rec = {"id": str(uuidlib.uuid4()), "timestamp": now, "type": "user", "content": [{"text": text}]}
            return orjson.dumps(rec) + b"\n" + orjson.dumps({"$set": {"lastUpdated": now}}) + b"\n"
        self.step += 1
        rec = {"step_index": self.step, "source": "USER_EXPLICIT", "type": "USER_INPUT", "status": "DONE",
               "created_at": now[:19] + "Z", "content": f"<USER_REQUEST>\n{text}\n</USER_REQUEST>"}
        return orjson.dumps(rec) + b"\n"


def append_latency(home: Path, data_dir: Path, path: Path, provider: str = "claude_code", n: int = 10,
                   timeout: float = 30.0) -> dict[str, Any]:
    """Append a user prompt line; time until get_turn(session, -1) (freshness check on) returns it."""
    import uuid as uuidlib

    from agtrace_mcp.api import Agtrace

    st = path.stat()
    orig_size, orig_times = st.st_size, (st.st_atime_ns, st.st_mtime_ns)
    prompts = _Prompts(provider, path)
    sid = prompts.sid
    at = Agtrace(make_config(home, data_dir, 0))
    times, calls_needed = [], []
    try:
        before = at.get_turn(sid, -1)  # warm-up: opens the index, brings the file up to date
        turns_before = before.turns_total
        for i in range(n):
            marker = f"benchmark-append-{i}-{uuidlib.uuid4().hex[:8]}"
            line = prompts.line(f"Please re-run the failing test ({marker})")
            t0 = time.perf_counter()
            with open(path, "ab") as f:
                f.write(line)
            k = 0
            while True:
                k += 1
                turn = at.get_turn(sid, -1)
                if marker in turn.user.text:
                    break
                if time.perf_counter() - t0 > timeout:
                    raise SystemExit(f"the appended prompt did not show up in {timeout} s ({path})")
            times.append(time.perf_counter() - t0)
            calls_needed.append(k)
            time.sleep(0.05)
        return {"file": str(path), "provider": provider, "file_mb": round(orig_size / MB, 1), "session_id": sid,
                "turns_before": turns_before, "median_ms": round(statistics.median(times) * 1000, 1),
                "min_ms": round(min(times) * 1000, 1), "max_ms": round(max(times) * 1000, 1),
                "get_turn_calls_needed": calls_needed, "runs": n}
    finally:
        at.close()
        os.truncate(path, orig_size)  # give the corpus back its original bytes and mtime
        os.utime(path, ns=orig_times)


def largest(found: list[Any], provider: str, suffix: str) -> Path | None:
    """The largest log of one agent (its live session is where a re-read would hurt most)."""
    cands = [f for f in found if f.src.provider == provider and f.src.path.endswith(suffix)]
    return Path(max(cands, key=lambda f: f.size).src.path) if cands else None


def pick_mid_session(found: list[Any], exclude: str | None) -> Path:
    """A mid-size Claude session log: the one closest to 2 MB (or the median size on tiny corpora)."""
    cands = sorted((f for f in found if f.src.provider == "claude_code" and f.src.kind == "session"
                    and f.src.path != exclude), key=lambda f: f.size)
    if not cands:
        raise SystemExit("no Claude session in the corpus")
    if cands[-1].size >= 2 * MB:
        best = min(cands, key=lambda f: abs(f.size - 2 * MB))
    else:
        best = cands[len(cands) // 2]
    return Path(best.src.path)


# -- the report ---------------------------------------------------------------------------------------------------------


def checks(r: dict[str, Any]) -> list[dict[str, Any]]:
    out = []

    def add(name: str, value: float, target: float, unit: str, note: str = "") -> None:
        out.append({"name": name, "value": value, "target": target, "unit": unit, "ok": value <= target,
                    "note": note})

    for k, v in r.get("first_answer", {}).items():
        if k.startswith("by id"):
            add(f"first right answer from a cold start: {k}", v["seconds"], TARGETS["first_by_id_answer_s"], "s",
                "right" if v["right"] else "WRONG")
    if "initialize" in r:
        add("initialize round trip / bare MCPServer", r["initialize"]["ratio"], TARGETS["initialize_ratio_to_bare"],
            "x", f"{r['initialize']['agtrace_ms']} ms vs {r['initialize']['bare_mcpserver_ms']} ms")
    ci = r["cold_index"]
    add("cold index / parse floor", ci["ratio_to_floor"], TARGETS["cold_index_ratio_to_floor"], "x",
        f"CPU time ratio {ci['cpu_ratio_to_floor']}x")
    add("cold index peak RSS", ci["peak_rss_mb"], TARGETS["cold_index_peak_rss_mb"], "MB")
    add("index size / corpus", r["index_size"]["ratio"], TARGETS["index_size_ratio"], "")
    nc = r["no_change_refresh"]
    add("no-change refresh (median)", nc["median_ms"], TARGETS["no_change_refresh_ms"], "ms",
        f"{nc['files_seen']} files (target is for 5,000)")
    for k, v in r["append_latency"].items():
        add(f"append one line -> get_turn ({k}, median)", v["median_ms"], TARGETS["append_latency_ms"], "ms",
            f"{v['file_mb']} MB file")
    for k, v in r["queries"].items():
        if k.startswith("_"):
            continue
        add(f"{k} p95", v["p95_ms"], TARGETS["query_p95_ms"], "ms", f"p50 {v['p50_ms']} ms")
    return out


def print_report(r: dict[str, Any]) -> None:
    c = r["corpus"]
    m = r["machine"]
    print()
    print(f"machine: {m['cpus']} CPUs, Python {m['python']}, load average {m['loadavg_at_start'][0]:.2f} at start, "
          f"{m['loadavg_at_end'][0]:.2f} at end; product {r.get('product', {}).get('head', '?')}"
          f" ({r.get('product', {}).get('product_files_modified', '?')} files modified)")
    print(f"corpus: {c['files']} files, {c['bytes'] / MB:.1f} MB "
          + ", ".join(f"{k} {v['files']} files/{v['bytes'] / MB:.0f} MB" for k, v in c["by_provider"].items())
          + f"; largest file {c['largest_file_bytes'] / MB:.1f} MB")
    pf, ci, ix = r["parse_floor"], r["cold_index"], r["index_size"]
    print(f"parse floor: {pf['seconds']:.2f} s, {pf['mb_per_s']:.0f} MB/s ({pf['lines']} lines; CPU {pf['cpu_seconds']:.2f} s)")
    print(f"cold index:  {ci['seconds']:.2f} s, {ci['mb_per_s']:.1f} MB/s, {ci['ratio_to_floor']:.2f}x the floor, "
          f"peak RSS {ci['peak_rss_mb']:.0f} MB ({ci['files_ingested']} files; CPU {ci['cpu_seconds']:.2f} s = "
          f"{ci['cpu_ratio_to_floor']:.2f}x the floor's CPU)")
    for w, c in r.get("cold_index_by_workers", {}).items():
        print(f"  with {w} parse workers: {c['seconds']:.2f} s = {c['ratio_to_floor']:.2f}x the floor "
              f"(writer CPU {c['cpu_seconds']:.2f} s, peak RSS {c['peak_rss_mb']:.0f} MB)")
    for k, v in r.get("first_answer", {}).items():
        print(f"first answer from a cold start, {k}: {v['seconds']:.2f} s after the call "
              f"({v['seconds_from_process_start']:.2f} s after the process start), {'right' if v['right'] else 'WRONG'}"
              + (" (says the index is incomplete)" if v["index_incomplete"] else ""))
    if "initialize" in r:
        i = r["initialize"]
        print(f"initialize round trip: {i['agtrace_ms']} ms vs {i['bare_mcpserver_ms']} ms for a bare MCPServer "
              f"({i['ratio']}x)")
    print(f"index size:  {ix['bytes'] / MB:.1f} MB = {ix['ratio'] * 100:.1f} % of the corpus"
          + ("; largest: " + ", ".join(f"{t['name']} {t['bytes'] / MB:.0f} MB ({t['unused'] / max(1, t['bytes']) * 100:.0f} % unused)"
                                       for t in ix["tables"][:4]) if ix.get("tables") else ""))
    nc = r["no_change_refresh"]
    print(f"no-change refresh: median {nc['median_ms']} ms over {nc['files_seen']} files "
          f"(first in a new process {nc['first_in_new_process_ms']} ms; re-ingested {nc['files_reingested_after']})")
    for k, v in r["append_latency"].items():
        print(f"append ({k}, {v['file_mb']} MB, {v['turns_before']} turns): median {v['median_ms']} ms, "
              f"max {v['max_ms']} ms, get_turn calls {v['get_turn_calls_needed']}")
    print()
    w = max(len(k) for k in r["queries"]) + 2
    print(f"{'query':<{w}} {'n':>4} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for k, v in r["queries"].items():
        if k.startswith("_"):
            continue
        extra = f"  ({v['mean_hits']} hits/call)" if "mean_hits" in v else ""
        print(f"{k:<{w}} {v['n']:>4} {v['p50_ms']:>9.2f} {v['p95_ms']:>9.2f} {v['max_ms']:>9.2f}{extra}")
    print()
    w = max(len(x["name"]) for x in r["checks"]) + 2
    print(f"{'check':<{w}} {'value':>10} {'target':>10}  ok")
    for x in r["checks"]:
        print(f"{x['name']:<{w}} {x['value']:>10} {('≤ ' + str(x['target'])):>10}  "
              f"{'yes' if x['ok'] else 'NO '}  {x['unit']} {x['note']}")
    bad = [x["name"] for x in r["checks"] if not x["ok"]]
    print(f"\n{len(r['checks']) - len(bad)}/{len(r['checks'])} targets met" + (f"; missed: {', '.join(bad)}" if bad else ""))


def prepare_data_dir(d: Path) -> None:
    if d.exists():
        extra = [p for p in d.iterdir() if not p.name.startswith(("index.sqlite3", "index.lock", "index.yield"))]
        if extra:
            raise SystemExit(f"{d} holds other files than an index ({extra[0].name}); pass an empty --data-dir")
        for p in d.iterdir():
            p.unlink()
    d.mkdir(parents=True, exist_ok=True)


def run(home: Path, data_dir: Path, queries_n: int, out_path: Path, quick: bool) -> dict[str, Any]:
    prepare_data_dir(data_dir)
    manifest_path = home / "agtrace-bench-manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    big = manifest.get("big_session") or {}
    words = {"common": manifest.get("common_words") or ["error", "test"],
             "rare": manifest.get("rare_words") or ["zymurgy"]}
    found = corpus_files(home, data_dir)
    if not found:
        raise SystemExit(f"no agent logs under {home}")
    corpus = corpus_stats(found)
    if not big:  # not a generated corpus: the biggest Claude session stands in
        cl = [f for f in found if f.src.provider == "claude_code" and f.src.kind == "session"]
        if cl:
            b = max(cl, key=lambda f: f.size)
            big = {"path": b.src.path, "session_id": Path(b.src.path).stem, "bytes": b.size}
    r: dict[str, Any] = {"when": iso_now(), "quick": quick, "home": str(home), "data_dir": str(data_dir),
                         "product": git_info(),
                         "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                     "platform": platform.platform(), "loadavg_at_start": os.getloadavg()},
                         "generator": {k: manifest.get(k) for k in ("seed", "size_mb", "big_session_mb", "seconds",
                                                                    "mb_per_s")} if manifest else None,
                         "corpus": corpus, "targets": TARGETS}
    log(f"corpus: {corpus['files']} files, {corpus['bytes'] / MB:.1f} MB; load average {os.getloadavg()[0]:.2f}")
    log("0. warming the page cache (an untimed read of every log) ...")
    for f in found:
        with open(f.src.path, "rb", buffering=0) as fh:
            while fh.read(8 << 20):
                pass
    log("1. parse floor ...")
    r["parse_floor"] = floor_in_child(home, data_dir)
    log(f"   {r['parse_floor']['seconds']} s")
    log("2. cold index (child process) ...")
    r["cold_index"] = cold_index(home, data_dir, corpus["bytes"], r["parse_floor"])
    log(f"   {r['cold_index']['seconds']} s")
    size = dir_bytes(data_dir)
    r["index_size"] = {"bytes": size, "ratio": round(size / corpus["bytes"], 4),
                       "files": {p.name: p.stat().st_size for p in sorted(data_dir.iterdir())},
                       "tables": table_sizes(data_dir / "index.sqlite3")}
    r["cold_index_by_workers"] = {}
    for w in (0, 1, 2):
        log(f"2b. cold index with {w} parse workers ...")
        prepare_data_dir(data_dir)
        c = cold_index(home, data_dir, corpus["bytes"], r["parse_floor"], workers=w)
        r["cold_index_by_workers"][str(w)] = {k: c[k] for k in ("seconds", "ratio_to_floor", "cpu_seconds",
                                                           "peak_rss_mb")}
        log(f"   {c['seconds']} s")
    log("4. no-change refresh ...")
    r["no_change_refresh"] = no_change_refresh(home, data_dir)
    log("6. query latency ...")
    r["queries"] = query_latency(home, data_dir, big.get("session_id"), words, queries_n)
    log("5. append-one-line latency ...")
    r["append_latency"] = {}
    mid = pick_mid_session(found, big.get("path"))
    r["append_latency"]["mid-size session"] = append_latency(home, data_dir, mid)
    if big.get("path"):
        r["append_latency"]["big session"] = append_latency(home, data_dir, Path(big["path"]))
    for label, provider, suffix in (("largest Gemini CLI session", "gemini_cli", ".jsonl"),
                                    ("largest Antigravity session", "antigravity", "transcript_full.jsonl")):
        path = largest(found, provider, suffix)
        if path is not None:
            r["append_latency"][label] = append_latency(home, data_dir, path, provider)
    log("7. first right answer from a cold start (a fresh data dir per call) ...")
    from first_answer import first_answers, initialize_round_trip

    from agtrace_mcp.api import Agtrace

    complete = Agtrace(make_config(home, data_dir, 1e9))
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    if big.get("session_id"):
        calls[f"by id: get_turn, {big.get('bytes', 0) / MB:.0f} MB session"] = (
            "get_turn", {"session_id": big["session_id"], "turn_index": -1})
    twenty = min((f for f in found if f.src.provider == "claude_code" and f.src.kind == "session"
                  and f.src.path != big.get("path")), key=lambda f: abs(f.size - 20 * MB), default=None)
    if twenty is not None:
        sid = Path(twenty.src.path).stem  # a Claude log is named by its session id
        calls[f"by id: get_turn, {twenty.size / MB:.0f} MB session"] = ("get_turn", {"session_id": sid,
                                                                                     "turn_index": -1})
        calls[f"by id: find_failed_tools, {twenty.size / MB:.0f} MB session"] = (
            "find_failed_tools", {"session_id": sid})
    calls["list_sessions"] = ("list_sessions", {})
    calls["search_history (rare word)"] = ("search_history", {"query": words["rare"][0]})
    r["first_answer"] = first_answers(home, complete, calls)
    for k, v in r["first_answer"].items():
        log(f"   {k}: {v['seconds']} s ({v['seconds_from_process_start']} s from the start), "
            f"{'right' if v['right'] else 'WRONG'}")
    log("8. initialize round trip ...")
    r["initialize"] = initialize_round_trip(home, data_dir)
    complete.close()
    r["machine"]["loadavg_at_end"] = os.getloadavg()
    r["checks"] = checks(r)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(orjson.dumps(r, option=orjson.OPT_INDENT_2))
    print_report(r)
    print(f"\nreport: {out_path}")
    return r


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--child-index":
        child_index(argv[1], argv[2])
        return 0
    if argv and argv[0] == "--child-floor":
        child_floor(argv[1], argv[2])
        return 0
    ap = argparse.ArgumentParser(description="agtrace-mcp benchmarks")
    ap.add_argument("--home", help="the HOME-like corpus (from benchmarks/generate.py)")
    ap.add_argument("--data-dir", help="where to build the index (wiped first; default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="generate a 5 MB corpus in a temp dir and run everything")
    ap.add_argument("--queries", type=int, default=60, help="calls per query series (default 60)")
    ap.add_argument("--out", help="report path (default benchmarks/out/report.json, quick: report-quick.json)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs")
    a = ap.parse_args(argv)
    out = Path(a.out) if a.out else HERE / "out" / ("report-quick.json" if a.quick else "report.json")
    tmp = None
    try:
        if a.quick:
            from generate import generate

            tmp = Path(tempfile.mkdtemp(prefix="agtrace-bench-quick-"))
            home = Path(a.home) if a.home else tmp / "home"
            if not a.home:
                log(f"generating a 5 MB corpus in {home} ...")
                generate(home, 5, 1, seed=1, progress=False)
            data_dir = Path(a.data_dir) if a.data_dir else tmp / "data"
        else:
            if not a.home:
                ap.error("--home is required (or --quick)")
            home = Path(a.home)
            if a.data_dir:
                data_dir = Path(a.data_dir)
            else:
                tmp = Path(tempfile.mkdtemp(prefix="agtrace-bench-data-", dir="/tmp"))
                data_dir = tmp / "data"
        run(home.resolve(), data_dir.resolve(), a.queries, out, a.quick)
    finally:
        if tmp is not None and not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
