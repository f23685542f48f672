"""Simulate polling 10,000 batches on a virtual clock: fixed 60 s vs the adaptive schedule.

Every next poll is decided by the real ``worker.schedule.next_poll_at`` or, for the
"adaptive + signals" poller, by the worker's own planner ``worker.transitions.plan_snapshot``
with every signal event switched on; the provider is a script of each batch's statuses and
request counts over time. Nothing sleeps: an event heap advances the clock from one poll
to the next. See ``bench/README.md``.

    .venv/bin/python bench/simulate_schedule.py [--batches 10000] [--seed 1] [--out bench/results]
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import json
import math
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from plotting import label, pyplot, save

from worker import models, schedule, signals, transitions
from worker.models import (
    DEFAULT_EVENT_TYPES,
    EXPIRING,
    OPT_IN_EVENT_TYPES,
    SIGNAL_EVENT_TYPES,
    STALLED,
    TERMINAL,
    Endpoint,
    PollRecord,
    Snapshot,
)

COMPLETION_WINDOW_S = 86_400.0
FIXED_INTERVAL_S = 60.0
PERCENTILES = (50, 95, 99)
TARGET_CALL_RATIO = 5.0

# The population; bench/README.md explains each assumption.
ARRIVALS_OVER_S = 86_400.0  # batches are created uniformly over a day
VALIDATING_S = (5.0, 300.0)  # log-uniform
RUN_S = (120.0, 30 * 3600.0)  # log-uniform; a run past the completion window expires
FINALIZING_S = (5.0, 600.0)  # log-uniform
CANCELLING_S = (5.0, 600.0)  # log-uniform
EXPIRY_LAG_S = (0.0, 300.0)  # uniform: ``expired`` shows this long after expires_at
REQUESTS = (10, 50_000)  # log-uniform total requests
SEGMENTS = (5, 30)  # the run is cut into this many stretches of random speed ...
STALL_CHANCE = 0.1  # ... and a stretch makes no progress at all this often
FAIL_VALIDATING = 0.03  # invalid input: validating -> failed
FAIL_MID_RUN = 0.02  # in_progress -> failed, counts frozen
CANCEL_MID_RUN = 0.02  # in_progress -> cancelling -> cancelled, counts frozen

# The "adaptive + signals" poller: one endpoint that takes every batch event, the four
# signals included, with the default options (progress_step 10 %, expiring_lead_s 3600),
# and the default stall thresholds.
PROVIDER = "openai"
TENANT = "ten_bench"
ENDPOINT = Endpoint(
    id="ep_bench",
    tenant=TENANT,
    url="https://receiver.example/hook",
    events=(*DEFAULT_EVENT_TYPES, *OPT_IN_EVENT_TYPES, *SIGNAL_EVENT_TYPES),
    description="every batch event, signals included",
    secret="",  # nothing is signed or sent here
    old_secret=None,
    old_secret_expires_at=None,
    disabled=False,
    disabled_reason="",
    created_at=0.0,
)
ENDPOINTS = (ENDPOINT,)
STALL = signals.DEFAULT_STALL


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


@dataclass(frozen=True)
class Batch:
    """What the simulated provider answers for one batch, at any time."""

    created_at: float
    total: int
    phase_starts: tuple[float, ...]  # when each status begins
    phase_statuses: tuple[str, ...]
    changes: tuple[tuple[float, str, str], ...]  # (when, from, to)
    run_start: float
    run_stop: float  # counts stop moving: finished, failed, cancelled or expired
    curve_at: tuple[float, ...]  # progress knots (absolute times) ...
    curve_done: tuple[float, ...]  # ... and the share of requests done at each

    @property
    def expires_at(self) -> float:
        return self.created_at + COMPLETION_WINDOW_S

    @property
    def fate(self) -> str:
        return self.phase_statuses[-1]

    def status_at(self, t: float) -> str:
        return self.phase_statuses[bisect.bisect_right(self.phase_starts, t) - 1]

    def done_at(self, t: float) -> int:
        t = min(max(t, self.run_start), self.run_stop)
        i = bisect.bisect_right(self.curve_at, t) - 1
        if i >= len(self.curve_at) - 1:
            return self.total
        t0, t1 = self.curve_at[i], self.curve_at[i + 1]
        f0, f1 = self.curve_done[i], self.curve_done[i + 1]
        return int(self.total * (f0 + (f1 - f0) * (t - t0) / (t1 - t0)))


def progress_curve(
    rng: random.Random, start: float, run_s: float
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Roughly linear progress: stretches of random speed, some of them stalled."""
    segments = rng.randint(*SEGMENTS)
    speeds = [
        0.0 if rng.random() < STALL_CHANCE else rng.gammavariate(2.0, 1.0) for _ in range(segments)
    ]
    speeds[-1] = speeds[-1] or 1.0  # the last stretch finishes the run
    cumulative = [0.0]
    for speed in speeds:
        cumulative.append(cumulative[-1] + speed)
    return (
        tuple(start + run_s * i / segments for i in range(segments + 1)),
        tuple(c / cumulative[-1] for c in cumulative),
    )


