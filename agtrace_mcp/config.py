"""Where logs live, where the index lives, and the output budgets.

MCP clients start the server with little more than HOME and PATH, so every default works from HOME alone.
Each agent's log root can be moved by the agent's own variable (`CLAUDE_CONFIG_DIR`, `CODEX_HOME`,
`COPILOT_HOME`), by an `AGTRACE_MCP_<AGENT>_DIR` variable, or by a CLI flag (which sets that variable); the
provider of each agent names them (`root_env`, `root_var`, `root_flag`).

A Config is built from an explicit environment mapping (`Config.load(env)`), never by editing `os.environ`:
`Config.load()` alone reads a copy of the process environment.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .paths import normalize_root
from .providers import REGISTRY

DEFAULT_BUDGET_TOKENS = 20_000
CHARS_PER_TOKEN = 3.0  # conservative for JSON with code and ids: budgets are enforced in characters


@dataclass
class Config:
    home: Path
    env: dict[str, str]
    data_dir: Path
    roots: dict[str, list[Path]]
    budget_tokens: int = DEFAULT_BUDGET_TOKENS
    refresh_interval: float = 2.0
    redact: bool = True
    projects: list[str] = field(default_factory=list)  # scope: only sessions under these roots
    live_seconds: int = 300  # a log written to this recently may still be growing (calls in progress)
    # How long an answer that needs the whole index waits for it to be built; None: as long as it takes (the
    # CLI). Below the clients' own tool time-outs (Codex gives up after 60 s).
    wait_seconds: float | None = 40.0
    # Where this history comes from, as a team database records it (`push`): this machine's name and the
    # user's login name, unless AGTRACE_MCP_MACHINE / AGTRACE_MCP_USER say otherwise.
    machine: str = ""
    user: str = ""
    # A team database to answer from instead of the local index (`--store`, AGTRACE_MCP_STORE).
    store_url: str | None = None

    @property
    def budget_chars(self) -> int:
        return int(self.budget_tokens * CHARS_PER_TOKEN)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "index.sqlite3"

    @classmethod
    def load(cls, env: dict[str, str] | None = None, *, home: str | Path | None = None,
             data_dir: str | Path | None = None, root_overrides: dict[str, str] | None = None,
             projects: list[str] | None = None, redact: bool | None = None,
             budget_tokens: int | None = None) -> Config:
        e = dict(os.environ if env is None else env)
        for prov, value in (root_overrides or {}).items():
            if value:
                e[REGISTRY[prov].root_var] = str(value)
        h = Path(home or e.get("AGTRACE_MCP_HOME") or e.get("HOME") or Path.home()).expanduser().absolute()
        roots = {name: [Path(p).expanduser() for p in prov.default_roots(h, e)] for name, prov in REGISTRY.items()}
        dd = data_dir or e.get("AGTRACE_MCP_DATA_DIR")
        if dd:
            ddir = Path(dd).expanduser()
        elif e.get("XDG_DATA_HOME"):
            ddir = Path(e["XDG_DATA_HOME"]).expanduser() / "agtrace-mcp"
        else:
            ddir = h / ".local" / "share" / "agtrace-mcp"
        budget = budget_tokens or _int_env(e, "AGTRACE_MCP_BUDGET_TOKENS", DEFAULT_BUDGET_TOKENS)
        interval = _float_env(e, "AGTRACE_MCP_REFRESH_INTERVAL", 2.0)
        wait = _float_env(e, "AGTRACE_MCP_WAIT_SECONDS", 40.0)
        scope = list(projects or [p for p in e.get("AGTRACE_MCP_PROJECTS", "").split(os.pathsep) if p])
        red = redact if redact is not None else e.get("AGTRACE_MCP_NO_REDACT", "") not in ("1", "true", "yes")
        return cls(home=h, env=e, data_dir=ddir, roots=roots, budget_tokens=budget, refresh_interval=interval,
                   wait_seconds=wait,
                   redact=red, projects=[normalize_root(str(Path(p).expanduser())) for p in scope],
                   machine=e.get("AGTRACE_MCP_MACHINE") or default_machine(),
                   user=e.get("AGTRACE_MCP_USER") or default_user(e),
                   store_url=e.get("AGTRACE_MCP_STORE") or None)


def default_machine() -> str:
    """This machine's name as a team database records it: its host name."""
    import socket

    return socket.gethostname() or "localhost"


def default_user(env: dict[str, str]) -> str:
    """The login name of whoever runs this (for a team database's `user`)."""
    name = env.get("USER") or env.get("LOGNAME")
    if name:
        return name
    try:
        import getpass

        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown"


def home_problem(env: dict[str, str] | None = None, home: str | Path | None = None) -> str | None:
    """Why the HOME that logs (and, by default, the index) would be found under cannot be used, or None.

    Without this check an unset HOME falls back to the password database's entry and a HOME that is not a
    folder gets an index folder created under it: both surprise the user more than a clear refusal.
    """
    e = os.environ if env is None else env
    if home:
        where, value = "--home", str(home)
    elif e.get("AGTRACE_MCP_HOME"):
        where, value = "AGTRACE_MCP_HOME", e["AGTRACE_MCP_HOME"]
    elif e.get("HOME"):
        where, value = "HOME", e["HOME"]
    else:
        return "HOME is not set"
    try:
        if not stat.S_ISDIR(Path(value).expanduser().stat().st_mode):
            return f"{where} ({value}) is not a folder"
    except PermissionError:
        return None  # it is there but not ours to look into: reading the logs and the index will say what fails
    except OSError:
        return f"{where} ({value}) is not a folder"
    return None


def _int_env(e: dict[str, str], key: str, default: int) -> int:
    try:
        return int(e[key]) if e.get(key) else default
    except ValueError:
        return default


def _float_env(e: dict[str, str], key: str, default: float) -> float:
    try:
        return float(e[key]) if e.get(key) else default
    except ValueError:
        return default
