"""Latency from a provider's status change to a verified webhook at the receiver.

Real processes on 127.0.0.1: a private Redis, the stand-in provider
(``standin_provider.py``), batchhook's web, worker and beat, and the receiver
(``latency_receiver.py``, which verifies every webhook with ``standardwebhooks``).

- Part A: 10,000 batches watched at a 1 s poll interval (registered straight through
  batchhook's store, ``Store.register_watch(..., poll_interval_s=1, first_poll_at=...)``,
  first polls spread over one second). Achieved polls/s and schedule lag; a sample of the
  batches switches to ``completed`` at known instants spread over the window.
- Part B: the same at a load the machine sustains (default 1,000 batches at 1 s).
- Part B2: part B with another poll chunk size (``--b2-chunk``, default 200, twice the
  default ``BATCHHOOK_POLL_CHUNK_SIZE``), to show what the chunk size costs in latency.
- Part C: the inbound push path. Batches are watched at a 3,600 s interval (registered
  through the HTTP API, so polling never finds the change); each is flipped to
  ``completed`` in the stand-in and, at that instant, an OpenAI-style signed
  ``batch.completed`` webhook is POSTed to ``/v1/inbound/{connection_id}``.

Measured per batch: change -> receipt (timeline instant, or push instant, to the
receiver's verified receipt) and detecting poll -> receipt (the stand-in's first answer
``completed`` to receipt). See ``bench/README.md``.

    .venv/bin/python bench/latency.py [--quick] [--out bench/results]
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from harness import SETTINGS, Samples, delta, histogram_quantile, metric, wait_for
from plotting import pyplot, save
from runs import machine, options, save_results, stop_on_sigterm, workspace
from stack import Sampler, Stack
from standardwebhooks import Webhook

TENANT = "bench"
TARGET_S = 0.100  # detecting poll -> receipt, p99
PART_ORDER = ("A", "B", "B2", "C")
PUSH_KEYS = {"change_to_receipt": "push_to_receipt", "change_to_poll": "push_to_poll"}


def new_whsec() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
        "mean": sum(values) / len(values),
    }


@dataclass
class Watching(Stack):
    """The stack with one tenant, its connection to the stand-in and one endpoint (the
    receiver), and the tenant's API client."""

    client: httpx.Client | None = None
    connection_id: str = ""
    inbound_secret: str = ""

    def api(self) -> httpx.Client:
        assert self.client is not None, "the tenant's client is made as the stack starts"
        return self.client

    def received(self) -> dict[str, Any]:
        result: dict[str, Any] = self.receiver_get("/_control/received")
        return result


@contextlib.contextmanager
def stack(
    log_dir: Path,
    *,
    events: list[str],
    inbound: bool = False,
    provider_flags: tuple[str, ...] = (),
    **env: str,
) -> Iterator[Watching]:
    """Everything but the workers and beat, which the caller starts when it is ready."""
    with Watching.started(
        log_dir, provider_flags=provider_flags, receiver=("latency_receiver.py",), env=env
    ) as s:
        s.client = client = s.bh.client(TENANT)
        body: dict[str, Any] = {
            "provider": "openai",
            "api_key": "sk-batchhook",
            "base_url": f"{s.provider_url}/v1",
        }
        if inbound:
            s.inbound_secret = new_whsec()
            body["webhook_secret"] = s.inbound_secret
        answer = client.post("/v1/connections", json=body)
        answer.raise_for_status()
        s.connection_id = answer.json()["id"]
        answer = client.post(
            "/v1/endpoints", json={"url": f"{s.receiver_url}/hooks/batches", "events": events}
        )
        answer.raise_for_status()
        httpx.post(
            f"{s.receiver_url}/_control/secret", json={"secret": answer.json()["secret"]}
        ).raise_for_status()
        yield s
        client.close()


def queue_sampler(s: Stack) -> Sampler:
    """Every second: peak RSS per process group and the queue depths from /metrics."""
    sampler = Sampler(s.groups, 1.0, s.gauges)
    sampler.start()
    return sampler