def fate_of(
    rng: random.Random, created: float, run_start: float, run_s: float
) -> tuple[list[float], list[str], float]:
    """The statuses after validating, when each begins, and when the counts stop."""
    expires = created + COMPLETION_WINDOW_S
    draw = rng.random()
    if draw < FAIL_VALIDATING:
        return [run_start], ["failed"], run_start
    stopped_early = draw < FAIL_VALIDATING + FAIL_MID_RUN + CANCEL_MID_RUN
    stop = run_start + run_s * (rng.uniform(0.05, 0.95) if stopped_early else 1.0)
    if stop >= expires:
        return (
            [run_start, expires + rng.uniform(*EXPIRY_LAG_S)],
            ["in_progress", "expired"],
            expires,
        )
    if not stopped_early:
        ends = [stop, stop + log_uniform(rng, *FINALIZING_S)]
        return [run_start, *ends], ["in_progress", "finalizing", "completed"], stop
    if draw < FAIL_VALIDATING + FAIL_MID_RUN:
        return [run_start, stop], ["in_progress", "failed"], stop
    ends = [stop, stop + log_uniform(rng, *CANCELLING_S)]
    return [run_start, *ends], ["in_progress", "cancelling", "cancelled"], stop


def make_batch(rng: random.Random) -> Batch:
    created = rng.uniform(0.0, ARRIVALS_OVER_S)
    total = round(log_uniform(rng, *REQUESTS))
    run_start = created + log_uniform(rng, *VALIDATING_S)
    run_s = log_uniform(rng, *RUN_S)
    curve_at, curve_done = progress_curve(rng, run_start, run_s)
    starts, statuses, stop = fate_of(rng, created, run_start, run_s)
    starts, statuses = [created, *starts], ["validating", *statuses]
    return Batch(
        created_at=created,
        total=total,
        phase_starts=tuple(starts),
        phase_statuses=tuple(statuses),
        changes=tuple(zip(starts[1:], statuses, statuses[1:], strict=False)),
        run_start=run_start,
        run_stop=stop,
        curve_at=curve_at,
        curve_done=curve_done,
    )


@dataclass
class Watch:
    """What the poller remembers about one batch between polls."""

    batch: Batch
    status: str = ""
    status_since: float | None = None
    progress: schedule.Progress | None = None
    previous_progress: schedule.Progress | None = None
    calls: int = 0
    next_change: int = 0


@dataclass(frozen=True)
class Poller:
    """A fixed interval when ``interval_s`` is set, else the adaptive schedule.

    ``counts`` says whether the provider reports request counts (some do not)."""

    name: str
    interval_s: float | None
    counts: bool = True

    def first_poll_at(self, batch: Batch, rng: random.Random) -> float:
        if self.interval_s is not None:  # a random phase against the batch's changes
            return batch.created_at + rng.uniform(0.0, self.interval_s)
        return batch.created_at  # batchhook polls at once on registration

    def next_poll_at(self, watch: Watch, now: float, rng: random.Random) -> float:
        batch = watch.batch
        observation = schedule.Observation(
            now=now,
            status=watch.status,
            watch_created_at=batch.created_at,
            batch_created_at=batch.created_at,
            expires_at=batch.expires_at,
            progress=watch.progress,
            previous_progress=watch.previous_progress,
            status_since=watch.status_since,
        )
        return schedule.next_poll_at(
            now=now,
            created_at=batch.created_at,
            poll_interval_s=self.interval_s,
            rng=rng,
            observation=observation,
        )


