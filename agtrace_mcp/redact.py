"""Secret masking (DESIGN §7): credentials in the logs become `[REDACTED:<type>:…<last 4>]`.

Masking runs on whole texts, before anything is cut or indexed: at ingest over every text the index keeps,
and over every text read back from a log file before it is paged. A masked value keeps its type and last
four characters so the user can tell which credential it was (and rotate it); the value itself is gone.

What is recognised (SECURITY.md repeats this list):
- provider keys by their prefix: Anthropic, OpenAI, GitHub, GitLab, AWS (AKIA/ASIA), Google, Slack, Stripe,
  npm, Hugging Face, PyPI; JWTs; bearer tokens; PEM private key blocks; passwords in URLs;
- `KEY=value`, `KEY: value` and `"key": "value"` credentials whose key names a password, passphrase, secret,
  token, API/access/private/auth key or credential.

A prefix counts at a word boundary, and also right after an escape (`\\nghp_…` in JSON-escaped text) or a
percent-encoding (`%3DAKIA…`). Keys are matched without lower-casing the text, so a character whose lower
case is longer (Turkish `İ`) cannot shift positions and switch the rule off.

Speed matters (it runs over every indexed text): each token rule is keyed by a literal that must occur in the
text (a substring test runs at GB/s) and its pattern starts with that literal, so `re` jumps from one
occurrence to the next; the key rule first checks for any key word in the lower-cased text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

# PEM bodies: base64, whitespace, JSON escapes (`\n`) and the header lines of encrypted keys. A block cut
# before its END line is masked up to the first character that cannot be part of it.
_PEM_BODY = r"[A-Za-z0-9+/=\s\\:,.\-]"

# (type, literal that must occur, pattern starting with that literal, group holding the secret)
_TOKEN_RULES: list[tuple[str, str, re.Pattern[str], int]] = [
    ("private_key", "-----BEGIN", re.compile(
        r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----" + _PEM_BODY +
        r"*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|(?!" + _PEM_BODY + r"))"), 0),
    ("anthropic_key", "sk-ant-", re.compile(r"sk-ant-[A-Za-z0-9_\-]{20,}"), 0),
    ("openai_key", "sk-", re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"), 0),
    ("github_token", "gh", re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"), 0),
    ("github_token", "github_pat_", re.compile(r"github_pat_[A-Za-z0-9_]{22,}"), 0),
    ("gitlab_token", "glpat-", re.compile(r"glpat-[A-Za-z0-9_\-]{20,}"), 0),
    ("aws_access_key", "AKIA", re.compile(r"AKIA[0-9A-Z]{16}(?![0-9A-Za-z])"), 0),
    ("aws_access_key", "ASIA", re.compile(r"ASIA[0-9A-Z]{16}(?![0-9A-Za-z])"), 0),
    ("google_api_key", "AIza", re.compile(r"AIza[0-9A-Za-z_\-]{35}"), 0),
    ("slack_token", "xox", re.compile(r"xox[abposr]-[A-Za-z0-9\-]{10,}"), 0),
    ("stripe_key", "_live_", re.compile(r"(?:sk|rk|pk)_live_[A-Za-z0-9]{16,}"), 0),
    ("stripe_key", "_test_", re.compile(r"(?:sk|rk)_test_[A-Za-z0-9]{16,}"), 0),
    ("npm_token", "npm_", re.compile(r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"), 0),
    ("huggingface_token", "hf_", re.compile(r"hf_[A-Za-z0-9]{30,}"), 0),
    ("pypi_token", "pypi-", re.compile(r"pypi-[A-Za-z0-9_\-]{50,}"), 0),
    ("jwt", "eyJ", re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"), 0),
    ("bearer_token", "earer ", re.compile(r"[Bb]earer ([A-Za-z0-9._~+/\-]{24,}=*)"), 1),
    ("bearer_token", "EARER ", re.compile(r"BEARER ([A-Za-z0-9._~+/\-]{24,}=*)"), 1),
    ("url_password", "://", re.compile(r"://[^\s:/@\"'<>\\]{1,64}:([^\s@/\"'<>\\]{3,128})@[A-Za-z0-9\[]"), 1),
]
# rules whose literal may sit inside a longer word must start at a word boundary
_NEEDS_BOUNDARY = {"openai_key", "anthropic_key", "github_token", "npm_token", "huggingface_token", "pypi_token",
                   "slack_token", "jwt", "aws_access_key", "google_api_key", "gitlab_token", "stripe_key"}
_HEX = frozenset("0123456789abcdefABCDEF")

# `NAME=value` / `NAME: value` / `"name": "value"` credentials. The key words are found by their stems in
# the lower-cased text (`_key_starts`), then matched case-insensitively in the text itself.
# each key word's start, and what may follow it in a key word ("" = anything); and the words before "key"
_KEY_STEMS = {"pass": "wp", "secret": "", "token": "", "credential": ""}
_KEY_PREFIXES = ("api", "access", "private", "auth")
_CRED_KEY = re.compile(r"pass(?:word|wd|phrase)|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key|"
                       r"auth[_\-]?key|credentials?", re.IGNORECASE | re.ASCII)
# after the key word: more name segments only after a separator ("DB_PASSWORD_FILE", not "tokenizer"); the
# key's closing quote (JSON-escaped once or more), the separator (maybe percent-encoded), the value's opening quote
_CRED_TAIL = re.compile(
    r"(?P<rest>(?:[_.\-][A-Za-z0-9]+)*)(?:\\*[\"'])?(?P<sp1>[ \t]*)(?P<sep>[:=]|%3[DdAa])(?P<sp2>[ \t]*)"
    r"(?P<q>\\*[\"'])?(?P<v>[^\s\"'`,;&<>(){}\[\]\\]{6,200})")
# values that stand for a credential without being one
_PLACEHOLDER = re.compile(
    r"^(?:[*xX.#_\-]+|<[^>]*>?|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%[A-Za-z_(][^%]*%?|\{\{.*|REDACTED.*|\[REDACTED.*|"
    r"(?:your|my|example|sample|dummy|placeholder|changeme|change_me|replace_?me|fake|redacted|hidden|"
    r"none|null|nil|true|false|undefined|string|required|optional|secret|password|passwd|token|"
    r"credentials?)(?:[_\-][A-Za-z_\-]*)?)$", re.IGNORECASE)
# unquoted values after a lower-case key are usually code (`password=password`, `token = self.token`,
# `api_key=os.environ.get(...)`): a name, a dotted name, or only digits and punctuation is not a credential
_CODE_NAME = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+|[\d_.:\-]+)$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One credential in a text: its type, a fingerprint (type and last 4 characters) and its span."""

    type: str
    fingerprint: str
    start: int
    end: int


