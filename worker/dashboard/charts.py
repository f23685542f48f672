"""The endpoint page's chart: attempts per minute by outcome, drawn as inline SVG.

Pure: rows in, markup out. No script draws it, so it shows without JavaScript and under
the dashboard's strict content security policy (no inline styles: colours are classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from worker.dashboard.format import utc
from worker.records import frozen

WIDTH, HEIGHT, BAR_GAP = 600, 120, 1


@frozen
class Minute:
    minute_at: float
    succeeded: int
    failed: int


def summary(minutes: Sequence[Minute]) -> str:
    """What the chart shows, in words: its accessible name and its caption."""
    ok = sum(m.succeeded for m in minutes)
    bad = sum(m.failed for m in minutes)
    span = len(minutes)
    if ok + bad == 0:
        return f"No delivery attempts in the last {span} minutes."
    return f"{ok + bad} attempts in the last {span} minutes: {ok} succeeded, {bad} failed."


def attempts_chart(minutes: Sequence[Minute]) -> str:
    """An SVG of one stacked bar a minute (succeeded below, failed above), scaled to the
    busiest minute; each bar has a ``<title>`` that a pointer or screen reader can read."""
    label = escape(summary(minutes))
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{label}" preserveAspectRatio="none">'
    )
    if not minutes:
        return f"{head}</svg>"
    top = peak(minutes)
    slot = WIDTH / len(minutes)
    bars = [_bar(i * slot, slot - BAR_GAP, m, top) for i, m in enumerate(minutes)]
    axis = f'<line class="axis" x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}"/>'
    return f"{head}{''.join(bars)}{axis}</svg>"


def peak(minutes: Sequence[Minute]) -> int:
    """The busiest minute's attempts, the chart's full height (at least 1).

    The page prints it and the time axis as HTML beside the SVG: text inside an SVG that
    stretches to the page's width would stretch with it."""
    return max((m.succeeded + m.failed for m in minutes), default=0) or 1


def _bar(x: float, width: float, minute: Minute, peak: int) -> str:
    ok_h = HEIGHT * minute.succeeded / peak
    bad_h = HEIGHT * minute.failed / peak
    tip = escape(f"{utc(minute.minute_at)}: {minute.succeeded} succeeded, {minute.failed} failed")
    parts = [f"<g><title>{tip}</title>"]
    if ok_h:
        parts.append(
            f'<rect class="ok" x="{x:.1f}" y="{HEIGHT - ok_h:.1f}" '
            f'width="{width:.1f}" height="{ok_h:.1f}"/>'
        )
    if bad_h:
        parts.append(
            f'<rect class="bad" x="{x:.1f}" y="{HEIGHT - ok_h - bad_h:.1f}" '
            f'width="{width:.1f}" height="{bad_h:.1f}"/>'
        )
    if not ok_h and not bad_h:  # an empty minute still answers its pointer
        parts.append(
            f'<rect class="none" x="{x:.1f}" y="0" width="{width:.1f}" height="{HEIGHT}"/>'
        )
    parts.append("</g>")
    return "".join(parts)
