"""Scale: schedule lag and CPU as the number of batches polled every 60 s grows.

Real processes on 127.0.0.1: a private Redis, the stand-in provider
(``standin_provider.py``, every batch ``in_progress`` for ever, so nothing finishes),
batchhook's web (for ``/metrics``), worker(s) and one beat. One tenant, one connection
(created through the HTTP API) pointing at the stand-in.

Steps of 1,000 to 300,000 watched batches, each with ``poll_interval_s=60``. The batches
of a step are registered straight through batchhook's store (its ``register_watch`` Lua
script, the one ``Store.register_watch`` runs, pipelined 1,000 at a time) with first
polls spread uniformly over the next 60 s. Each step warms up for one cadence, then
measures over a window: polls/s (``batchhook_polls_total``), schedule lag p50/p99 from
the ``batchhook_schedule_lag_seconds`` histogram (the delta over the window), CPU of the
batchhook processes and of everything (Redis and the stand-in too) from /proc, CPU per
1,000 polls, RSS and Redis ``used_memory``. Growth stops at the first step whose lag p99
passes 2 s. See ``bench/README.md``.

    .venv/bin/python bench/scale.py [--quick] [--workers 1 --concurrency 2] [--out bench/results]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from harness import SETTINGS, Samples, delta, histogram_quantile, metric
from plotting import label, on_stack, pyplot, save
from runs import layout_options, log_folder, new_report, options, run_and_save, stack_line
from stack import Sampler, Stack

TENANT = "bench"
INTERVAL_S = 60.0
TARGET_LAG_P99_S = 2.0
TARGET_WATCHED = 300_000  # issue 21 (100,000 before)
FULL_STEPS = (
    1_000,
    5_000,
    10_000,
    25_000,
    50_000,
    75_000,
    100_000,
    150_000,
    200_000,
    250_000,
    300_000,
)
QUICK_STEPS = (1_000, 5_000)
REGISTER_CHUNK = 1_000
LAG = "batchhook_schedule_lag_seconds"
BATCHHOOK_GROUPS = ("web", "beat")  # plus every worker


# --- shared with fanout.py ---------------------------------------------------------


def register_watches(
    store: Any,
    tenant: str,
    connection_id: str,
    batch_ids: list[str],
    *,
    poll_interval_s: float,
    spread_s: float,
    delay_s: float = 0.0,
) -> None:
    """Watch ``batch_ids`` through batchhook's own ``register_watch`` script (what
    ``Store.register_watch`` runs), pipelined, first polls uniform over ``spread_s``
    starting ``delay_s`` from now."""
    from worker.store import WatchRegistration

    for start in range(0, len(batch_ids), REGISTER_CHUNK):
        now = time.time()
        store.scripts.register_watches(
            [
                WatchRegistration(
                    tenant=tenant, batch_id=batch_id, connection_id=connection_id,
                    endpoint_ids=None, metadata={}, poll_interval_s=poll_interval_s, now=now,
                    first_poll_at=now + delay_s + random.uniform(0.0, spread_s),
                )
                for batch_id in batch_ids[start : start + REGISTER_CHUNK]
            ]
        )  # fmt: skip


def create_connection(client: httpx.Client, provider_url: str) -> str:
    answer = client.post(
        "/v1/connections",
        json={"provider": "openai", "api_key": "sk-bench", "base_url": f"{provider_url}/v1"},
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


def lag_summary(window: Samples) -> dict[str, float]:
    """p50/p90/p99, mean and the highest occupied bucket of the lag histogram's delta."""
    count = metric(window, f"{LAG}_count")
    buckets = sorted(
        (float(dict(ls)["le"]), v) for (n, ls), v in window.items() if n == f"{LAG}_bucket"
    )
    top, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative > below:
            top = bound
        below = cumulative
    return {
        "count": count,
        "p50_s": histogram_quantile(window, LAG, 0.50),
        "p90_s": histogram_quantile(window, LAG, 0.90),
        "p99_s": histogram_quantile(window, LAG, 0.99),
        "mean_s": metric(window, f"{LAG}_sum") / count if count else float("nan"),
        "max_bucket_le_s": top,
        "share_over_2s": (
            1 - next((c for b, c in buckets if b == TARGET_LAG_P99_S), 0.0) / count
            if count
            else float("nan")
        ),
    }


# --- the scale benchmark -------------------------------------------------------------


@dataclass
class ScaleStack(Stack):
    connection_id: str = ""

    def provider_requests(self) -> int:
        return int(self.provider_get("/_control/stats")["requests"])


@contextlib.contextmanager
def stack(
    log_dir: Path, workers: int, concurrency: int, env: dict[str, str]
) -> Iterator[ScaleStack]:
    flags = ("--default-status", "in_progress")
    with ScaleStack.started(log_dir, provider_flags=flags, env=env) as s:
        with s.bh.client(TENANT) as client:
            s.connection_id = create_connection(client, s.provider_url)
        s.start_workers(workers, concurrency)
        s.bh.start_beat()
        yield s


