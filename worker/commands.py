"""What each ``batchhook`` subcommand does. Each returns the process exit code."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from worker import devstate, samples, signing
from worker import logging as bh_logging
from worker.errors import BatchhookError, ConfigError, InputError, StoreUnavailable
from worker.models import EVENT_TYPES
from worker.settings import Settings, get_settings
from worker.store import Store, open_store


def _fail(message: str, code: int = 2) -> int:
    print(f"batchhook: {message}", file=sys.stderr)
    return code


def _require_secret_key(settings: Settings) -> None:
    if not settings.secret_key:
        raise ConfigError("BATCHHOOK_SECRET_KEY is required outside dev mode")


def cli_redis_url(settings: Settings) -> tuple[str, str]:
    """The Redis the CLI reads, and why: a configured one, else a running
    ``batchhook dev``'s (recorded in ``.batchhook/dev.json``), else the default."""
    if "redis_url" in settings.model_fields_set:
        return settings.redis_url, "BATCHHOOK_REDIS_URL or the config file"
    record = devstate.read_record()
    if record is not None and record.running:
        where = devstate.STATE_DIR / devstate.RECORD_NAME
        return record.redis_url, f"batchhook dev's, pid {record.pid}, from {where}"
    return settings.redis_url, "the default: BATCHHOOK_REDIS_URL unset, no batchhook dev here"


def _store() -> Store:
    settings = get_settings()
    url, source = cli_redis_url(settings)
    print(f"batchhook: Redis {devstate.shown_url(url)} ({source})", file=sys.stderr)
    store = open_store(settings.model_copy(update={"redis_url": url}))
    try:
        store.check()
    except StoreUnavailable as exc:
        raise ConfigError(f"cannot reach Redis at {devstate.shown_url(url)}: {exc}") from exc
    store.check_layout()
    return store


def describe_settings_error(exc: ValidationError) -> str:
    """One line per bad setting, named as its variable, without the values (secrets)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        field = ".".join(str(part) for part in error["loc"]).upper()
        name = field if field.startswith("BATCHHOOK_") or not field else f"BATCHHOOK_{field}"
        problems.append(message if not name or name in message else f"{name}: {message}")
    return "invalid configuration: " + "; ".join(problems)


def guarded(func: Any) -> Any:
    """Turn expected failures into a one-line message and exit code 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            code: int = func(args)
        except ValidationError as exc:
            return _fail(describe_settings_error(exc))
        except (BatchhookError, ValueError) as exc:
            return _fail(str(exc))
        return code

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


@guarded
def web(_: argparse.Namespace) -> int:
    import uvicorn

    from worker.api.app import create_app
    from worker.api.http_protocol import HeadLimitedHttpToolsProtocol

    settings = get_settings()
    _require_secret_key(settings)
    bh_logging.configure(settings.effective_log_format, settings.log_level_number)
    store = open_store(settings)
    with contextlib.suppress(StoreUnavailable):  # Redis not up yet: /readyz will say so
        store.check_layout()
    app = create_app(settings, store)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        http=HeadLimitedHttpToolsProtocol,
    )
    server = _server_woken_to_stop(uvicorn, config)
    app.state.stopping = lambda: server.should_exit  # open event streams end on SIGTERM
    server.run()
    return 0 if server.started else 3  # uvicorn's own code for a failed start


def _server_woken_to_stop(uvicorn: Any, config: Any) -> Any:
    """uvicorn's server, its housekeeping loop asleep until a signal asks it to stop.

    uvicorn wakes that loop ten times a second to refresh the ``date`` header and to see
    whether to stop; at that rate it was most of an idle API's CPU (0.15 s a minute), and
    still 0.013 s a minute at once a second. The date is now refreshed as each request
    arrives (``HeadLimitedHttpToolsProtocol``) and the signal handler wakes the loop, so
    an idle API does not wake at all and a SIGTERM is acted on at once."""

    class Server(uvicorn.Server):  # type: ignore[misc]
        stop_requested: asyncio.Event | None = None
        loop: asyncio.AbstractEventLoop | None = None

        async def main_loop(self) -> None:
            self.loop, self.stop_requested = asyncio.get_running_loop(), asyncio.Event()
            while not await self.on_tick(0):  # counter 0: also sets the date header
                await self.stop_requested.wait()
                self.stop_requested.clear()

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            if self.loop is not None and self.stop_requested is not None:
                self.loop.call_soon_threadsafe(self.stop_requested.set)

    return Server(config)


@guarded
def worker(args: argparse.Namespace) -> int:
    from celery.utils.nodenames import default_nodename, host_format

    from worker.beat import embedded_beat
    from worker.celery_app import QUEUES, app

    settings = get_settings()
    _require_secret_key(settings)
    concurrency = args.concurrency or settings.worker_concurrency
    # Started through app.Worker, as Celery's own `celery worker` does, but without that
    # command line, whose imports (click-repl, prompt-toolkit) cost each process ~10 MB.
    node = app.Worker(
        hostname=host_format(default_nodename(f"batchhook-{os.getpid()}@%h")),
        queues=list(QUEUES),
        loglevel=logging.INFO,
        without_gossip=True,
        without_mingle=True,
        # Nothing reads worker-heartbeat events (no remote control, no task events): one
        # publish every 2 s was a tenth of an idle worker's CPU.
        without_heartbeat=True,
        concurrency=concurrency,
        # One process doing everything: no pool children (a small deployment's memory).
        pool="solo" if concurrency == 1 else "prefork",
    )
    with embedded_beat(app, args.beat or settings.worker_beat, in_process=concurrency == 1):
        node.start()
    return int(node.exitcode or 0)


