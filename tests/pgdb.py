"""Team databases for the tests: fresh databases on the test server, APIs over them, and their rows.

    dbs = Databases(admin_url); url = dbs.make()             # an empty database
    api = team_api(cfg, url, machine="box-1", user="dev")      # cfg's logs indexed, pushed, answered from url
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.store.postgres import PgStore
from agtrace_mcp.store.postgres.push import PushReport, run_push

MACHINE, USER = "ci-box", "dev"


def with_db(url: str, dbname: str, **params: Any) -> str:
    """`url` pointing at another database (and user, password…)."""
    d = conninfo_to_dict(url)
    d.update(dbname=dbname, **params)
    return "postgresql://" + _uri(d)


def _uri(d: dict[str, Any]) -> str:
    user = d.get("user", "")
    pw = f":{d['password']}" if d.get("password") else ""
    host = d.get("host", "127.0.0.1")
    port = f":{d['port']}" if d.get("port") else ""
    return f"{user}{pw}@{host}{port}/{d['dbname']}"


class Databases:
    """Databases made on the test server for one test session, dropped at its end."""

    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.made: list[str] = []

    def make(self) -> str:
        name = "agt_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin, autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        self.made.append(name)
        return with_db(self.admin, name)

    def drop_all(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as c:
            for name in self.made:
                c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def login_role(admin_db_url: str, group: str) -> str:
    """A new login role in `group` (agtrace_reader or agtrace_pusher); returns the database URL as that role
    (the test server trusts loopback: the role's privileges are what is tested, not its password)."""
    name = f"{group.split('_')[1]}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_db_url, autocommit=True) as c:
        c.execute(f"CREATE ROLE {name} LOGIN IN ROLE {group}")
    return with_db(admin_db_url, conninfo_to_dict(admin_db_url)["dbname"], user=name)


def push(cfg: Config, url: str, machine: str = MACHINE, user: str = USER) -> PushReport:
    return run_push(cfg, url, machine=machine, user=user)


def team_api(cfg: Config, url: str, machine: str = MACHINE, user: str = USER) -> Agtrace:
    """The API answering from the team database at `url`, after cfg's logs were indexed and pushed."""
    push(cfg, url, machine, user)
    return Agtrace(cfg, store=PgStore(url, cfg))


def rows(url: str, exclude: tuple[str, ...] = ("pushed_at", "first_push", "last_push")) -> dict[str, list[Any]]:
    """Every row of every agtrace table, in a canonical order, keyed by session id and machine name instead
    of the database's own numbers (skey, mid, doc ids): two databases holding the same history compare
    equal."""
    out: dict[str, list[Any]] = {}
    with psycopg.connect(url) as c:
        c.execute("SET search_path = agtrace")
        names = {r[0]: (r[1], r[2]) for r in c.execute("SELECT skey, id, machine FROM sessions")}
        machines = {r[0]: r[1] for r in c.execute("SELECT id, name FROM machines")}
        for table in ("machines", "sessions", "turns", "steps", "tools", "compactions", "docs", "secrets", "files"):
            cur = c.execute(f"SELECT * FROM {table}")
            cols = [d.name for d in cur.description]
            got = []
            for r in cur.fetchall():
                d = dict(zip(cols, r))
                for k in exclude:
                    d.pop(k, None)
                if table == "machines":
                    d.pop("id")
                if "skey" in d:
                    d["skey"] = names[d["skey"]]
                if "mid" in d:
                    d["mid"] = machines[d["mid"]]
                if table == "docs":
                    d.pop("id")
                    d["tsv"] = str(d["tsv"])
                got.append(tuple(sorted((k, repr(v)) for k, v in d.items())))
            out[table] = sorted(got)
    return out


def _origin_key(k: str, v: Any) -> bool:
    # `user` is also a turn's prompt (an object): only the text values say who ran a session
    return (k in ("machine", "user") and (v is None or isinstance(v, str))) or (k == "machines" and isinstance(v, list))


def strip_origin(data: Any) -> Any:
    """An answer without what only a team database says (where each session ran)."""
    if isinstance(data, dict):
        return {k: strip_origin(v) for k, v in data.items() if not _origin_key(k, v)}
    if isinstance(data, list):
        return [strip_origin(v) for v in data]
    return data


def origins(data: Any) -> set[tuple[str | None, str | None]]:
    """Every (machine, user) an answer names."""
    found: set[tuple[str | None, str | None]] = set()
    if isinstance(data, dict):
        if any(_origin_key(k, v) for k, v in data.items() if k != "machines"):
            found.add((data.get("machine"), data.get("user") if isinstance(data.get("user"), str) else None))
        for v in data.values():
            found |= origins(v)
    elif isinstance(data, list):
        for v in data:
            found |= origins(v)
    return found


def copy_home(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst
