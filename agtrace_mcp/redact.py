"""Secret masking of everything that leaves the process (DESIGN §7).

Logs hold whatever tools printed: API keys, tokens, private keys, passwords in URLs. Every response is
masked by default; a masked value becomes `[REDACTED:<type>:…<last 4>]` so the user can still tell which
credential it was (and rotate it) without the value ever being returned.

Speed matters (every response and every indexed text is scanned), so each rule is keyed by a literal that
must occur in the text (a substring test runs at GB/s) and its pattern starts with that literal (Python's
`re` then skips ahead with a fast literal search).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

# (type, literal that must occur, pattern starting with that literal, group holding the secret)
_TOKEN_RULES: list[tuple[str, str, re.Pattern[str], int]] = [
    ("private_key", "-----BEGIN", re.compile(
        r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)"), 0),
    ("anthropic_key", "sk-ant-", re.compile(r"sk-ant-[A-Za-z0-9_\-]{20,}"), 0),
    ("openai_key", "sk-", re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"), 0),
    ("github_token", "gh", re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"), 0),
    ("github_token", "github_pat_", re.compile(r"github_pat_[A-Za-z0-9_]{22,}"), 0),
    ("gitlab_token", "glpat-", re.compile(r"glpat-[A-Za-z0-9_\-]{20,}"), 0),
    ("aws_access_key", "AKIA", re.compile(r"AKIA[0-9A-Z]{16}(?![0-9A-Za-z])"), 0),
    ("aws_access_key", "ASIA", re.compile(r"ASIA[0-9A-Z]{16}(?![0-9A-Za-z])"), 0),
    ("google_api_key", "AIza", re.compile(r"AIza[0-9A-Za-z_\-]{35}"), 0),
    ("slack_token", "xox", re.compile(r"xox[abposr]-[A-Za-z0-9\-]{10,}"), 0),
    ("stripe_key", "_live_", re.compile(r"(?:sk|rk)_live_[A-Za-z0-9]{16,}"), 0),
    ("stripe_key", "_test_", re.compile(r"(?:sk|rk)_test_[A-Za-z0-9]{16,}"), 0),
    ("npm_token", "npm_", re.compile(r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"), 0),
    ("huggingface_token", "hf_", re.compile(r"hf_[A-Za-z0-9]{30,}"), 0),
    ("pypi_token", "pypi-", re.compile(r"pypi-[A-Za-z0-9_\-]{50,}"), 0),
    ("jwt", "eyJ", re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"), 0),
    ("bearer_token", "earer ", re.compile(r"[Bb]earer ([A-Za-z0-9._~+/\-]{24,}=*)"), 1),
    ("bearer_token", "EARER ", re.compile(r"BEARER ([A-Za-z0-9._~+/\-]{24,}=*)"), 1),
    ("url_password", "://", re.compile(r"://[^\s:/@\"'<>]{1,64}:([^\s@/\"'<>]{3,128})@[A-Za-z0-9\[]"), 1),
]
# rules whose literal may sit inside a longer word must start at a word boundary
_NEEDS_BOUNDARY = {"openai_key", "anthropic_key", "github_token", "npm_token", "huggingface_token", "pypi_token",
                   "slack_token", "jwt", "aws_access_key", "google_api_key", "gitlab_token", "stripe_key"}

# `NAME=value` / `"name": "value"` credentials: found by keyword on the lower-cased text, then checked
_CRED_WORDS = ("password", "passwd", "passphrase", "secret", "token", "api_key", "apikey", "api-key", "access_key",
               "private_key", "credential", "auth_key")
_CRED_KEY = re.compile(r"pass(?:word|wd|phrase)|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key|"
                       r"auth[_\-]?key|credentials?")
# after the keyword: more name segments only after a separator ("DB_PASSWORD_FILE", not "tokenizer")
_CRED_TAIL = re.compile(r"(?:[_.\-][A-Za-z0-9]+)*[\"']?[ \t]*[:=][ \t]*[\"']?([^\s\"'`,;&<>(){}\[\]\\]{8,200})")
_NOT_A_SECRET = re.compile(
    r"^(?:[*xX.]+|<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%[A-Za-z_(][^%]*%?|\{\{.*|REDACTED.*|\[REDACTED.*|"
    r"(?:your|my|example|sample|dummy|placeholder|changeme|change_me|test|none|null|true|false|undefined)\b.*|"
    r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?:\(.*)?|[A-Za-z_]+\(.*|[\d_.:\-]+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    fingerprint: str
    start: int
    end: int


def _fingerprint(kind: str, value: str) -> str:
    return f"{kind}:…{value[-4:]}" if len(value) >= 12 else f"{kind}:…"


def _looks_secret(value: str) -> bool:
    if _NOT_A_SECRET.match(value):
        return False
    if len(value) < 24 and value.replace("_", "").isalpha():
        return False  # a plain word or identifier ("credentialSourceFunc"), not a credential
    if "****" in value:
        return False  # already masked by whoever printed it
    return True


def find_secrets(text: str) -> Iterator[Finding]:
    """Where credentials appear in `text` (value positions; the value itself is never returned)."""
    if not text:
        return
    taken: list[tuple[int, int]] = []

    def free(s: int, e: int) -> bool:
        return not any(s < b and e > a for a, b in taken)

    for kind, lit, rx, group in _TOKEN_RULES:
        if lit not in text:
            continue
        for m in rx.finditer(text):
            st = m.start()
            if kind in _NEEDS_BOUNDARY and st > 0 and (text[st - 1].isalnum() or text[st - 1] == "_"):
                continue
            s, e = m.span(group)
            if text.startswith("[REDACTED", s):
                continue  # masking is idempotent: an already masked value is not a secret
            if free(s, e):
                taken.append((s, e))
                yield Finding(kind, _fingerprint(kind, text[s:e]), s, e)
    low = text.lower()
    if not any(w in low for w in _CRED_WORDS) or len(low) != len(text):
        return
    for km in _CRED_KEY.finditer(low):
        ks = km.start()
        if ks > 0 and low[ks - 1].isalnum():
            continue  # "tTokenUsage": the keyword is inside another word
        m = _CRED_TAIL.match(text, km.end())
        if m is None:
            continue
        s, e = m.span(1)
        value = text[s:e]
        if _looks_secret(value) and free(s, e):
            taken.append((s, e))
            yield Finding("credential", _fingerprint("credential", value), s, e)


def mask(text: str) -> str:
    """`text` with every credential replaced by `[REDACTED:<type>:…<last 4>]`."""
    if not text:
        return text
    found = sorted(find_secrets(text), key=lambda f: f.start)
    if not found:
        return text
    out, pos = [], 0
    for f in found:
        out.append(text[pos:f.start])
        out.append(f"[REDACTED:{f.fingerprint}]")
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def mask_value(value: Any) -> Any:
    """Mask every string inside a JSON-like value."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return value


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
