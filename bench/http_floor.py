"""The floor under a poll's CPU: what one provider GET costs the calling process here.

Real processes on 127.0.0.1: the stand-in provider (``standin_provider.py``, every batch
``in_progress``) in its own process; in this process, 200 calls in flight:

- ``aiohttp GET``: through an aiohttp session as ``destinations.guarded_session`` makes it
  (the client the worker polled with before ``worker.http1``), the whole answer read;
- ``Http1Client GET``: the same through the worker's provider client
  (``destinations.provider_client``);
- ``retrieve``: ``worker.providers.retrieve`` through that client, the poll path's call
  (the GET, the answer parsed and normalised into a ``Snapshot``).

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

from worker.destinations import guarded_session, provider_client
from worker.http1 import Http1Client
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


Client = aiohttp.ClientSession | Http1Client


async def cpu_per_call(
    calls: int, make: Callable[[], Client], one: Callable[[Any, int], Awaitable[Any]]
) -> dict[str, float]:
    """CPU seconds this process spends per call, ``IN_FLIGHT`` calls at a time."""
    async with make() as client:
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

            def aiohttp_session() -> Client:
                return guarded_session(limit=IN_FLIGHT, allow_private=True)

            def worker_client() -> Client:
                return provider_client(limit=IN_FLIGHT, allow_private=True)

            async def aiohttp_get(client: aiohttp.ClientSession, i: int) -> None:
                async with client.get(f"{url}/v1/batches/batch_floor_{i}") as answer:
                    await answer.read()

            async def http1_get(client: Http1Client, i: int) -> None:
                await client.get(f"{url}/v1/batches/batch_floor_{i}", {}, timeout_s=30.0)

            async def poll(client: Http1Client, i: int) -> None:
                await retrieve(client, conn, f"batch_floor_{i}", timeout_s=30.0)

            report = new_report("http_floor.py", {"calls": calls, "in_flight": IN_FLIGHT})
            for name, make, one in (
                ("aiohttp_get", aiohttp_session, aiohttp_get),
                ("http1_get", worker_client, http1_get),
                ("retrieve", worker_client, poll),
            ):
                report[name] = asyncio.run(cpu_per_call(calls, make, one))
        finally:
            provider.stop()
    return report


def markdown(report: dict[str, Any]) -> str:
    rows = [
        "| call | calls | CPU ms per call (this process) | calls/s |",
        "|---|---:|---:|---:|",
    ]
    labels = (
        ("aiohttp_get", "aiohttp GET"),
        ("http1_get", "Http1Client GET"),
        ("retrieve", "providers.retrieve (Http1Client)"),
    )
    for name, label in labels:
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
