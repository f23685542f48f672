"""How the dashboard words times and states, and draws its chart (pure functions)."""

from __future__ import annotations

import re

import pytest

from worker.dashboard import format as fmt
from worker.dashboard.charts import Minute, attempts_chart, peak, summary

NOW = 1_796_346_000.0


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 s"),
        (45.4, "45 s"),
        (60, "1 min"),
        (200, "3 min 20 s"),
        (3600, "1 h"),
        (7500, "2 h 5 min"),
        (86400 * 3 + 3600 * 4 + 59, "3 d 4 h"),
        (None, "—"),
    ],
)
def test_a_duration_is_written_in_its_two_largest_units(seconds: float | None, words: str) -> None:
    assert fmt.duration(seconds) == words


def test_times_are_relative_to_the_clock_given() -> None:
    assert fmt.ago(NOW - 125, NOW) == "2 min 5 s ago"
    assert fmt.ago(NOW - 0.2, NOW) == "just now"
    assert fmt.until(NOW + 12, NOW) == "in 12 s"
    assert fmt.until(NOW - 3, NOW) == "due now"
    assert fmt.ago(None, NOW) == fmt.until(None, NOW) == "—"


def test_absolute_times_are_utc() -> None:
    assert fmt.utc(0) == "1970-01-01 00:00:00 UTC"
    assert fmt.iso(0) == "1970-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("status", "watching", "tone", "label"),
    [
        ("completed", False, "ok", "completed"),
        ("failed", False, "bad", "failed"),
        ("expired", False, "bad", "expired"),
        ("in_progress", True, "busy", "in_progress"),
        ("in_progress", False, "muted", "in_progress (stopped)"),
        (None, True, "muted", "pending"),
        (None, False, "muted", "stopped"),
        ("partially_completed", True, "unknown", "partially_completed"),
    ],
)
def test_a_status_badge_says_its_state_in_words_and_colour(
    status: str | None, watching: bool, tone: str, label: str
) -> None:
    assert fmt.tone(status, watching) == tone
    assert fmt.status_label(status, watching) == label


def test_a_long_answer_is_cut_with_an_ellipsis() -> None:
    assert fmt.excerpt("x" * 10, 4) == "xxxx…"
    assert fmt.excerpt("short", 10) == "short"
    assert fmt.excerpt(None) == ""


def test_the_chart_has_one_bar_a_minute_scaled_to_the_busiest() -> None:
    minutes = [
        Minute(NOW - 60 * (3 - i), ok, bad) for i, (ok, bad) in enumerate([(4, 0), (2, 2), (0, 0)])
    ]
    svg = attempts_chart(minutes)
    heights = [float(h) for h in re.findall(r'class="(?:ok|bad)"[^>]*height="([\d.]+)"', svg)]
    assert heights == [120.0, 60.0, 60.0]  # 4/4 of the height; 2/4 and 2/4 stacked
    assert svg.count("<title>") == 3
    assert 'aria-label="8 attempts in the last 3 minutes: 6 succeeded, 2 failed."' in svg


def test_the_chart_of_a_quiet_hour_says_so() -> None:
    minutes = [Minute(NOW - 60 * i, 0, 0) for i in range(60)]
    assert summary(minutes) == "No delivery attempts in the last 60 minutes."
    assert 'class="ok"' not in attempts_chart(minutes)


def test_the_chart_peak_is_the_busiest_minute_and_never_zero() -> None:
    assert peak([Minute(NOW, 3, 4), Minute(NOW, 1, 0)]) == 7
    assert peak([Minute(NOW, 0, 0)]) == 1
    assert peak([]) == 1
