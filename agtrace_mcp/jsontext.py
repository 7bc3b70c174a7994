"""JSON text with escapes of lone UTF-16 surrogates (`"\\ud800"`): legal JSON, but no Unicode text.

orjson and pydantic refuse such a document outright, and a Python string holding a lone surrogate can be
neither written to SQLite nor printed. Readers of logs turn each such escape into U+FFFD and go on; the MCP
transports turn it into U+FDD0 (a noncharacter, never in real text), which the argument checks then refuse
with a message instead of leaving the call unanswered.
"""

from __future__ import annotations

import re

# escaped backslashes first, so that `\\ud800` (a backslash, then the letters) is left as it is; then a
# valid pair; then a lone half
_ESCAPES = re.compile(rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
                      rb"|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")

REPLACEMENT = b"\\ufffd"  # U+FFFD: what a reader of logs keeps
ARGUMENT_MARK = b"\\ufdd0"  # U+FDD0: marks a lone surrogate in a client's arguments (refused by the checks)


def replace_lone_surrogates(raw: bytes, with_: bytes = REPLACEMENT) -> bytes:
    """JSON text with every escape of a lone surrogate replaced by the escape `with_`."""
    if b"\\u" not in raw:
        return raw

    def sub(m: re.Match[bytes]) -> bytes:
        return with_ if len(m.group(0)) == 6 else m.group(0)

    return _ESCAPES.sub(sub, raw)
