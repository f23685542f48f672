"""Fan-out: signed webhook deliveries per second to local receivers, 1 to 100 endpoints
per event.

Real processes on 127.0.0.1: a private Redis, the stand-in provider
(``standin_provider.py --default-status completed``: every batch has already finished),
batchhook's web, worker(s) and one beat, and the receiver (``standin_receiver.py``: answers
200 at once, records every ``webhook-id`` and its receive time, verifies every 50th
webhook with ``standardwebhooks`` against its endpoint's secret).

For each K endpoints per event (1, 10, 50, 100), with a fresh tenant: K endpoints through
the HTTP API (``http://127.0.0.1:PORT/ep/<i>``, the default terminal events), then M
batches (M x K = ~20,000 deliveries; ~2,000 with ``--quick``) registered straight through
batchhook's store (its ``register_watch`` Lua script, pipelined) and made due at the same
instant (``Store.poll_now``). Each first poll finds ``completed`` and creates one
``batch.completed`` event with K deliveries. Measured: deliveries/s = successful
deliveries / (last receipt - first receipt), also from the moment the batches were made
due; CPU per process; attempt latency p50/p99 from ``batchhook_delivery_attempt_seconds``;
verification failures, duplicates and missing deliveries. See ``bench/README.md``.

    .venv/bin/python bench/fanout.py [--quick] [--workers 1 --concurrency 2] [--out bench/results]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from harness import SETTINGS, Samples, delta, histogram_quantile, metric
from plotting import label, on_stack, pyplot, save
from runs import (
    layout_options,
    log_folder,
    new_report,
    options,
    reference_cpu_s,
    run_and_save,
    stack_line,
)
from scale import create_connection, register_watches
from stack import Stack

LEVELS = (1, 10, 50, 100)
FULL_DELIVERIES = 20_000
QUICK_DELIVERIES = 2_000
TARGET_PER_S = 2_000.0
# Issue 21's: one endpoint per event, each delivery through its own poll.
ONE_ENDPOINT_TARGET_PER_S = 4_000.0
ATTEMPT = "batchhook_delivery_attempt_seconds"
BATCHHOOK_GROUPS = ("web", "beat")  # plus every worker
STALL_S = 60.0  # give up on a level when nothing arrives for this long (retries come 5 s on)


@dataclass
class Prepared:
    """A level's events, ready to fall due all at once with ``make_due``."""

    tenant: str
    events: int
    deliveries: int
    make_due: Callable[[], object]
    source: str = "polls"


class FanoutStack(Stack):
    def receiver_stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.receiver_get("/_control/stats")
        return result

    def receipts(self) -> list[tuple[str, str, float]]:
        answer = self.receiver_get("/_control/receipts", timeout_s=120)
        return [(str(w), str(p), float(t)) for w, p, t in answer]


@contextlib.contextmanager
def stack(
    log_dir: Path, workers: int, concurrency: int, verify_every: int, env: dict[str, str]
) -> Iterator[FanoutStack]:
    with FanoutStack.started(
        log_dir,
        provider_flags=("--default-status", "completed"),
        receiver=("standin_receiver.py", "--verify-every", str(verify_every)),
        env=env,
    ) as s:
        s.start_workers(workers, concurrency)
        s.bh.start_beat()
        yield s


def create_endpoints(s: Stack, client: httpx.Client, tenant: str, count: int) -> list[str]:
    """``count`` endpoints on the receiver; their secrets go to the receiver."""
    ids, secrets = [], {}
    for index in range(count):
        path = f"/{tenant}/ep/{index}"
        answer = client.post("/v1/endpoints", json={"url": f"{s.receiver_url}{path}"})
        answer.raise_for_status()
        ids.append(answer.json()["id"])
        secrets[path] = answer.json()["secret"]
    httpx.post(
        f"{s.receiver_url}/_control/secrets", json={"secrets": secrets}, timeout=30
    ).raise_for_status()
    return ids


