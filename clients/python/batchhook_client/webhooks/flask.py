"""Flask: a view decorator that passes the verified, typed event to the view.

    from flask import Flask
    from batchhook_client.webhooks import BatchCompleted, Event
    from batchhook_client.webhooks.flask import verified_webhook

    app = Flask(__name__)

    @app.post("/hooks/batches")
    @verified_webhook("whsec_...")
    def batch_hook(event: Event):
        if isinstance(event, BatchCompleted):
            ...  # event.data.output_file_id
        return "", 204

The event comes first, before any URL arguments. A request that does not check out gets
``400`` with ``{"error": ...}`` and the view is not called. Needs ``flask``, which this
package does not install.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from flask import Response, jsonify, request

from batchhook_client.errors import WebhookVerificationError
from batchhook_client.webhooks import DEFAULT_TOLERANCE_S, Event, verify

P = ParamSpec("P")
R = TypeVar("R")


def verified_webhook(
    secret: str, *, tolerance: float | None = DEFAULT_TOLERANCE_S
) -> Callable[[Callable[Concatenate[Event[Any], P], R]], Callable[P, R | tuple[Response, int]]]:
    def decorate(
        view: Callable[Concatenate[Event[Any], P], R],
    ) -> Callable[P, R | tuple[Response, int]]:
        @functools.wraps(view)
        def verified_view(*args: P.args, **kwargs: P.kwargs) -> R | tuple[Response, int]:
            headers = {name: value for name, value in request.headers.items()}
            try:
                event = verify(request.get_data(), headers, secret, tolerance=tolerance)
            except WebhookVerificationError as exc:
                return jsonify(error=f"invalid webhook: {exc}"), 400
            return view(event, *args, **kwargs)

        return verified_view

    return decorate