@guarded
def beat(_: argparse.Namespace) -> int:
    from worker.celery_app import app

    # Beat sends the tick by name (task_routes route it), so it need not import the
    # tasks and all they use (the HTTP clients, the queue libraries); and it starts
    # without Celery's command line, as the worker does: a lighter process.
    app.conf.include = ()
    app.Beat(loglevel="INFO").run()
    return 0


@guarded
def tokens_create(args: argparse.Namespace) -> int:
    tenant = args.tenant.strip()
    if not tenant or len(tenant) > 100 or any(c.isspace() for c in tenant):
        raise InputError("--tenant must be 1-100 characters without spaces")
    token_id, token = _store().create_token_with_id(tenant)
    print(f"tenant: {tenant}")
    print(f"id: {token_id} (for `batchhook tokens revoke`)")
    print(token)
    return 0


@guarded
def tokens_list(args: argparse.Namespace) -> int:
    """Ids, tenants and the last four characters; the tokens themselves are not kept."""
    _print_table(
        ("ID", "TENANT", "ENDS WITH", "CREATED", "LAST USED"),
        [
            (t.id, t.tenant, f"...{t.hint}", _when(t.created_at), _when(t.last_used_at))
            for t in _store().list_tokens(args.tenant)
        ],
    )
    return 0


@guarded
def tokens_revoke(args: argparse.Namespace) -> int:
    revoked = _store().revoke_token(args.token.strip())
    if revoked is None:
        raise InputError("no such token (give its tok_... id or the token itself)")
    print(f"revoked {revoked}")
    return 0


def _when(at: float | None) -> str:
    """A Unix time in ISO 8601, UTC: ``2026-12-02T00:35:07Z``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else "-"


@guarded
def trigger(args: argparse.Namespace) -> int:
    if args.event_type not in EVENT_TYPES:
        raise InputError(f"unknown event type {args.event_type!r}; one of {sorted(EVENT_TYPES)}")
    if not signing.is_valid_secret(args.secret):
        raise InputError("--secret must be a whsec_ secret")
    event = samples.sample_event(args.event_type)
    now = int(time.time())
    body = event.body.encode()
    headers = signing.webhook_headers([args.secret], event.id, now, body)
    try:
        response = httpx.post(args.url, content=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        return _fail(f"could not deliver to {args.url}: {exc}", 1)
    print(f"{args.event_type} {event.id} -> {args.url}: HTTP {response.status_code}")
    return 0 if response.is_success else 1


def parse_webhook(text: str) -> tuple[dict[str, str], bytes]:
    """Headers ('name: value' lines), a blank line, then the body."""
    head, sep, body = text.replace("\r\n", "\n").partition("\n\n")
    if not sep:
        raise InputError("expected headers, a blank line, then the body")
    headers = {}
    for line in head.splitlines():
        if line.upper().startswith(("POST ", "HTTP/")):
            continue
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, body.rstrip("\n").encode()


@guarded
def verify(args: argparse.Namespace) -> int:
    if args.file == "-":
        text = sys.stdin.read()
    else:
        with open(args.file, encoding="utf-8") as handle:
            text = handle.read()
    headers, body = parse_webhook(text)
    now = time.time()
    tolerance_s = args.tolerance if args.tolerance > 0 else float("inf")
    try:
        signing.verify(args.secret, headers, body, now=now, tolerance_s=tolerance_s)
    except signing.InvalidSignature as exc:
        print(f"invalid: {exc}")
        return 1
    print(f"valid: webhook-id {headers.get('webhook-id')}")
    return 0


@guarded
def status(_: argparse.Namespace) -> int:
    store = _store()
    rows = [
        (
            w.tenant,
            w.batch_id,
            w.status or "-",
            "yes" if w.watching else "no",
            _when(w.next_poll_at) if w.watching else "-",
        )
        for tenant in store.tenants()
        for w in store.list_watches(tenant)
    ]
    _print_table(("TENANT", "BATCH", "STATUS", "WATCHING", "NEXT POLL"), rows)
    pending = store.pending_deliveries()
    print(f"\n{len(pending)} pending deliveries")
    _print_table(
        ("DELIVERY", "NEXT ATTEMPT"),
        [(did, _when(at)) for did, at in pending[:50]],
    )
    failing = store.failing_deliveries(limit=20)
    print(f"\n{len(failing)} most recent failing deliveries")
    _print_table(
        ("DELIVERY", "STATE", "ATTEMPTS", "LAST ATTEMPT", "HTTP", "ERROR"),
        [_failing_row(row) for row in failing],
    )
    return 0


def _failing_row(row: dict[str, Any]) -> tuple[str, ...]:
    last = row["last_attempt"]
    at = last.get("at")
    return (
        row["delivery_id"],
        row["state"],
        str(row["attempts"]),
        _when(at),
        str(last.get("status_code") or "-"),
        str(last.get("error") or "-")[:60],
    )


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def dev(args: argparse.Namespace) -> int:
    from worker.devserver import run_dev

    return run_dev(port=args.port, demo=args.demo, exit_after_demo=args.exit_after_demo)


@guarded
def listen(args: argparse.Namespace) -> int:
    from worker.listen import run

    events = ",".join(args.events) if args.events else None  # --events a b, or a,b
    return run(args.api, args.token, args.forward_to, events, args.secret)


@guarded
def simulate_provider(args: argparse.Namespace) -> int:
    from worker.simulator import run

    return run(args.host, args.port)
