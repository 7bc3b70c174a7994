#!/usr/bin/env python3
"""A simulated team on one PostgreSQL database: N machines push M MB of logs each, at once; then the queries.

    python benchmarks/team.py --work /tmp/agtrace-team --machines 20 --size-mb 200 --big-session-mb 40
    python benchmarks/team.py --quick                  # 3 machines × 15 MB: a smoke test (about a minute)

Steps (each machine is a generated corpus of its own seed, `generate.py`, with its own local index):
 1. generate the corpora (skipped when WORK already has them) and build each machine's local index;
 2. start a PostgreSQL server of its own in WORK (durable: fsync on; `--pg URL` uses a running one instead),
    create the database and its schema, a pushing role per machine and a reading role;
 3. push every machine at once, each as its own role (`agtrace-mcp push --to … --machine mNN`): wall time,
    MB of logs per second, per-machine times;
 4. the database's size against the logs' (then VACUUM ANALYZE, as autovacuum would);
 5. latency of `list_sessions`, `search_history` and `find_failed_tools` (and `get_turn`, `get_usage`) over
    the whole team through the Python API as the reading role: p50/p95 over varied arguments;
 6. an incremental push: one line appended to one machine's log, pushed (what `push --watch` does each round).

Writes WORK/team-report.json and prints a table. Nothing here runs in the tests. Needs about 2.3× the logs'
size of free disk (logs, local indexes, the database); remove WORK afterwards.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))  # pgserver.py: the same throwaway server the tests start

MB = 1_000_000
TARGET_P95_MS = 100.0
SERVER_SETTINGS = {  # a modest dedicated server on this machine (24 GB shared by everyone)
    "shared_buffers": "2GB", "effective_cache_size": "8GB", "work_mem": "32MB", "maintenance_work_mem": "512MB",
    "max_wal_size": "8GB", "checkpoint_timeout": "15min", "wal_compression": "on",
}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def log(msg: str) -> None:
    print(msg, flush=True)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "agtrace_mcp", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


# -- 1. corpora and local indexes ------------------------------------------------------------------------------


def prepare(work: Path, machines: int, size_mb: int, big_mb: int) -> list[dict[str, Any]]:
    out = []
    for i in range(1, machines + 1):
        m = work / f"m{i:02d}"
        home, data = m / "home", m / "data"
        if not (home / "agtrace-bench-manifest.json").exists():
            t0 = time.monotonic()
            subprocess.run([sys.executable, str(HERE / "generate.py"), str(home), "--size-mb", str(size_mb),
                            "--big-session-mb", str(big_mb), "--seed", str(1000 + i)], check=True,
                           capture_output=True)
            log(f"  m{i:02d}: generated {du(home) / MB:.0f} MB in {time.monotonic() - t0:.0f} s")
        if not (data / "index.sqlite3").exists():
            t0 = time.monotonic()
            p = cli("index", "--home", str(home), "--data-dir", str(data), "--json")
            _, err = p.communicate()
            if p.returncode:
                raise SystemExit(f"index of m{i:02d} failed: {err}")
            log(f"  m{i:02d}: indexed in {time.monotonic() - t0:.0f} s")
        manifest = json.loads((home / "agtrace-bench-manifest.json").read_text())
        out.append({"name": f"m{i:02d}", "home": home, "data": data, "log_bytes": du(home) - len(
            (home / "agtrace-bench-manifest.json").read_bytes()), "index_bytes": du(data), "manifest": manifest})
    return out


# -- 2. the database ---------------------------------------------------------------------------------------------


def database(work: Path, pg: str | None, machines: list[dict[str, Any]]) -> tuple[str, str, dict[str, str], Any]:
    """(owner URL, reader URL, pusher URL per machine, a function that stops the server we started)."""
    import psycopg
    from pgdb import with_db

    stop = None
    if pg is None:
        from pgserver import start
        from pgserver import stop as stop_server

        folder = work / "pg"
        if folder.exists():
            stop_server(folder)
            shutil.rmtree(folder)
        folder.mkdir()
        pg = start(folder, durable=True, settings=SERVER_SETTINGS)
        stop = lambda: stop_server(folder)
    with psycopg.connect(pg, autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS agtrace_team WITH (FORCE)")
        c.execute("CREATE DATABASE agtrace_team")
    owner = with_db(pg, "agtrace_team")
    from agtrace_mcp.store.postgres.connect import connect
    from agtrace_mcp.store.postgres.migrations import migrate

    conn = connect(owner, read_only=False, autocommit=True)
    migrate(conn)
    pushers = {}
    for m in machines:
        role = f"bench_{m['name']}"
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN IN ROLE agtrace_pusher")
        pushers[m["name"]] = with_db(owner, "agtrace_team", user=role)
    conn.execute("DROP ROLE IF EXISTS bench_reader")
    conn.execute("CREATE ROLE bench_reader LOGIN IN ROLE agtrace_reader")
    conn.close()
    return owner, with_db(owner, "agtrace_team", user="bench_reader"), pushers, stop


# -- 3. pushing at once ------------------------------------------------------------------------------------------


def push_all(machines: list[dict[str, Any]], pushers: dict[str, str]) -> dict[str, Any]:
    t0 = time.monotonic()
    procs = {m["name"]: (cli("push", "--to", pushers[m["name"]], "--home", str(m["home"]), "--data-dir",
                             str(m["data"]), "--machine", m["name"], "--user", f"dev{m['name'][1:]}", "--json"),
                         time.monotonic()) for m in machines}
    per: dict[str, Any] = {}
    while procs:
        for name, (p, started) in list(procs.items()):
            if p.poll() is None:
                continue
            out, err = p.communicate()
            if p.returncode:
                raise SystemExit(f"push of {name} failed: {err}")
            rep = json.loads(out.strip().splitlines()[-1])
            per[name] = {"seconds": round(time.monotonic() - started, 1), "sessions": rep["sessions_sent"],
                         "rows": rep["rows_sent"]}
            log(f"  {name}: pushed {rep['sessions_sent']} sessions, {rep['rows_sent']:,} rows in "
                f"{per[name]['seconds']} s")
            del procs[name]
        time.sleep(0.2)
    wall = time.monotonic() - t0
    logs = sum(m["log_bytes"] for m in machines)
    return {"wall_s": round(wall, 1), "log_mb": round(logs / MB), "log_mb_per_s": round(logs / MB / wall, 1),
            "rows": sum(v["rows"] for v in per.values()),
            "rows_per_s": round(sum(v["rows"] for v in per.values()) / wall),
            "slowest_machine_s": max(v["seconds"] for v in per.values()), "machines": per}


# -- 4. size ---------------------------------------------------------------------------------------------------


def sizes(owner: str, machines: list[dict[str, Any]]) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(owner, autocommit=True) as c:
        db = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        tables = {r[0]: r[1] for r in c.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid ="
            " c.relnamespace WHERE n.nspname = 'agtrace' AND c.relkind = 'r' ORDER BY 2 DESC")}
        counts = {t: c.execute(f"SELECT count(*) FROM agtrace.{t}").fetchone()[0] for t in
                  ("sessions", "turns", "steps", "tools", "docs")}
    logs = sum(m["log_bytes"] for m in machines)
    local = sum(m["index_bytes"] for m in machines)
    return {"database_mb": round(db / MB), "log_mb": round(logs / MB), "ratio_to_logs": round(db / logs, 2),
            "local_indexes_mb": round(local / MB), "tables_mb": {k: round(v / MB) for k, v in tables.items()},
            "rows": counts}


def vacuum(owner: str) -> float:
    import psycopg

    t0 = time.monotonic()
    with psycopg.connect(owner, autocommit=True) as c:
        c.execute("VACUUM ANALYZE")
    return round(time.monotonic() - t0, 1)


# -- 5. queries --------------------------------------------------------------------------------------------------


def queries(reader: str, machines: list[dict[str, Any]], n: int, seed: int) -> dict[str, Any]:
    from agtrace_mcp.api import Agtrace
    from agtrace_mcp.config import Config
    from agtrace_mcp.store.postgres import PgStore

    cfg = Config.load(env={"HOME": str(machines[0]["home"])}, data_dir=str(machines[0]["data"]))
    api = Agtrace(cfg, store=PgStore(reader, cfg))
    rng = random.Random(seed)
    names = [m["name"] for m in machines]
    common = machines[0]["manifest"].get("common_words") or ["error", "test"]
    rare = machines[0]["manifest"].get("rare_words") or ["zymurgy"]
    projects = [p.project_root for p in api.list_projects(limit=200).projects if p.project_root][:20]
    sessions = [s.session_id + "@" + s.machine for s in api.list_sessions(limit=200).sessions if s.turns]
    calls: dict[str, list[Any]] = {
        "list_sessions": [
            lambda: api.list_sessions(), lambda: api.list_sessions(project=rng.choice(projects)),
            lambda: api.list_sessions(machine=rng.choice(names)), lambda: api.list_sessions(has_failures=True),
            lambda: api.list_sessions(provider="codex", limit=50), lambda: api.list_sessions(query="test"),
            lambda: api.list_sessions(since="2026-07-01", include_subagents=True)],
        "search_history": [
            lambda: api.search_history(rng.choice(common)), lambda: api.search_history(rng.choice(rare)),
            lambda: api.search_history(rng.choice(common) + " " + rng.choice(common)),
            lambda: api.search_history(rng.choice(common)[:4] + "*"),
            lambda: api.search_history(rng.choice(common), kind="tool_output"),
            lambda: api.search_history(rng.choice(common), project=rng.choice(projects)),
            lambda: api.search_history(rng.choice(common), kind="prompt"),
            lambda: api.search_history(rng.choice(rare), machine=rng.choice(names))],
        "find_failed_tools": [
            lambda: api.find_failed_tools(), lambda: api.find_failed_tools(kind="exit_code"),
            lambda: api.find_failed_tools(machine=rng.choice(names)),
            lambda: api.find_failed_tools(project=rng.choice(projects)),
            lambda: api.find_failed_tools(tool="Bash"), lambda: api.find_failed_tools(since="2026-07-20")],
        "get_turn": [lambda: api.get_turn(rng.choice(sessions), -1)],
        "get_usage": [lambda: api.get_usage(rng.choice(sessions))],
    }
    out: dict[str, Any] = {}
    for name, variants in calls.items():
        for v in variants:  # warm: the first call of each opens connections, plans, and reads pages once
            v()
        times, by_variant = [], [[] for _ in variants]
        for _ in range(n):
            k = rng.randrange(len(variants))
            t0 = time.perf_counter()
            variants[k]()
            times.append((time.perf_counter() - t0) * 1000)
            by_variant[k].append(times[-1])
        out[name] = {"calls": n, "p50_ms": round(statistics.median(times), 1), "p95_ms": round(pct(times, 95), 1),
                     "max_ms": round(max(times), 1),
                     "max_ms_by_variant": [round(max(v), 1) if v else None for v in by_variant]}
        log(f"  {name}: p50 {out[name]['p50_ms']} ms, p95 {out[name]['p95_ms']} ms")
    api.close()
    return out


# -- 6. incremental push ---------------------------------------------------------------------------------------


def incremental(machine: dict[str, Any], pusher: str) -> dict[str, Any]:
    """One prompt appended to the machine's big session; the push that sends it."""
    big = machine["manifest"].get("big_session") or {}
    path = Path(big["path"]) if big.get("path") else None
    if path is None or not path.exists():
        return {}
    size, st = path.stat().st_size, path.stat()
    line = json.dumps({"parentUuid": None, "isSidechain": False, "type": "user", "sessionId": big.get("session_id"),
                       "uuid": "bench-append", "timestamp": "2026-07-31T00:00:00.000Z", "cwd": "/bench",
                       "version": "2.1.90", "message": {"role": "user", "content": "one more prompt"}}) + "\n"
    with open(path, "a") as f:
        f.write(line)
    try:
        t0 = time.monotonic()
        p = cli("push", "--to", pusher, "--home", str(machine["home"]), "--data-dir", str(machine["data"]),
                "--machine", machine["name"], "--user", f"dev{machine['name'][1:]}", "--json")
        out, err = p.communicate()
        took = time.monotonic() - t0
        rep = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"error": err}
    finally:
        with open(path, "r+b") as f:
            f.truncate(size)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return {"big_session_mb": round(size / MB), "push_s": round(took, 2), "push_in_process_s": rep.get("seconds"),
            "sessions_sent": rep.get("sessions_sent"), "turns_sent": rep.get("turns_sent")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/agtrace-team"))
    ap.add_argument("--machines", type=int, default=20)
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--big-session-mb", type=int, default=40)
    ap.add_argument("--queries", type=int, default=100, help="calls per tool")
    ap.add_argument("--pg", help="admin URL of a running server (default: start one in WORK/pg)")
    ap.add_argument("--keep-server", action="store_true", help="leave the server running (WORK/pg)")
    ap.add_argument("--quick", action="store_true", help="3 machines × 15 MB")
    a = ap.parse_args()
    if a.quick:
        a.machines, a.size_mb, a.big_session_mb, a.queries = 3, 15, 4, 30
    a.work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machines": a.machines, "size_mb_each": a.size_mb, "cpus": os.cpu_count()}
    log(f"== {a.machines} machines × {a.size_mb} MB: corpora and local indexes")
    machines = prepare(a.work, a.machines, a.size_mb, a.big_session_mb)
    log("== the database")
    owner, reader, pushers, stop = database(a.work, a.pg, machines)
    try:
        log("== pushing every machine at once")
        report["push"] = push_all(machines, pushers)
        log(f"  {report['push']['log_mb']} MB of logs in {report['push']['wall_s']} s: "
            f"{report['push']['log_mb_per_s']} MB/s, {report['push']['rows_per_s']:,} rows/s")
        report["size"] = sizes(owner, machines)
        log(f"  database {report['size']['database_mb']} MB for {report['size']['log_mb']} MB of logs "
            f"({report['size']['ratio_to_logs']}×)")
        report["vacuum_analyze_s"] = vacuum(owner)
        report["size_after_vacuum"] = sizes(owner, machines)
        log("== queries over the whole team (reading role)")
        report["queries"] = queries(reader, machines, a.queries, seed=15)
        report["queries_target_p95_ms"] = TARGET_P95_MS
        log("== incremental push (one prompt appended to the big session)")
        report["incremental"] = incremental(machines[0], pushers[machines[0]["name"]])
        log(f"  {report['incremental']}")
    finally:
        if stop is not None and not a.keep_server:
            stop()
    out = a.work / "team-report.json"
    out.write_text(json.dumps(report, indent=2))
    log(f"== report: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
