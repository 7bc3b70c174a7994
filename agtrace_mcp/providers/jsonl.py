"""Tolerant JSONL reading shared by every line-based provider.

- A line holding two JSON values (a lost newline) yields both.
- An undecodable line is skipped and counted (with a sample for `doctor`), never fatal.
- A last line without its newline that does not decode is a write in progress: reading stops before it,
  so the next read (from the returned offset) sees it whole.
- `.zst` files are decompressed as a stream (Codex writes frames without a content size).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import orjson

from .base import ParseStats

CHUNK = 1 << 20
_decoder = json.JSONDecoder()


def decode_values(line: bytes) -> tuple[list[Any], bool]:
    """Decode every JSON value in `line`; the flag says whether some bytes could not be decoded."""
    try:
        return [orjson.loads(line)], False
    except orjson.JSONDecodeError:
        pass
    text = line.decode("utf-8", "replace")
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
        values.append(value)
        pos = end
    return values, garbage


def _open(path: str) -> IO[bytes]:
    fh = open(path, "rb")
    if path.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True, closefd=True)  # type: ignore[return-value]
    return fh


class JsonlReader:
    """Iterate `(line_offset, value)` from `offset`; afterwards `end` is where the next read should start."""

    def __init__(self, path: str, offset: int, stats: ParseStats) -> None:
        self.path = path
        self.offset = offset
        self.stats = stats
        self.end = offset

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        stats = self.stats
        with _open(self.path) as f:
            if self.offset:
                if self.path.endswith(".zst"):
                    left = self.offset
                    while left > 0:
                        got = f.read(min(left, CHUNK))
                        if not got:
                            break
                        left -= len(got)
                else:
                    f.seek(self.offset)
            pos = self.offset  # offset of the first byte of `carry`
            carry: list[bytes] = []
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                stats.bytes += len(chunk)
                parts = chunk.split(b"\n")
                if carry:
                    carry.append(parts[0])
                    parts[0] = b"".join(carry)
                    carry = []
                last = parts.pop()
                for line in parts:
                    start = pos
                    pos += len(line) + 1
                    stats.lines += 1
                    if not line or line.isspace():
                        continue
                    values, garbage = decode_values(line)
                    if garbage or not values:
                        stats.bad(start, "undecodable JSON" if not values else "trailing garbage", line)
                    for v in values:
                        stats.records += 1
                        yield start, v
                if last:
                    carry.append(last)
            self.end = pos
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


def read_line_at(path: str, offset: int) -> list[Any]:
    """Decode the values of the one line that starts at `offset` (for on-demand full outputs)."""
    with _open(path) as f:
        if path.endswith(".zst"):
            left = offset
            while left > 0:
                got = f.read(min(left, CHUNK))
                if not got:
                    return []
                left -= len(got)
        else:
            f.seek(offset)
        pieces: list[bytes] = []
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            nl = chunk.find(b"\n")
            if nl >= 0:
                pieces.append(chunk[:nl])
                break
            pieces.append(chunk)
    values, _ = decode_values(b"".join(pieces))
    return values