def polled_total(s: Stack) -> float:
    return metric(s.bh.metrics(), "batchhook_polls_total")


def wait_receipts(s: Watching, wanted: set[str], timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        got = {r["batch_id"] for r in s.received()["received"] if r["type"] == "batch.completed"}
        if wanted <= got:
            return
        time.sleep(0.5)


def latencies(
    s: Watching, changed_at: dict[str, float]
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """change -> receipt and detecting poll -> receipt for every batch in ``changed_at``."""
    answer = s.received()
    first: dict[str, dict[str, Any]] = {}
    for r in answer["received"]:
        if r["type"] == "batch.completed":
            first.setdefault(r["batch_id"], r)
    served = s.provider_get("/_control/served")
    logged = worker_log_times(s, set(changed_at))
    change, poll, detect = [], [], []
    steps: dict[str, list[float]] = {"poll_to_recorded": [], "recorded_to_post": [],
                                     "post_to_receipt": []}  # fmt: skip
    for batch_id, at in changed_at.items():
        receipt = first.get(batch_id)
        if receipt is None:
            continue
        change.append(receipt["received_at"] - at)
        polled_at = served.get(batch_id, {}).get("completed")
        if polled_at is not None:
            poll.append(receipt["received_at"] - polled_at)
            detect.append(polled_at - at)
            times = logged.get(batch_id, {})
            if "recorded" in times and "post" in times:
                steps["poll_to_recorded"].append(times["recorded"] - polled_at)
                steps["recorded_to_post"].append(times["post"] - times["recorded"])
                steps["post_to_receipt"].append(receipt["received_at"] - times["post"])
    counts = {
        "changes": len(changed_at),
        "received": len([b for b in changed_at if b in first]),
        "missing": len([b for b in changed_at if b not in first]),
        "invalid_signatures": answer["invalid"],
        "duplicate_webhook_ids": answer["duplicates"],
    }
    values = {"change_to_receipt": change, "poll_to_receipt": poll, "change_to_poll": detect}
    return {**values, **steps}, counts


def worker_log_times(s: Stack, batch_ids: set[str]) -> dict[str, dict[str, float]]:
    """From the workers' JSON logs, per batch: when the poll that saw ``completed`` was
    recorded (``batch_status_changed``, logged after the chunk's ``record_polls``) and when
    the webhook's POST started (``webhook_attempted`` time minus its ``latency_ms``)."""
    found: dict[str, dict[str, float]] = {}
    for name, process in s.bh.processes.items():
        if not name.startswith("worker"):
            continue
        for line in process.log_path.read_text(errors="replace").splitlines():
            if not line.startswith("{") or '"batch_id"' not in line:
                continue
            with contextlib.suppress(ValueError, KeyError):
                entry = json.loads(line)
                batch_id = entry.get("batch_id")
                if batch_id not in batch_ids:
                    continue
                at = datetime.fromisoformat(entry["timestamp"]).timestamp()
                times = found.setdefault(batch_id, {})
                if entry["event"] == "batch_status_changed" and entry["status"] == "completed":
                    times.setdefault("recorded", at)
                elif entry["event"] == "webhook_attempted":
                    times.setdefault("post", at - entry["latency_ms"] / 1000)
    return found


def register_fast(s: Watching, batch_ids: list[str], interval_s: float) -> float:
    """Through batchhook's store: first polls spread uniformly over one interval."""
    store = s.store()
    started = time.time()
    now = time.time() + 2.0  # beat starts after this
    for batch_id in batch_ids:
        store.register_watch(
            TENANT,
            batch_id=batch_id,
            connection_id=s.connection_id,
            endpoint_ids=None,
            metadata={},
            poll_interval_s=interval_s,
            first_poll_at=now + random.uniform(0.0, interval_s),
        )
    store.redis.close()
    return time.time() - started


@dataclass(frozen=True)
class Layout:
    """batchhook's processes in a part: worker processes, their --concurrency, extra settings."""

    workers: int
    concurrency: int
    env: dict[str, str]

    def start(self, s: Stack) -> None:
        """The workers and beat, once the part is ready for them."""
        s.start_workers(self.workers, self.concurrency)
        s.bh.start_beat()


def run_polling_part(
    name: str,
    log_dir: Path,
    layout: Layout,
    *,
    batches: int,
    changes: int,
    warmup_s: float,
    window_s: float,
    grace_s: float,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    print(f"[{name}] {batches} batches at 1 s, {changes} changes over {window_s:.0f} s", flush=True)
    with stack(log_dir / name, events=["batch.completed"], **layout.env) as s:
        batch_ids = [f"batch_{name}_{i:05d}" for i in range(batches)]
        register_s = register_fast(s, batch_ids, 1.0)
        layout.start(s)
        time.sleep(warmup_s)
        sampler = queue_sampler(s)
        m0, stats0, cpu0, t0 = (
            s.bh.metrics(),
            s.provider_get("/_control/stats"),
            s.cpu_by_group(),
            time.time(),
        )
        sample = random.sample(batch_ids, changes)
        changed_at = {b: t0 + 1.0 + (window_s - 2.0) * i / changes for i, b in enumerate(sample)}
        s.provider_post(
            "/_control/timelines",
            {"timelines": {b: [[t0 - 3600, "in_progress"], [at, "completed"]]
                           for b, at in changed_at.items()}},
        )  # fmt: skip
        time.sleep(max(0.0, t0 + window_s - time.time()))
        m1, stats1, cpu1, t1 = (
            s.bh.metrics(),
            s.provider_get("/_control/stats"),
            s.cpu_by_group(),
            time.time(),
        )
        wait_receipts(s, set(changed_at), grace_s)
        sampler.stop()
        values, counts = latencies(s, changed_at)
        report = polling_report(
            m1=m1, m0=m0, stats1=stats1, stats0=stats0, cpu1=cpu1, cpu0=cpu0,
            elapsed=t1 - t0, sampler=sampler,
        )  # fmt: skip
        # A changed batch is finished and polled no more: on average over the window,
        # fewer than ``batches`` are watched.
        stopped_s = sum(max(0.0, t1 - at) for at in changed_at.values())
        report.update(
            batches=batches,
            polls_per_s_wanted=batches - stopped_s / (t1 - t0),
            poll_interval_s=1.0,
            registration="store (Store.register_watch, first polls spread over 1 s)",
            register_seconds=register_s,
            warmup_s=warmup_s,
            window_s=window_s,
            workers=layout.workers,
            concurrency=layout.concurrency,
            counts=counts,
            latency={k: summary(v) for k, v in values.items()},
        )
        return report, values


def polling_report(
    *,
    m1: Samples,
    m0: Samples,
    stats1: dict[str, Any],
    stats0: dict[str, Any],
    cpu1: dict[str, float],
    cpu0: dict[str, float],
    elapsed: float,
    sampler: Sampler,
) -> dict[str, Any]:
    d = delta(m1, m0)
    lag = "batchhook_schedule_lag_seconds"
    depths = sampler.gauge("poll_queue")
    return {
        "measured_s": elapsed,
        "polls_per_s": metric(d, "batchhook_polls_total") / elapsed,
        "provider_requests_per_s": (stats1["requests"] - stats0["requests"]) / elapsed,
        "poll_outcomes": {
            dict(labels).get("outcome", ""): value
            for (n, labels), value in d.items()
            if n == "batchhook_polls_total" and value
        },
        "schedule_lag_s": {
            "p50": histogram_quantile(d, lag, 0.5),
            "p90": histogram_quantile(d, lag, 0.9),
            "p99": histogram_quantile(d, lag, 0.99),
            "mean": metric(d, f"{lag}_sum") / max(metric(d, f"{lag}_count"), 1),
        },
        "poll_queue_depth": {
            "max": max(depths, default=0),
            "mean": sum(depths) / max(len(depths), 1),
        },
        "cpu_share": {k: (cpu1.get(k, 0) - cpu0.get(k, 0)) / elapsed for k in cpu1},
        "peak_rss_mb": {k: v / 2**20 for k, v in sampler.peak_rss().items()},
    }


def openai_webhook(secret: str, batch_id: str) -> tuple[dict[str, str], bytes]:
    """A ``batch.completed`` event signed the way OpenAI signs its webhooks."""
    now = datetime.now(UTC)
    body = json.dumps(
        {
            "id": f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "created_at": int(now.timestamp()),
            "type": "batch.completed",
            "data": {"id": batch_id},
        }
    )
    msg_id = f"wh_{secrets.token_hex(16)}"
    signature = Webhook(secret).sign(msg_id, now, body)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return headers, body.encode()


def run_push_part(
    log_dir: Path, layout: Layout, *, pushes: int, window_s: float, grace_s: float
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    print(f"[C] inbound push: {pushes} batches watched at 3600 s, pushed over {window_s:.0f} s",
          flush=True)  # fmt: skip
    with stack(log_dir / "C", events=["batch.completed"], inbound=True, **layout.env) as s:
        layout.start(s)
        batch_ids = [f"batch_push_{i:05d}" for i in range(pushes)]
        s.provider_post("/_control/set", {"ids": batch_ids, "status": "in_progress"})
        for batch_id in batch_ids:  # through the API, as a user would
            s.api().post(
                "/v1/batches",
                json={
                    "batch_id": batch_id,
                    "connection_id": s.connection_id,
                    "poll_interval": 3600,
                },
            ).raise_for_status()
        wait_for(lambda: polled_total(s) >= pushes, 60, "the first polls")
        time.sleep(2)
        sampler = queue_sampler(s)
        cpu0, t0 = s.cpu_by_group(), time.time()
        pushed_at: dict[str, float] = {}
        answer_s: list[float] = []
        statuses: dict[int, int] = {}
        inbound = httpx.Client(base_url=s.bh.api_url, timeout=30)
        for i, batch_id in enumerate(batch_ids):
            time.sleep(max(0.0, t0 + 1.0 + (window_s - 2.0) * i / pushes - time.time()))
            s.provider_post("/_control/set", {"ids": [batch_id], "status": "completed"})
            headers, body = openai_webhook(s.inbound_secret, batch_id)
            pushed_at[batch_id] = time.time()
            answer = inbound.post(f"/v1/inbound/{s.connection_id}", content=body, headers=headers)
            answer_s.append(time.time() - pushed_at[batch_id])
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        inbound.close()
        wait_receipts(s, set(pushed_at), grace_s)
        cpu1, t1 = s.cpu_by_group(), time.time()
        sampler.stop()
        values, counts = latencies(s, pushed_at)
        values = {
            "push_to_receipt": values["change_to_receipt"],
            "poll_to_receipt": values["poll_to_receipt"],
            "push_to_poll": values["change_to_poll"],
            "inbound_answer": answer_s,
            **{k: values[k] for k in ("poll_to_recorded", "recorded_to_post", "post_to_receipt")},
        }
        report = {
            "batches": pushes,
            "poll_interval_s": 3600,
            "registration": "HTTP API (POST /v1/batches, poll_interval 3600)",
            "window_s": window_s,
            "workers": layout.workers,
            "concurrency": layout.concurrency,
            "inbound_status_codes": statuses,
            "counts": counts,
            "latency": {k: summary(v) for k, v in values.items()},
            "cpu_share": {k: (cpu1.get(k, 0) - cpu0.get(k, 0)) / (t1 - t0) for k in cpu1},
            "peak_rss_mb": {k: v / 2**20 for k, v in sampler.peak_rss().items()},
        }
        return report, values


def ms(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value * 1000:.0f}"


def title(key: str, part: dict[str, Any]) -> str:
    if key == "C":
        return "C: inbound push"
    chunk = part.get("env", {}).get("BATCHHOOK_POLL_CHUNK_SIZE")
    suffix = f", chunk {chunk}" if chunk else ""
    return f"{key}: {part['batches']:,} at 1 s{suffix}"


def markdown(report: dict[str, Any]) -> str:
    parts = report["parts"]
    keys = [k for k in PART_ORDER if k in parts]
    lines = [
        f"Machine: {report['machine']['cpus']} CPUs ({report['machine']['cpu_model']}), "
        f"load average at start {report['machine']['loadavg_at_start'][0]:.2f}. "
        f"batchhook: web + {report['config']['workers']} worker "
        f"(--concurrency {report['config']['concurrency']}) + beat, one Redis.",
        "",
        "| | " + " | ".join(title(k, parts[k]) for k in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]

    def row(label: str, cell: Any) -> None:
        cells = []
        for k in keys:
            try:
                cells.append(cell(parts[k], k))
            except (KeyError, TypeError):
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    def lat(key: str, q: str) -> Any:
        return lambda p, k: ms(p["latency"][PUSH_KEYS.get(key, key) if k == "C" else key][q])

    row(
        "polls/s wanted (batches still watched)",
        lambda p, k: f"{p['polls_per_s_wanted']:,.0f}" if k != "C" else "-",
    )
    row("polls/s achieved", lambda p, k: f"{p['polls_per_s']:,.0f}")
    for q in ("p50", "p99"):
        row(f"schedule lag {q} (ms)", lambda p, k, q=q: ms(p["schedule_lag_s"][q]))
    row("changes / received", lambda p, k: f"{p['counts']['changes']} / {p['counts']['received']}")
    for label, key in (
        ("change (C: push) → receipt", "change_to_receipt"),
        ("change (C: push) → detecting poll", "change_to_poll"),
        ("**detecting poll → receipt**", "poll_to_receipt"),
    ):
        for q in ("p50", "p99", "max"):
            row(f"{label} {q} (ms)", lat(key, q))
    for label, key in (
        ("detecting poll → poll recorded", "poll_to_recorded"),
        ("poll recorded → webhook POST", "recorded_to_post"),
        ("webhook POST → verified receipt", "post_to_receipt"),
    ):
        row(
            f"… {label} p50 / p99 (ms)",
            lambda p, k, key=key: (
                f"{ms(p['latency'][key]['p50'])} / {ms(p['latency'][key]['p99'])}"
            ),
        )
    row(
        "inbound answer p50 / p99 (ms)",
        lambda p, k: (
            f"{ms(p['latency']['inbound_answer']['p50'])} / "
            f"{ms(p['latency']['inbound_answer']['p99'])}"
        ),
    )
    for name in ("worker0", "beat", "web", "redis", "provider", "receiver"):
        row(f"CPU {name} (cores)", lambda p, k, name=name: f"{p['cpu_share'][name]:.2f}")
    verdict = {k: parts[k]["latency"]["poll_to_receipt"].get("p99", float("nan")) for k in keys}
    lines += [
        "",
        "Target: detecting poll → receipt p99 under 100 ms: "
        + ", ".join(
            f"{k} {'met' if v < TARGET_S else 'NOT met'} ({ms(v)} ms)" for k, v in verdict.items()
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def plot(values: dict[str, dict[str, list[float]]], report: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    parts = report["parts"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for key in (k for k in PART_ORDER if k in values):
        label = title(key, parts[key])
        for axis, metric_key in (
            (left, "poll_to_receipt"),
            (right, "push_to_receipt" if key == "C" else "change_to_receipt"),
        ):
            data = sorted(v * 1000 for v in values[key][metric_key])
            if data:
                ys = [(i + 1) / len(data) for i in range(len(data))]
                axis.step(data, ys, where="post", label=f"{label} (n={len(data)})")
    left.axvline(TARGET_S * 1000, color="red", linestyle="--", label="target: 100 ms at p99")
    left.set_title("detecting poll → verified receipt")
    right.set_title("status change (C: push) → verified receipt")
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xlabel("latency (ms, log scale)")
        axis.set_ylabel("share of batches (CDF)")
        axis.axhline(0.99, color="grey", linewidth=0.5)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8, loc="upper left")
    save(fig, "batchhook: latency to a verified webhook (real processes, 2-core machine)", path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = options(__doc__, "small counts, under 2 minutes")
    parser.add_argument("--batches-a", type=int, default=None, help="default 10000 (quick 500)")
    parser.add_argument("--batches-b", type=int, default=None, help="default 1000 (quick 200)")
    parser.add_argument(
        "--changes", type=int, default=None, help="per part; default 500 (quick 50)"
    )
    parser.add_argument("--window", type=float, default=None, help="s; default 60 (quick 12)")
    parser.add_argument("--warmup", type=float, default=None, help="s; default 20 (quick 5)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--parts", default="A,B,B2,C", help="comma-separated")
    parser.add_argument(
        "--b2-chunk", type=int, default=200,
        help="part B2: part B again with BATCHHOOK_POLL_CHUNK_SIZE set to this",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE",
        help="extra batchhook environment, e.g. BATCHHOOK_POLL_CHUNK_SIZE=50 (repeatable)",
    )  # fmt: skip
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the logs here")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    stop_on_sigterm()
    quick = args.quick
    batches_a = args.batches_a or (500 if quick else 10_000)
    batches_b = args.batches_b or (200 if quick else 1_000)
    changes = args.changes or (50 if quick else 500)
    window = args.window or (12.0 if quick else 60.0)
    warmup = args.warmup if args.warmup is not None else (5.0 if quick else 20.0)
    grace = 30.0 if quick else 60.0
    random.seed(args.seed)
    report: dict[str, Any] = {
        "machine": machine(),
        "config": {
            "quick": quick,
            "batches_a": batches_a,
            "batches_b": batches_b,
            "changes_per_part": changes,
            "window_s": window,
            "warmup_s": warmup,
            "workers": args.workers,
            "concurrency": args.concurrency,
            "seed": args.seed,
            "env": {
                **SETTINGS,
                "other settings": "defaults (tick 1 s, poll chunk 100, poll concurrency 200)",
            },
            "events": ["batch.completed"],
        },
        "parts": {},
    }
    values: dict[str, dict[str, list[float]]] = {}
    env = dict(item.split("=", 1) for item in args.env)
    report["config"]["env"].update(env)
    layout = Layout(args.workers, args.concurrency, env)
    with workspace("latency") as log_dir:
        try:
            chosen = set(args.parts.split(","))
            b2_env = {**env, "BATCHHOOK_POLL_CHUNK_SIZE": str(args.b2_chunk)}
            for part, batches, part_env in (
                ("A", batches_a, env),
                ("B", batches_b, env),
                ("B2", batches_b, b2_env),
            ):
                if part in chosen:
                    report["parts"][part], values[part] = run_polling_part(
                        part, log_dir, replace(layout, env=part_env), batches=batches,
                        changes=min(changes, batches), warmup_s=warmup, window_s=window,
                        grace_s=grace,
                    )  # fmt: skip
                    report["parts"][part]["env"] = part_env
            if "C" in chosen:
                report["parts"]["C"], values["C"] = run_push_part(
                    log_dir, layout, pushes=changes, window_s=window, grace_s=grace
                )
        except BaseException:
            args.keep_logs = (
                args.keep_logs
                or Path(tempfile.gettempdir()) / f"bh-latency-logs-{int(time.time())}"
            )
            raise
        finally:
            if args.keep_logs:
                shutil.copytree(log_dir, args.keep_logs, dirs_exist_ok=True)
                print(f"logs kept in {args.keep_logs}", file=sys.stderr)
    save_results(args.out, "latency", report, markdown(report), lambda p: plot(values, report, p))
    return report


if __name__ == "__main__":
    main()
