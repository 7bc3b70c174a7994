"""Long turns readable in one call, and nothing cut for good (issue 12, points 3 and 4).

`get_turn` shows a long turn as an outline (one line per step) and any turn in full on request; whatever an
answer cuts says which `get_text` call returns it, and that call returns it whole (from the index when it holds
the text whole, else from the log). When an answer must shrink, the biggest fields are cut first, a field
under 2,000 chars is never cut, and the prompt and final answer never below 8,000.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from claudelog import ClaudeLog
from conftest import api_on

from agtrace_mcp.api import Agtrace
from agtrace_mcp.config import Config

LONG = "11aa0000-cccc-4000-8000-000000000001"  # 40 steps
SHORT = "11aa0000-cccc-4000-8000-000000000002"  # 3 steps
BIG = "11aa0000-cccc-4000-8000-000000000003"  # huge prompt, message, reasoning, arguments and answer
FAIL = "11aa0000-cccc-4000-8000-000000000004"  # a short failing test output and one huge field

PYTEST_FAIL = ("Exit code 1\n============================= test session starts ==============================\n"
               "collected 5 items\n\ntests/test_cart.py ....F\n\n--- FAIL: test_total_rounds\n"
               "    assert round(2.675, 2) == 2.68\nE   AssertionError: 2.67 != 2.68\n"
               "=========================== 1 failed, 4 passed in 0.12s ===========================")
MARKER = re.compile(r"…\[(\d+) chars cut; (get_text\([^)]*\)) returns all\]…")


def _text(n: int, word: str) -> str:
    """Exactly `n` chars of numbered words (so any cut shows which part went)."""
    out, i, size = [], 0, 0
    while size < n:
        w = f"{word}{i}"
        out.append(w)
        size += len(w) + 1
        i += 1
    return " ".join(out)[:n]


def _write(home: Path) -> None:
    log = ClaudeLog(LONG).prompt("audit every module")
    for k in range(38):
        log.tool("Read", {"file_path": f"/home/dev/app/src/mod_{k}.py"})
    log.tool("Bash", {"command": "pytest -q"}, PYTEST_FAIL, is_error=True)
    log.answer("Audit done: one failing test.").write(home)

    log = ClaudeLog(SHORT).prompt("look at the readme")
    log.tool("Read", {"file_path": "/home/dev/app/README.md"})
    log.answer("It describes the cart.").write(home)

    log = ClaudeLog(BIG).prompt(_text(30_000, "need"))
    log._rec("assistant", {"id": "msg_think", "model": "claude-sonnet-4-5-20250929", "role": "assistant",
                           "content": [{"type": "thinking", "thinking": _text(25_000, "idea")},
                                       {"type": "text", "text": _text(20_000, "note")}],
                           "usage": {"input_tokens": 5, "output_tokens": 30}})
    log.tool("Write", {"file_path": "/home/dev/app/big.txt", "content": _text(12_000, "line")}, "written")
    log.answer(_text(24_000, "done")).write(home)

    log = ClaudeLog(FAIL).prompt("run the tests")
    log.tool("Bash", {"command": "pytest -q"}, PYTEST_FAIL, is_error=True)
    log.tool("Read", {"file_path": "/home/dev/app/src/cart.py"}, _text(14_000, "code"))
    log.answer("One test fails: rounding.").write(home)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("reading") / "home"
    _write(h)
    return h


def _api(home: Path, data: Path, budget_tokens: int | None = None, backend: str = "sqlite",
         request: pytest.FixtureRequest | None = None) -> Agtrace:
    cfg = Config.load(env={"HOME": str(home)}, data_dir=data, budget_tokens=budget_tokens)
    cfg.live_seconds = 0
    a = api_on(backend, cfg, request)
    a.refresh()
    return a


@pytest.fixture(scope="module")
def api(home: Path, tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest) -> Agtrace:
    """Over the local index, and over a team database the same logs were pushed to (`backend`)."""
    a = _api(home, tmp_path_factory.mktemp("rdata"), backend=backend, request=request)
    yield a
    a.close()


@pytest.fixture(scope="module")
def small(home: Path, tmp_path_factory: pytest.TempPathFactory, backend: str,
          request: pytest.FixtureRequest) -> Agtrace:
    """An output budget of 11,000 tokens (33,000 chars): answers must shrink (on both stores)."""
    a = _api(home, tmp_path_factory.mktemp("sdata"), budget_tokens=11_000, backend=backend, request=request)
    yield a
    a.close()


def size(view) -> int:
    return len(json.dumps(view.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")))


def calls_in(view) -> list[tuple[int, str]]:
    """(chars cut, get_text call) of every cut marker anywhere in an answer."""
    return [(int(n), c) for n, c in MARKER.findall(view.model_dump_json())]


def run(api: Agtrace, call: str) -> str:
    """Run a marker's `get_text(...)` call (page by page) and return the whole text."""
    kw = dict(re.findall(r"(\w+)=([^,)]+)", call))
    args = {"turn_index": int(kw["turn_index"]) if "turn_index" in kw else None, "field": kw["field"],
            "step_index": int(kw["step_index"]) if "step_index" in kw else None, "call_id": kw.get("call_id")}
    out, offset = "", 0
    while True:
        page = api.get_text(kw["session_id"], args["turn_index"], args["field"], step_index=args["step_index"],
                            call_id=args["call_id"], offset=offset)
        out += page.text
        if page.next_offset is None:
            return out
        offset = page.next_offset


