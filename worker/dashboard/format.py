"""How the dashboard writes times, durations and states: pure functions, clock passed in.

Each is a Jinja filter of the same name (``routes.templates``), so a template says
``{{ watch.created_at | ago(now) }}`` and the wording lives here, tested on its own.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

TERMINAL_OK = frozenset({"completed"})
TERMINAL_BAD = frozenset({"failed", "expired", "cancelled"})
RUNNING = frozenset({"validating", "in_progress", "finalizing", "cancelling"})


def utc(at: float | None) -> str:
    """``2026-12-04 01:02:03 UTC``; an em dash for no time."""
    if at is None:
        return "—"
    moment = dt.datetime.fromtimestamp(float(at), tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(at: float | None) -> str:
    """The machine-readable form for ``<time datetime=...>``."""
    if at is None:
        return ""
    return dt.datetime.fromtimestamp(float(at), tz=dt.UTC).isoformat(timespec="seconds")


def duration(seconds: float | None) -> str:
    """A span in its two largest units: ``45 s``, ``3 min 20 s``, ``2 h 5 min``, ``3 d 4 h``."""
    if seconds is None:
        return "—"
    left = max(0, round(float(seconds)))
    if left < 60:
        return f"{left} s"
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    parts: list[str] = []
    for name, size in units:
        count, left = divmod(left, size)
        if count or parts:
            parts.append(f"{count} {name}")
        if len(parts) == 2:
            break
    return " ".join(p for p in parts if not p.startswith("0 ")) or "0 s"


def ago(at: float | None, now: float) -> str:
    """``5 s ago``; ``just now`` within a second; an em dash for no time."""
    if at is None:
        return "—"
    gap = now - float(at)
    if gap < 1:
        return "just now"
    return f"{duration(gap)} ago"


def until(at: float | None, now: float) -> str:
    """``in 12 s``; ``due now`` once it has passed; an em dash for no time."""
    if at is None:
        return "—"
    gap = float(at) - now
    if gap < 1:
        return "due now"
    return f"in {duration(gap)}"


def tone(status: str | None, watching: bool = True) -> str:
    """The badge colour of a normalised status: ok, bad, busy, muted or unknown."""
    if status in TERMINAL_OK:
        return "ok"
    if status in TERMINAL_BAD:
        return "bad"
    if status in RUNNING:
        return "busy" if watching else "muted"
    return "muted" if status is None else "unknown"


def status_label(status: str | None, watching: bool = True) -> str:
    """What a badge says: the status, ``pending`` before the first poll, and
    ``stopped`` for a watch that ended without a terminal status (watch_failed)."""
    if status is None:
        return "pending" if watching else "stopped"
    if not watching and status not in TERMINAL_OK | TERMINAL_BAD:
        return f"{status} (stopped)"
    return status


def delivery_tone(state: str) -> str:
    return {"succeeded": "ok", "failed": "bad", "pending": "busy"}.get(state, "muted")


def http_tone(status_code: int | None) -> str:
    if status_code is None:
        return "bad"
    return "ok" if 200 <= status_code < 300 else "bad"


def percent(share: float | None) -> str:
    """``66.7 %`` of a 0..1 share; an em dash for none."""
    if share is None:
        return "—"
    return f"{float(share) * 100:.1f} %"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False)


def excerpt(text: str | None, limit: int = 500) -> str:
    """An answer's text cut to ``limit`` characters (the store keeps the first 500 bytes)."""
    if not text:
        return ""
    return text if len(text) <= limit else f"{text[:limit]}…"


FILTERS = {
    "utc": utc,
    "iso": iso,
    "duration": duration,
    "ago": ago,
    "until": until,
    "tone": tone,
    "status_label": status_label,
    "delivery_tone": delivery_tone,
    "http_tone": http_tone,
    "percent": percent,
    "pretty_json": pretty_json,
    "excerpt": excerpt,
}
