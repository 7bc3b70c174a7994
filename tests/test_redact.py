"""The masker on the evasions of issue 16: escaped and encoded text, a Turkish İ, and the value shapes the
KEY=VALUE rule used to skip; and what it must still leave alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agtrace_mcp.redact import find_secrets, mask, mask_value, mask_with_findings

GHP = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
AKIA = "AKIAZ3MXQ7KEYEXAMPL9"


@pytest.mark.parametrize("text,value", [
    (f"\\n{GHP}", GHP[4:]),  # JSON-escaped newline right before the token
    (f"\\u0022{GHP}\\u0022", GHP[4:]),
    ('{\\"password\\": \\"Zq8rT2vLm9Kx\\"}', "Zq8rT2vLm9Kx"),  # JSON-escaped key and value
    ('{\\\\\\"password\\\\\\": \\\\\\"Zq8rT2vLm9Kx\\\\\\"}', "Zq8rT2vLm9Kx"),  # escaped twice
    (f"https://x.invalid/?q=key%3D{AKIA}", AKIA[4:]),  # URL-encoded "="
    ("password%3DZq8rT2vLm9Kx1", "Zq8rT2vLm9Kx1"),
    ("İstanbul DB_PASSWORD=Zq8rT2vLm9Kx", "Zq8rT2vLm9Kx"),  # lower() of İ is two characters
    ("İİİİ x\nexport API_TOKEN=Zq8rT2vLm9Kx and more", "Zq8rT2vLm9Kx"),
    ("DB_PASSWORD=correcthorsebattery", "correcthorsebattery"),  # letters only
    ("PASSWORD=alpha.bravo.charlie", "alpha.bravo.charlie"),  # dotted
    ("PIN_PASSWORD=83920174629", "83920174629"),  # digits only
    ("PASSWORD=test-9f8e7d6c5b", "9f8e7d6c5b"),  # test- prefixed
    ('{"password": "a.b.c.d.e.f"}', "a.b.c.d.e.f"),  # quoted: a literal whatever its shape
    ("client_secret: Zq8rT2vLm9Kx", "Zq8rT2vLm9Kx"),
    ("-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA1c2\\nZZZ", "MIIEowIBAAKCAQEA1c2"),  # cut before END
])
def test_evasions_are_masked(text: str, value: str):
    out = mask(text)
    assert value not in out, out
    assert "[REDACTED:" in out


@pytest.mark.parametrize("text", [
    "password = self.password", "api_key=os.environ.get('KEY')", "API_KEY = os.environ['API_KEY']",
    "password=password", '"token_type": "bearer"', "TOKEN_COUNT=123456789", '"max_tokens": 100000',
    "PASSWORD=${DB_PASS}", 'PASSWORD="<your password>"', "DB_PASSWORD=changeme", "API_KEY=your_api_key_here",
    "token = get_token()", "the secret sauce is love", "passthrough=enabled-really", "tTokenUsage=12345678",
    "secret_name: credentialSourceFunc", "İstanbul is lovely",
])
def test_code_and_placeholders_are_left_alone(text: str):
    assert mask(text) == text


def test_positions_are_in_the_original_text_even_after_a_turkish_i():
    text = "İİİ DB_PASSWORD=Zq8rT2vLm9Kx end"
    (f,) = list(find_secrets(text))
    assert text[f.start:f.end] == "Zq8rT2vLm9Kx"


def test_mask_with_findings_returns_the_masked_text_and_every_span():
    text = f"a {GHP} b PASSWORD=Zq8rT2vLm9Kx c"
    masked, found = mask_with_findings(text)
    assert masked == mask(text)
    assert [text[f.start:f.end] for f in found] == [GHP, "Zq8rT2vLm9Kx"]


def test_mask_value_masks_keys_and_survives_any_depth():
    deep: object = {GHP: "x"}
    for _ in range(5000):
        deep = [deep]
    out = mask_value(deep)
    for _ in range(5000):
        out = out[0]
    assert list(out) == [f"[REDACTED:github_token:…{GHP[-4:]}]"]


@given(st.text(max_size=200))
def test_masking_is_idempotent_and_never_grows_a_secret(text: str):
    once = mask(text)
    assert mask(once) == once
    for f in find_secrets(text):
        assert 0 <= f.start < f.end <= len(text)