def measure_step(s: ScaleStack, watched: int, window_s: float) -> dict[str, Any]:
    before_metrics, before_cpu = s.bh.metrics(), s.cpu_by_group()
    before_requests, started = s.provider_requests(), time.time()
    sampler = Sampler(s.groups, 2.0, s.gauges)  # peak RSS, poll queue, most overdue poll
    sampler.start()
    time.sleep(window_s)
    sampler.stop()
    after_metrics, after_cpu = s.bh.metrics(), s.cpu_by_group()
    after_requests, elapsed = s.provider_requests(), time.time() - started
    window = delta(after_metrics, before_metrics)
    polls = metric(window, "batchhook_polls_total")
    cpu = {name: after_cpu[name] - before_cpu.get(name, 0.0) for name in after_cpu}
    batchhook_cpu = sum(v for k, v in cpu.items() if k in BATCHHOOK_GROUPS or k in s.workers)
    all_cpu = sum(cpu.values())
    memory = s.redis.client.info("memory")
    peak_rss = sampler.peak_rss()
    per_1000 = 1000 / polls if polls else float("nan")
    return {
        "watched": watched,
        "window_s": round(elapsed, 2),
        "polls": polls,
        "polls_by_outcome": {
            dict(ls)["outcome"]: v
            for (n, ls), v in window.items()
            if n == "batchhook_polls_total" and v
        },
        "polls_per_s_wanted": watched / INTERVAL_S,
        "polls_per_s": polls / elapsed,
        "provider_requests_per_s": (after_requests - before_requests) / elapsed,
        "lag": lag_summary(window),
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_s_batchhook": batchhook_cpu,
        "cpu_s_all": all_cpu,
        "cores_batchhook": batchhook_cpu / elapsed,
        "cores_all": all_cpu / elapsed,
        "cpu_s_per_1000_polls_batchhook": batchhook_cpu * per_1000,
        "cpu_s_per_1000_polls_all": all_cpu * per_1000,
        "peak_rss_mb": {k: round(v / 2**20, 1) for k, v in peak_rss.items()},
        "peak_rss_mb_batchhook": round(
            sum(v for k, v in peak_rss.items() if k in BATCHHOOK_GROUPS or k in s.workers) / 2**20,
            1,
        ),
        "redis_used_memory_mb": round(int(memory["used_memory"]) / 2**20, 1),
        "peak_poll_queue": max(sampler.gauge("poll_queue"), default=0.0),
        "peak_overdue_s": round(max(sampler.gauge("overdue_s"), default=0.0), 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    steps = args.steps or (QUICK_STEPS if args.quick else FULL_STEPS)
    warmup_s = args.warmup_s if args.warmup_s is not None else (20.0 if args.quick else 75.0)
    window_s = args.window_s if args.window_s is not None else (30.0 if args.quick else 120.0)
    env = dict(pair.split("=", 1) for pair in args.env)
    config = {
        "quick": args.quick,
        "steps": list(steps),
        "poll_interval_s": INTERVAL_S,
        "first_polls_spread_s": INTERVAL_S,
        "warmup_s": warmup_s,
        "window_s": window_s,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "beat": 1,
        "registration": "batchhook's register_watch Lua script via Store, pipelined "
        f"{REGISTER_CHUNK} at a time (not the HTTP API)",
        "provider": "standin_provider.py --default-status in_progress (no delay)",
        "env": {
            **SETTINGS,
            **env,
            "other settings": "defaults (tick 1 s, poll chunk 100, poll concurrency 200, "
            "claim limit 20000)",
        },
        "target": f"lag p99 under {TARGET_LAG_P99_S} s at {TARGET_WATCHED:,} batches",
    }
    report = new_report("scale.py", config)
    report["steps"] = []
    with (
        log_folder("scale", args.keep_logs) as log_dir,
        stack(log_dir, args.workers, args.concurrency, env) as s,
    ):
        store = s.store()
        watched = 0
        for target in steps:
            began = time.time()
            new_ids = [f"batch_scale_{i:06d}" for i in range(watched, target)]
            register_watches(
                store, TENANT, s.connection_id, new_ids,
                poll_interval_s=INTERVAL_S, spread_s=INTERVAL_S,
            )  # fmt: skip
            registered_s = time.time() - began
            watched = target
            print(f"{target} watched (registered {len(new_ids)} in {registered_s:.1f} s); "
                  f"warming up {warmup_s:.0f} s", flush=True)  # fmt: skip
            time.sleep(warmup_s)
            step = measure_step(s, watched, window_s)
            step["registered_in_s"] = round(registered_s, 2)
            report["steps"].append(step)
            print(row_text(step), flush=True)
            if not step["lag"]["p99_s"] <= TARGET_LAG_P99_S:
                print(f"lag p99 passed {TARGET_LAG_P99_S} s: stopping", flush=True)
                break
        store.redis.close()
    last = report["steps"][-1]
    report["target_met"] = (
        last["watched"] >= TARGET_WATCHED and last["lag"]["p99_s"] <= TARGET_LAG_P99_S
    )
    report["largest_within_target"] = max(
        (st["watched"] for st in report["steps"] if st["lag"]["p99_s"] <= TARGET_LAG_P99_S),
        default=0,
    )
    return report


def row_text(step: dict[str, Any]) -> str:
    lag = step["lag"]
    return (
        f"  {step['watched']:>7} watched: {step['polls_per_s']:.0f}/"
        f"{step['polls_per_s_wanted']:.0f} polls/s, "
        f"lag p50 {fmt_ms(lag['p50_s'])} p99 {fmt_ms(lag['p99_s'])} ms, "
        f"CPU {step['cpu_s_per_1000_polls_batchhook']:.2f} s/1000 polls "
        f"({step['cores_batchhook']:.2f} cores batchhook, {step['cores_all']:.2f} all)"
    )


def fmt_ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def verdict(report: dict[str, Any]) -> str:
    last = report["steps"][-1]
    if report["target_met"]:
        met = "met"
    elif last["watched"] < TARGET_WATCHED and last["lag"]["p99_s"] <= TARGET_LAG_P99_S:
        met = f"not tested (this run stopped at {last['watched']:,})"
    else:
        met = "NOT met"
    return (
        f"Target ({TARGET_WATCHED:,} batches at 60 s, lag p99 under 2 s): {met}; largest step "
        f"within it: {report['largest_within_target']:,} batches."
    )


def markdown(report: dict[str, Any]) -> str:
    config, steps = report["config"], report["steps"]
    lines = [
        f"{stack_line(report)}, stand-in provider; poll interval 60 s; warm-up "
        f"{config['warmup_s']:.0f} s, window {config['window_s']:.0f} s per step.",
        "",
        "| watched batches | polls/s wanted | polls/s done | lag p50 (ms) | lag p99 (ms) "
        "| lag max bucket (s) | CPU s / 1,000 polls (batchhook) | CPU s / 1,000 polls (all) "
        "| cores batchhook / all | RSS batchhook (MB) | Redis used_memory (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for st in steps:
        lag = st["lag"]
        lines.append(
            f"| {st['watched']:,} | {st['polls_per_s_wanted']:.0f} | {st['polls_per_s']:.0f} "
            f"| {fmt_ms(lag['p50_s'])} | {fmt_ms(lag['p99_s'])} | <= {lag['max_bucket_le_s']:g} "
            f"| {st['cpu_s_per_1000_polls_batchhook']:.2f} | {st['cpu_s_per_1000_polls_all']:.2f} "
            f"| {st['cores_batchhook']:.2f} / {st['cores_all']:.2f} "
            f"| {st['peak_rss_mb_batchhook']:.0f} | {st['redis_used_memory_mb']:.0f} |"
        )
    return "\n".join([*lines, "", verdict(report)]) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    steps = report["steps"]
    xs = [st["watched"] for st in steps]
    fig, (lag_ax, cpu_ax, rate_ax) = plt.subplots(1, 3, figsize=(16, 4.8))
    lag_ax.plot(xs, [st["lag"]["p50_s"] for st in steps], "o-", label="lag p50")
    lag_ax.plot(xs, [st["lag"]["p99_s"] for st in steps], "s-", label="lag p99")
    lag_ax.axhline(TARGET_LAG_P99_S, color="red", linestyle="--", label="target p99 2 s")
    label(lag_ax, "Schedule lag (poll start - due time)", "watched batches (log)",
          "schedule lag (s)", log="x")  # fmt: skip

    cpu_ax.plot(xs, [st["cpu_s_per_1000_polls_batchhook"] for st in steps], "o-",
                label="batchhook (web + workers + beat)")  # fmt: skip
    cpu_ax.plot(xs, [st["cpu_s_per_1000_polls_all"] for st in steps], "s-",
                label="all (+ Redis + stand-in)")  # fmt: skip
    cpu_ax.set_ylim(bottom=0)
    label(cpu_ax, "CPU per 1,000 polls", "watched batches (log)", "CPU seconds per 1,000 polls",
          log="x")  # fmt: skip

    rate_ax.plot(xs, [st["polls_per_s_wanted"] for st in steps], "--", color="gray",
                 label="wanted (batches / 60 s)")  # fmt: skip
    rate_ax.plot(xs, [st["polls_per_s"] for st in steps], "o-", label="done")
    rate_ax.plot(xs, [st["cores_all"] * 100 for st in steps], "s:",
                 label="CPU of all processes (% of one core)")  # fmt: skip
    label(rate_ax, "Polls per second, CPU used", "watched batches (log)", log="xy")

    save(fig, f"batchhook scale: batches polled every 60 s {on_stack(report)}", path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = options(__doc__, "1,000 and 5,000; short windows")
    parser.add_argument("--steps", type=int, nargs="+", help="watched batches at each step")
    parser.add_argument("--warmup-s", type=float, default=None)
    parser.add_argument("--window-s", type=float, default=None)
    layout_options(parser, "scale")
    return run_and_save(parser.parse_args(argv), run, markdown, plot)


if __name__ == "__main__":
    main()
