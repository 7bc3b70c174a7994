"""Token and context use (`get_usage`), checked against sums computed here from the RAW usage records of the
logs (a fixture written for it, and real Claude and Codex files from the corpus), never against our own
output. Also the context-window table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config
from agtrace_mcp.engine.context_windows import context_window, resolve_window
from agtrace_mcp.errors import BadArgumentError, NotFoundError

SID = "5ca1ab1e-0000-4000-8000-000000000001"
BIG = "5ca1ab1e-0000-4000-8000-000000000002"
AGENT = "a0123456789abcdef"
CWD = "/home/dev/usage"


def _rec(kind: str, n: int, ts: str, message: dict | None = None, sid: str = SID, **kw: object) -> dict:
    r = {"parentUuid": None, "isSidechain": False, "type": kind, "sessionId": sid, "uuid": f"{sid[:4]}-{n}",
         "timestamp": ts, "cwd": CWD, "version": "2.1.40"}
    if message is not None:
        r["message"] = message
    r.update(kw)
    return r


def _assistant(n: int, ts: str, mid: str, blocks: list[dict], usage: dict, **kw: object) -> dict:
    return _rec("assistant", n, ts, {"id": mid, "model": "claude-sonnet-4-5-20250929", "role": "assistant",
                                     "content": blocks, "usage": usage}, **kw)


def _usage(i: int, cr: int, cw: int, o: int) -> dict:
    return {"input_tokens": i, "cache_read_input_tokens": cr, "cache_creation_input_tokens": cw, "output_tokens": o}


def _result(n: int, ts: str, cid: str, text: str, **kw: object) -> dict:
    return _rec("user", n, ts, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": cid,
                                                             "content": text}]}, **kw)


def write_usage_home(home: Path) -> tuple[Path, Path]:
    """A session with split lines per message (usage repeated, output final only on the last line), a big
    tool output before and a smaller one after an automatic compaction, and a subagent."""
    recs = [
        _rec("user", 1, "2026-06-03T10:00:00.000Z", {"role": "user", "content": "explain the billing module"}),
        # one response written as two lines (text, then tool_use) that repeat the usage; output final on the last
        _assistant(2, "2026-06-03T10:00:02.000Z", "msg_a", [{"type": "text", "text": "Reading it."}],
                   _usage(12, 0, 30000, 1)),
        _assistant(3, "2026-06-03T10:00:02.100Z", "msg_a",
                   [{"type": "tool_use", "id": "toolu_big", "name": "Read", "input": {"file_path": "billing.py"}}],
                   _usage(12, 0, 30000, 140)),
        _result(4, "2026-06-03T10:00:02.500Z", "toolu_big", "x" * 90_000),
        _assistant(5, "2026-06-03T10:00:05.000Z", "msg_b",
                   [{"type": "tool_use", "id": "toolu_task", "name": "Task",
                     "input": {"description": "scan", "prompt": "find the tax code", "subagent_type": "Explore"}}],
                   _usage(4, 30000, 25000, 60)),
        _result(6, "2026-06-03T10:01:05.000Z", "toolu_task", "found it in tax.py",
                toolUseResult={"agentId": AGENT, "status": "completed"}),
        _assistant(7, "2026-06-03T10:01:07.000Z", "msg_c", [{"type": "text", "text": "It computes invoices."}],
                   _usage(3, 55000, 200, 400)),
        _rec("user", 8, "2026-06-03T10:05:00.000Z", {"role": "user", "content": "now refactor it"}),
        _assistant(9, "2026-06-03T10:05:03.000Z", "msg_d",
                   [{"type": "tool_use", "id": "toolu_grep", "name": "Grep", "input": {"pattern": "Invoice"}}],
                   _usage(5, 55200, 3000, 80)),
        _result(10, "2026-06-03T10:05:04.000Z", "toolu_grep", "y" * 5000),
        _rec("system", 11, "2026-06-03T10:06:00.000Z", subtype="compact_boundary", content="Conversation compacted",
             compactMetadata={"trigger": "auto", "preTokens": 58711}),
        _rec("user", 12, "2026-06-03T10:06:00.100Z", {"role": "user", "content": "This session is being continued "
                                                                              "from a previous conversation…"},
             isCompactSummary=True),
        _assistant(13, "2026-06-03T10:06:05.000Z", "msg_e",
                   [{"type": "tool_use", "id": "toolu_after", "name": "Read", "input": {"file_path": "tax.py"}}],
                   _usage(6, 0, 9000, 50)),
        _result(14, "2026-06-03T10:06:06.000Z", "toolu_after", "z" * 7000),
        _assistant(15, "2026-06-03T10:06:09.000Z", "msg_f", [{"type": "text", "text": "Refactored."}],
                   _usage(2, 9000, 7100, 220)),
    ]
    proj = home / ".claude" / "projects" / "-home-dev-usage"
    (proj / SID / "subagents").mkdir(parents=True, exist_ok=True)
    main = proj / f"{SID}.jsonl"
    main.write_text("".join(json.dumps(r) + "\n" for r in recs))
    sub = [
        _rec("user", 1, "2026-06-03T10:00:06.000Z", {"role": "user", "content": "find the tax code"},
             isSidechain=True, agentId=AGENT),
        _assistant(2, "2026-06-03T10:00:08.000Z", "msg_s1",
                   [{"type": "tool_use", "id": "toolu_s1", "name": "Grep", "input": {"pattern": "tax"}}],
                   _usage(3, 0, 4000, 25), isSidechain=True, agentId=AGENT),
        _result(3, "2026-06-03T10:00:09.000Z", "toolu_s1", "tax.py:1", isSidechain=True, agentId=AGENT),
        _assistant(4, "2026-06-03T10:00:11.000Z", "msg_s2", [{"type": "text", "text": "tax.py"}],
                   _usage(2, 4000, 90, 15), isSidechain=True, agentId=AGENT),
    ]
    for r in sub:
        r["uuid"] = "s" + r["uuid"]
    agent = proj / SID / "subagents" / f"agent-{AGENT}.jsonl"
    agent.write_text("".join(json.dumps(r) + "\n" for r in sub))
    (proj / SID / "subagents" / f"agent-{AGENT}.meta.json").write_text('{"agentType": "Explore"}')
    # a Claude session whose prompt grew past 200k: it ran with the 1M window
    big = [_rec("user", 1, "2026-06-04T10:00:00.000Z", {"role": "user", "content": "read the whole repo"}, sid=BIG),
           _assistant(2, "2026-06-04T10:00:02.000Z", "msg_big", [{"type": "text", "text": "Done."}],
                      _usage(10, 250_000, 20_000, 100), sid=BIG)]
    (proj / f"{BIG}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in big))
    return main, agent


# -- the raw side: sums computed from the JSON, independently of the product ---------------------


def raw_claude(path: Path, sidechain: bool = False) -> dict:
    """Per message id (last line wins, in order of first appearance): input, cache_read, cache_write, output;
    plus where the compact boundary is (index into that order) and its preTokens."""
    msgs: dict[str, tuple[int, int, int, int]] = {}
    boundary, pre = None, None
    results: list[tuple[int, str, int]] = []  # (message position, tool_use_id, content length)
    dec = json.JSONDecoder()
    for line in path.read_text().splitlines():
        pos = 0
        while pos < len(line):
            try:
                o, pos = dec.raw_decode(line, pos)
            except json.JSONDecodeError:
                break
            while pos < len(line) and line[pos].isspace():
                pos += 1
            if bool(o.get("isSidechain")) != sidechain:
                continue
            if o.get("type") == "system" and o.get("subtype") == "compact_boundary":
                boundary, pre = len(msgs), (o.get("compactMetadata") or {}).get("preTokens")
            m = o.get("message") or {}
            if o.get("type") == "assistant" and isinstance(m.get("usage"), dict):
                u = m["usage"]
                msgs[m["id"]] = (u.get("input_tokens", 0), u.get("cache_read_input_tokens", 0),
                                 u.get("cache_creation_input_tokens", 0), u.get("output_tokens", 0))
            if o.get("type") == "user" and isinstance(m.get("content"), list):
                for b in m["content"]:
                    if isinstance(b, dict) and b.get("type") == "tool_result":
                        c = b.get("content")
                        text = c if isinstance(c, str) else "".join(x.get("text", "") for x in c if isinstance(x, dict))
                        results.append((len(msgs), b["tool_use_id"], len(text)))
    usage = list(msgs.values())
    ctx = [i + cr + cw for i, cr, cw, _ in usage]
    return {"input": sum(u[0] for u in usage), "cache_read": sum(u[1] for u in usage),
            "cache_write": sum(u[2] for u in usage), "output": sum(u[3] for u in usage), "contexts": ctx,
            "boundary": boundary, "pre": pre, "results": results}


@pytest.fixture(scope="module")
def usage_api(tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest):
    """Over the local index, and over a team database the same logs were pushed to (`backend`)."""
    from conftest import api_on

    home = tmp_path_factory.mktemp("usage") / "home"
    main, agent = write_usage_home(home)
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("usagedata"))
    cfg.live_seconds = 0
    api = api_on(backend, cfg, request)
    api.refresh()
    yield api, main, agent
    api.close()


def test_session_tokens_equal_the_deduplicated_raw_sums(usage_api):
    api, main, _ = usage_api
    raw = raw_claude(main)
    u = api.get_usage(SID)
    t = u.tokens
    assert (t.input, t.cache_read, t.cache_write, t.output) == \
           (raw["input"], raw["cache_read"], raw["cache_write"], raw["output"])
    assert t.output == 140 + 60 + 400 + 80 + 50 + 220  # the split message counted once, with its final output
    prompt = raw["input"] + raw["cache_read"] + raw["cache_write"]
    assert t.cache_hit_rate == round(raw["cache_read"] / prompt, 4)


def test_peak_and_current_context_against_the_model_window(usage_api):
    api, main, _ = usage_api
    raw = raw_claude(main)
    c = api.get_usage(SID).context
    assert c.peak_context_tokens == max(raw["contexts"]) and c.last_context_tokens == raw["contexts"][-1]
    assert (c.context_window, c.window_source, c.model) == (200_000, "model_table", "claude-sonnet-4-5-20250929")
    assert c.peak_pct == round(100 * max(raw["contexts"]) / 200_000, 1)


def test_compaction_tokens_before_and_after(usage_api):
    api, main, _ = usage_api
    raw = raw_claude(main)
    [cp] = api.get_usage(SID).compactions
    assert cp.tokens_before == raw["pre"] == 58711
    assert cp.tokens_after == raw["contexts"][raw["boundary"]]  # the first response after the boundary
    assert (cp.turn_index, cp.trigger) == (2, "auto")


def test_largest_outputs_still_in_context_are_those_after_the_last_compaction(usage_api):
    api, main, _ = usage_api
    raw = raw_claude(main)
    after = sorted(((n, cid) for pos, cid, n in raw["results"] if pos > raw["boundary"]), reverse=True)
    outs = api.get_usage(SID).largest_outputs_in_context
    assert [(o.output_chars, o.call_id) for o in outs] == after
    assert "toolu_big" not in [o.call_id for o in outs]  # 90,000 chars, but compacted away


def test_subagent_tokens_are_rolled_up_into_the_parent(usage_api):
    api, main, agent = usage_api
    own, sub = raw_claude(main), raw_claude(agent, sidechain=True)
    u = api.get_usage(SID)
    assert u.subagents == 1
    st = u.subagent_tokens
    assert (st.input, st.cache_read, st.cache_write, st.output) == \
           (sub["input"], sub["cache_read"], sub["cache_write"], sub["output"])
    both = u.tokens_with_subagents
    assert both.total == sum(own[k] + sub[k] for k in ("input", "cache_read", "cache_write", "output"))
    # per model, subagents included
    assert sum(m.tokens.total for m in u.by_model) == both.total


def test_turn_usage_has_per_step_rows_from_the_raw_messages(usage_api):
    api, main, _ = usage_api
    raw = raw_claude(main)
    u = api.get_usage(SID, turn=0)
    assert u.scope == "turn" and u.turn_index == 0
    assert [s.context_tokens for s in u.steps] == raw["contexts"][:3]
    assert u.subagents == 1  # the Task call of turn 0 spawned it
    assert api.get_usage(SID, turn=1).subagents == 0
    assert api.get_usage(SID, turn=-1).turn_index == 2


def test_session_turn_rows_sum_to_the_session(usage_api):
    api, _, _ = usage_api
    u = api.get_usage(SID)
    assert [t.index for t in u.turns] == [0, 1, 2]
    assert sum(t.tokens.total for t in u.turns) == u.tokens.total
    page = api.get_usage(SID, limit=2)
    assert len(page.turns) == 2 and page.next_cursor
    rest = api.get_usage(SID, limit=2, cursor=page.next_cursor)
    assert [t.index for t in rest.turns] == [2] and rest.next_cursor is None


def test_a_claude_session_past_200k_ran_with_the_1m_window(usage_api):
    api, _, _ = usage_api
    c = api.get_usage(BIG).context
    assert (c.context_window, c.window_source, c.peak_context_tokens) == (1_000_000, "inferred", 270_010)


def test_range_usage_rolls_subagents_into_their_parent(usage_api):
    api, main, agent = usage_api
    r = api.get_usage(project=CWD)
    assert r.scope == "range" and r.sessions_total == 2
    row = next(s for s in r.sessions if s.session_id == SID)
    sub = raw_claude(agent, sidechain=True)
    assert row.subagents == 1 and row.subagent_tokens.output == sub["output"]
    assert r.tokens_with_subagents.total == r.tokens.total + r.subagent_tokens.total


def test_usage_argument_errors(usage_api):
    api, _, _ = usage_api
    with pytest.raises(BadArgumentError, match="session_id"):
        api.get_usage(turn=1)
    with pytest.raises(BadArgumentError, match="range"):
        api.get_usage(SID, project=CWD)
    with pytest.raises(NotFoundError, match="out of range"):
        api.get_usage(SID, turn=9)


# -- the context-window table ---------------------------------------------------------------------


@pytest.mark.parametrize("model,window", [
    ("claude-sonnet-4-5-20250929", 200_000), ("claude-opus-4-6", 200_000), ("claude-3-5-haiku-20241022", 200_000),
    ("claude-sonnet-4-5[1m]", 1_000_000), ("anthropic/claude-opus-4-1", 200_000),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", 200_000), ("gpt-5.1-codex-max", 272_000), ("gpt-5", 272_000),
    ("gpt-5-codex", 272_000), ("gpt-4.1-mini", 1_047_576), ("o3", 200_000), ("gemini-2.5-pro", 1_048_576),
    ("gemini-3-flash-preview", 1_048_576), ("gemini-1.5-pro-002", 2_097_152), ("glm-5", None), ("", None),
    (None, None),
])
def test_context_window_by_model_prefix(model: str | None, window: int | None):
    assert context_window(model) == window


def test_a_recorded_window_is_preferred_to_the_table():
    assert resolve_window(258_400, "gpt-5.1-codex-max") == (258_400, "recorded")
    assert resolve_window(None, "gpt-5.1-codex-max") == (272_000, "model_table")
    assert resolve_window(None, "glm-5") == (None, None)


# -- real logs --------------------------------------------------------------------------------------

CLAUDE_COMPACT = "v2.0.76_compact-boundary_compact-summary_198393f2.jsonl"
CODEX_COMPACT = "v0.145.0_exec-nonzero-exit_compacted_019fb117.jsonl"


@pytest.fixture(scope="module")
def corpus_api(tmp_path_factory: pytest.TempPathFactory):
    from conftest import CORPUS, require_corpus

    require_corpus()
    home = tmp_path_factory.mktemp("cu") / "home"
    proj = home / ".claude" / "projects" / "-corpus"
    proj.mkdir(parents=True)
    shutil.copy(CORPUS / "claude_code" / CLAUDE_COMPACT, proj / "198393f2-22db-477b-ac77-1825bea883ae.jsonl")
    cx = home / ".codex" / "sessions" / "2026" / "07" / "30"
    cx.mkdir(parents=True)
    shutil.copy(CORPUS / "codex" / CODEX_COMPACT,
                cx / "rollout-2026-07-30T03-35-17-019fb117-3a56-72c1-b4e2-2cb18d07b44e.jsonl")
    cfg = Config.load(env={"HOME": str(home)}, data_dir=tmp_path_factory.mktemp("cudata"))
    cfg.live_seconds = 0
    api = Agtrace(cfg)
    api.refresh()
    yield api, home
    api.close()


def test_corpus_claude_compaction_usage_equals_the_raw_records(corpus_api):
    api, home = corpus_api
    raw = raw_claude(home / ".claude/projects/-corpus/198393f2-22db-477b-ac77-1825bea883ae.jsonl")
    u = api.get_usage("198393f2")
    t = u.tokens
    assert (t.input, t.cache_read, t.cache_write, t.output) == \
           (raw["input"], raw["cache_read"], raw["cache_write"], raw["output"])
    assert u.context.peak_context_tokens == max(raw["contexts"])
    [cp] = u.compactions
    assert (cp.trigger, cp.tokens_before) == ("auto", raw["pre"]) and raw["pre"] == 155250
    assert cp.tokens_after == raw["contexts"][raw["boundary"]]


def raw_codex(path: Path) -> dict:
    """token_count records (a repeat of the previous totals skipped): per-step prompt sizes and sums; and the
    prompt sizes on both sides of the `compacted` record."""
    steps, prev, window = [], None, None
    compacted_at = None
    for line in path.read_text().splitlines():
        o = json.loads(line)
        p = o.get("payload") or {}
        if o.get("type") == "compacted":
            compacted_at = len(steps)
        if o.get("type") == "event_msg" and p.get("type") == "token_count" and p.get("info"):
            info = p["info"]
            window = info.get("model_context_window") or window
            if info.get("total_token_usage") == prev:
                continue
            prev = info.get("total_token_usage")
            last = info["last_token_usage"]
            steps.append((last["input_tokens"] - last["cached_input_tokens"], last["cached_input_tokens"],
                          last["output_tokens"], last.get("reasoning_output_tokens", 0)))
    ctx = [i + cr for i, cr, _, _ in steps]
    return {"input": sum(s[0] for s in steps), "cache_read": sum(s[1] for s in steps),
            "output": sum(s[2] for s in steps), "reasoning": sum(s[3] for s in steps), "contexts": ctx,
            "window": window, "before": ctx[compacted_at - 1], "after": ctx[compacted_at]}


def test_corpus_codex_compaction_usage_equals_the_raw_records(corpus_api):
    api, home = corpus_api
    raw = raw_codex(next((home / ".codex/sessions").rglob("rollout-*.jsonl")))
    u = api.get_usage("019fb117")
    t = u.tokens
    assert (t.input, t.cache_read, t.output, t.reasoning) == \
           (raw["input"], raw["cache_read"], raw["output"], raw["reasoning"])
    c = u.context
    assert (c.context_window, c.window_source) == (raw["window"], "recorded") and raw["window"] == 258_400
    assert c.peak_context_tokens == max(raw["contexts"]) and c.last_context_tokens == raw["contexts"][-1]
    [cp] = u.compactions
    assert (cp.tokens_before, cp.tokens_after) == (raw["before"], raw["after"]) == (241_899, 29_686)
    assert cp.turn_index == 0  # mid-turn: the compaction hit the session's only turn