@dataclass(frozen=True)
class Planner:
    """The worker's own planner, ``transitions.plan_snapshot``, with ``ENDPOINTS`` taking
    every signal: the adaptive schedule, brought forward when an expiring warning or a
    stall falls due before the planned poll (``Signals.wake_at``)."""

    name: str


@dataclass
class Outcome:
    """Provider calls per batch, the detection delays of every status change and, for the
    planner, the signal events it made (with how late the timed ones were)."""

    calls: list[int] = field(default_factory=list)
    delays: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    signals: Counter[str] = field(default_factory=Counter)
    signal_batches: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    signal_late_s: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


def record_changes(batch: Batch, next_change: int, now: float, outcome: Outcome) -> int:
    """Record the delay of every status change up to ``now``; the next change not seen."""
    changes = batch.changes
    while next_change < len(changes) and changes[next_change][0] <= now:
        at, before, after = changes[next_change]
        outcome.delays[f"{before}->{after}"].append(now - at)
        next_change += 1
    return next_change


def poll(watch: Watch, now: float, counts: bool, outcome: Outcome) -> None:
    """One provider call: update what the poller knows and record the changes it saw."""
    batch = watch.batch
    watch.calls += 1
    status = batch.status_at(now)
    if status != watch.status:
        watch.status, watch.status_since = status, now
    watch.previous_progress = watch.progress
    watch.progress = schedule.Progress(
        at=now, done=batch.done_at(now) if counts else 0, total=batch.total if counts else 0
    )
    watch.next_change = record_changes(batch, watch.next_change, now, outcome)


def simulate(batches: list[Batch], poller: Poller, seed: int) -> Outcome:
    """Poll every batch until its terminal status is seen, one event at a time."""
    rng = random.Random(seed)
    watches = [Watch(batch=b) for b in batches]
    heap = [(poller.first_poll_at(w.batch, rng), i) for i, w in enumerate(watches)]
    heapq.heapify(heap)
    outcome = Outcome()
    while heap:
        now, i = heapq.heappop(heap)
        watch = watches[i]
        poll(watch, now, poller.counts, outcome)
        if watch.status in TERMINAL:
            outcome.calls.append(watch.calls)
        else:
            heapq.heappush(heap, (poller.next_poll_at(watch, now, rng), i))
    return outcome


def registered(index: int, batch: Batch) -> models.Watch:
    """The watch as registration stores it: no status yet, first poll at creation."""
    return models.Watch(
        id=f"wat_{index:024x}",
        tenant=TENANT,
        batch_id=f"batch_{index:05d}",
        connection_id="con_bench",
        endpoint_ids=None,
        metadata={},
        poll_interval_s=None,
        status=None,
        watching=True,
        created_at=batch.created_at,
        next_poll_at=batch.created_at,
        last_polled_at=None,
        errors=0,
        last_error="",
        snapshot=None,
    )


def snapshot_at(watch: models.Watch, batch: Batch, now: float) -> Snapshot:
    """The provider's answer at ``now``, normalised as the OpenAI client does."""
    status = batch.status_at(now)
    return Snapshot(
        batch_id=watch.batch_id,
        status=status,
        output_file_id=None,
        error_file_id=None,
        request_counts={"total": batch.total, "completed": batch.done_at(now), "failed": 0},
        raw={"id": watch.batch_id, "status": status, "completion_window": "24h"},
        provider_status=status,
        created_at=batch.created_at,
        expires_at=batch.expires_at,
    )


def recorded(watch: models.Watch, record: PollRecord) -> models.Watch:
    """The watch after ``worker/lua/record_polls.lua`` wrote the poll (no concurrent
    poll, so never a conflict)."""
    changed = record.status != watch.status
    return replace(
        watch,
        status=record.status,
        summary=record.summary or {},
        snapshot=record.snapshot,
        status_changed_at=record.now if changed else watch.status_changed_at,
        last_polled_at=record.now,
        next_poll_at=record.next_poll_at,
        watching=record.next_poll_at is not None,
        errors=0,
        backoff_errors=0,
        last_error="",
    )