def wait_for_deliveries(s: FanoutStack, expected: int, timeout_s: float) -> dict[str, Any]:
    """Until the receiver has ``expected`` receipts, or nothing arrives for STALL_S."""
    deadline = time.time() + timeout_s
    last_count, last_change = -1, time.time()
    stats = s.receiver_stats()
    while time.time() < deadline:
        stats = s.receiver_stats()
        if stats["received"] >= expected:
            return stats
        if stats["received"] != last_count:
            last_count, last_change = stats["received"], time.time()
        elif time.time() - last_change > STALL_S:
            break
        time.sleep(0.5)
    return stats


def wait_recorded(s: Stack, before: Samples, expected: int, timeout_s: float = 60) -> Samples:
    """The metrics once every attempt of the level is recorded (or the timeout)."""
    deadline = time.time() + timeout_s
    while True:
        samples = s.bh.metrics()
        window = delta(samples, before)
        if metric(window, "batchhook_delivery_attempts_total") >= expected or (
            time.time() > deadline
        ):
            return samples
        time.sleep(0.5)


def per_interval(times: list[float], start: float, width_s: float = 1.0) -> list[int]:
    """Receipts in each interval of ``width_s`` from ``start``."""
    if not times:
        return []
    counts = [0] * (int((max(times) - start) / width_s) + 1)
    for t in times:
        counts[int((t - start) / width_s)] += 1
    return counts


def prepare_polled(s: Stack, store: Any, endpoints_per_event: int, total: int) -> Prepared:
    """M watched batches, each found ``completed`` by its first poll: one event with K
    deliveries per poll."""
    from worker import keys

    tenant = f"fanout{endpoints_per_event}"
    batches = max(1, round(total / endpoints_per_event))
    with s.bh.client(tenant) as client:
        connection_id = create_connection(client, s.provider_url)
        create_endpoints(s, client, tenant, endpoints_per_event)
    batch_ids = [f"batch_fan{endpoints_per_event}_{i:06d}" for i in range(batches)]
    # Registered with their first poll an hour away, then all made due at one instant.
    register_watches(
        store, tenant, connection_id, batch_ids, poll_interval_s=3600, spread_s=0, delay_s=3600
    )
    wids = [keys.watch_id(tenant, b) for b in batch_ids]

    def make_due() -> None:
        # Then wake beat, as the API does after a registration: written straight into
        # Redis, the due batches would wait up to beat's RECHECK_S (10 s) if beat were
        # waiting, idle, at that moment (about half the runs on a slow machine).
        store.poll_now(wids)
        store.wake_beat()

    return Prepared(tenant, batches, batches * endpoints_per_event, make_due)


def prepare_outbox(s: Stack, store: Any, total: int) -> Prepared:
    """``total`` events of one endpoint each, written straight into the outbox (what a
    poll's record_polls script writes) an hour ahead, then all made due at one instant:
    the delivery path alone, with no poll per delivery."""
    from worker import keys
    from worker.models import NewEvent

    tenant = "fanout-outbox"
    with s.bh.client(tenant) as client:
        [endpoint_id] = create_endpoints(s, client, tenant, 1)
    dids, now = [], time.time()
    for start in range(0, total, 1000):
        events = []
        for i in range(start, min(total, start + 1000)):
            event_id, batch_id = f"evt_outbox{i:06d}", f"batch_ob{i:06d}"
            body = json.dumps(
                {"id": event_id, "object": "event", "type": "batch.completed",
                 "created_at": int(now), "data": {"id": batch_id}}
            )  # fmt: skip
            events.append(NewEvent(event_id, tenant, "", batch_id, "batch.completed", int(now),
                                   body, (endpoint_id,)))  # fmt: skip
            dids.append(keys.delivery_id(event_id, endpoint_id))
        store.scripts.create_events(events, retention_s=store.retention_s, lease_until=now + 3600)

    def make_due() -> None:
        pipe = store.redis.pipeline(transaction=False)
        due_at = time.time()
        for did in dids:
            pipe.zadd(store.keys.outbox_of(did), {did: due_at}, xx=True)
        pipe.execute()
        store.wake_beat()  # as prepare_polled's make_due does

    return Prepared(tenant, total, total, make_due, source="outbox")


