"""Connecting to a team database: the URL, one-line errors that say what to do, the reading pool.

Everything lives in the schema `agtrace` (tables, policies); connections put it first on their search path.
psycopg (3) is an optional dependency (`pip install 'agtrace-mcp[postgres]'`): it is imported only here, when
a `postgresql://` store is used, so the local index never pays for it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ...errors import StoreError

if TYPE_CHECKING:
    import psycopg

SCHEMA = "agtrace"
CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT = "60s"  # no query of ours runs longer on a healthy database; a stuck one must not hang a tool
URL_HELP = "pass a URL such as postgresql://USER:PASSWORD@HOST:5432/DATABASE"


def driver() -> Any:
    """The psycopg module, or a StoreError saying how to install it."""
    try:
        import psycopg
    except ImportError:
        raise StoreError("a team database needs the PostgreSQL driver: pip install 'agtrace-mcp[postgres]'") from None
    return psycopg


def check_url(url: str | None) -> str:
    """A usable `postgresql://` URL, or a StoreError that says what to pass."""
    url = (url or "").strip()
    if not url.startswith(("postgresql://", "postgres://")):
        raise StoreError(f"{shown(url) or 'an empty value'} is not a PostgreSQL URL; {URL_HELP}")
    from psycopg.conninfo import conninfo_to_dict

    driver()
    try:
        conninfo_to_dict(url)
    except Exception as e:  # psycopg.ProgrammingError: libpq could not parse it
        raise StoreError(f"{shown(url)} is not a valid PostgreSQL URL ({_first_line(e)}); {URL_HELP}") from None
    return url


def shown(url: str) -> str:
    """The URL with its password hidden (for messages and `doctor`)."""
    url = re.sub(r"(://[^:/@\s]*:)[^@/\s]*@", r"\1***@", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    # libpq prefixes every failure with where it tried (the URL says it already): keep the reason
    text = re.sub(r'^connection failed: ', "", text)
    text = re.sub(r'connection to server (at|on) ".*?"(, port \d+)? failed: ', "", text)
    text = re.sub(r'^(FATAL|ERROR):\s+', "", text)
    return text.rstrip(".")


def explain(e: BaseException, url: str, doing: str = "connect to") -> str:
    """One line: what failed with the team database at `url`, and what to do about it."""
    reason = _first_line(e)
    low = reason.lower()
    if "password" in low or "authentication" in low:
        todo = "check the user name and password in the URL"
    elif "does not exist" in low and "database" in low:
        todo = "create the database first (createdb), or fix its name in the URL"
    elif "does not exist" in low and "role" in low:
        todo = "create that role (README: Team history), or fix the user name in the URL"
    elif "permission denied" in low:
        todo = "use a role with the rights this needs (README: Team history)"
    elif "timeout" in low or "timed out" in low or "canceling statement" in low:
        todo = "check that the server is up and not overloaded, then try again"
    else:
        todo = "check the host and port in the URL, and that the server is running"
    return f"cannot {doing} the team database {shown(url)}: {reason}; {todo}"


def setup(conn: psycopg.Connection[Any], *, read_only: bool) -> None:
    """Session settings of every connection: our schema first, a statement time-out, read-only transactions
    for a server (`serve --store`) whatever its role allows."""
    conn.execute(f"SET search_path = {SCHEMA}, public")
    conn.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
    conn.commit()
    conn.read_only = read_only


def connect(url: str, *, read_only: bool, autocommit: bool = False,
            application: str = "agtrace-mcp") -> psycopg.Connection[Any]:
    """A connection (dict rows; transactions opened by psycopg unless `autocommit`), or a StoreError saying
    why not."""
    pg = driver()
    from psycopg.rows import dict_row

    try:
        conn = pg.connect(url, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_S,
                          application_name=application, autocommit=autocommit)
    except pg.Error as e:
        raise StoreError(explain(e, url)) from None
    try:
        setup(conn, read_only=read_only)
    except pg.Error as e:
        conn.close()
        raise StoreError(explain(e, url, "set up a session with")) from None
    return conn


def pool(url: str, max_size: int = 4) -> Any:
    """A pool of read-only connections for a server's worker threads (opened by the caller)."""
    driver()
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    return ConnectionPool(url, min_size=1, max_size=max_size, open=False, timeout=15, name="agtrace",
                          kwargs={"row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_S,
                                  "application_name": "agtrace-mcp serve"},
                          configure=lambda c: setup(c, read_only=True), check=ConnectionPool.check_connection)
