"""The provider registry: one module per agent, found through entry points, its names written once.

A provider says everything about its agent; everything else (tool arguments, configuration, CLI flags,
detection, doctor) reads it from the registry. A provider that is not one is refused and reported, never fatal.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from agtrace_mcp.arguments import check_provider
from agtrace_mcp.cli import build_parser, demo_env, demo_home, make_api
from agtrace_mcp.config import Config
from agtrace_mcp.errors import BadArgumentError
from agtrace_mcp.providers import REGISTRY, BaseProvider, Registry, SourceFile, detect_provider

PKG = Path(__file__).resolve().parent.parent / "agtrace_mcp"
BUILTIN = {n: p for n, p in REGISTRY.items() if type(p).__module__.startswith("agtrace_mcp.")}


def test_the_six_agents_register_through_the_entry_point_group_in_a_stable_order():
    assert list(BUILTIN) == ["claude_code", "codex", "gemini_cli", "antigravity", "copilot_cli", "opencode"]
    assert not [p for p in REGISTRY.problems if p.package == "agtrace-mcp"]


def test_each_agent_name_is_written_in_its_provider_module_only():
    """A quoted provider name anywhere else in the package would be a second place to edit for a new agent."""
    found = []
    for path in PKG.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name, prov in BUILTIN.items():
            if path.name == Path(type(prov).__module__.replace(".", "/")).name + ".py":
                continue
            if re.search(rf"[\"']{name}[\"']", text):
                found.append(f"{path.relative_to(PKG)}: {name}")
    assert not found


@pytest.mark.parametrize("typed, name", [
    ("claude", "claude_code"), ("Claude Code", "claude_code"), ("gemini", "gemini_cli"), ("agy", "antigravity"),
    ("copilot", "copilot_cli"), ("codex-cli", "codex"), ("OPENCODE", "opencode"), ("codex", "codex"),
])
def test_names_and_aliases_resolve_to_the_provider(typed: str, name: str):
    assert check_provider(typed) == name


def test_an_unknown_provider_lists_the_names_the_registry_knows():
    with pytest.raises(BadArgumentError) as e:
        check_provider("cursor")
    assert all(n in str(e.value) for n in REGISTRY) and "claude" in str(e.value)


def test_root_variables_and_flags_are_made_of_the_short_name():
    assert [(p.root_var, p.root_flag) for p in BUILTIN.values()] == [
        ("AGTRACE_MCP_CLAUDE_DIR", "--claude-dir"), ("AGTRACE_MCP_CODEX_DIR", "--codex-dir"),
        ("AGTRACE_MCP_GEMINI_DIR", "--gemini-dir"), ("AGTRACE_MCP_ANTIGRAVITY_DIR", "--antigravity-dir"),
        ("AGTRACE_MCP_COPILOT_DIR", "--copilot-dir"), ("AGTRACE_MCP_OPENCODE_DIR", "--opencode-dir")]
    flags = {a.option_strings[0] for a in build_parser()._subparsers._group_actions[0].choices["sessions"]._actions}
    assert {p.root_flag for p in REGISTRY.values()} <= flags


@pytest.mark.parametrize("path, name", [
    ("/h/.claude/projects/-x/4f2c.jsonl", "claude_code"),
    ("/h/.codex/sessions/2026/05/01/rollout-2026-05-01T10-00-00-019d.jsonl", "codex"),
    ("/h/.gemini/tmp/shop/chats/session-2026-05-01T10-00-ab12cd34.jsonl", "gemini_cli"),
    # inside .gemini, where Gemini CLI's logs are too: the more specific layout wins
    ("/h/.gemini/antigravity-cli/brain/1f2e/.system_generated/logs/transcript_full.jsonl", "antigravity"),
    ("/h/.copilot/session-state/c0ffee01/events.jsonl", "copilot_cli"),
    ("/h/.local/share/opencode/opencode.db", "opencode"),
    # a folder the user keeps under .claude that another agent's layout names: the layout wins
    ("/h/.claude/backups/.codex/sessions/rollout-2026-05-01T10-00-00-019d.jsonl", "codex"),
])
def test_a_file_is_the_agents_whose_location_rule_is_surest(path: str, name: str):
    assert detect_provider(path) == name


def test_a_file_elsewhere_is_recognised_by_its_first_record(tmp_path: Path):
    codex = tmp_path / "a.jsonl"
    codex.write_text('{"type":"session_meta","payload":{}}\n')
    gemini = tmp_path / "b.jsonl"
    gemini.write_text('{"sessionId":"x","projectHash":"y"}\n')
    claude = tmp_path / "c.jsonl"
    claude.write_text('{"sessionId":"x","type":"user"}\n')
    unknown = tmp_path / "d.jsonl"
    unknown.write_text('{"hello":"world"}\n')
    assert [detect_provider(str(p)) for p in (codex, gemini, claude, unknown)] == [
        "codex", "gemini_cli", "claude_code", None]


class _Toy(BaseProvider):
    name = "toy_inline"
    label = "Toy"
    short_name = "toy"
    aliases = ("claude",)  # taken by Claude Code: reported, not used

    def default_roots(self, home: Path, env: dict[str, str]) -> list[Path]:
        return [self.agent_dir(env, home, ".toy")]

    def discover(self, roots: list[Path]):
        return iter(())

    def parse(self, src: SourceFile, offset, state, emit, stats):
        return 0, None


def test_a_registry_refuses_what_is_not_a_provider_and_says_why():
    reg = Registry()
    assert reg.register(_Toy, origin="toy = tests:_Toy")
    assert reg.resolve("toy") == "toy_inline" and reg.resolve("claude") == "claude_code"
    assert not reg.register(object(), origin="junk = tests:object")
    assert not reg.register(_Toy(), origin="again = tests:_Toy")
    bad_name = type("Bad", (_Toy,), {"name": "Not A Name"})
    assert not reg.register(bad_name, origin="bad = tests:Bad")
    reasons = {p.entry_point: p.error for p in reg.problems}
    assert "taken by claude_code" in reasons["toy = tests:_Toy"]
    assert "is not a provider" in reasons["junk = tests:object"]
    assert "taken by another provider" in reasons["again = tests:_Toy"]
    assert "not lower-case" in reasons["bad = tests:Bad"]
    assert "toy_inline" not in REGISTRY  # the process-wide registry is untouched


def test_a_provider_without_base_class_gets_the_defaults():
    class Bare:
        name = "bare"
        label = "Bare"

        def default_roots(self, home, env):
            return []

        def discover(self, roots):
            return iter(())

        def parse(self, src, offset, state, emit, stats):
            return 0, None

    reg = Registry()
    assert reg.register(Bare())
    p = reg["bare"]
    assert (p.root_var, p.root_flag, p.partial, p.stamp, p.exit_pattern) == (
        "AGTRACE_MCP_BARE_DIR", "--bare-dir", False, None, None)
    assert p.describe("/x/y.jsonl") == SourceFile("/x/y.jsonl", "bare")


def test_roots_come_from_the_environment_mapping_given(tmp_path: Path):
    cfg = Config.load(env={"HOME": str(tmp_path), "CODEX_HOME": "/elsewhere/codex",
                           "AGTRACE_MCP_CLAUDE_DIR": "/mine/claude"})
    assert cfg.roots["codex"][0] == Path("/elsewhere/codex/sessions")
    assert cfg.roots["claude_code"] == [Path("/mine/claude/projects")]
    assert cfg.roots["gemini_cli"] == [tmp_path / ".gemini" / "tmp"]


def test_demo_reads_only_the_bundled_logs_and_leaves_the_environment_alone(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch):
    """`--demo` (doctor too) never reads the user's own logs: not the agents' variables, not XDG_DATA_HOME
    (OpenCode's data), and it builds its configuration without editing os.environ."""
    real = tmp_path / "real"
    for var, sub in (("CODEX_HOME", "codex"), ("CLAUDE_CONFIG_DIR", "claude"), ("COPILOT_HOME", "copilot"),
                     ("XDG_DATA_HOME", "xdg"), ("AGTRACE_MCP_GEMINI_DIR", "gemini")):
        monkeypatch.setenv(var, str(real / sub))
    (real / "xdg" / "opencode").mkdir(parents=True)
    (real / "xdg" / "opencode" / "opencode.db").write_bytes(b"")
    before = dict(os.environ)
    api = make_api(build_parser().parse_args(["doctor", "--demo"]))
    try:
        demo = str(demo_home())
        for name, roots in api.config.roots.items():
            assert all(str(r).startswith(demo) for r in roots), (name, roots)
        assert str(api.config.data_dir).startswith(str(real / "xdg" / "agtrace-mcp" / "demo"))
        assert dict(os.environ) == before
        report = api.doctor()
        assert all(str(r).startswith(demo) for h in report.providers for r in h.roots)
    finally:
        api.close()
    assert "XDG_DATA_HOME" not in demo_env({"XDG_DATA_HOME": "/x", "PATH": "/bin"})
