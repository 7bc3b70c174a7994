"""No file in a log root can stall the index or eat the memory (issue 16, point 2).

Each hostile file is indexed by a child process with an address-space limit (RLIMIT_AS) and a timeout: the
bound on memory and time is enforced by the test itself, never by a timed assertion. Big inputs cost the
test little: the 300 MB line is a sparse file, the zstd bomb repeats one small frame.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "home"
CLAUDE_DIR = ".claude/projects/-home-dev-webapp"
MAIN_ID = "11111111-1111-4111-8111-111111111111"
CODEX_DAY = ".codex/sessions/2026/05/01"
MEMORY_LIMIT = 1 << 30  # the old reader needed 1.27 GB for a 300 MB line and 1.9 GB for the zstd bomb
TIMEOUT = 120

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs, /dev/zero and RLIMIT_AS are POSIX")


def _claude_line(sid: str, uuid: str, text: str) -> bytes:
    return json.dumps({"type": "user", "sessionId": sid, "uuid": uuid, "parentUuid": None, "cwd": "/home/dev/x",
                       "timestamp": "2026-05-01T10:00:00.000Z",
                       "message": {"role": "user", "content": text}}).encode() + b"\n"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The fixtures' Claude sessions only (a small, fast home)."""
    h = tmp_path / "home"
    shutil.copytree(FIXTURES / ".claude", h / ".claude")
    return h