# -- 3. long turns readable in one call ---------------------------------------------------------------------


def test_a_turn_of_more_than_30_steps_comes_as_an_outline(api: Agtrace):
    t = api.get_turn(LONG, 0)
    assert t.detail == "outline" and t.steps == [] and len(t.outline) == 40
    assert t.user.text == "audit every module" and t.final_answer == "Audit done: one failing test."
    assert t.next_cursor is None and "detail=full" in t.note


def test_a_short_turn_comes_in_full(api: Agtrace):
    t = api.get_turn(SHORT, 0)
    assert t.detail == "full" and t.outline is None and len(t.steps) == 2


def test_an_outline_line_says_tool_target_status_exit_code_duration_and_the_error(api: Agtrace):
    line = api.get_turn(LONG, 0).outline[38]
    # the telling line of the output: the FAIL with the reason under it, not the first or the summary line
    assert line == ("#38 Bash: pytest -q → error (exit 1, 1.0s): --- FAIL: test_total_rounds "
                    "assert round(2.675, 2) == 2.68")
    assert api.get_turn(LONG, 0).outline[0] == "#0 Read: /home/dev/app/src/mod_0.py → ok (1.0s)"
    assert api.get_turn(LONG, 0).outline[39] == "#39 says: Audit done: one failing test."


def test_detail_full_pages_a_long_turn_by_steps_without_losing_one(small: Agtrace):
    seen, cursor = [], None
    while True:
        t = small.get_turn(LONG, 0, detail="full", cursor=cursor)
        seen += [s.index for s in t.steps]
        assert size(t) <= small.config.budget_chars
        cursor = t.next_cursor
        if cursor is None:
            break
    assert seen == list(range(40))


def test_an_outline_is_much_smaller_than_the_full_turn(api: Agtrace):
    outline = api.get_turn(LONG, 0, detail="outline")
    full = api.get_turn(LONG, 0, detail="full")
    assert size(outline) * 2 < size(full)


# -- 4. nothing cut is lost ------------------------------------------------------------------------------------


def test_every_cut_names_the_get_text_call_that_returns_all_of_it(small: Agtrace, home: Path, backend: str):
    if backend == "postgres":
        pytest.skip("the whole of a text longer than the index keeps is read from its log, on the machine it was "
                    "written on: a team database answers with what was pushed (test_get_text_reads_a_text_longer…)")
    t = small.get_turn(BIG, 0, detail="full")
    assert size(t) <= small.config.budget_chars
    cuts = calls_in(t)
    fields = {re.search(r"field=(\w+)", c).group(1) for _, c in cuts}
    assert {"prompt", "reasoning", "message", "final_answer", "args"} <= fields
    log = [json.loads(line) for line in ClaudeLog(BIG).path(home).read_text().splitlines()]
    prompt = log[0]["message"]["content"]
    for n, call in cuts:
        whole = run(small, call)
        assert len(whole) >= n
        if "field=prompt" in call:
            assert whole == prompt


def test_get_text_reads_a_text_longer_than_the_index_keeps_from_the_log(api: Agtrace, backend: str):
    page = api.get_text(BIG, 0, "message", step_index=0)
    if backend == "postgres":  # the log is on the machine it was written on: the text as pushed, said so
        assert page.source == "index" and not page.complete and page.total_chars < 20_000
        assert "chars cut" in page.text
        return
    assert page.total_chars == 20_000 and page.source == "log" and page.complete
    reasoning = api.get_text(BIG, 0, "reasoning", step_index=0)
    assert reasoning.total_chars == 25_000
    answer = api.get_text(BIG, -1, "final_answer")
    assert answer.total_chars == len(_text(24_000, "done").strip()) and answer.text.startswith("done0 done1")


def test_get_text_answers_a_short_text_from_the_index(api: Agtrace):
    page = api.get_text(SHORT, 0, "prompt")
    assert (page.text, page.source, page.next_offset) == ("look at the readme", "index", None)


def test_get_text_pages_by_offset(api: Agtrace, backend: str):
    first = api.get_text(BIG, 0, "prompt", limit=12_000)
    assert first.next_offset == len(first.text) == 12_000
    rest = api.get_text(BIG, 0, "prompt", offset=first.next_offset)
    if backend == "postgres":  # the prompt as pushed (its head and tail): paged the same way
        assert len(first.text + rest.text) == first.total_chars and rest.next_offset is None and not rest.complete
        assert (first.text + rest.text).startswith(_text(30_000, "need")[:12_000])
        return
    assert first.text + rest.text == _text(30_000, "need") and rest.next_offset is None


