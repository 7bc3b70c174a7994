"""Secret masking of everything that leaves the process (DESIGN §7).

Logs hold whatever tools printed: API keys, tokens, private keys, passwords in URLs. Every response is
masked by default; a masked value becomes `[REDACTED:<type>:…<last 4>]` so the user can still tell which
credential it was (and rotate it) without the value ever being returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

# (type, pattern, group holding the secret: 0 = whole match)
_RULES: list[tuple[str, re.Pattern[str], int]] = [
    ("private_key", re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|$)"), 0),
    ("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{20,}"), 0),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"), 0),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"), 0),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), 0),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"), 0),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), 0),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), 0),
    ("stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"), 0),
    ("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), 0),
    ("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{30,}"), 0),
    ("pypi_token", re.compile(r"\bpypi-[A-Za-z0-9_\-]{50,}"), 0),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"), 0),
    ("bearer_token", re.compile(r"(?i)\b(?:bearer|token)\s+([A-Za-z0-9._~+/\-]{24,}=*)"), 1),
    ("url_password", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s:/@\"']{1,64}:([^\s@/\"']{3,128})@"), 1),
    ("credential", re.compile(
        r"(?i)\b[A-Z0-9_.\-]*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API[_\-]?KEY|ACCESS[_\-]?KEY|PRIVATE[_\-]?KEY|"
        r"CLIENT[_\-]?SECRET|AUTH[_\-]?KEY|CREDENTIALS?)[A-Z0-9_.\-]*[\"']?\s*[:=]\s*[\"']?([^\s\"'`,;&<>(){}\[\]]{6,})"), 1),
]
_PLACEHOLDER = re.compile(r"^(?:\*+|x+|X+|\.{3,}|<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|REDACTED|redacted|changeme|"
                          r"your[_\-].*|example.*|None|null|true|false|\[REDACTED.*)$")
_TRIGGER = re.compile(r"(?i)-----BEGIN|sk-|gh[pousr]_|github_pat_|glpat-|AKIA|ASIA|ABIA|ACCA|AIza|xox|_live_|_test_|npm_|"
                      r"hf_|pypi-|eyJ|bearer|token|://|pass|secret|key|credential")


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    fingerprint: str
    start: int
    end: int


def _fingerprint(kind: str, value: str) -> str:
    return f"{kind}:…{value[-4:]}" if len(value) >= 12 else f"{kind}:…"


def find_secrets(text: str) -> Iterator[Finding]:
    """Where credentials appear in `text` (value positions; never returned to callers)."""
    if not text or not _TRIGGER.search(text):
        return
    taken: list[tuple[int, int]] = []
    for kind, rx, group in _RULES:
        for m in rx.finditer(text):
            s, e = m.span(group)
            if s < 0 or any(s < b and e > a for a, b in taken):
                continue
            value = text[s:e]
            if kind in ("credential", "url_password", "bearer_token") and (
                    _PLACEHOLDER.match(value) or value.replace(".", "").replace("_", "").isdigit()):
                continue
            taken.append((s, e))
            yield Finding(kind, _fingerprint(kind, value), s, e)


def mask(text: str) -> str:
    """`text` with every credential replaced by `[REDACTED:<type>:…<last 4>]`."""
    if not text or not _TRIGGER.search(text):
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
