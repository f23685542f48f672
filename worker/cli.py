"""The ``batchhook`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from worker import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchhook", description="Signed webhooks when LLM batch jobs finish."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run everything locally with no set-up")
    dev.add_argument("--port", type=int, default=None, help="API port (default: PORT or 8000)")
    dev.add_argument("--demo", action="store_true", help="also run a simulated batch end to end")
    dev.add_argument(
        "--exit-after-demo", action="store_true", help="stop once the demo webhook arrived"
    )
    dev.set_defaults(func=commands.dev)

    sub.add_parser("web", help="serve the HTTP API on PORT").set_defaults(func=commands.web)
    worker = sub.add_parser("worker", help="run a Celery worker (polling and delivery)")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="pool size (default: BATCHHOOK_WORKER_CONCURRENCY, else one per CPU); "
        "1 runs tasks in this process, without children",
    )
    worker.add_argument(
        "--beat",
        action="store_true",
        help="also run beat's tick scheduler in this process (one worker in all; "
        "default: BATCHHOOK_WORKER_BEAT)",
    )
    worker.set_defaults(func=commands.worker)
    sub.add_parser("beat", help="run Celery beat (the polling tick)").set_defaults(
        func=commands.beat
    )

    tokens = sub.add_parser("tokens", help="API tokens")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True)
    create = tokens_sub.add_parser("create", help="print a new API token for a tenant")
    create.add_argument("--tenant", required=True)
    create.set_defaults(func=commands.tokens_create)
    listing = tokens_sub.add_parser("list", help="token ids, tenants and last use (no tokens)")
    listing.add_argument("--tenant", help="only this tenant's tokens")
    listing.set_defaults(func=commands.tokens_list)
    revoke = tokens_sub.add_parser("revoke", help="end a token at once")
    revoke.add_argument("token", help="the token's tok_... id, or the token itself")
    revoke.set_defaults(func=commands.tokens_revoke)

    trigger = sub.add_parser("trigger", help="send one signed sample event to a URL")
    trigger.add_argument("event_type")
    trigger.add_argument("--url", required=True)
    trigger.add_argument("--secret", required=True)
    trigger.set_defaults(func=commands.trigger)

    verify = sub.add_parser(
        "verify", help="check a webhook's signature (headers, blank line, body on stdin)"
    )
    verify.add_argument("--secret", required=True)
    verify.add_argument("--file", default="-", help="read from this file instead of stdin")
    verify.add_argument("--tolerance", type=float, default=300.0, help="seconds; 0 = no check")
    verify.set_defaults(func=commands.verify)

    simulate = sub.add_parser(
        "simulate-provider", help="serve a simulated OpenAI Batch API to point a connection at"
    )
    simulate.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    simulate.add_argument("--port", type=int, default=8001, help="default: 8001")
    simulate.set_defaults(func=commands.simulate_provider)

    sub.add_parser("status", help="watched batches and pending deliveries").set_defaults(
        func=commands.status
    )

    listen = sub.add_parser(
        "listen", help="forward the tenant's events, signed, to a handler on this machine"
    )
    listen.add_argument(
        "--api", required=True, help="the batchhook API, e.g. http://127.0.0.1:8000"
    )
    listen.add_argument("--token", required=True, help="an API token of the tenant")
    listen.add_argument("--forward-to", required=True, help="the local handler's URL")
    listen.add_argument(
        "--events",
        nargs="+",
        help="only these types, space- or comma-separated (default: all)",
    )
    listen.add_argument("--secret", help="sign with this whsec_ secret (default: a new one)")
    listen.set_defaults(func=commands.listen)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
