"""No data silently lost (issue 16, point 3): a lone surrogate, a document caught half-written, a data dir
that cannot be written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from indexcheck import api_over, fill_the_disk, session_shape

from agtrace_mcp.load import load_session

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
SID = "12345678-1234-4234-8234-123456789012"
LEGACY = ".gemini/tmp/2136a2490b0bdc8f317d3e16aecb6c0b6c264127ce17e17345fe6c0dc2ce7069/chats/" \
         "session-2025-12-01T10-00-1e9ac7a1.json"
LEGACY_ID = "1e9ac7a1-5b0c-4c1e-9d2a-7f3e8a1b2c3d"
MAIN_ID = "11111111-1111-4111-8111-111111111111"


def _turns(n: int, lone_at: int) -> str:
    """A Claude session of `n` prompt/answer turns; prompt `lone_at` holds the JSON escape of a lone surrogate."""
    lines = []
    for i in range(n):
        text = f"prompt {i}" + (" \\ud800 lone and \\udfff too" if i == lone_at else "")
        lines.append('{"type":"user","sessionId":"%s","uuid":"u%d","parentUuid":null,"cwd":"/x",'
                     '"timestamp":"2026-05-01T10:0%d:00.000Z","message":{"role":"user","content":"%s"}}'
                     % (SID, i, i, text))
        lines.append('{"type":"assistant","sessionId":"%s","uuid":"a%d","parentUuid":"u%d","cwd":"/x",'
                     '"timestamp":"2026-05-01T10:0%d:01.000Z","message":{"id":"m%d","role":"assistant",'
                     '"model":"claude-x","content":[{"type":"text","text":"answer %d \\udc80"}],'
                     '"usage":{"input_tokens":1,"output_tokens":1}}}' % (SID, i, i, i, i, i))
    return "\n".join(lines) + "\n"


def test_a_lone_surrogate_is_replaced_and_no_later_turn_is_lost(tmp_path: Path):
    home = tmp_path / "home"
    log = home / ".claude/projects/-x" / f"{SID}.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(_turns(4, lone_at=1))
    s = load_session(log)
    assert [t.user.text for t in s.turns] == ["prompt 0", "prompt 1 \ufffd lone and \ufffd too", "prompt 2", "prompt 3"]
    api = api_over(home, tmp_path / "d")
    assert api.get_session(SID).turns_total == 4
    with log.open("a") as f:  # the next append (after which every command used to crash)
        f.write('{"type":"user","sessionId":"%s","uuid":"u9","parentUuid":null,"cwd":"/x","timestamp":'
                '"2026-05-01T10:09:00.000Z","message":{"role":"user","content":"appended \\ud801"}}\n' % SID)
    assert api.get_session(SID).turns_total == 5
    assert api.get_turn(SID, -1).user.text == "appended \ufffd"
    assert [h.session_id for h in api.search_history("lone").hits] == [SID]
    assert api.doctor().providers
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "AGTRACE_MCP_DATA_DIR": str(tmp_path / "d")}
    for argv in (["index"], ["sessions"], ["doctor"], ["show", SID]):
        r = subprocess.run([sys.executable, "-m", "agtrace_mcp", *argv], capture_output=True, text=True, env=env,
                           timeout=60)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr


def test_a_gemini_document_caught_half_written_keeps_its_last_good_session(tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURES / ".gemini", home / ".gemini")
    doc = home / LEGACY
    whole = doc.read_bytes()
    api = api_over(home, tmp_path / "d")
    before = api.get_session(LEGACY_ID)
    for half in (whole[: len(whole) // 2], b""):  # being rewritten: cut short, or just truncated
        doc.write_bytes(half)
        again = api.get_session(LEGACY_ID)
        assert again.turns_total == before.turns_total and again.session.on_disk
        samples = [s for p in api.doctor().providers if p.provider == "gemini_cli" for s in p.bad_samples]
        assert any("half-written" in s["reason"] or "being rewritten" in s["reason"] for s in samples)
    doc.write_bytes(whole.replace(b"}\n  ]\n}", b"}\n  ]\n}"))  # whole again: read again, as before
    assert api.get_session(LEGACY_ID).model_dump() == before.model_dump()


def test_a_half_written_copilot_history_document_keeps_its_session(tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURES / ".copilot", home / ".copilot")
    api = api_over(home, tmp_path / "d")
    doc = next((home / ".copilot/history-session-state").glob("*.json"))
    sid = doc.stem.removeprefix("session_").rsplit("_", 1)[0]
    before = api.get_session(sid).turns_total
    doc.write_bytes(doc.read_bytes()[:100])
    assert api.get_session(sid).turns_total == before


def _as_nobody(argv: list[str], env: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI as `nobody` when we are root (root ignores permissions), letting it reach the interpreter."""
    run = [sys.executable, "-m", "agtrace_mcp", *argv]
    if os.geteuid() != 0:
        return subprocess.run(run, capture_output=True, text=True, env=env, timeout=60, cwd=str(ROOT))
    opened = []
    for d in {*Path(sys.prefix).parents, *ROOT.parents, Path(sys.prefix), ROOT, *tmp.parents}:
        mode = d.stat().st_mode
        if not mode & 0o001:
            os.chmod(d, mode | 0o001)
            opened.append((d, mode))
    try:
        return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *run],
                              capture_output=True, text=True, env=env, timeout=60, cwd=str(ROOT))
    finally:
        for d, mode in opened:
            os.chmod(d, mode)


