"""The floor under a poll's CPU: what one provider GET costs the calling process here.

Real processes on 127.0.0.1: the stand-in provider (``standin_provider.py``, every batch
``in_progress``) in its own process; in this process, with batchhook's own poll session
(``destinations.guarded_session``, as the worker makes it) and 200 calls in flight:

- ``aiohttp GET``: the request and the whole answer read, nothing more;
- ``retrieve``: ``worker.providers.retrieve``, the poll path's call (the GET, the answer
  parsed and normalised into a ``Snapshot``).

Measured: this process's CPU (user + system) per call, over ``--calls`` calls after a
warm-up. Set it beside ``scale.py``'s batchhook CPU per 1,000 polls: the rest of a poll
(reading the watch, planning, recording it in Redis, the schedule) is what batchhook adds.

    .venv/bin/python bench/http_floor.py [--calls 20000] [--out bench/results]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from runs import log_folder, new_report, options, save_results, wait_until_quiet
from stack import start_standin

from worker.destinations import guarded_session
from worker.models import Connection
from worker.providers import retrieve

IN_FLIGHT = 200
WARMUP_CALLS = 2_000


def connection(provider_url: str) -> Connection:
    return Connection(
        id="conn_floor",
        tenant="floor",
        provider="openai",
        api_key="sk-floor",
        base_url=f"{provider_url}/v1",
        headers={},
        params=None,
        created_at=time.time(),
    )


async def cpu_per_call(
    calls: int, one: Callable[[aiohttp.ClientSession, int], Awaitable[Any]]
) -> dict[str, float]:
    """CPU seconds this process spends per call, ``IN_FLIGHT`` calls at a time."""
    async with guarded_session(limit=IN_FLIGHT, allow_private=True) as client:
        semaphore = asyncio.Semaphore(IN_FLIGHT)

        async def call(i: int) -> None:
            async with semaphore:
                await one(client, i)

        await asyncio.gather(*(call(i) for i in range(WARMUP_CALLS)))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(call(i) for i in range(calls)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"calls": calls, "cpu_ms_per_call": cpu * 1000 / calls, "calls_per_s": calls / wall}


def run(args: argparse.Namespace) -> dict[str, Any]:
    calls = args.calls or (2_000 if args.quick else 20_000)
    with log_folder("http_floor", None) as log_dir:
        provider, url = start_standin("provider", "standin_provider.py", log_dir)
        conn = connection(url)
        try:

            async def get(client: aiohttp.ClientSession, i: int) -> None:
                async with client.get(f"{url}/v1/batches/batch_floor_{i}") as answer:
                    await answer.read()

            async def poll(client: aiohttp.ClientSession, i: int) -> None:
                await retrieve(client, conn, f"batch_floor_{i}", timeout_s=30.0)

            report = new_report("http_floor.py", {"calls": calls, "in_flight": IN_FLIGHT})
            report["aiohttp_get"] = asyncio.run(cpu_per_call(calls, get))
            report["retrieve"] = asyncio.run(cpu_per_call(calls, poll))
        finally:
            provider.stop()
    return report


def markdown(report: dict[str, Any]) -> str:
    rows = [
        "| call | calls | CPU ms per call (this process) | calls/s |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (("aiohttp_get", "aiohttp GET"), ("retrieve", "providers.retrieve")):
        r = report[name]
        rows.append(
            f"| {label} | {r['calls']:,} | {r['cpu_ms_per_call']:.3f} | {r['calls_per_s']:,.0f} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = options(__doc__, "2,000 calls")
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    if not args.quick:
        wait_until_quiet()
    report = run(args)
    save_results(args.out, "http-floor", report, markdown(report), lambda _: None)
    return report


if __name__ == "__main__":
    main()