def test_get_text_says_what_it_needs(api: Agtrace):
    from agtrace_mcp.errors import BadArgumentError
    with pytest.raises(BadArgumentError, match="call_id"):
        api.get_text(BIG, 0, "output")
    with pytest.raises(BadArgumentError, match="step_index"):
        api.get_text(BIG, 0, "message")


def test_a_field_under_2000_chars_is_never_cut_even_when_the_answer_must_shrink(small: Agtrace):
    t = small.get_turn(FAIL, 0, detail="full")
    bash = t.steps[0].tools[0]
    assert bash.output == PYTEST_FAIL and "--- FAIL: test_total_rounds" in bash.output
    assert size(t) <= small.config.budget_chars


def test_the_biggest_field_is_cut_first(small: Agtrace):
    t = small.get_turn(FAIL, 0, detail="full")
    read = t.steps[1].tools[0]
    assert read.output_truncated and "returns all" in read.output  # the 14 KB output went first
    assert t.steps[0].tools[0].output == PYTEST_FAIL


def test_the_prompt_and_final_answer_are_never_cut_below_8000_chars(small: Agtrace):
    t = small.get_turn(BIG, 0, detail="full")
    for text in (t.user.text, t.final_answer):
        [m] = list(MARKER.finditer(text))  # one cut, naming the call for the rest
        assert len(text) - len(m.group(0)) >= 8000


# -- the longest turn of the real corpus ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def codex_api(corpus_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Agtrace:
    home = tmp_path_factory.mktemp("rcorpus") / "home"
    cx = home / ".codex" / "sessions" / "2026" / "07" / "30"
    cx.mkdir(parents=True)
    src = next((corpus_root / "codex").glob("v0.145.0_exec-nonzero-exit_compacted_019fb117.jsonl"))
    shutil.copy(src, cx / f"rollout-2026-07-30T00-00-00-{src.stem}.jsonl")
    a = _api(home, tmp_path_factory.mktemp("rcdata"))
    yield a
    a.close()


def test_corpus_169_step_turn_is_one_outline_call_under_the_budget(codex_api: Agtrace):
    t = codex_api.get_turn("019fb117", 0)
    assert t.detail == "outline" and len(t.outline) == 169 and t.next_cursor is None
    assert size(t) <= codex_api.config.budget_chars
    assert t.user.text.startswith("A previous agent produced the plan below") and not MARKER.search(t.user.text)
    # the full turn takes several pages
    pages, cursor, total = 0, None, 0
    while True:
        full = codex_api.get_turn("019fb117", 0, detail="full", cursor=cursor)
        pages, total, cursor = pages + 1, total + size(full), full.next_cursor
        if cursor is None:
            break
    assert pages > 1 and size(t) * 5 < total


def test_corpus_outline_names_the_command_a_poll_waits_on_and_its_failure(codex_api: Agtrace):
    lines = codex_api.get_turn("019fb117", 0).outline
    assert lines[107] == "#107 write_stdin: polls `make runtime-e2e` → ok (5.0s)"
    assert lines[130].startswith("#130 write_stdin: polls `make runtime-e2e` → error (exit 2, 219ms): --- FAIL: "
                                 "TestRuntimeProcessesCompleteDisposableFixture")
    assert lines[168].endswith("→ missing (no result)")


def test_corpus_get_text_returns_an_output_the_index_keeps_only_a_preview_of(codex_api: Agtrace,
                                                                              corpus_root: Path):
    # step 152's output is the (Codex-truncated) log of a killed test run: 40 KB; the index keeps its head and tail
    t = codex_api.get_turn("019fb117", 0, detail="full", cursor=None)
    src = next((corpus_root / "codex").glob("v0.145.0_exec-nonzero-exit_compacted_019fb117.jsonl"))
    raw = next(json.loads(line)["payload"]["output"] for line in src.read_text().splitlines()
               if '"call_ejP0HAomidy0fLTLG1yhrHHr"' in line and '"function_call_output"' in line)
    page, text = codex_api.get_text("019fb117", field="output", call_id="call_ejP0HAomidy0fLTLG1yhrHHr"), ""
    while True:
        text += page.text
        if page.next_offset is None:
            break
        page = codex_api.get_text("019fb117", field="output", call_id="call_ejP0HAomidy0fLTLG1yhrHHr",
                                  offset=page.next_offset)
    assert text == raw and len(raw) > 40_000 and page.source == "log"
    # the plan (12 KB): whole in the outline, and in one get_text call; cut (to 8,000 and more) where the full
    # turn needs the room, with the call that returns it
    assert codex_api.get_turn("019fb117", 0).user.text == codex_api.get_text("019fb117", 0, "prompt").text
    assert "get_text(session_id=019fb117-3a56-72c1-b4e2-2cb18d07b44e, turn_index=0, field=prompt)" in t.user.text
