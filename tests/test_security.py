"""Security: secrets never leave the process, scope hides other projects, HTTP needs a token off loopback,
and the agents' logs are never modified."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.errors import NotFoundError
from agtrace_mcp.redact import find_secrets, mask
from agtrace_mcp.server import build_server

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
LEAKY = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
OPENAI = "sk-proj-Zx81Qw5Er3Ty7Ui9Op2As4Df6Gh8Jk0L"
DB_PASSWORD = "Tr0ub4dor-and-3"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    shutil.copytree(FIXTURES, h)
    return h


def make_api(home: Path, data: Path, **kw: object) -> Agtrace:
    cfg = Config.load(env={"HOME": str(home)}, data_dir=data, **kw)  # type: ignore[arg-type]
    cfg.refresh_interval = 0
    cfg.live_seconds = 0
    return Agtrace(cfg)


# -- masking -------------------------------------------------------------------------------------

SECRETS = {
    "anthropic_key": "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "openai_key": OPENAI,
    "github_token": "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "gitlab_token": "glpat-Ab1Cd2Ef3Gh4Ij5Kl6Mn",
    "aws_access_key": "AKIAZ3MXQ7KEYEXAMPL9",
    "google_api_key": "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "slack_token": "xoxb-123456789012-abcdefghijkl",
    "stripe_key": "sk_live_51Habcdefghijklmnop1234",
    "npm_token": "npm_abcdefghijklmnopqrstuvwxyz0123456789",
    "huggingface_token": "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
}


@pytest.mark.parametrize("kind,secret", sorted(SECRETS.items()))
def test_each_credential_type_is_masked_with_a_fingerprint(kind: str, secret: str):
    out = mask(f"the value is {secret} here")
    assert secret not in out
    assert f"[REDACTED:{kind}:…{secret[-4:]}]" in out


@pytest.mark.parametrize("text,value", [
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c2\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA1c2"),
    ("git clone https://alice:s3cretPassw0rd@github.com/x/y", "s3cretPassw0rd"),
    ("export DB_PASSWORD=hunter2hunter2", "hunter2hunter2"),
    ('{"api_key": "a8f5f167f44f4964e6c998dee827110c"}', "a8f5f167f44f4964e6c998dee827110c"),
    ("Authorization: Bearer abcdef0123456789abcdef0123456789", "abcdef0123456789abcdef0123456789"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"),
])
def test_private_keys_url_passwords_and_assignments_are_masked(text: str, value: str):
    assert value not in mask(text)


@pytest.mark.parametrize("text", [
    '"input_tokens": 123456', "password = self.password", "PASSWORD=${DB_PASS}", "tokenizer=bpe-32k-v1",
    "task-abcdefghijklmnopqrstuvwxyz0123", "api_key=os.environ.get('KEY')", "the secret sauce is love",
])
def test_ordinary_text_is_left_alone(text: str):
    assert mask(text) == text


def test_masking_is_idempotent():
    text = f"postgres://u:{DB_PASSWORD}@h/db and {OPENAI}"
    assert mask(mask(text)) == mask(text)


def _all_strings(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_no_tool_returns_a_secret_from_the_logs(home: Path, tmp_path: Path):
    api = make_api(home, tmp_path / "d")
    answers = [
        api.get_turn(LEAKY, 0), api.get_session(LEAKY), api.get_tool_output(LEAKY, "toolu_env"),
        api.search_history("OPENAI_API_KEY"), api.search_history("postgres deploy"),
        api.find_failed_tools(limit=200), api.list_sessions(limit=200), api.current_session("/home/dev/infra"),
    ]
    for a in answers:
        text = a.model_dump_json()
        assert OPENAI not in text and DB_PASSWORD not in text
        assert OPENAI[:12] not in text  # not even a cut-off piece of it in a snippet


def test_search_finds_a_secret_by_its_fingerprint_never_by_its_value(home: Path, tmp_path: Path):
    api = make_api(home, tmp_path / "d")
    # the index holds masked text only: a search by the value (or a prefix of it) is no oracle
    assert api.search_history(OPENAI).hits == [] and api.search_history(OPENAI[:12] + "*").hits == []
    hits = api.search_history("REDACTED Jk0L").hits  # where it leaked is found by its fingerprint
    assert [(h.session_id, h.kind) for h in hits] == [(LEAKY, "tool_output")]
    plain = hits[0].snippet.replace("«", "").replace("»", "")  # without the highlighting of the query terms
    assert OPENAI not in plain and "[REDACTED:openai_key:…Jk0L]" in plain


def test_secret_findings_lists_places_and_fingerprints_never_values(home: Path, tmp_path: Path):
    api = make_api(home, tmp_path / "d")
    res = api.secret_findings()
    by_fp = {f.fingerprint: f for f in res.findings}
    assert "openai_key:…Jk0L" in by_fp and "url_password:…nd-3" in by_fp
    place = by_fp["openai_key:…Jk0L"].examples[0]
    assert (place.session_id, place.turn_index, place.step_index, place.call_id, place.found_in) == \
           (LEAKY, 0, 0, "toolu_env", "tool_output")
    assert OPENAI not in res.model_dump_json()


def test_no_redact_opts_out(home: Path, tmp_path: Path):
    api = make_api(home, tmp_path / "d", redact=False)
    assert OPENAI in api.get_tool_output(LEAKY, "toolu_env").text


def test_cli_masks_by_default_and_no_redact_opts_out(home: Path, tmp_path: Path):
    base = [sys.executable, "-m", "agtrace_mcp", "show", LEAKY, "--json", "--data-dir", str(tmp_path / "c")]
    env = {"HOME": str(home), "PATH": ""}
    masked = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)
    assert masked.returncode == 0, masked.stderr
    assert OPENAI not in masked.stdout and "REDACTED:openai_key" in masked.stdout
    raw = subprocess.run([*base, "--no-redact"], capture_output=True, text=True, env=env, timeout=60)
    assert OPENAI in raw.stdout


def test_finder_never_reports_positions_outside_the_text():
    text = f"a {OPENAI} b {SECRETS['github_token']} c"
    for f in find_secrets(text):
        assert 0 <= f.start < f.end <= len(text)


# -- scope ---------------------------------------------------------------------------------------


def test_scope_hides_sessions_of_other_projects_as_not_found(home: Path, tmp_path: Path):
    api = make_api(home, tmp_path / "d", projects=["/home/dev/webapp"])
    listed = api.list_sessions(limit=200).sessions
    assert listed and all(s.project_root == "/home/dev/webapp" for s in listed)
    with pytest.raises(NotFoundError, match="no session"):
        api.get_session("44444444")  # /home/dev/legacy: outside the scope
    with pytest.raises(NotFoundError):
        api.get_turn(LEAKY, 0)
    assert all(f.project_root == "/home/dev/webapp" for f in api.find_failed_tools(limit=200).failures)
    assert all(h.project_root == "/home/dev/webapp" for h in api.search_history("the").hits)
    assert [p.project_root for p in api.list_projects().projects] == ["/home/dev/webapp"]
    assert api.secret_findings().findings == []


async def test_serve_project_scope_applies_to_every_tool(home: Path, tmp_path: Path):
    from mcp import StdioServerParameters

    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "agtrace_mcp", "serve", "--project", "/home/dev/legacy"],
                                   env={"HOME": str(home), "AGTRACE_MCP_DATA_DIR": str(tmp_path / "s")})
    async with Client(params, mode="legacy") as c:
        r = await c.call_tool("get_session", {"session_id": "11111111"})
        for _ in range(50):
            if "no session" in r.content[0].text:
                break
            await anyio.sleep(0.1)
            r = await c.call_tool("get_session", {"session_id": "11111111"})
        assert r.is_error and "no session" in r.content[0].text
        ok = await c.call_tool("get_session", {"session_id": "44444444"})
        for _ in range(50):
            if not ok.is_error:
                break
            await anyio.sleep(0.1)
            ok = await c.call_tool("get_session", {"session_id": "44444444"})
        assert not ok.is_error


# -- HTTP transport ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_non_loopback_bind_without_a_token_refuses_to_start(home: Path, tmp_path: Path):
    r = subprocess.run([sys.executable, "-m", "agtrace_mcp", "serve", "--transport", "http", "--host", "0.0.0.0",
                        "--port", str(_free_port())], capture_output=True, text=True, timeout=60,
                       env={"HOME": str(home), "AGTRACE_MCP_DATA_DIR": str(tmp_path / "h"), "PATH": ""})
    assert r.returncode == 2
    assert "bearer token" in r.stderr


@pytest.fixture
def http_server(home: Path, tmp_path: Path):
    import uvicorn

    from agtrace_mcp.server.http import build_app

    port = _free_port()
    api = make_api(home, tmp_path / "h")
    app = build_app(build_server(api), "127.0.0.1", port, token="s3cret-token-for-tests")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield port
    server.should_exit = True
    t.join(5)


def test_http_without_the_token_is_refused(http_server: int):
    import httpx2 as httpx

    r = httpx.post(f"http://127.0.0.1:{http_server}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 401


def test_http_with_a_foreign_host_header_is_refused(http_server: int):
    import httpx2 as httpx

    r = httpx.post(f"http://127.0.0.1:{http_server}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                   headers={"Authorization": "Bearer s3cret-token-for-tests", "Host": "evil.example:80",
                            "Accept": "application/json, text/event-stream"})
    assert r.status_code in (403, 421)


async def test_http_with_the_token_serves_tools(http_server: int):
    import httpx2 as httpx
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": "Bearer s3cret-token-for-tests"}
    async with httpx.AsyncClient(headers=headers) as hc:
        async with Client(streamable_http_client(f"http://127.0.0.1:{http_server}/mcp", http_client=hc)) as c:
            r = await c.call_tool("list_sessions", {"limit": 1})
            assert not r.is_error


# -- read-only guarantee -------------------------------------------------------------------------


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


async def test_a_full_session_of_tool_calls_and_indexing_modifies_no_log_file(home: Path, tmp_path: Path):
    before = _hashes(home)
    api = make_api(home, tmp_path / "ro")
    api.refresh(rebuild=True)
    async with Client(build_server(api), mode="legacy") as c:
        for name, args in [("list_sessions", {"limit": 200}), ("list_projects", {}), ("find_failed_tools", {}),
                           ("search_history", {"query": "test"}), ("get_session", {"session_id": "111111"}),
                           ("get_turn", {"session_id": "111111", "turn_index": -1}),
                           ("get_text", {"session_id": "111111", "field": "output", "call_id": "toolu_pytest"}),
                           ("current_session", {"project": "/home/dev/webapp"}), ("secret_findings", {})]:
            await c.call_tool(name, args)
    for s in api.list_sessions(include_subagents=True, limit=200).sessions:
        api.get_session(s.session_id)
        for i in range(api.get_session(s.session_id).turns_total):
            api.get_turn(s.session_id, i)
    assert _hashes(home) == before
    assert not any(p.name.endswith(("-wal", "-shm", "-journal")) for p in home.rglob("*"))