def count_signals(index: int, batch: Batch, record: PollRecord, outcome: Outcome) -> None:
    """Count the poll's signal events; an expiring warning's and a stall's lateness."""
    for event in record.signals:
        outcome.signals[event.type] += 1
        outcome.signal_batches[event.type].add(index)
        if event.type == EXPIRING:
            due_at = batch.expires_at - ENDPOINT.expiring_lead_s
            outcome.signal_late_s[event.type].append(record.now - due_at)
        elif event.type == STALLED and record.summary is not None:
            since = float(record.summary["stalled_since"])
            status = record.summary.get("normalized_status")
            outcome.signal_late_s[event.type].append(record.now - since - STALL.of(status))


def simulate_planned(batches: list[Batch], seed: int) -> Outcome:
    """Poll every batch as the worker does: ``plan_snapshot`` decides the next poll and
    the events, the watch is updated as the store records the poll."""
    random.seed(seed)  # plan_snapshot's jitter draws from the random module
    watches = [registered(i, b) for i, b in enumerate(batches)]
    calls = [0] * len(batches)
    next_change = [0] * len(batches)
    heap = [(batch.created_at, i) for i, batch in enumerate(batches)]
    heapq.heapify(heap)
    outcome = Outcome()
    while heap:
        now, i = heapq.heappop(heap)
        batch, watch = batches[i], watches[i]
        calls[i] += 1
        record = transitions.plan_snapshot(
            watch,
            snapshot_at(watch, batch, now),
            provider=PROVIDER,
            endpoints=ENDPOINTS,
            now=now,
            stall=STALL,
        )
        next_change[i] = record_changes(batch, next_change[i], now, outcome)
        count_signals(i, batch, record, outcome)
        watches[i] = recorded(watch, record)
        if record.next_poll_at is None:
            outcome.calls.append(calls[i])
        else:
            heapq.heappush(heap, (record.next_poll_at, i))
    return outcome