def _fingerprint(kind: str, value: str) -> str:
    return f"{kind}:…{value[-4:]}" if len(value) >= 12 else f"{kind}:…"


def _after_break(text: str, i: int, underscore_joins: bool) -> bool:
    """Does position `i` start a word: after a non-word character, an escape (`\\n`, `\\u0022`) or a
    percent-encoding (`%3D`)?"""
    if i == 0:
        return True
    prev = text[i - 1]
    if not prev.isalnum() and not (underscore_joins and prev == "_"):
        return True
    if i >= 2 and text[i - 2] == "\\":
        return True
    if i >= 3 and text[i - 3] == "%" and text[i - 2] in _HEX and prev in _HEX:
        return True
    return i >= 6 and text[i - 6] == "\\" and text[i - 5] in "uU" and all(c in _HEX for c in text[i - 4:i])


def _literal_ok(value: str, loose: bool) -> bool:
    """Is `value` (after a credential key) a credential? `loose`: it is certainly a literal (quoted, or an
    upper-case environment assignment), so any value but a placeholder is one."""
    if _PLACEHOLDER.match(value) or "****" in value:
        return False
    if loose:
        return True
    if len(value) < 8 or _CODE_NAME.match(value):
        return False
    if len(value) < 24 and value.replace("_", "").isalpha() and ("_" in value or not value.islower()):
        return False  # an identifier ("credentialSourceFunc", "token_value"), not a credential
    return True


def _key_starts(text: str, low: str) -> list[int]:
    """Where a key word may start in `text`. Found with str.find in the lower-cased copy (a fast search per
    stem, where a case-insensitive regex crawls at a few MB/s); its positions are those of `text` only when
    lower-casing kept every character one character long, so otherwise the regex looks (a rare text)."""
    if len(low) != len(text):
        return [m.start() for m in _CRED_KEY.finditer(text)]
    starts = []
    for stem, after in _KEY_STEMS.items():
        n = len(stem)
        i = low.find(stem)
        while i >= 0:
            if not after or low[i + n: i + n + 1] in after:  # "passed", "passage": not key words
                starts.append(i)
            i = low.find(stem, i + n)
    i = low.find("key")  # api_key, access-key, privatekey, auth_key: one search for the four
    while i >= 0:
        j = i - 1 if i and low[i - 1] in "_-" else i
        for prefix in _KEY_PREFIXES:
            if low.startswith(prefix, j - len(prefix)) and j >= len(prefix):
                starts.append(j - len(prefix))
                break
        i = low.find("key", i + 3)
    return sorted(starts)


