"""Full-text search in a team database that finds what the local index finds.

The local index searches with SQLite FTS5 (`unicode61 remove_diacritics 2`): a token is a run of letters and
digits (anything else separates, `_` and symbols included), lower-cased, diacritics removed; every word of a
query must appear, each one a phrase of its tokens (`foo.bar` = `foo` then `bar`), `pars*` a prefix.

PostgreSQL's own parsers split text differently (hosts, paths, versions and hyphenated words are tokens of
their own), so the tokens are made here, by the pushing machine, the same way for the documents and for the
queries: a document is stored as a `tsvector` literal of its tokens with their positions, and a query
becomes a `tsquery` of `<->` phrases. The database only matches: nothing of PostgreSQL's text search
configuration is used, and the server spends no CPU parsing what every machine pushes.

Known differences from FTS5: PostgreSQL keeps at most 256 positions per token in one document and positions
up to 16,383 (a phrase past those is not found; documents are capped at 16 KB of text, so rarely), and tokens
longer than 2,046 bytes are not indexed.
"""

from __future__ import annotations

import re
import unicodedata

MAX_POSITION = 16_383
MAX_POSITIONS = 256
MAX_LEXEME_BYTES = 2_046

_TOKEN = re.compile(r"[^\W_]+")
_MARKS = re.compile("[\u0300-\u036f]+")  # the combining diacritics FTS5 removes


def tokens(text: str) -> list[str]:
    """The search tokens of `text`, as FTS5's unicode61 tokenizer makes them (see the module docstring)."""
    low = text.lower()
    if not low.isascii():
        low = unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFD", low)))
    return _TOKEN.findall(low)


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


_POS = [str(i) for i in range(MAX_POSITION + 1)]


def kind_lexeme(kind: int) -> str:
    """The lexeme that says what kind of text a document is (prompt, message…): `_k0`…`_k4`. A token never
    holds `_`, so it matches no word; being in the same GIN index as the words, a search for words in one kind
    of text reads only the documents of that kind."""
    return f"_k{kind}"


def tsvector(text: str, kind: int | None = None) -> str:
    """`text` as a tsvector literal: each token with the positions it occurs at (a token is letters and digits
    only, so it needs no quoting inside the literal's quotes), and the kind of text it is."""
    where: dict[str, list[int]] = {}
    for i, tok in enumerate(tokens(text), 1):
        pos = where.get(tok)
        if pos is None:
            where[tok] = [i]
        else:
            pos.append(i)
    out = []
    pos_of = _POS.__getitem__
    for tok, pos in where.items():
        if len(tok) * 4 > MAX_LEXEME_BYTES and len(tok.encode()) > MAX_LEXEME_BYTES:
            continue
        if len(pos) > MAX_POSITIONS:
            pos = pos[:MAX_POSITIONS]
        if pos[-1] > MAX_POSITION:  # past the last position PostgreSQL keeps: all at that one
            pos = sorted({min(p, MAX_POSITION) for p in pos})
        out.append(f"'{tok}':{','.join(map(pos_of, pos))}")
    if kind is not None:
        out.append(f"'{kind_lexeme(kind)}'")
    return " ".join(out)


_PIECE = re.compile(r'"([^"]*)"(\*?)|\b(AND|OR|NOT)\b')


def tsquery(fts5: str, kinds: list[int] | None = None) -> str | None:
    """The FTS5 query the local index runs (`queries.parse_query(...).expr`: quoted phrases, `"word"*` prefixes,
    AND, OR and NOT) as the same tsquery: each phrase its tokens joined by `<->` (a prefix on the last), AND
    `&`, OR `|`, NOT `& !` (FTS5's NOT is binary and binds tighter than AND, AND tighter than OR: the tsquery
    operators bind the same way). With `kinds`, the document must be one of those kinds. None when no phrase
    has a token (FTS5 then finds nothing either)."""
    out: list[str] = []
    op: str | None = None
    for m in _PIECE.finditer(fts5):
        if m.group(3):
            op = m.group(3)
            continue
        toks = tokens(m.group(1))
        if not toks:
            op = None
            continue  # FTS5 ignores an empty phrase beside others
        phrase = " <-> ".join(_quote(t) for t in toks) + (":*" if m.group(2) else "")
        if out:
            out.append({"OR": "|", "NOT": "& !"}.get(op or "AND", "&"))
        out.append(f"({phrase})")
        op = None
    if not out:
        return None
    expr = " ".join(out)
    if kinds:
        expr = f"({expr}) & (" + " | ".join(f"'{kind_lexeme(k)}'" for k in sorted(set(kinds))) + ")"
    return expr