def run(batches: list[Batch], poller: Poller | Planner, seed: int) -> Outcome:
    if isinstance(poller, Planner):
        return simulate_planned(batches, seed)
    return simulate(batches, poller, seed)


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles, rounded to 0.1."""
    ordered = sorted(values)
    return {
        f"p{p}": round(ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)], 1)
        for p in PERCENTILES
    }


def delay_stats(delays: list[float]) -> dict[str, float]:
    return {"count": len(delays), **percentiles(delays)}


def all_delays(outcome: Outcome) -> list[float]:
    return [d for ds in outcome.delays.values() for d in ds]


def terminal_delays(outcome: Outcome) -> list[float]:
    return [d for kind, ds in outcome.delays.items() if kind.split("->")[1] in TERMINAL for d in ds]


def signal_stats(outcome: Outcome) -> dict[str, Any]:
    """Per signal type: events, batches that got one, and for the timed ones (expiring,
    stalled) how long after it fell due the poll that made it came."""
    stats: dict[str, Any] = {}
    for kind in SIGNAL_EVENT_TYPES:
        one: dict[str, Any] = {
            "events": outcome.signals[kind],
            "batches": len(outcome.signal_batches[kind]),
        }
        if late := outcome.signal_late_s.get(kind):
            one["late_s"] = {**percentiles(late), "max": round(max(late), 1)}
        stats[kind] = one
    return stats


def summarize(outcome: Outcome) -> dict[str, Any]:
    calls = outcome.calls
    summary = {
        "batches": len(calls),
        "calls_total": sum(calls),
        "calls_per_batch_mean": round(sum(calls) / len(calls), 1),
        "calls_per_batch": percentiles([float(c) for c in calls]),
        "delay_s_all_changes": delay_stats(all_delays(outcome)),
        "delay_s_terminal": delay_stats(terminal_delays(outcome)),
        "delay_s_by_change": {k: delay_stats(ds) for k, ds in sorted(outcome.delays.items())},
    }
    if outcome.signals:
        summary["signals"] = signal_stats(outcome)
    return summary


def compare(fixed: dict[str, Any], adaptive: dict[str, Any]) -> dict[str, Any]:
    ratio = fixed["calls_total"] / adaptive["calls_total"]
    p50_fixed = fixed["delay_s_all_changes"]["p50"]
    p50_adaptive = adaptive["delay_s_all_changes"]["p50"]
    return {
        "call_ratio": round(ratio, 2),
        "target": f">= {TARGET_CALL_RATIO:g}x fewer calls at a p50 delay <= fixed's",
        "target_met": ratio >= TARGET_CALL_RATIO and p50_adaptive <= p50_fixed,
    }


def population(batches: list[Batch]) -> dict[str, Any]:
    return {
        "fates": dict(Counter(b.fate for b in batches).most_common()),
        "validating_s_log_uniform": VALIDATING_S,
        "run_s_log_uniform": RUN_S,
        "finalizing_s_log_uniform": FINALIZING_S,
        "cancelling_s_log_uniform": CANCELLING_S,
        "expiry_lag_s_uniform": EXPIRY_LAG_S,
        "requests_log_uniform": REQUESTS,
        "progress_segments": SEGMENTS,
        "stall_chance_per_segment": STALL_CHANCE,
        "fail_validating": FAIL_VALIDATING,
        "fail_mid_run": FAIL_MID_RUN,
        "cancel_mid_run": CANCEL_MID_RUN,
        "completion_window_s": COMPLETION_WINDOW_S,
    }


def policy() -> dict[str, float]:
    names = (
        "MIN_INTERVAL_S",
        "MAX_INTERVAL_S",
        "SHORT_PHASE_SHARE",
        "SHORT_PHASE_MAX_S",
        "RUNNING_SHARE",
        "EVIDENCE_SHARE",
        "APPROACH_SHARE",
        "CONFIRMED_APPROACH_SHARE",
        "CONFIRMING_TOLERANCE",
        "JITTER_FRACTION",
    )
    return {name: getattr(schedule, name) for name in names}


def signal_config() -> dict[str, Any]:
    """What the "adaptive + signals" poller's endpoint takes, and the stall thresholds."""
    return {
        "endpoint_events": list(ENDPOINT.events),
        "progress_step": ENDPOINT.progress_step,
        "expiring_lead_s": ENDPOINT.expiring_lead_s,
        "stall_validating_s": STALL.validating_s,
        "stall_running_s": STALL.running_s,
    }


ROWS: tuple[tuple[str, Callable[[dict[str, Any]], object]], ...] = (
    ("calls per batch (mean)", lambda s: s["calls_per_batch_mean"]),
    ("calls in total", lambda s: s["calls_total"]),
    ("delay p50, all changes (s)", lambda s: s["delay_s_all_changes"]["p50"]),
    ("delay p95, all changes (s)", lambda s: s["delay_s_all_changes"]["p95"]),
    ("delay p99, all changes (s)", lambda s: s["delay_s_all_changes"]["p99"]),
    ("delay p50, terminal status (s)", lambda s: s["delay_s_terminal"]["p50"]),
    ("delay p95, terminal status (s)", lambda s: s["delay_s_terminal"]["p95"]),
    ("delay p99, terminal status (s)", lambda s: s["delay_s_terminal"]["p99"]),
)


