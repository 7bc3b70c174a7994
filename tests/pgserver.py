"""A throwaway PostgreSQL server for the tests and for CI: `initdb` into a folder, `pg_ctl start` on a free
loopback port, `pg_ctl stop` at the end.

    python tests/pgserver.py start DIR   # prints the admin URL (postgresql://postgres@127.0.0.1:PORT/postgres)
    python tests/pgserver.py stop DIR

`initdb` refuses to run as root, so as root the server runs as the `postgres` user (the folder is handed to
it). Authentication is `trust` on loopback only: the roles the tests create still get exactly the privileges
they are granted, which is what the tests check.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


class NoPostgres(RuntimeError):
    """No PostgreSQL server programs on this machine."""


def bindir() -> Path:
    """The folder of `initdb` and `pg_ctl` (pg_config, then PATH, then Debian's layout)."""
    env = os.environ.get("AGTRACE_MCP_PG_BINDIR")  # when set, the only place looked at
    cands = [env] if env else []
    if not env and shutil.which("pg_config"):
        try:
            cands.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                        check=True).stdout.strip())
        except (OSError, subprocess.CalledProcessError):
            pass
    if not env and shutil.which("initdb"):
        cands.append(str(Path(shutil.which("initdb")).parent))  # type: ignore[arg-type]
    if not env:
        cands += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in cands:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    raise NoPostgres("no PostgreSQL server programs (initdb, pg_ctl) found; install PostgreSQL (Debian: "
                     "apt-get install postgresql) or set AGTRACE_MCP_TEST_PG to a server's admin URL")


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd] if shutil.which("runuser") else \
        ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{c}'" for c in cmd)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(folder: Path, *, durable: bool = False, settings: dict[str, str] | None = None) -> str:
    """Create and start a server whose files live in `folder`; returns its admin URL. Not `durable` (the
    tests): no fsync, which a throwaway server does not need. `settings`: more `-c name=value`."""
    b = bindir()
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chmod(folder, 0o755)
        os.chown(folder, pw.pw_uid, pw.pw_gid)
    data, sock, logf = folder / "data", folder / "sock", folder / "server.log"
    subprocess.run(_as_server_user([str(b / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                    "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
    subprocess.run(_as_server_user(["mkdir", "-p", str(sock)]), check=True)
    port = _free_port()
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    for k, v in (settings or {}).items():
        opts += f" -c {k}={v}"
    subprocess.run(_as_server_user([str(b / "pg_ctl"), "-D", str(data), "-l", str(logf), "-o", opts, "-w",
                                    "-t", "60", "start"]), check=True, capture_output=True)
    (folder / "url").write_text(f"postgresql://postgres@127.0.0.1:{port}/postgres")
    return (folder / "url").read_text()


def stop(folder: Path) -> None:
    """Stop the server started in `folder` (nothing when there is none)."""
    data = folder / "data"
    if not (data / "postmaster.pid").exists():
        return
    try:
        b = bindir()
    except NoPostgres:
        return
    subprocess.run(_as_server_user([str(b / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                   capture_output=True)
    for _ in range(50):
        if not (data / "postmaster.pid").exists():
            return
        time.sleep(0.1)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    where = Path(sys.argv[2]).absolute()
    if sys.argv[1] == "start":
        print(start(where))
    else:
        stop(where)
