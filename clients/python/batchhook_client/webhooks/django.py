"""Django: a view decorator that passes the verified, typed event to the view.

    from django.http import HttpResponse
    from batchhook_client.webhooks import BatchCompleted, Event
    from batchhook_client.webhooks.django import verified_webhook

    @verified_webhook("whsec_...")
    def batch_hook(request, event: Event):
        if isinstance(event, BatchCompleted):
            ...  # event.data.output_file_id
        return HttpResponse(status=204)

    urlpatterns = [path("hooks/batches", batch_hook)]

The view is exempt from CSRF (the signature authenticates the sender) and takes POST
only (``405`` otherwise). A request that does not check out gets ``400`` and the view is
not called. The event is the argument after ``request``, before any URL arguments. Needs
``django``, which this package does not install.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.http import (  # type: ignore[import-untyped]  # Django ships no type hints
    HttpResponse,
    HttpResponseNotAllowed,
)
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]  # as above

from batchhook_client.errors import WebhookVerificationError
from batchhook_client.webhooks import DEFAULT_TOLERANCE_S, Event, verify

View = Callable[..., Any]


def verified_webhook(
    secret: str, *, tolerance: float | None = DEFAULT_TOLERANCE_S
) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @functools.wraps(view)
        def verified_view(request: Any, *args: Any, **kwargs: Any) -> Any:
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            headers = {name: str(value) for name, value in request.headers.items()}
            try:
                event: Event[Any] = verify(request.body, headers, secret, tolerance=tolerance)
            except WebhookVerificationError as exc:
                body = json.dumps({"error": f"invalid webhook: {exc}"})
                return HttpResponse(body, status=400, content_type="application/json")
            return view(request, event, *args, **kwargs)

        exempt: View = csrf_exempt(verified_view)
        return exempt

    return decorate