def markdown(report: dict[str, Any]) -> str:
    """The comparison table, and the delay of each kind of change."""
    runs = report["runs"]
    names = list(runs)
    lines = [
        f"{report['batches']} batches, seed {report['seed']}.",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    lines += [
        f"| {label} | " + " | ".join(str(get(runs[n])) for n in names) + " |" for label, get in ROWS
    ]
    comparisons = report["comparisons"]
    ratios = [str(comparisons.get(n, {}).get("call_ratio", "1.0")) + "x" for n in names]
    lines += ["| fewer calls than fixed 60 s | " + " | ".join(ratios) + " |"]
    met = [
        ("yes" if comparisons[n]["target_met"] else "no") if n in comparisons else "-"
        for n in names
    ]
    lines += [f"| target ({TARGET_CALL_RATIO:g}x, p50 <= fixed's) met | " + " | ".join(met) + " |"]
    lines.append("")
    for name in names:
        if "signals" in runs[name]:
            lines += signal_table(name, runs[name]["signals"])
    lines += ["Delay p50 / p95 / p99 (s) by change:", ""]
    lines += ["| change | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for kind in runs[names[0]]["delay_s_by_change"]:
        cells = []
        for name in names:
            d = runs[name]["delay_s_by_change"][kind]
            cells.append(f"{d['p50']} / {d['p95']} / {d['p99']}")
        count = runs[names[0]]["delay_s_by_change"][kind]["count"]
        lines.append(f"| {kind} ({count}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def signal_table(name: str, stats: dict[str, Any]) -> list[str]:
    lines = [
        f"Signal events of {name} (late: from when it fell due to the poll that made it):",
        "",
        "| signal | events | batches | late p50 / p99 / max (s) |",
        "|---|---:|---:|---:|",
    ]
    for kind, one in stats.items():
        late = one.get("late_s")
        cell = f"{late['p50']} / {late['p99']} / {late['max']}" if late else "-"
        lines.append(f"| {kind} | {one['events']} | {one['batches']} | {cell} |")
    return [*lines, ""]


def plot(report: dict[str, Any], outcomes: dict[str, Outcome], path: Path) -> None:
    """Calls per batch, delay percentiles and the delay CDF, one panel each."""
    plt = pyplot()
    runs = report["runs"]
    names = list(runs)
    colors = ["#888888", "#1f77b4", "#ff7f0e", "#9ecae1"][: len(names)]
    fig, (calls_ax, delay_ax, cdf_ax) = plt.subplots(1, 3, figsize=(16, 4.8))

    means = [runs[n]["calls_per_batch_mean"] for n in names]
    bars = calls_ax.bar(range(len(names)), means, color=colors)
    calls_ax.bar_label(bars, fmt="%.1f")
    calls_ax.set_xticks(range(len(names)), [n.replace(", ", ",\n") for n in names])
    calls_ax.set_title("Provider calls per batch (mean)")
    calls_ax.tick_params(axis="x", labelsize=8)

    width = 0.8 / len(names)
    for k, name in enumerate(names):
        values = [runs[name]["delay_s_all_changes"][f"p{p}"] for p in PERCENTILES]
        xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(PERCENTILES))]
        delay_ax.bar(xs, values, width, label=name, color=colors[k])
    delay_ax.set_xticks(range(len(PERCENTILES)), [f"p{p}" for p in PERCENTILES])
    label(delay_ax, "Status change -> detection delay", ylabel="seconds (log)", log="y", grid=False)

    for k, name in enumerate(names):
        delays = sorted(max(d, 0.1) for d in all_delays(outcomes[name]))
        shares = [(i + 1) / len(delays) for i in range(len(delays))]
        cdf_ax.plot(delays, shares, label=name, color=colors[k])
    label(cdf_ax, "Delay CDF, all status changes", "delay (s, log)",
          "share of status changes detected", log="x")  # fmt: skip

    title = f"{report['batches']} simulated batches: fixed 60 s poller vs adaptive schedule"
    title += " (signals on and off)"
    save(fig, title, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    batches = [make_batch(rng) for _ in range(args.batches)]
    pollers: tuple[Poller | Planner, ...] = (
        Poller("fixed 60 s", FIXED_INTERVAL_S),
        Poller("adaptive", None),
        Planner("adaptive + signals"),
        Poller("adaptive, no request counts", None, counts=False),
    )
    outcomes = {}
    for p in pollers:
        started = time.perf_counter()
        outcomes[p.name] = run(batches, p, args.seed)
        print(f"{p.name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    runs = {name: summarize(outcome) for name, outcome in outcomes.items()}
    fixed = runs[pollers[0].name]
    report = {
        "command": f"python bench/simulate_schedule.py --batches {args.batches} --seed {args.seed}",
        "batches": args.batches,
        "seed": args.seed,
        "population": population(batches),
        "policy": policy(),
        "signals": signal_config(),
        "runs": runs,
        "comparisons": {p.name: compare(fixed, runs[p.name]) for p in pollers[1:]},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "schedule.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "schedule.md").write_text(markdown(report))
    print(markdown(report))
    try:
        plot(report, outcomes, args.out / "schedule.png")
    except ModuleNotFoundError as missing:  # the results are written; only the figure needs it
        print(f"no figure ({missing}): pip install matplotlib", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
