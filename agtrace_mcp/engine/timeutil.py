"""Timestamps: every provider's times normalised to one sortable UTC ISO string.

Inside the engine and the index a time is a string `YYYY-MM-DDTHH:MM:SS.mmmZ`, so that string order is time
order (SQL `ORDER BY`, `since`/`until` filters) and no datetime is built per record in hot loops.
"""

from __future__ import annotations

from datetime import datetime, timezone

_CANON_LEN = 24  # 2025-12-09T19:47:42.930Z


def norm_ts(value: object) -> str | None:
    """Return `value` (ISO string, epoch seconds or epoch ms) as a canonical UTC string, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if len(value) == _CANON_LEN and value[-1] == "Z" and value[19] == ".":
            return value
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            return None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        try:
            dt = datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_ts(value: str | None) -> datetime | None:
    """Canonical string → aware datetime (for the pydantic edge and for durations)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def ms_between(start: str | None, end: str | None) -> int | None:
    """Milliseconds from `start` to `end` (both canonical), or None when either is unknown or negative."""
    a, b = parse_ts(start), parse_ts(end)
    if a is None or b is None:
        return None
    ms = int((b - a).total_seconds() * 1000)
    return ms if ms >= 0 else None


MAX_SPAN_S = 36_500 * 86_400  # a relative time reaches back 100 years at most


def parse_user_time(value: str) -> str:
    """Parse a user-supplied `since`/`until` value into a canonical string.

    Accepts ISO dates and datetimes (`2026-11-01`, `2026-11-01T10:00`, with or without zone) and relative
    spans (`30m`, `6h`, `2d`, `1w`). Raises ValueError with an explanation otherwise.
    """
    v = value.strip()
    if not v:
        raise ValueError("empty time; use an ISO date like 2026-11-01 or a span like 2d, 6h, 30m")
    units = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    if v[-1] in units and v[:-1].isdigit():
        span = int(v[:-1]) * units[v[-1]] if len(v) <= 12 else MAX_SPAN_S + 1
        if span > MAX_SPAN_S:
            raise ValueError(f"the span {value!r} reaches back more than 100 years; use a shorter span "
                             "(at most 36500d or 5200w) or an ISO date like 2026-11-01")
        out = norm_ts(datetime.now(timezone.utc).timestamp() - span)
        if out is None:
            raise ValueError(f"not a time this machine can represent: {value!r}; use an ISO date like 2026-11-01")
        return out
    out = norm_ts(v)
    if out is None:
        raise ValueError(f"not a date: {value!r}; use an ISO date like 2026-11-01, "
                         "a datetime like 2026-11-01T10:00:00Z, or a span like 2d, 6h, 30m")
    return out
