"""Tolerant JSONL reading shared by every line-based provider.

- A line holding two JSON values (a lost newline) yields both.
- An undecodable line is skipped and counted (with a sample for `doctor`), never fatal.
- A last line without its newline that does not decode is a write in progress: reading stops before it,
  so the next read (from the returned offset) sees it whole.
- `.zst` files are decompressed as a stream (Codex writes frames without a content size), up to a bound.
- Only regular files are read, and no line may cost more than MAX_LINE_BYTES (see `files.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson

from ..jsontext import replace_lone_surrogates
from .base import ParseStats
from .files import MAX_LINE_BYTES, BoundedReader, open_log

CHUNK = 1 << 20
_decoder = json.JSONDecoder()


# Nesting deeper than this is cut (the deeper value becomes a marker string): real records are a few dozen
# levels deep at most, while a hostile 900-level value would break every recursive step after parsing
# (pickling the resume state, serialising an answer) and with it the whole index.
MAX_DEPTH = 100
DEPTH_MARK = f"[nested deeper than {MAX_DEPTH} levels: cut]"


def clip_depth(value: Any, limit: int = MAX_DEPTH) -> Any:
    """`value` with every container deeper than `limit` replaced by DEPTH_MARK (in place; iterative)."""
    if not isinstance(value, (dict, list)):
        return value
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in list(items):
            if isinstance(v, (dict, list)):
                if depth >= limit:
                    node[k] = DEPTH_MARK
                else:
                    stack.append((v, depth + 1))
    return value


def _maybe_deep(raw: bytes | str) -> bool:
    # a cheap upper bound on the nesting (brackets inside strings count too): only such values are walked
    return (raw.count(b"{") + raw.count(b"[") if isinstance(raw, bytes)
            else raw.count("{") + raw.count("[")) > MAX_DEPTH


def as_dict(value: Any) -> dict[str, Any]:
    """A record's field that should hold an object: the object, or {} when it holds something else."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """A record's field that should hold an array: the array, or [] when it holds something else."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    """A record's field that should hold text: the text, or "" when it holds something else."""
    return value if isinstance(value, str) else ""


def loads(raw: bytes | str) -> Any:
    """orjson.loads, except that an escaped lone surrogate is read as U+FFFD instead of failing the value,
    and nesting deeper than MAX_DEPTH is cut."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if "surrogate" not in str(e):
            raise
        b = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
        value = orjson.loads(replace_lone_surrogates(b))
    return clip_depth(value) if _maybe_deep(raw) else value


def decode_values(line: bytes) -> tuple[list[Any], bool]:
    """Decode every JSON value in `line`; the flag says whether some bytes could not be decoded."""
    try:
        return [loads(line)], False
    except orjson.JSONDecodeError:
        pass
    text = replace_lone_surrogates(line).decode("utf-8", "replace")
    values: list[Any] = []
    pos, n = 0, len(text)
    garbage = False
    while pos < n:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            break
        try:
            value, end = _decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
            garbage = True
            nxt = text.find("{", pos + 1)  # resynchronise on the next object start
            if nxt < 0:
                break
            pos = nxt
            continue
        values.append(clip_depth(value))
        pos = end
    return values, garbage


class JsonlReader:
    """Iterate `(line_offset, value)` from `offset`; afterwards `end` is where the next read should start.

    A line longer than MAX_LINE_BYTES is never held in memory: it is read past, skipped and counted
    (`stats.long_lines`). A `.zst` stream stops at its bound (`stats.stopped_at_bound`).
    """

    def __init__(self, path: str, offset: int, stats: ParseStats) -> None:
        self.path = path
        self.offset = offset
        self.stats = stats
        self.end = offset

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        stats = self.stats
        with open_log(self.path) as f:
            if self.offset:
                _skip(f, self.path, self.offset)
            pos = self.offset  # offset of the first byte of `carry`
            carry: list[bytes] = []
            carried = 0
            skipping = False  # inside a line that is over the cap: drop bytes until its newline
            skipped_from = pos
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                stats.bytes += len(chunk)
                if skipping:
                    nl = chunk.find(b"\n")
                    if nl < 0:
                        pos += len(chunk)
                        continue
                    pos += nl + 1
                    chunk = chunk[nl + 1:]
                    skipping = False
                    stats.lines += 1
                parts = chunk.split(b"\n")
                if carry:
                    carry.append(parts[0])
                    parts[0] = b"".join(carry)
                    carry = []
                    carried = 0
                last = parts.pop()
                for line in parts:
                    start = pos
                    pos += len(line) + 1
                    stats.lines += 1
                    if not line or line.isspace():
                        continue
                    if len(line) > MAX_LINE_BYTES:
                        stats.long_line(start)
                        continue
                    values, garbage = decode_values(line)
                    if garbage or not values:
                        stats.bad(start, "undecodable JSON" if not values else "trailing garbage", line)
                    for v in values:
                        stats.records += 1
                        yield start, v
                if last:
                    carry.append(last)
                    carried += len(last)
                    if carried > MAX_LINE_BYTES:  # a line over the cap: count it, keep none of it
                        stats.long_line(pos)
                        skipped_from = pos
                        pos += carried
                        carry = []
                        carried = 0
                        skipping = True
            if isinstance(f, BoundedReader) and f.hit:
                stats.stopped_at_bound = True
                stats.bad(pos, "decompressed size over its bound (a zstd bomb?); the rest is not read", b"")
            self.end = pos
            if skipping:
                # the over-long line has no newline yet (still being written?): the next read starts at it
                stats.torn_tail = True
                self.end = skipped_from
                return
            if carry:
                line = b"".join(carry)
                if line.strip():
                    values, garbage = decode_values(line)
                    if values and not garbage:
                        stats.lines += 1
                        for v in values:
                            stats.records += 1
                            yield pos, v
                        self.end = pos + len(line)
                    else:
                        stats.torn_tail = True
                else:
                    self.end = pos + len(line)


def _skip(f: Any, path: str, offset: int) -> None:
    """Move a fresh stream to `offset` (a `.zst` stream cannot seek: read up to it)."""
    if path.endswith(".zst"):
        left = offset
        while left > 0:
            got = f.read(min(left, CHUNK))
            if not got:
                break
            left -= len(got)
    else:
        f.seek(offset)


def read_line_at(path: str, offset: int) -> list[Any]:
    """Decode the values of the one line that starts at `offset` (for on-demand full outputs); a line over
    MAX_LINE_BYTES gives nothing (it was skipped when indexed too)."""
    with open_log(path) as f:
        _skip(f, path, offset)
        pieces: list[bytes] = []
        size = 0
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            nl = chunk.find(b"\n")
            if nl >= 0:
                pieces.append(chunk[:nl])
                size += nl
                break
            pieces.append(chunk)
            size += len(chunk)
            if size > MAX_LINE_BYTES:
                return []
    if size > MAX_LINE_BYTES:
        return []
    values, _ = decode_values(b"".join(pieces))
    return values
