"""Redis memory per watched batch, and where it goes.

The scale benchmark's stack (private Redis, stand-in provider answering ``in_progress``,
web, one worker, beat) watches ``--batches`` batches (registered as ``scale.py`` does,
first polls over ``--spread`` s), waits until every one has been polled at least twice,
then reports Redis ``used_memory`` per batch over the empty deployment's, and for a sample
of batches the ``MEMORY USAGE`` of each of their keys by kind, with the encoding.

    .venv/bin/python bench/redis_memory.py [--batches 20000] [--out bench/results]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

from harness import metric
from plotting import pyplot, save
from runs import layout_options, log_folder, machine, options, run_and_save
from scale import TENANT, register_watches, stack

SAMPLE = 200  # batches whose keys are measured one by one


def used_memory(s: Any) -> int:
    return int(s.redis.client.info("memory")["used_memory"])


def key_kinds(store: Any, wid: str) -> list[tuple[str, str]]:
    """(kind, key) of each key a watched batch has: its own and its events'."""
    events = [("event hash", store.keys.event(e)) for e in store.watch_event_ids(wid)]
    return [
        ("watch hash", store.keys.watch(wid)),
        ("status history", store.keys.watch_history(wid)),
        ("event index", store.keys.watch_events(wid)),
        *events,
    ]


def sizes(s: Any, store: Any, wids: list[str]) -> dict[str, dict[str, Any]]:
    client = s.redis.client
    found: dict[str, dict[str, Any]] = {}
    for wid in wids:
        for kind, key in key_kinds(store, wid):
            usage = client.memory_usage(key, samples=0)
            if usage is None:
                continue
            entry = found.setdefault(kind, {"bytes": 0, "keys": 0, "encodings": set()})
            entry["bytes"] += int(usage)
            entry["keys"] += 1
            entry["encodings"].add(client.object("encoding", key).decode())
    return {
        kind: {
            "mean_bytes": round(e["bytes"] / len(wids), 1),  # per batch, of the sample
            "keys_per_batch": round(e["keys"] / len(wids), 2),
            "encodings": sorted(e["encodings"]),
        }
        for kind, e in found.items()
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    env = dict(pair.split("=", 1) for pair in args.env)
    with log_folder("redis-memory", args.keep_logs) as log_dir:
        return measure(args, log_dir, env)


def measure(args: argparse.Namespace, log_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    from worker.keys import watch_id
    from worker.store import Store, redis_client
    from worker.vault import Vault

    with stack(log_dir, args.workers, args.concurrency, env) as s:
        store = Store(redis_client(s.redis.url), Vault("unused"))
        empty = used_memory(s)
        ids = [f"batch_mem_{i:06d}" for i in range(args.batches)]
        register_watches(
            store, TENANT, s.connection_id, ids, poll_interval_s=args.spread, spread_s=args.spread
        )
        registered = used_memory(s)
        wanted = 2 * args.batches
        deadline = time.time() + 4 * args.spread + 120
        while metric(s.bh.metrics(), "batchhook_polls_total") < wanted:
            if time.time() > deadline:
                raise TimeoutError("the batches were not all polled twice")
            time.sleep(2)
        polled = used_memory(s)
        sample = [watch_id(TENANT, b) for b in random.Random(1).sample(ids, SAMPLE)]
        return {
            "machine": machine(),
            "config": {"batches": args.batches, "poll_interval_s": args.spread, "env": env},
            "batches": args.batches,
            "bytes_per_batch_registered": round((registered - empty) / args.batches),
            "bytes_per_batch_polled": round((polled - empty) / args.batches),
            "used_memory_mb": round(polled / 2**20, 1),
            "keys_per_batch": sizes(s, store, sample),
            "zsets": {
                name: s.redis.client.object("encoding", key).decode()
                for name, key in {"due": store.keys.due(0)}.items()
            },
        }


def markdown(report: dict[str, Any]) -> str:
    r = report
    lines = [
        f"# Redis memory per watched batch ({r['batches']:,} batches, each polled twice)",
        "",
        f"- used_memory per batch: {r['bytes_per_batch_registered']:,} B registered, "
        f"{r['bytes_per_batch_polled']:,} B once polled ({r['used_memory_mb']} MB in all)",
        "",
        "| keys of a batch | MEMORY USAGE per batch (B) | keys per batch | encoding |",
        "|---|---:|---:|---|",
    ]
    for kind, e in r["keys_per_batch"].items():
        encodings = ", ".join(e["encodings"])
        lines.append(f"| {kind} | {e['mean_bytes']:,} | {e['keys_per_batch']} | {encodings} |")
    lines += [
        "",
        "The rest of each batch's share: its members of the due, tenant and event sets, and",
        "each key's entry in Redis's keyspace.",
    ]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    kinds = report["keys_per_batch"]
    ax.barh(list(kinds), [k["mean_bytes"] for k in kinds.values()])
    ax.set_xlabel("bytes per batch (MEMORY USAGE, mean of a sample)")
    save(fig, f"Redis memory per watched batch: {report['bytes_per_batch_polled']:,} B", path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = options(__doc__, "2,000 batches")
    layout_options(parser, "redis-memory")
    parser.add_argument("--batches", type=int, default=None, help="default 20000 (quick 2000)")
    parser.add_argument("--spread", type=float, default=20.0, help="s between polls of a batch")
    args = parser.parse_args(argv)
    args.batches = args.batches or (2_000 if args.quick else 20_000)
    return run_and_save(args, run, markdown, plot)


if __name__ == "__main__":
    main()
