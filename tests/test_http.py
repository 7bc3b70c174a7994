"""HTTP that stays up (issue 16, point 5) and starts with one clear line (issue 13, point 7).

The servers run as child processes (`serve --transport http --port 0`), found by the `listening on` line
they print; every wait has a timeout of its own, so a server that stops answering fails the test."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
TOKEN = "a-long-enough-token-for-tests"
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("http") / "home"
    shutil.copytree(FIXTURES, h)
    return h


def _serve(home: Path, data: Path, *argv: str, nofile: int | None = None) -> subprocess.Popen[str]:
    def limit() -> None:
        if nofile:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "AGTRACE_MCP_DATA_DIR": str(data),
           "AGTRACE_MCP_HTTP_REQUEST_TIMEOUT": "2"}  # the test waits for it (10 s by default)
    return subprocess.Popen([sys.executable, "-m", "agtrace_mcp", "serve", "--transport", "http", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=limit)


def _port(p: subprocess.Popen[str]) -> int:
    """The port from the `listening on` line (the first line on stderr), within 60 s."""
    got: list[str] = []
    t = threading.Thread(target=lambda: got.append(p.stderr.readline()), daemon=True)  # type: ignore[union-attr]
    t.start()
    t.join(60)
    assert got, "no `listening on` line within 60 s"
    m = re.fullmatch(r"listening on http://(\S+):(\d+)/mcp\n", got[0])
    assert m, got[0]
    return int(m.group(2))


def _stop(p: subprocess.Popen[str]) -> tuple[str, str]:
    p.terminate()
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return out, err


def test_serve_http_prints_one_listening_line_and_nothing_on_stdout(home: Path, tmp_path: Path):
    import httpx2 as httpx

    p = _serve(home, tmp_path / "d", "--port", "0")
    try:
        port = _port(p)
        r = httpx.post(f"http://127.0.0.1:{port}/mcp", json=INIT, headers=ACCEPT, timeout=30)
        assert r.status_code == 200
    finally:
        out, err = _stop(p)
    assert out == ""
    assert "Traceback" not in err


@pytest.mark.parametrize("port", ["99999", "-1", "http", "8O80"])
def test_a_bad_port_is_a_one_line_error(home: Path, tmp_path: Path, port: str):
    p = _serve(home, tmp_path / "d", "--port", port)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert err.count("\n") == 1 and "--port must be a number from 0 to 65535" in err, err


def test_a_port_in_use_is_a_one_line_error(home: Path, tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        p = _serve(home, tmp_path / "d", "--port", str(s.getsockname()[1]))
        out, err = p.communicate(timeout=60)
    assert p.returncode == 1
    assert err.count("\n") == 1 and "address already in use" in err and "--port" in err, err


def test_a_short_token_off_loopback_is_refused(home: Path, tmp_path: Path):
    p = _serve(home, tmp_path / "d", "--host", "0.0.0.0", "--port", "0", "--token", "short-token")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert err.count("\n") == 1 and "at least 16" in err and "11 characters" in err, err


def test_slow_connections_at_the_fd_limit_never_stop_the_answers(home: Path, tmp_path: Path):
    """300 connections that trickle half a request, against a server limited to 256 descriptors."""
    import httpx2 as httpx

    p = _serve(home, tmp_path / "d", "--port", "0", nofile=256)
    slow: list[socket.socket] = []
    try:
        port = _port(p)
        for _ in range(300):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                slow.append(s)
            except OSError:
                pass
        for _attempt in range(3):  # each call gets a few seconds: the slow ones must not hold it up
            r = httpx.post(f"http://127.0.0.1:{port}/mcp", json=INIT, headers=ACCEPT, timeout=10)
            assert r.status_code == 200, r.text
        for s in slow[-20:]:  # and they keep trickling
            try:
                s.sendall(b"x")
            except OSError:
                pass
        r = httpx.post(f"http://127.0.0.1:{port}/mcp", json=INIT, headers=ACCEPT, timeout=10)
        assert r.status_code == 200
    finally:
        for s in slow:
            s.close()
        out, err = _stop(p)
    assert "Traceback" not in err
    assert len(err) < 5000, err[-2000:]  # one line per kind of event, not one per event


def test_a_connection_that_sends_nothing_is_closed_after_the_request_timeout(home: Path, tmp_path: Path):
    p = _serve(home, tmp_path / "d", "--port", "0")
    try:
        port = _port(p)
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            s.sendall(b"GET /mcp HTTP/1.1\r\n")
            assert s.recv(100) == b""  # closed by the server (the socket timeout would raise instead)
    finally:
        _stop(p)


def test_allowed_hosts_default_to_the_bound_address_and_its_names_and_take_more(home: Path, tmp_path: Path):
    import httpx2 as httpx

    p = _serve(home, tmp_path / "d", "--host", "0.0.0.0", "--port", "0", "--token", TOKEN,
               "--allow-host", "agtrace.example")
    try:
        port = _port(p)
        auth = {**ACCEPT, "Authorization": f"Bearer {TOKEN}"}

        def status(host: str) -> int:
            return httpx.post(f"http://127.0.0.1:{port}/mcp", json=INIT, timeout=30,
                              headers={**auth, "Host": host}).status_code

        assert status(f"{socket.gethostname()}:{port}") == 200  # the machine's own name
        assert status(f"agtrace.example:{port}") == 200  # a name the user allowed
        assert status(f"evil.example:{port}") == 421
    finally:
        _stop(p)


def test_duplicate_request_ids_in_one_session_each_get_an_answer(home: Path, tmp_path: Path):
    import httpx2 as httpx

    p = _serve(home, tmp_path / "d", "--port", "0")
    try:
        port = _port(p)

        async def run() -> list[int | str]:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                r = await c.post("/mcp", json=INIT, headers=ACCEPT)
                h = {**ACCEPT, "mcp-session-id": r.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
                await c.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h)
                call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                        "params": {"name": "search_history", "arguments": {"query": "test"}}}
                answers = await asyncio.gather(*[c.post("/mcp", json=call, headers=h) for _ in range(10)])
                return [a.status_code for a in answers] + [a.text for a in answers]

        got = asyncio.run(run())
        codes, texts = got[:10], got[10:]
        assert codes == [200] * 10
        assert all('"id":7' in t for t in texts)  # every request answered: a result, or an error naming the id
        assert any('"result"' in t for t in texts)
    finally:
        _stop(p)


def test_the_log_filter_lets_one_line_of_a_kind_through_per_minute():
    import logging

    from agtrace_mcp.server.http import OncePerKind

    f = OncePerKind()
    records = []
    for _i in range(100):
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            rec = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "socket.accept() out of system resource",
                                    (), sys.exc_info())
        if f.filter(rec):
            records.append(rec)
    assert len(records) == 1 and records[0].exc_info is None and "Too many open files" in records[0].getMessage()
    assert time.monotonic() > 0
