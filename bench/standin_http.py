"""What the bench's aiohttp stand-ins share: a command line with ``--port``, an app of
control calls under ``/_control/`` (a receiver's takes every other POST as a webhook),
and serving it on loopback without an access log.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

CONTROL = "/_control/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Receiving(Protocol):
    """A receiver stand-in: its webhook handler and its control calls."""

    async def hook(self, request: web.Request) -> web.Response: ...

    def control(self) -> dict[str, Handler]: ...


def command_line(doc: str) -> argparse.ArgumentParser:
    """A stand-in's options, described by the first line of ``doc``: ``--port`` to start."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    return parser


def control_routes(control: dict[str, Handler]) -> list[web.RouteDef]:
    """``{"POST reset": handler, ...}``: ``POST /_control/reset`` and so on."""
    routes = []
    for call, handler in control.items():
        method, name = call.split()
        routes.append(web.route(method, f"{CONTROL}{name}", handler))
    return routes


def receiver_app(hook: Handler, control: dict[str, Handler]) -> web.Application:
    """The control calls, then every other POST (bodies up to 8 MiB) to ``hook``."""
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.add_routes([*control_routes(control), web.post("/{tail:.*}", hook)])
    return app


def serve_receiver(parser: argparse.ArgumentParser, build: Callable[[Any], Receiving]) -> None:
    """Read the command line, ``build`` the receiver from its options and serve it."""
    args = parser.parse_args()
    receiver = build(args)
    serve(receiver_app(receiver.hook, receiver.control()), args.port)


def serve(app: web.Application, port: int) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until the process is stopped."""
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