def run_bounded(home: Path, data: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`agtrace-mcp ARGV` in a child that may use at most MEMORY_LIMIT of address space and TIMEOUT seconds
    (a TimeoutExpired fails the test)."""
    code = ("import resource, sys\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
            "from agtrace_mcp.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "AGTRACE_MCP_DATA_DIR": str(data)}
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                       timeout=TIMEOUT, cwd=str(ROOT))
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def doctor(home: Path, data: Path) -> dict:
    out = {p["provider"]: p for p in json.loads(run_bounded(home, data, "doctor", "--json").stdout)["providers"]}
    for p in out.values():
        p["files_refused"] = [r["path"] for r in p["files_refused"]]
    return out


def sessions(home: Path, data: Path) -> set[str]:
    out = json.loads(run_bounded(home, data, "sessions", "--json", "--subagents", "--limit", "200").stdout)
    return {s["session_id"] for s in out["sessions"]}


def test_a_fifo_named_like_a_log_is_not_opened(home: Path, tmp_path: Path):
    fifo = home / CLAUDE_DIR / "99999999-9999-4999-8999-999999999999.jsonl"
    os.mkfifo(fifo)
    codex = home / CODEX_DAY / "rollout-2026-05-01T12-00-00-019de2fb-1900-7a01-8000-0000000fff01.jsonl"
    codex.parent.mkdir(parents=True)
    os.mkfifo(codex)
    data = tmp_path / "d"
    assert MAIN_ID in sessions(home, data)  # every command answers; nothing waits for a writer
    rep = doctor(home, data)
    assert str(fifo) in rep["claude_code"]["files_refused"]
    assert str(codex) in rep["codex"]["files_refused"]


def test_a_symlink_to_dev_zero_is_not_read(home: Path, tmp_path: Path):
    link = home / CLAUDE_DIR / "99999999-9999-4999-8999-999999999998.jsonl"
    link.symlink_to("/dev/zero")
    data = tmp_path / "d"
    assert MAIN_ID in sessions(home, data)
    assert str(link) in doctor(home, data)["claude_code"]["files_refused"]


def test_a_symlink_out_of_the_agents_root_is_not_read_and_never_printed(home: Path, tmp_path: Path):
    outside = tmp_path / "private.jsonl"
    outside.write_bytes(_claude_line("77777777-7777-4777-8777-777777777777", "u1", "TOPSECRETMARKER prompt")
                        + b"{not json TOPSECRETMARKER\n")
    link = home / CLAUDE_DIR / "77777777-7777-4777-8777-777777777777.jsonl"
    link.symlink_to(outside)
    data = tmp_path / "d"
    assert "77777777-7777-4777-8777-777777777777" not in sessions(home, data)
    r = run_bounded(home, data, "doctor", "--json")
    assert "TOPSECRETMARKER" not in r.stdout
    assert str(link) in [x["path"] for x in json.loads(r.stdout)["providers"][0]["files_refused"]]
    assert run_bounded(home, data, "search", "TOPSECRETMARKER", "--json").stdout.count("session_id") == 0


def test_a_symlink_inside_the_agents_root_is_read(home: Path, tmp_path: Path):
    sid = "66666666-0000-4000-8000-000000000001"
    target = home / ".claude" / "projects" / "-elsewhere" / "target"  # found only through the link
    target.parent.mkdir()
    target.write_bytes(_claude_line(sid, "u1", "linked inside the root"))
    (home / CLAUDE_DIR / f"{sid}.jsonl").symlink_to(target)
    assert sid in sessions(home, tmp_path / "d")


def test_a_300_mb_line_is_skipped_counted_and_the_rest_of_the_file_read(home: Path, tmp_path: Path):
    path = home / CLAUDE_DIR / "88888888-8888-4888-8888-888888888888.jsonl"
    with open(path, "wb") as f:
        f.write(_claude_line(path.stem, "u1", "before the long line"))
        f.seek(300 << 20, os.SEEK_CUR)  # a hole: 300 MB of NUL bytes on disk for free, and no newline in them
        f.write(b"\n" + _claude_line(path.stem, "u2", "after the long line"))
    data = tmp_path / "d"
    assert path.stem in sessions(home, data)
    rep = doctor(home, data)["claude_code"]
    assert rep["long_lines"] == 1
    hits = json.loads(run_bounded(home, data, "search", "after the long line", "--json").stdout)["hits"]
    assert [h["session_id"] for h in hits] == [path.stem]


def test_a_zstd_bomb_stops_at_its_bound(home: Path, tmp_path: Path):
    import zstandard

    src = FIXTURES / CODEX_DAY / "rollout-2026-05-01T12-00-00-019de2fb-1900-7a01-8000-00000000e001.jsonl"
    bomb = home / CODEX_DAY / (src.name + ".zst")
    bomb.parent.mkdir(parents=True)
    head = zstandard.ZstdCompressor(level=3).compress(src.read_bytes())
    zeros = zstandard.ZstdCompressor(level=19).compress(b"\0" * (64 << 20))  # 64 MB in a few KB
    with open(bomb, "wb") as f:
        f.write(head)
        for _ in range(128):  # 8 GB once decompressed
            f.write(zeros)
    assert bomb.stat().st_size < 2 << 20
    data = tmp_path / "d"
    assert "019de2fb-1900-7a01-8000-00000000e001" in sessions(home, data)  # what came before the bomb is kept
    rep = doctor(home, data)["codex"]
    assert rep["files_cut"] == 1 and rep["long_lines"] >= 1


def _inside(path: Path, root: Path) -> bool:
    from agtrace_mcp.providers.files import RootCheck

    return RootCheck().inside(str(path), [str(root)], os.lstat(path))


def test_a_log_under_a_root_that_is_itself_a_symlink_is_inside_it(tmp_path: Path):
    real = tmp_path / "dotfiles" / "claude" / "projects" / "-p"
    real.mkdir(parents=True)
    (real / "s.jsonl").write_text("{}\n")
    (tmp_path / ".claude").symlink_to(tmp_path / "dotfiles" / "claude")  # ~/.claude kept with the dotfiles
    assert _inside(tmp_path / ".claude" / "projects" / "-p" / "s.jsonl", tmp_path / ".claude")


def test_a_log_in_a_folder_linked_out_of_the_root_is_not_inside_it(tmp_path: Path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "s.jsonl").write_text("{}\n")
    root = tmp_path / ".claude" / "projects"
    root.mkdir(parents=True)
    (root / "-p").symlink_to(tmp_path / "elsewhere")
    assert not _inside(root / "-p" / "s.jsonl", root)


def test_a_path_spelled_with_dot_folders_is_inside_its_root(tmp_path: Path):
    (tmp_path / "root" / "a").mkdir(parents=True)
    (tmp_path / "root" / "a" / "s.jsonl").write_text("{}\n")
    (tmp_path / "s.jsonl").write_text("{}\n")
    assert _inside(tmp_path / "root" / "a" / "." / ".." / "a" / "s.jsonl", tmp_path / "root")
    assert not _inside(tmp_path / "root" / "a" / ".." / ".." / "s.jsonl", tmp_path / "root")