def run_level(
    s: FanoutStack, store: Any, endpoints_per_event: int, prepared: Prepared
) -> dict[str, Any]:
    httpx.post(f"{s.receiver_url}/_control/reset", timeout=30).raise_for_status()
    batches, expected = prepared.events, prepared.deliveries
    before_metrics, before_cpu = s.bh.metrics(), s.cpu_by_group()
    due_at = time.time()
    prepared.make_due()
    stats = wait_for_deliveries(s, expected, timeout_s=600 + expected / 50)
    done_at = time.time()
    after_cpu = s.cpu_by_group()
    rss = s.rss_by_group()
    after_metrics = wait_recorded(s, before_metrics, expected)
    window = delta(after_metrics, before_metrics)
    receipts = s.receipts()
    times = [t for _, _, t in receipts]
    first, last = (min(times), max(times)) if times else (math.nan, math.nan)
    span = last - first if times else math.nan
    succeeded = metric(window, "batchhook_delivery_attempts_total", outcome="succeeded")
    cpu = {name: after_cpu[name] - before_cpu.get(name, 0.0) for name in after_cpu}
    batchhook_cpu = sum(v for k, v in cpu.items() if k in BATCHHOOK_GROUPS or k in s.workers)
    all_cpu = sum(cpu.values())
    busy_s = done_at - due_at
    unique = {(w, p) for w, p, _ in receipts}
    return {
        "endpoints_per_event": endpoints_per_event,
        "source": prepared.source,
        "tenant": prepared.tenant,
        "batches": batches,
        "deliveries_expected": expected,
        "received": stats["received"],
        "received_unique": len(unique),
        "missing": expected - len(unique),
        "duplicates": stats["duplicates"],
        "succeeded_metric": succeeded,
        "attempts_by_outcome": {
            dict(ls)["outcome"]: v
            for (n, ls), v in window.items()
            if n == "batchhook_delivery_attempts_total" and v
        },
        "events_created": metric(window, "batchhook_events_created_total"),
        "polls": metric(window, "batchhook_polls_total"),
        "verified": stats["verified"],
        "verify_failures": stats["verify_failures"],
        "failure_examples": stats["failure_examples"],
        "first_receipt_after_due_s": first - due_at,
        "first_to_last_receipt_s": span,
        "deliveries_per_s": len(unique) / span if span and span > 0 else math.nan,
        "succeeded_metric_per_s": succeeded / span if span and span > 0 else math.nan,
        "due_to_last_receipt_s": last - due_at,
        "deliveries_per_s_from_due": len(unique) / (last - due_at) if times else math.nan,
        "attempt_latency_s": {
            "p50": histogram_quantile(window, ATTEMPT, 0.50),
            "p99": histogram_quantile(window, ATTEMPT, 0.99),
            "mean": (
                metric(window, f"{ATTEMPT}_sum") / metric(window, f"{ATTEMPT}_count")
                if metric(window, f"{ATTEMPT}_count")
                else math.nan
            ),
        },
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_s_batchhook": batchhook_cpu,
        "cpu_s_all": all_cpu,
        "busy_s": busy_s,
        "cores_batchhook": batchhook_cpu / busy_s,
        "cores_all": all_cpu / busy_s,
        "cpu_s_per_1000_deliveries_batchhook": batchhook_cpu * 1000 / max(len(unique), 1),
        "cpu_s_per_1000_deliveries_all": all_cpu * 1000 / max(len(unique), 1),
        "rss_mb": {k: round(v / 2**20, 1) for k, v in rss.items()},
        "receipts_per_second": per_interval(times, first),
        # the waves of a surge: each chunk's polls, then its webhooks
        "receipts_per_tenth_from_due": per_interval(times, due_at, 0.1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    total = args.deliveries or (QUICK_DELIVERIES if args.quick else FULL_DELIVERIES)
    env = dict(pair.split("=", 1) for pair in args.env)
    config = {
        "quick": args.quick,
        "levels": list(args.levels),
        "deliveries_per_level": total,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "beat": 1,
        "receiver": f"standin_receiver.py, one process, verifies every {args.verify_every}th",
        "provider": "standin_provider.py --default-status completed (no delay)",
        "registration": "batchhook's register_watch Lua script via Store, pipelined; all made "
        "due at one instant with Store.poll_now",
        "endpoints": "HTTP API POST /v1/endpoints (default events: the four terminal types)",
        "env": {
            **SETTINGS,
            **env,
            "other settings": "defaults (tick 1 s, poll chunk 100, delivery chunk 100, "
            "100 webhook POSTs in flight per worker process, no endpoint rate limit)",
        },
        "target_deliveries_per_s": TARGET_PER_S,
    }
    report = new_report("fanout.py", config)
    report["levels"] = []
    report["reference_cpu_s"] = [reference_cpu_s()]
    with (
        log_folder("fanout", args.keep_logs) as log_dir,
        stack(log_dir, args.workers, args.concurrency, args.verify_every, env) as s,
    ):
        store = s.store()
        for k in args.levels:
            print(f"{k} endpoints per event ...", flush=True)
            level = run_level(s, store, k, prepare_polled(s, store, k, total))
            report["levels"].append(level)
            print(row_text(level), flush=True)
            time.sleep(args.pause_s)
        if not args.no_outbox:
            print("1 endpoint per event, outbox only ...", flush=True)
            report["outbox"] = run_level(s, store, 1, prepare_outbox(s, store, total))
            print(row_text(report["outbox"]), flush=True)
        store.redis.close()
    report["reference_cpu_s"].append(reference_cpu_s())
    rates = [lv["deliveries_per_s"] for lv in report["levels"]]
    report["target_met_all_levels"] = all(r >= TARGET_PER_S for r in rates)
    report["target_met_levels"] = [
        lv["endpoints_per_event"]
        for lv in report["levels"]
        if lv["deliveries_per_s"] >= TARGET_PER_S
    ]
    report["verify_failures_total"] = sum(lv["verify_failures"] for lv in report["levels"])
    one_endpoint = [
        lv["deliveries_per_s"] for lv in report["levels"] if lv["endpoints_per_event"] == 1
    ]
    if one_endpoint:
        report["one_endpoint_target_met"] = one_endpoint[0] >= ONE_ENDPOINT_TARGET_PER_S
    return report


def row_text(level: dict[str, Any]) -> str:
    return (
        f"  K={level['endpoints_per_event']} ({level['source']}): {level['received_unique']}/"
        f"{level['deliveries_expected']} in {level['first_to_last_receipt_s']:.2f} s = "
        f"{level['deliveries_per_s']:.0f}/s (from due {level['deliveries_per_s_from_due']:.0f}/s),"
        f" attempt p50 {level['attempt_latency_s']['p50'] * 1000:.0f} ms p99 "
        f"{level['attempt_latency_s']['p99'] * 1000:.0f} ms, verify failures "
        f"{level['verify_failures']}, retried {level['attempts_by_outcome'].get('retry', 0):.0f}, "
        f"cores {level['cores_batchhook']:.2f}/{level['cores_all']:.2f}"
    )


def markdown(report: dict[str, Any]) -> str:
    per_level = report["config"]["deliveries_per_level"]
    lines = [
        f"{stack_line(report)}; one receiver process; ~{per_level:,} deliveries per level.",
        "",
        "| endpoints per event | events | deliveries ok / expected | first → last receipt (s) "
        "| deliveries/s | deliveries/s from due | attempt p50 / p99 (ms) "
        "| attempts retried (timeouts) | due → all received (s) "
        "| CPU s / 1,000 (batchhook / all) | cores batchhook / all | verified / failures "
        "| duplicates |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [table_row(lv, str(lv["endpoints_per_event"])) for lv in report["levels"]]
    if report.get("outbox"):
        lines.append(table_row(report["outbox"], "1, outbox only (no polls)"))
    return "\n".join([*lines, "", verdict(report)]) + "\n"


def verdict(report: dict[str, Any]) -> str:
    met = report["target_met_levels"]
    where = "met at every level" if report["target_met_all_levels"] else (
        f"met at K = {', '.join(map(str, met))} only" if met else "NOT met at any level"
    )  # fmt: skip
    text = (
        f"Target 2,000 deliveries/s: {where}. Signature verification failures: "
        f"{report['verify_failures_total']}."
    )
    if "one_endpoint_target_met" in report:
        met_or_not = "met" if report["one_endpoint_target_met"] else "NOT met"
        text += (
            f" Target {ONE_ENDPOINT_TARGET_PER_S:,.0f} deliveries/s at one endpoint per event "
            f"through polls: {met_or_not} in this run (the figure moves by a fifth between "
            "runs here: compare several, alternating)."
        )
    if "reference_cpu_s" in report:
        before, after = report["reference_cpu_s"]
        text += (
            f" The machine's speed: a fixed Python loop (bench/runs.py: reference_cpu_s) took "
            f"{before:.2f} s of CPU before the run and {after:.2f} s after it (lower is faster)."
        )
    return text


def table_row(lv: dict[str, Any], label: str) -> str:
    lat = lv["attempt_latency_s"]
    return (
        f"| {label} | {lv['batches']:,} "
        f"| {int(lv['succeeded_metric']):,} / {lv['deliveries_expected']:,} "
        f"| {lv['first_to_last_receipt_s']:.2f} | {lv['deliveries_per_s']:.0f} "
        f"| {lv['deliveries_per_s_from_due']:.0f} "
        f"| {lat['p50'] * 1000:.0f} / {lat['p99'] * 1000:.0f} "
        f"| {int(lv['attempts_by_outcome'].get('retry', 0)):,} "
        f"| {lv['due_to_last_receipt_s']:.1f} "
        f"| {lv['cpu_s_per_1000_deliveries_batchhook']:.2f} / "
        f"{lv['cpu_s_per_1000_deliveries_all']:.2f} "
        f"| {lv['cores_batchhook']:.2f} / {lv['cores_all']:.2f} "
        f"| {lv['verified']} / {lv['verify_failures']} | {lv['duplicates']} |"
    )


def plot(report: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    levels = report["levels"]
    ks = [lv["endpoints_per_event"] for lv in levels]
    fig, (rate_ax, time_ax) = plt.subplots(1, 2, figsize=(13, 4.8))
    rate_ax.plot(ks, [lv["deliveries_per_s"] for lv in levels], "o-",
                 label="first → last receipt")  # fmt: skip
    rate_ax.plot(ks, [lv["deliveries_per_s_from_due"] for lv in levels], "s--",
                 label="from the batches falling due (incl. polls)")  # fmt: skip
    rate_ax.axhline(TARGET_PER_S, color="red", linestyle="--", label="target 2,000/s")
    label(rate_ax, "Delivery throughput", "endpoints per event (log)",
          "signed deliveries per second", log="x")  # fmt: skip
    rate_ax.set_xticks(ks, [str(k) for k in ks])
    rate_ax.set_ylim(bottom=0)

    for lv in levels:
        counts = lv["receipts_per_second"]
        running, total = [], 0
        for c in counts:
            total += c
            running.append(total)
        time_ax.plot(range(1, len(running) + 1), running, label=f"K={lv['endpoints_per_event']}")
    label(time_ax, "Receipts over time", "seconds since the first receipt", "deliveries received")

    per_level = f"~{report['config']['deliveries_per_level']:,} per level"
    save(fig, f"batchhook fan-out {on_stack(report, per_level)}", path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = options(__doc__, "~2,000 deliveries per level")
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--deliveries", type=int, default=None, help="per level")
    parser.add_argument(
        "--no-outbox", action="store_true", help="skip the outbox-only level (no polls)"
    )
    parser.add_argument("--verify-every", type=int, default=50)
    parser.add_argument("--pause-s", type=float, default=5.0, help="rest between levels")
    layout_options(parser, "fanout")
    return run_and_save(parser.parse_args(argv), run, markdown, plot)


if __name__ == "__main__":
    main()
