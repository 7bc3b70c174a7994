"""A team's history in one PostgreSQL database: `push` from every machine, the same tools over all of it.

Against a real server (tests/conftest.py `pg_admin`): what a push sends (only what changed, idempotent,
resumable after a kill at any moment), machines kept apart, nothing secret in the database, the roles, the
CLI's one-line errors, and `push --watch`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed (pip install 'agtrace-mcp[postgres]')")

import psycopg
from indexcheck import config_over
from pgdb import login_role, push, rows

from agtrace_mcp.api import Agtrace
from agtrace_mcp.errors import AmbiguousIdError, NotFoundError, StoreError
from agtrace_mcp.store.postgres import PgStore

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
MAIN_ID = "11111111-1111-4111-8111-111111111111"
MAIN_LOG = ".claude/projects/-home-dev-webapp/11111111-1111-4111-8111-111111111111.jsonl"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    shutil.copytree(FIXTURES, h)
    return h


def append_turn(log: Path, sid: str, n: int, text: str, cwd: str = "/home/dev/webapp") -> None:
    """A new prompt and its answer at the end of a Claude log (an agent at work)."""
    ts = f"2026-05-06T10:{n % 60:02d}:00.000Z"
    with open(log, "a") as f:
        f.write(json.dumps({"parentUuid": None, "isSidechain": False, "type": "user", "sessionId": sid,
                            "uuid": f"u-new-{n}", "timestamp": ts, "cwd": cwd, "version": "2.1.40",
                            "message": {"role": "user", "content": text}}) + "\n")
        f.write(json.dumps({"parentUuid": None, "isSidechain": False, "type": "assistant", "sessionId": sid,
                            "uuid": f"a-new-{n}", "timestamp": ts.replace(":00.000Z", ":02.000Z"), "cwd": cwd,
                            "version": "2.1.40",
                            "message": {"id": f"msg_new_{n}", "model": "claude-sonnet-4-5", "role": "assistant",
                                        "content": [{"type": "text", "text": f"done: {text}"}],
                                        "usage": {"input_tokens": 3, "cache_read_input_tokens": 100,
                                                  "cache_creation_input_tokens": 0, "output_tokens": 7}}}) + "\n")


# -- what a push sends -----------------------------------------------------------------------------


def test_pushing_twice_changes_nothing(home: Path, tmp_path: Path, pg_url: str):
    cfg = config_over(home, tmp_path / "d")
    first = push(cfg, pg_url)
    assert first.sessions_sent == first.sessions > 30
    before = rows(pg_url)
    again = push(cfg, pg_url)
    assert (again.sessions_sent, again.turns_sent, again.rows_sent) == (0, 0, 0)
    assert rows(pg_url) == before


def test_a_push_sends_only_the_turns_that_changed(home: Path, tmp_path: Path, pg_url: str):
    cfg = config_over(home, tmp_path / "d")
    push(cfg, pg_url)
    append_turn(home / MAIN_LOG, MAIN_ID, 1, "now rename the helper")
    rep = push(cfg, pg_url)
    # the new turn, and the one before it, which the new prompt ended (the oldest turn is not sent again)
    assert rep.sessions_sent == 1 and rep.turns_sent == 2
    team = Agtrace(cfg, store=PgStore(pg_url, cfg))
    local = Agtrace(cfg)
    assert team.get_turn(MAIN_ID, -1).user.text == "now rename the helper"
    for turn in range(3):
        a, b = local.get_turn(MAIN_ID, turn).model_dump(), team.get_turn(MAIN_ID, turn).model_dump()
        assert a == b
    assert local.get_session(MAIN_ID).model_dump() == \
        {**team.get_session(MAIN_ID).model_dump(), "session": local.get_session(MAIN_ID).model_dump()["session"]}
    team.close()
    local.close()


def test_a_rebuilt_local_index_is_pushed_whole_without_duplicates(home: Path, tmp_path: Path, pg_url: str):
    push(config_over(home, tmp_path / "d1"), pg_url)
    when = ("pushed_at", "first_push", "last_push", "rev", "index_id", "indexed_at")  # of pushing, not history
    before = rows(pg_url, exclude=when)
    # the same machine's index built again from scratch (new data dir): revisions start over
    rep = push(config_over(home, tmp_path / "d2"), pg_url)
    assert rep.sessions_sent == rep.sessions
    assert rows(pg_url, exclude=when) == before


_KILLABLE = """
import sys, time
from agtrace_mcp.config import Config
from agtrace_mcp.store.postgres import push as p
# many small transactions and writes, a little slower than life: kills land between and inside them
p.TX_SESSIONS, p.FLUSH_ROWS, p.TURN_CHUNK = 1, 20, 3
flush, send = p._Writer.flush, p.Pusher._send_session
p._Writer.flush = lambda self: (time.sleep(0.01), flush(self))[1]
p.Pusher._send_session = lambda self, sid, w: (time.sleep(0.02), send(self, sid, w))[1]
cfg = Config.load(env={"HOME": sys.argv[1]}, data_dir=sys.argv[2])
cfg.live_seconds = 0
print("go", flush=True)
r = p.run_push(cfg, sys.argv[3], machine="killed", user="dev")
print(r.sessions_sent)
"""


def test_a_push_killed_at_random_moments_and_resumed_gives_the_same_rows(tmp_path: Path, pg_databases):
    home = tmp_path / "home"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), str(home), "--size-mb", "6",
                    "--big-session-mb", "2", "--seed", "11"], check=True, capture_output=True)
    data = tmp_path / "data"
    Agtrace(config_over(home, data)).refresh()  # indexed once: the kills land in the push
    clean, killed = pg_databases.make(), pg_databases.make()

    def run(url: str) -> tuple[subprocess.Popen[str], float]:
        p = subprocess.Popen([sys.executable, "-c", _KILLABLE, str(home), str(data), url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.stdout is not None and p.stdout.readline() == "go\n"
        return p, time.monotonic()

    ref, t0 = run(clean)
    err = ref.communicate(timeout=300)[1]
    assert ref.returncode == 0, err
    assert time.monotonic() - t0 > 2, "a whole push must take long enough to be killed in several places"
    rng = random.Random(1509)
    kills, partial = 0, set()
    with psycopg.connect(pg_databases.admin, autocommit=True) as watch:
        for _ in range(40):
            p, _ = run(killed)
            # once the push has a transaction open in the database, at a random moment of it or of the next ones
            deadline = time.monotonic() + 60
            while p.poll() is None and time.monotonic() < deadline and not watch.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = 'agtrace-mcp push'"
                    " AND xact_start IS NOT NULL AND datname = %s", [killed.rsplit("/", 1)[1]]).fetchone():
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.25))
            if p.poll() is not None:
                err = p.communicate()[1]
                assert p.returncode == 0, err
                break
            p.send_signal(signal.SIGKILL)  # no cleanup: an open transaction, a half-written COPY
            p.communicate()
            kills += 1
            with psycopg.connect(killed) as c:
                partial.add(c.execute("SELECT count(*) FROM agtrace.turns").fetchone()[0])
    final, _ = run(killed)
    err = final.communicate(timeout=300)[1]
    assert final.returncode == 0, err
    assert kills >= 3 and len(partial) >= 3, f"the kills must land mid-push ({kills} kills, {sorted(partial)})"
    assert rows(killed) == rows(clean)


def test_two_machines_pushing_the_same_session_id_are_kept_apart(home: Path, tmp_path: Path, pg_url: str):
    push(config_over(home, tmp_path / "a"), pg_url, machine="laptop-ana", user="ana")
    # the same log copied to another machine, where the session went on
    other = tmp_path / "other-home"
    (other / Path(MAIN_LOG).parent).mkdir(parents=True)
    shutil.copy(home / MAIN_LOG, other / MAIN_LOG)
    append_turn(other / MAIN_LOG, MAIN_ID, 7, "continued on the build box")
    push(config_over(other, tmp_path / "b"), pg_url, machine="build-box", user="ci")

    cfg = config_over(home, tmp_path / "reader")
    team = Agtrace(cfg, store=PgStore(pg_url, cfg))
    both = [s for s in team.list_sessions(limit=200).sessions if s.session_id == MAIN_ID]
    assert {(s.machine, s.user, s.turns) for s in both} == {("laptop-ana", "ana", 2), ("build-box", "ci", 3)}
    with pytest.raises(AmbiguousIdError) as e:
        team.get_session(MAIN_ID)
    assert f"{MAIN_ID}@build-box" in str(e.value) and f"{MAIN_ID}@laptop-ana" in str(e.value)
    assert "ID@MACHINE" in str(e.value)
    assert team.get_session(f"{MAIN_ID}@build-box").turns_total == 3
    assert team.get_turn(f"{MAIN_ID}@laptop-ana", -1).index == 1
    assert team.get_turn(f"{MAIN_ID}@build-box", -1).user.text == "continued on the build box"
    assert {f.machine for f in team.find_failed_tools(tool="Bash", limit=200).failures
            if f.session_id == MAIN_ID} == {"laptop-ana", "build-box"}
    assert {h.machine for h in team.search_history("pytest", limit=200).hits if h.session_id == MAIN_ID} == \
        {"laptop-ana", "build-box"}
    assert [s.machine for s in team.list_sessions(machine="build-box", limit=200).sessions] == ["build-box"]
    assert all(s.user == "ana" for s in team.list_sessions(user="ana", limit=200).sessions)
    assert team.get_usage(machine="build-box").sessions_total == 1
    assert {p.project_root: p.machines for p in team.list_projects().projects}["/home/dev/webapp"] == \
        ["build-box", "laptop-ana"]
    assert team.short_ids([MAIN_ID])[MAIN_ID] == MAIN_ID[:8]
    team.close()
    # and at a terminal: both listed, each with its machine
    r = cli("sessions", "--store", pg_url, "--home", str(tmp_path), "--in", "/home/dev/webapp")
    assert r.returncode == 0, r.stderr
    assert [line.split()[3] for line in r.stdout.splitlines() if line.startswith("11111111")] == \
        ["build-box", "laptop-ana"]


# -- nothing secret leaves the machine ------------------------------------------------------------

PLANTED = {
    "openai_key": "sk-proj-Zq8vN3kL0pW7xR2tY5uJ9aB4cD6eF1gH",
    "github_token": "ghp_4fTq9ZLm2Xc8VbN1kRp7Ws3Yd6Hj0Ga5Ue2I",
    "aws_access_key": "AKIAZ7QW3ER5TY8UI2OP",
    "password": "Tr0ub4dor-and-3-horses",
}


def _leaky_home(home: Path) -> None:
    sid = "5ec2e7aa-0000-4000-8000-00000000beef"
    d = home / ".claude/projects/-home-dev-infra"
    d.mkdir(parents=True, exist_ok=True)
    k, g, a, pw = PLANTED["openai_key"], PLANTED["github_token"], PLANTED["aws_access_key"], PLANTED["password"]
    recs = [
        {"type": "user", "message": {"role": "user", "content": f"deploy with OPENAI_API_KEY={k} please"}},
        {"type": "assistant", "message": {"id": "m1", "model": "claude-sonnet-4-5", "role": "assistant", "content": [
            {"type": "thinking", "thinking": f"the token {g} is in the env"},
            {"type": "text", "text": f"Using postgres://admin:{pw}@db.internal/prod"},
            {"type": "tool_use", "id": "toolu_env", "name": "Bash",
             "input": {"command": f"AWS_ACCESS_KEY_ID={a} GITHUB_TOKEN={g} ./deploy.sh"}}],
            "usage": {"input_tokens": 1, "output_tokens": 1}}},
        {"type": "user", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_env", "is_error": True,
             "content": f"error: bad credentials {k}\nPASSWORD={pw}\naws {a}"}]}},
    ]
    with open(d / f"{sid}.jsonl", "w") as f:
        for i, r in enumerate(recs):
            r.update(parentUuid=None, isSidechain=False, sessionId=sid, uuid=f"x{i}", cwd="/home/dev/infra",
                     timestamp=f"2026-04-01T10:00:0{i}.000Z", version="2.1.40", gitBranch=f"fix/{a}")
            f.write(json.dumps(r) + "\n")


def _pg_dump(url: str) -> str:
    from pgserver import bindir

    try:
        exe = str(bindir() / "pg_dump")
    except Exception:
        exe = shutil.which("pg_dump") or "pg_dump"
    return subprocess.run([exe, "--data-only", url], check=True, capture_output=True, text=True).stdout


def test_a_planted_secret_is_absent_from_pg_dump_after_a_push(home: Path, tmp_path: Path, pg_url: str):
    _leaky_home(home)
    cfg = config_over(home, tmp_path / "d")
    push(cfg, pg_url)
    dump = _pg_dump(pg_url)
    assert "5ec2e7aa-0000-4000-8000-00000000beef" in dump, "the leaky session was pushed"
    assert "[REDACTED:" in dump
    for secret in PLANTED.values():
        assert secret not in dump
        assert secret[4:16] not in dump  # nor a piece of one (in a search token, say)
    # nor can a search find one: the search text is the masked text
    team = Agtrace(cfg, store=PgStore(pg_url, cfg))
    for secret in PLANTED.values():
        assert not team.search_history(secret).hits
        assert not team.search_history(secret[:8] + "*").hits
    # where they were is still known, by fingerprint
    types = {f.type for f in team.secret_findings().findings}
    assert {"openai_key", "github_token", "aws_access_key"} <= types
    team.close()


# -- roles ---------------------------------------------------------------------------------------


def test_serve_needs_only_a_read_only_role(home: Path, tmp_path: Path, pg_url: str):
    cfg = config_over(home, tmp_path / "d")
    push(cfg, pg_url)
    reader = login_role(pg_url, "agtrace_reader")
    team = Agtrace(cfg, store=PgStore(reader, cfg))
    assert team.list_sessions().total > 30 and team.search_history("pytest").hits
    assert team.get_turn(MAIN_ID, 0).steps
    team.close()
    with psycopg.connect(reader) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute("DELETE FROM agtrace.sessions")
    with pytest.raises(StoreError, match="permission denied"):
        push(cfg, reader)


def test_a_pushing_role_writes_its_own_machines_rows_only(home: Path, tmp_path: Path, pg_url: str):
    push(config_over(home, tmp_path / "owner"), pg_url, machine="setup")  # the owner creates the schema
    with psycopg.connect(pg_url, autocommit=True) as c:  # as README "Team history" says
        db = c.info.dbname
        c.execute(f"REVOKE CONNECT ON DATABASE {db} FROM PUBLIC")
        c.execute(f"GRANT CONNECT ON DATABASE {db} TO agtrace_reader, agtrace_pusher")
    ana = login_role(pg_url, "agtrace_pusher")
    bob = login_role(pg_url, "agtrace_pusher")
    push(config_over(home, tmp_path / "a"), ana, machine="ana-laptop")
    push(config_over(home, tmp_path / "b"), bob, machine="bob-laptop")
    with pytest.raises(StoreError, match="is pushed by role"):
        push(config_over(home, tmp_path / "b2"), bob, machine="ana-laptop")
    with psycopg.connect(bob) as c:
        c.execute("SET search_path = agtrace")
        # bob sees, changes and deletes his own machine's rows only
        assert {r[0] for r in c.execute("SELECT DISTINCT machine FROM sessions")} == {"bob-laptop"}
        assert c.execute("DELETE FROM tools WHERE mid <> (SELECT id FROM machines WHERE name = 'bob-laptop')"
                         ).rowcount == 0
        assert c.execute("UPDATE sessions SET title = 'x' WHERE machine = 'ana-laptop'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("INSERT INTO turns (skey, mid, idx) SELECT 1, id, 999 FROM machines WHERE name = 'ana-laptop'")
    with psycopg.connect(pg_url) as c:
        per_machine = dict(c.execute("SELECT machine, count(*) FROM agtrace.sessions GROUP BY machine").fetchall())
    assert per_machine["ana-laptop"] == per_machine["bob-laptop"] == per_machine["setup"]


def test_a_pushing_role_cannot_create_the_schema(home: Path, tmp_path: Path, pg_databases):
    url = pg_databases.make()
    push(config_over(home, tmp_path / "x"), pg_databases.make())  # the group roles exist on the server
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("REVOKE CREATE ON DATABASE " + c.info.dbname + " FROM PUBLIC")
        c.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    ana = login_role(url, "agtrace_pusher")
    with pytest.raises(StoreError, match="database owner"):
        push(config_over(home, tmp_path / "a"), ana, machine="ana-laptop")


# -- scope -----------------------------------------------------------------------------------------


def test_project_scope_applies_in_sql_and_to_what_is_pushed(home: Path, tmp_path: Path, pg_url: str):
    cfg = config_over(home, tmp_path / "d", projects=["/home/dev/webapp"])
    rep = push(cfg, pg_url)
    assert 0 < rep.sessions_sent < rep.sessions + 1
    with psycopg.connect(pg_url) as c:
        roots = {r[0] for r in c.execute("SELECT DISTINCT project_root FROM agtrace.sessions")}
    assert roots == {"/home/dev/webapp"}
    everything = config_over(home, tmp_path / "all")
    push(everything, pg_url, machine="everything")
    scoped = Agtrace(cfg, store=PgStore(pg_url, cfg))
    assert {s.project_root for s in scoped.list_sessions(limit=200).sessions} == {"/home/dev/webapp"}
    outside = next(s.session_id for s in Agtrace(everything).list_sessions(limit=200).sessions
                   if s.project_root != "/home/dev/webapp")
    with pytest.raises(NotFoundError):
        scoped.get_session(outside)
    assert all(h.project_root == "/home/dev/webapp" for h in scoped.search_history("the", limit=200).hits)
    scoped.close()


# -- the command line ------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agtrace_mcp", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("url,says", [
    ("mysql://x@h/db", "is not a PostgreSQL URL"),
    ("postgresql://x@[::1", "is not a valid PostgreSQL URL"),
    ("postgresql://nobody@127.0.0.1:1/team", "Connection refused; check the host and port"),
])
def test_a_bad_store_url_or_a_server_that_does_not_answer_is_one_line(tmp_path: Path, url: str, says: str):
    r = cli("sessions", "--store", url, "--home", str(tmp_path))
    assert r.returncode in (1, 2) and r.stdout == ""
    assert r.stderr.count("\n") == 1 and says in r.stderr, r.stderr


def test_a_missing_database_or_schema_is_one_line_that_says_what_to_do(tmp_path: Path, pg_url: str):
    missing = pg_url.rsplit("/", 1)[0] + "/no_such_db"
    r = cli("sessions", "--store", missing, "--home", str(tmp_path))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "createdb" in r.stderr
    r = cli("sessions", "--store", pg_url, "--home", str(tmp_path))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "agtrace-mcp push --to URL" in r.stderr


def test_every_command_answers_from_the_store(home: Path, tmp_path: Path, pg_url: str):
    r = cli("push", "--to", pg_url, "--home", str(home), "--data-dir", str(tmp_path / "d"), "--machine", "box-1",
            "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sessions_sent"] > 30
    elsewhere = ["--home", str(tmp_path), "--data-dir", str(tmp_path / "nothing-here"), "--store", pg_url]
    for args in (["sessions"], ["sessions", "--machine", "box-1"], ["failures"], ["failures", "--group-by", "tool"],
                 ["search", "pytest"], ["projects"], ["usage"], ["usage", MAIN_ID], ["show", MAIN_ID],
                 ["analyze", MAIN_ID], ["output", MAIN_ID, "toolu_pytest"], ["secrets"], ["doctor"]):
        r = cli(*args, *elsewhere)
        assert r.returncode == 0, (args, r.stderr)
        assert r.stdout.strip(), args
    assert "box-1" in cli("sessions", *elsewhere).stdout
    assert not (tmp_path / "nothing-here").exists(), "answering from a team database writes no local index"
    # and from AGTRACE_MCP_STORE
    r = cli("sessions", "--json", "--home", str(tmp_path), env={"AGTRACE_MCP_STORE": pg_url})
    assert json.loads(r.stdout)["sessions"][0]["machine"] == "box-1"
    r = cli("index", "--store", pg_url, "--home", str(home))
    assert r.returncode == 2 and "push" in r.stderr


def test_push_watch_keeps_pushing_as_the_log_grows(home: Path, tmp_path: Path, pg_url: str):
    p = subprocess.Popen([sys.executable, "-m", "agtrace_mcp", "push", "--to", pg_url, "--home", str(home),
                          "--data-dir", str(tmp_path / "d"), "--watch", "--interval", "0.3", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(p.stdout.readline())
        assert first["sessions_sent"] > 30 and not first["errors"]
        append_turn(home / MAIN_LOG, MAIN_ID, 3, "one more thing while you watch")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rep = json.loads(p.stdout.readline())
            if rep["sessions_sent"]:
                break
        assert (rep["sessions_sent"], rep["turns_sent"]) == (1, 2)  # the new turn, and the one it ended
        with psycopg.connect(pg_url) as c:
            texts = [r[0] for r in c.execute("SELECT t.text FROM agtrace.turns t JOIN agtrace.sessions s"
                                             " ON s.skey = t.skey WHERE s.id = %s ORDER BY t.idx", [MAIN_ID])]
        assert texts[-1] == "one more thing while you watch"
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # stuck: its threads' stacks (SIGUSR1), then fail with them
            p.send_signal(signal.SIGUSR1)
            time.sleep(1)
            p.kill()
            _, err = p.communicate()
            pytest.fail(f"push --watch did not stop on Ctrl-C:\n{err[-4000:]}")
    assert p.returncode in (0, 130)


def test_no_planted_secret_of_any_format_reaches_the_database_or_its_answers(tmp_path: Path, pg_url: str):
    """The leak suite of issue 16 (every documented format, and the evasions, planted in every field of every
    agent's logs) pushed: none of them, nor 8 characters of one, is in `pg_dump`, and none comes back through
    the API answering from the team database."""
    from leakcheck import Collector, api_answers, by_kind, leaks, planted_home, summarise

    home, plant = planted_home(tmp_path)
    cfg = config_over(home, tmp_path / "data")
    rep = push(cfg, pg_url)
    assert rep.sessions_sent > 10
    dump = _pg_dump(pg_url)
    assert dump.count("[REDACTED:") > 1000  # the planted text was pushed, masked
    found = leaks(plant, [("pg_dump", dump)])
    assert not found, f"{len(found)} secrets in the database {by_kind(plant, found)}:\n{summarise(plant, found)[:3000]}"
    cfg.refresh_interval = 3600
    team = Agtrace(cfg, store=PgStore(pg_url, cfg))
    col = Collector()
    api_answers(team, col)
    found = leaks(plant, col.answers)
    assert not found, f"{len(found)} secrets leaked {by_kind(plant, found)}:\n{summarise(plant, found)[:3000]}"
    team.close()


def test_an_older_team_schema_is_refused_by_a_reader_and_brought_up_to_date_by_the_owners_push(
        home: Path, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch):
    from agtrace_mcp.store.postgres import migrations
    from agtrace_mcp.store.postgres.connect import connect

    # the database as the first migration left it (before turn states and typed-mid-turn messages)
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
        conn = connect(pg_url, read_only=False, autocommit=True)
        migrations.migrate(conn)
        conn.close()
    cfg = config_over(home, tmp_path / "d")
    reader = Agtrace(cfg, store=PgStore(pg_url, cfg))
    with pytest.raises(StoreError, match="older agtrace schema"):
        reader.list_sessions()
    reader.close()
    push(cfg, pg_url)  # as the owner: the missing migrations run first
    with psycopg.connect(pg_url) as c:
        ran = [r[0] for r in c.execute("SELECT name FROM agtrace.migrations ORDER BY applied_at, name")]
    assert ran == [fn.__name__ for fn in migrations.MIGRATIONS]
    team = Agtrace(cfg, store=PgStore(pg_url, cfg))
    assert team.get_turn(MAIN_ID, 1).status == "completed"
    team.close()