def test_a_read_only_data_dir_serves_the_existing_index_with_a_note(tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURES, home)
    data = tmp_path / "ro"
    api = api_over(home, data)
    api.refresh()
    api.close()
    os.chmod(tmp_path, 0o755)
    for p in [home, *home.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    for p in data.iterdir():
        os.chmod(p, 0o444)
    os.chmod(data, 0o555)
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "AGTRACE_MCP_DATA_DIR": str(data)}
    try:
        r = _as_nobody(["sessions", "--json", "--subagents", "--limit", "200"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert MAIN_ID in {s["session_id"] for s in out["sessions"]}
        assert "cannot be updated" in out["index_incomplete"]["message"]
        r = _as_nobody(["index"], env, tmp_path)  # asking to write is a clear error, not a traceback
        assert r.returncode == 1 and "AGTRACE_MCP_DATA_DIR" in r.stdout + r.stderr and "Traceback" not in r.stderr
        r = _as_nobody(["doctor", "--json"], env, tmp_path)
        assert r.returncode == 0 and "cannot be updated" in json.loads(r.stdout)["note"]
    finally:
        os.chmod(data, 0o755)


def test_a_full_data_dir_still_answers_with_a_note(tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURES, home)
    api = api_over(home, tmp_path / "d")
    api.refresh()
    fill_the_disk(api, home)
    res = api.list_sessions(limit=200)
    assert MAIN_ID in {s.session_id for s in res.sessions}
    assert res.index_incomplete and "cannot be" in res.index_incomplete.message


@pytest.mark.parametrize("name", ["\udcff\udcfe.jsonl"])
def test_a_log_name_that_is_not_utf8_is_refused_not_fatal(tmp_path: Path, name: str):
    home = tmp_path / "home"
    shutil.copytree(FIXTURES / ".claude", home / ".claude")
    bad = os.path.join(str(home / ".claude/projects/-home-dev-webapp"), name)
    shutil.copy(home / ".claude/projects/-home-dev-webapp" / f"{MAIN_ID}.jsonl", os.fsencode(bad))
    api = api_over(home, tmp_path / "d")
    assert MAIN_ID in {s.session_id for s in api.list_sessions(limit=200).sessions}
    refused = [r for p in api.doctor().providers for r in p.files_refused]
    assert refused and refused[0]["reason"] == "its name is not UTF-8"



def test_a_session_rebuilt_from_the_index_says_what_its_log_says(tmp_path: Path):
    api = api_over(FIXTURES, tmp_path / "d")
    ids = [s.session_id for s in api.list_sessions(limit=200, include_subagents=True).sessions]
    assert ids
    for sid in ids:
        from_log, from_index = api.load_session(sid), api.indexed_session(sid)
        assert session_shape(from_index) == session_shape(from_log), sid
        assert from_index.stats == from_log.stats, sid
