"""The README tells the truth about what is there: every MCP tool and every command is listed."""

from __future__ import annotations

import re

from conftest import ROOT

from agtrace_mcp.cli import build_parser

README = (ROOT / "README.md").read_text()


def test_every_mcp_tool_is_in_the_tools_table():
    source = (ROOT / "agtrace_mcp" / "server" / "tools.py").read_text()
    tools = re.findall(r"@_tool\(mcp[^\n]*\n\s+(?:async )?def (\w+)\(", source)
    assert len(tools) >= 11
    missing = [t for t in tools if f"| `{t}` |" not in README]
    assert not missing


def test_every_command_is_in_the_command_line_section():
    commands = build_parser()._subparsers._group_actions[0].choices
    section = README[README.index("## Command line"):README.index("## Analysis")]
    missing = [c for c in commands if f"agtrace-mcp {c}" not in section]
    assert not missing


def test_gemini_clis_trust_step_is_spelled_out():
    assert "~/.gemini/trustedFolders.json" in README and "`/trust`" in README
