"""batchhook vs the polling loop users write, watching the same batches in one run.

The same N batches, with identical stand-in timelines (validating -> in_progress ->
finalizing -> completed at a random instant over the run; request counts grow over
in_progress), are watched at once by:

1. the loop users write: one thread per batch running the openai SDK pattern
   ``b = client.batches.retrieve(id); if b.status in terminal: break; time.sleep(INTERVAL)``
   in its own process (``--loop-child``), one process per interval. INTERVAL is 60 s, as
   Microsoft's Azure OpenAI batch guide recommends ("we recommend waiting at least 60
   seconds in between each status call", ``time.sleep(60)``); OpenAI's cookbook only
   says to keep checking until the status is ``completed``. A second loop at 10 s shows
   the trade-off of a shorter interval.
2. batchhook with its default adaptive schedule (no ``poll_interval``), batches
   registered through the HTTP API, a receiver recording each verified webhook.

The stand-in counts calls per API key, so each approach's calls are its own. See
``bench/README.md``.

    .venv/bin/python bench/compare.py [--quick] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness import Process
from latency import Watching, stack, summary
from plotting import pyplot, save
from runs import log_folder, machine, options, save_results, stop_on_sigterm
from stack import Sampler

TERMINAL = ("completed", "failed", "expired", "cancelled")
EVENTS = ["batch.completed", "batch.failed", "batch.expired", "batch.cancelled"]
DOCS_INTERVAL_S = 60.0
BATCHHOOK_KEY = "sk-batchhook"
IDLE_SETTLE_S = 10.0


# --- the loop a user writes (runs in its own process) ---------------------------------


def loop_child(args: argparse.Namespace) -> None:
    from openai import OpenAI

    ids = json.loads(Path(args.ids_file).read_text())
    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    detected: dict[str, float] = {}
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def watch(batch_id: str) -> None:
        n = 0
        while True:
            b = client.batches.retrieve(batch_id)
            n += 1
            if b.status in TERMINAL:
                with lock:
                    detected[batch_id] = time.time()
                    calls[batch_id] = n
                break
            time.sleep(args.interval)

    time.sleep(max(0.0, args.start_at - time.time()))
    before = resource.getrusage(resource.RUSAGE_SELF)
    threads = [threading.Thread(target=watch, args=(b,), daemon=True) for b in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    Path(args.result_file).write_text(
        json.dumps(
            {
                "detected": detected,
                "calls": calls,
                "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
                "cpu_s_with_startup": after.ru_utime + after.ru_stime,
                "max_rss_mb": after.ru_maxrss / 1024,
                "finished_at": time.time(),
            }
        )
    )


# --- the run --------------------------------------------------------------------------


def timelines(
    ids: list[str], start: float, span_s: float, rng: random.Random
) -> tuple[dict[str, list[list[Any]]], dict[str, float]]:
    """Each batch completes at a random instant in [20 s, span]; the phases before."""
    steps: dict[str, list[list[Any]]] = {}
    completes: dict[str, float] = {}
    for batch_id in ids:
        done = start + rng.uniform(20.0, span_s)
        length = done - start
        validating = min(rng.uniform(5.0, 30.0), 0.2 * length)
        finalizing = min(rng.uniform(5.0, 60.0), 0.2 * length)
        steps[batch_id] = [
            [start - 1.0, "validating"],
            [start + validating, "in_progress"],
            [done - finalizing, "finalizing"],
            [done, "completed"],
        ]
        completes[batch_id] = done
    return steps, completes


def start_loops(
    s: Watching, log_dir: Path, ids_file: Path, intervals: list[float], start_at: float
) -> dict[str, tuple[Process, Path, float]]:
    loops = {}
    for interval in intervals:
        name = f"loop_{interval:g}s"
        result = log_dir / f"{name}.json"
        argv = [
            sys.executable, str(Path(__file__).resolve()), "--loop-child",
            "--base-url", f"{s.provider_url}/v1", "--api-key", f"sk-loop-{interval:g}",
            "--interval", str(interval), "--ids-file", str(ids_file),
            "--result-file", str(result), "--start-at", str(start_at),
        ]  # fmt: skip
        loops[name] = (Process(name, argv, dict(os.environ), log_dir), result, interval)
    return loops


def layout(args: argparse.Namespace) -> str:
    gather = f", BATCHHOOK_POLL_GATHER_S={args.gather_s:g}"
    if args.separate_beat:
        return f"web + worker (--concurrency {args.concurrency}) + beat{gather}"
    return f"web + worker (--concurrency {args.concurrency} --beat){gather}"


def run(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    ids = [f"batch_cmp_{i:04d}" for i in range(args.batches)]
    ids_file = log_dir / "ids.json"
    log_dir.mkdir(parents=True, exist_ok=True)
    ids_file.write_text(json.dumps(ids))
    intervals = [DOCS_INTERVAL_S] + ([args.extra_interval] if args.extra_interval else [])
    env = {"BATCHHOOK_POLL_GATHER_S": str(args.gather_s)}
    with stack(log_dir, events=EVENTS, provider_flags=("--progress-counts",), **env) as s:
        if args.separate_beat:
            s.start_workers(1, args.concurrency)
            s.bh.start_beat()
        else:  # the small deployment: beat's scheduler in the worker process
            s.bh.start_worker("worker0", args.concurrency, "--beat")
        idle = measure_idle(s, args.idle)
        start_at = time.time() + 8.0  # the loop processes import openai meanwhile
        steps, completes = timelines(ids, start_at, args.span, rng)
        s.provider_post("/_control/timelines", {"timelines": steps})
        loops = start_loops(s, log_dir, ids_file, intervals, start_at)
        try:
            return {"idle": idle, **measure(args, s, ids, completes, loops, start_at)}
        finally:
            for process, _, _ in loops.values():
                process.stop()


def measure_idle(s: Watching, seconds: float) -> dict[str, Any]:
    """What batchhook costs with nothing watched: its processes (and Redis) over
    ``seconds`` once they have settled, as CPU seconds per minute and RSS."""
    batchhook = tuple(s.bh.processes)
    groups = {name: s.bh.processes[name] for name in batchhook}
    groups["redis"] = s.redis.process
    sampler = Sampler(lambda: {name: p.group_pids() for name, p in groups.items()}, 0.5)
    time.sleep(IDLE_SETTLE_S)  # the worker's pool and beat's first tick start up
    sampler.take()
    sampler.start()
    start = time.time()
    time.sleep(seconds)
    sampler.take()
    sampler.stop()
    end = time.time()
    per_min = 60.0 / (end - start)

    def cpu(names: tuple[str, ...]) -> float:
        return sampler.cpu_between(names, start - 1.0, end) * per_min

    return {
        "seconds": end - start,
        "cpu_s_per_min": cpu(batchhook),
        "cpu_s_per_min_by_process": {n: cpu((n,)) for n in batchhook},
        "redis_cpu_s_per_min": cpu(("redis",)),
        "rss_mb": sampler.peak_rss_mb(batchhook),
        "rss_mb_by_process": {n: sampler.peak_rss_mb((n,)) for n in batchhook},
    }


def measure(
    args: argparse.Namespace,
    s: Watching,
    ids: list[str],
    completes: dict[str, float],
    loops: dict[str, tuple[Process, Path, float]],
    start_at: float,
) -> dict[str, Any]:
    batchhook = tuple(s.bh.processes)
    groups = {name: s.bh.processes[name] for name in batchhook}
    groups["redis"] = s.redis.process
    groups.update({name: proc for name, (proc, _, _) in loops.items()})
    sampler = Sampler(lambda: {name: p.group_pids() for name, p in groups.items()}, 0.5)
    sampler.start()
    time.sleep(max(0.0, start_at - time.time()))
    t0 = time.time()
    for batch_id in ids:  # batchhook: registered through the API, default schedule
        s.api().post(
            "/v1/batches", json={"batch_id": batch_id, "connection_id": s.connection_id}
        ).raise_for_status()
    register_s = time.time() - t0
    deadline = t0 + args.span + 900.0
    receipts: dict[str, float] = {}
    while time.time() < deadline:
        for r in s.received()["received"]:
            if r["type"] in EVENTS:
                receipts.setdefault(r["batch_id"], r["received_at"])
        loops_done = all(p.popen.poll() is not None for p, _, _ in loops.values())
        if len(receipts) == len(ids) and loops_done:
            break
        time.sleep(1.0)
    bh_end = max(receipts.values(), default=time.time())
    time.sleep(1.0)
    sampler.take()
    sampler.stop()
    stats = s.provider_get("/_control/stats")
    by_key = stats["requests_by_key"]
    report: dict[str, Any] = {"approaches": {}}
    for name, (process, result_file, interval) in loops.items():
        process.popen.wait(timeout=30)
        result = json.loads(result_file.read_text()) if result_file.exists() else {}
        detected = result.get("detected", {})
        calls = by_key.get(f"sk-loop-{interval:g}", 0)
        report["approaches"][name] = {
            "what": f"openai SDK loop, one thread per batch, time.sleep({interval:g})",
            "interval_s": interval,
            "detected": len(detected),
            "provider_calls": calls,
            "calls_per_batch": calls / len(ids),
            "cpu_s": result.get("cpu_s"),
            "cpu_s_with_startup": result.get("cpu_s_with_startup"),
            "peak_rss_mb": result.get("max_rss_mb"),
            "delay_s": summary([t - completes[b] for b, t in detected.items()]),
            "finished_after_s": result.get("finished_at", t0) - t0,
        }
    calls = by_key.get(BATCHHOOK_KEY, 0)
    report["approaches"]["batchhook"] = {
        "what": f"batchhook, adaptive schedule, {layout(args)}; registered through the HTTP API",
        "detected": len(receipts),
        "provider_calls": calls,
        "calls_per_batch": calls / len(ids),
        "cpu_s": sampler.cpu_between(batchhook, t0, bh_end),
        "cpu_s_by_process": {n: sampler.cpu_between((n,), t0, bh_end) for n in batchhook},
        "redis_cpu_s": sampler.cpu_between(("redis",), t0, bh_end),
        "peak_rss_mb": sampler.peak_rss_mb(batchhook),
        "peak_rss_mb_by_process": {n: sampler.peak_rss_mb((n,)) for n in batchhook},
        "redis_peak_rss_mb": sampler.peak_rss_mb(("redis",)),
        "delay_s": summary([t - completes[b] for b, t in receipts.items()]),
        "finished_after_s": bh_end - t0,
        "register_s": register_s,
    }
    report["unknown_keys"] = {
        k: v for k, v in by_key.items() if k != BATCHHOOK_KEY and not k.startswith("sk-loop-")
    }
    return report


# --- output ---------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    approaches = report["approaches"]
    names = list(approaches)
    config = report["config"]
    lines = [
        f"{config['batches']} batches, each completing at a random instant within "
        f"{config['span_s']:.0f} s (validating → in_progress → finalizing → completed), "
        f"watched by every approach at once. Load average at start "
        f"{report['machine']['loadavg_at_start'][0]:.2f} on {report['machine']['cpus']} CPUs.",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    a = [approaches[n] for n in names]
    row("detected", [f"{x['detected']} / {config['batches']}" for x in a])
    row("provider calls", [f"{x['provider_calls']:,}" for x in a])
    row("calls per batch", [fmt(x["calls_per_batch"]) for x in a])
    row("CPU seconds", [fmt(x["cpu_s"], 2) for x in a])
    row("peak RSS (MB)", [fmt(x["peak_rss_mb"], 0) for x in a])
    row("Redis CPU s / peak RSS MB", [
        f"{fmt(x['redis_cpu_s'], 2)} / {fmt(x['redis_peak_rss_mb'], 0)}" if "redis_cpu_s" in x
        else "-" for x in a])  # fmt: skip
    for q in ("p50", "p90", "p99", "max"):
        row(f"detection delay {q} (s)", [fmt(x["delay_s"].get(q)) for x in a])
    idle = report.get("idle")
    if idle:
        by = idle["cpu_s_per_min_by_process"]
        row("idle CPU s per minute (nothing watched)", ["-"] * (len(names) - 1) + [
            f"{fmt(idle['cpu_s_per_min'], 2)} ("
            + ", ".join(f"{n} {fmt(v, 2)}" for n, v in by.items()) + ")"])  # fmt: skip
        row("idle RSS (MB)", ["-"] * (len(names) - 1) + [fmt(idle["rss_mb"], 0)])
    lines += [
        "",
        "Detection delay: the stand-in's switch to `completed` → the loop's `retrieve` "
        "returning it, or → batchhook's verified webhook at the receiver. CPU: the loop "
        "process from its first call to its last (without the interpreter's start-up); "
        f"batchhook's {report['config']['batchhook'].split(',')[0]} from registration to "
        "the last webhook. RSS: the loop process; batchhook's processes summed (Redis "
        "separately).",
        "",
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    approaches = report["approaches"]
    names = list(approaches)
    colors = ["tab:orange", "tab:red", "tab:blue", "tab:green"][: len(names)]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.5))
    panels = [
        ("provider calls per batch", [approaches[n]["calls_per_batch"] for n in names]),
        ("CPU seconds", [approaches[n]["cpu_s"] or 0 for n in names]),
        ("peak RSS (MB)", [approaches[n]["peak_rss_mb"] or 0 for n in names]),
    ]
    for axis, (title, values) in zip(axes, panels, strict=False):
        bars = axis.bar(names, values, color=colors)
        axis.bar_label(bars, fmt="%.1f", fontsize=8)
        axis.set_title(title)
    bh = approaches["batchhook"]
    axes[2].bar(
        ["batchhook"], [bh["redis_peak_rss_mb"]], bottom=[bh["peak_rss_mb"]],
        color="lightgrey", label="+ Redis",
    )  # fmt: skip
    axes[2].legend(fontsize=8)
    width = 0.38
    xs = range(len(names))
    for offset, q in ((-width / 2, "p50"), (width / 2, "p99")):
        values = [approaches[n]["delay_s"].get(q, 0) for n in names]
        bars = axes[3].bar([x + offset for x in xs], values, width, label=q)
        axes[3].bar_label(bars, fmt="%.0f", fontsize=8)
    axes[3].set_xticks(list(xs), names)
    axes[3].set_title("detection delay (s)")
    axes[3].legend(fontsize=8)
    for axis in axes:
        axis.tick_params(axis="x", labelsize=8)
    config = report["config"]
    title = (
        f"{config['batches']} batches completing within {config['span_s']:.0f} s: "
        "polling loops vs batchhook (same run, same stand-in)"
    )
    save(fig, title, path)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = options(__doc__, "30 batches over 60 s")
    parser.add_argument("--batches", type=int, default=None, help="default 200 (quick 30)")
    parser.add_argument("--span", type=float, default=None, help="s; default 600 (quick 60)")
    parser.add_argument("--extra-interval", type=float, default=10.0, help="0: no second loop")
    parser.add_argument("--concurrency", type=int, default=1, help="the worker's pool size")
    parser.add_argument(
        "--separate-beat", action="store_true", help="beat as its own process (not worker --beat)"
    )
    parser.add_argument(
        "--gather-s", type=float, default=10.0, help="BATCHHOOK_POLL_GATHER_S (README: small)"
    )
    parser.add_argument(
        "--idle", type=float, default=None, help="s measured with nothing watched; default 60"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--keep-logs", type=Path, default=None, help="keep logs in this folder")
    # the loop child's own flags
    parser.add_argument("--loop-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--api-key", help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loop_child:
        loop_child(args)
        return None
    stop_on_sigterm()
    args.batches = args.batches or (30 if args.quick else 200)
    args.span = args.span or (60.0 if args.quick else 600.0)
    args.idle = args.idle if args.idle is not None else (20.0 if args.quick else 60.0)
    report: dict[str, Any] = {
        "machine": machine(),
        "config": {
            "quick": args.quick,
            "batches": args.batches,
            "span_s": args.span,
            "loop_intervals_s": [DOCS_INTERVAL_S]
            + ([args.extra_interval] if args.extra_interval else []),
            "loop_interval_source": (
                "Microsoft Learn, 'Getting started with Azure OpenAI batch deployments' "
                "(Python): 'we recommend waiting at least 60 seconds in between each status "
                "call', time.sleep(60) (MicrosoftDocs/azure-ai-docs, "
                "articles/ai-services/openai/includes/batch/batch-python.md)"
            ),
            "batchhook": f"{layout(args)}, default adaptive schedule",
            "stand_in": "--progress-counts (request counts grow over in_progress)",
            "seed": args.seed,
        },
    }
    with log_folder("compare", args.keep_logs) as log_dir:
        report.update(run(args, log_dir))
    save_results(args.out, "compare", report, markdown(report), lambda p: plot(report, p))
    return report


if __name__ == "__main__":
    main()