def _credentials(text: str, low: str, taken: list[tuple[int, int]]) -> Iterator[Finding]:
    for ks in _key_starts(text, low):
        if not _after_break(text, ks, underscore_joins=False):
            continue  # "tTokenUsage", "passthrough": the key word is inside another word
        km = _CRED_KEY.match(text, ks)
        if km is None:
            continue
        m = _CRED_TAIL.match(text, km.end())
        if m is None:
            continue
        s, e = m.span("v")
        value = text[s:e]
        if e < len(text) and text[e] in "([":
            continue  # a call or a subscript: code
        key_start = ks
        while key_start > 0 and (text[key_start - 1].isalnum() or text[key_start - 1] in "_-"):
            key_start -= 1
        key = text[key_start:ks] + km.group(0) + m.group("rest")
        quoted = m.group("q") is not None
        env = (key.upper() == key and m.group("sep") in ("=", "%3D", "%3d") and not m.group("sp1")
               and not m.group("sp2"))
        # a key that goes on after its key word names something about the credential (DB_PASSWORD_FILE,
        # TOKEN_COUNT): only a value that looks like one counts
        loose = (quoted or env) and not m.group("rest")
        if _literal_ok(value, loose) and all(s >= b or e <= a for a, b in taken):
            taken.append((s, e))
            yield Finding("credential", _fingerprint("credential", value), s, e)


def find_secrets(text: str) -> Iterator[Finding]:
    """Where credentials appear in `text` (value positions; the value itself is never returned)."""
    if not text:
        return
    taken: list[tuple[int, int]] = []
    for kind, lit, rx, group in _TOKEN_RULES:
        if lit not in text:
            continue
        for m in rx.finditer(text):
            st = m.start()
            if kind in _NEEDS_BOUNDARY and not _after_break(text, st, underscore_joins=True):
                continue
            s, e = m.span(group)
            if "REDACTED" in text[s:e]:
                continue  # masking is idempotent: an already masked value (highlighted or not) is no secret
            if all(s >= b or e <= a for a, b in taken):
                taken.append((s, e))
                yield Finding(kind, _fingerprint(kind, text[s:e]), s, e)
    low = text.lower()
    if "key" in low or any(w in low for w in _KEY_STEMS):
        yield from _credentials(text, low, taken)


def mask_found(text: str, found: list[Finding]) -> str:
    """`text` with the spans of `found` replaced by their `[REDACTED:…]` markers."""
    if not found:
        return text
    out, pos = [], 0
    for f in sorted(found, key=lambda f: f.start):
        out.append(text[pos:f.start])
        out.append(f"[REDACTED:{f.fingerprint}]")
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def mask(text: str) -> str:
    """`text` with every credential replaced by `[REDACTED:<type>:…<last 4>]`."""
    if not text:
        return text
    return mask_found(text, list(find_secrets(text)))


def mask_with_findings(text: str) -> tuple[str, list[Finding]]:
    """The masked text and what was masked (positions are in the original text)."""
    if not text:
        return text, []
    found = sorted(find_secrets(text), key=lambda f: f.start)
    return mask_found(text, found), found


def mask_value(value: Any) -> Any:
    """Mask every string (keys too) inside a JSON-like value; iterative, so any depth of nesting works."""
    if isinstance(value, str):
        return mask(value)
    if not isinstance(value, (dict, list)):
        return value
    root: Any = dict(value) if isinstance(value, dict) else list(value)
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            keys = list(node)
            if any(isinstance(k, str) and mask(k) != k for k in keys):
                items = [(mask(k) if isinstance(k, str) else k, v) for k, v in node.items()]
                node.clear()
                node.update(items)
            pairs: Any = list(node.items())
        else:
            pairs = list(enumerate(node))
        for k, v in pairs:
            if isinstance(v, str):
                node[k] = mask(v)
            elif isinstance(v, dict):
                node[k] = dict(v)
                stack.append(node[k])
            elif isinstance(v, list):
                node[k] = list(v)
                stack.append(node[k])
    return root


def mask_model(model: BaseModel) -> BaseModel:
    """Mask every string field of a pydantic model tree, in place; returns the model."""
    for name in type(model).model_fields:
        v = getattr(model, name)
        if isinstance(v, str):
            nv = mask(v)
            if nv is not v:
                object.__setattr__(model, name, nv)
        elif isinstance(v, BaseModel):
            mask_model(v)
        elif isinstance(v, list):
            for i, item in enumerate(v):
                if isinstance(item, BaseModel):
                    mask_model(item)
                elif isinstance(item, (str, dict, list)):
                    v[i] = mask_value(item)
        elif isinstance(v, dict):
            object.__setattr__(model, name, mask_value(v))
    return model
