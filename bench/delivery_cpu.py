"""What one delivery costs a worker process and Redis at one endpoint per event.

Real processes on 127.0.0.1: Redis, the stand-in provider (every batch ``completed``) and
the stand-in receiver, and batchhook's API (for the connection and the endpoint). In this
process, without Celery: each round registers ``--per-round`` batches of a new tenant with
one endpoint (the ``register_watch`` script, as ``scale.py`` and ``fanout.py`` do), makes
them due, and runs a poll task's body (``worker.tasks._poll_then_deliver``) over them in
chunks of 500, one after the other: every batch polled, found ``completed``, its event
recorded and its one webhook signed and sent, with the worker's JSON log lines written
to a file and the cyclic collector tuned as in a worker process
(``worker.celery_app.tune_collector``).

Measured per delivery, after the first (warm-up) round: this process's CPU (user +
system), and Redis's own time per command (``INFO commandstats``, reset before the last
round). Unlike ``fanout.py`` no other process of batchhook shares the cores, so a change's
effect on the worker's CPU shows through less noise; ``fanout.py`` still says what it
does to deliveries per second.

    .venv/bin/python bench/delivery_cpu.py [--rounds 8] [--per-round 2000] [--out bench/results]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

from fanout import FanoutStack, create_endpoints
from runs import log_folder, new_report, options, save_results, wait_until_quiet
from scale import create_connection, register_watches

CHUNK = 500  # a surge chunk (worker.tasks.SURGE_CHUNK_SIZE)


def one_round(s: FanoutStack, store: Any, rt: Any, tenant: str, batches: int) -> float:
    """Register ``batches`` due at once for ``tenant``, poll and deliver them, and answer
    this process's CPU per first attempt made, in microseconds (the polls and attempts
    only, not the registration)."""
    from worker import keys
    from worker.tasks import _poll_then_deliver

    with s.bh.client(tenant) as client:
        connection_id = create_connection(client, s.provider_url)
        create_endpoints(s, client, tenant, 1)
    batch_ids = [f"batch_{tenant}_{i:06d}" for i in range(batches)]
    register_watches(
        store, tenant, connection_id, batch_ids, poll_interval_s=3600, spread_s=0, delay_s=3600
    )
    wids = [keys.watch_id(tenant, b) for b in batch_ids]
    store.poll_now(wids)
    store.redis.config_resetstat()
    started, cpu0 = 0, time.process_time()
    for i in range(0, len(wids), CHUNK):
        started += rt.run(_poll_then_deliver(rt, wids[i : i + CHUNK]))
    if started != batches:
        raise RuntimeError(f"{started} first attempts for {batches} batches")
    return (time.process_time() - cpu0) * 1e6 / started


def run(args: argparse.Namespace) -> dict[str, Any]:
    rounds = args.rounds or (3 if args.quick else 8)
    per_round = args.per_round or (500 if args.quick else 2000)
    report = new_report("delivery_cpu.py", {"rounds": rounds, "per_round": per_round})
    with (
        log_folder("delivery_cpu", None) as log_dir,
        FanoutStack.started(
            log_dir,
            provider_flags=("--default-status", "completed"),
            receiver=("standin_receiver.py", "--verify-every", "1000000"),
        ) as s,
    ):
        os.environ.update({k: v for k, v in s.bh.env.items() if k.startswith("BATCHHOOK_")})
        from worker import logging as worker_logging
        from worker.celery_app import tune_collector
        from worker.runtime import new_runtime

        with (log_dir / "worker.log").open("w") as worker_log:
            worker_logging.configure("json", stream=worker_log)
            rt, store = new_runtime(), s.store()
            tune_collector()  # as a worker process does once it is set up
            per_delivery_us = []
            for index in range(rounds):
                per_delivery_us.append(one_round(s, store, rt, f"cpu{index}", per_round))
            commands = store.redis.info("commandstats")
    measured = per_delivery_us[1:]
    report["worker_cpu_us_per_delivery"] = {
        "rounds": per_delivery_us,
        "median": statistics.median(measured),
        "min": min(measured),
    }
    report["redis_per_delivery"] = {
        name.removeprefix("cmdstat_"): {
            "calls": stats["calls"] / per_round,
            "us": stats["usec"] / per_round,
        }
        for name, stats in commands.items()
        if not name.startswith("cmdstat_config")
    }
    return report


def markdown(report: dict[str, Any]) -> str:
    cpu = report["worker_cpu_us_per_delivery"]
    rounds = ", ".join(f"{us:.0f}" for us in cpu["rounds"])
    rows = [
        f"Worker CPU per delivery: median {cpu['median']:.0f} us, least {cpu['min']:.0f} us "
        f"(rounds: {rounds}; the first is a warm-up).",
        "",
        "| Redis command (last round) | calls per delivery | us per delivery |",
        "|---|---:|---:|",
    ]
    by_time = sorted(report["redis_per_delivery"].items(), key=lambda kv: -kv[1]["us"])
    for name, stats in by_time:
        rows.append(f"| {name} | {stats['calls']:.2f} | {stats['us']:.1f} |")
    rows.append("")
    rows.append(
        "A script's time (`evalsha`) includes the commands it calls, which are also counted "
        "on their own rows."
    )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = options(__doc__, "3 rounds of 500")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--per-round", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    if not args.quick:
        wait_until_quiet()
    report = run(args)
    save_results(args.out, "delivery-cpu", report, markdown(report), lambda _: None)
    return report


if __name__ == "__main__":
    main()
