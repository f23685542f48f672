"""FastAPI: a dependency that hands the route a verified, typed event.

    from typing import Annotated
    from fastapi import Depends, FastAPI
    from batchhook_client.webhooks import BatchCompleted, Event
    from batchhook_client.webhooks.fastapi import webhook_event

    app = FastAPI()

    @app.post("/hooks/batches")
    def batch_hook(event: Annotated[Event, Depends(webhook_event("whsec_..."))]) -> None:
        if isinstance(event, BatchCompleted):
            ...  # event.data.output_file_id

(``event: Event = Depends(webhook_event(SECRET))`` works too.) The dependency reads the
raw body, verifies it and answers ``400`` with ``{"detail": ...}`` when it does not check
out; the route runs only for a genuine event. Needs ``fastapi``, which this package does
not install.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Request

from batchhook_client.errors import WebhookVerificationError
from batchhook_client.webhooks import DEFAULT_TOLERANCE_S, Event, verify


def webhook_event(
    secret: str, *, tolerance: float | None = DEFAULT_TOLERANCE_S
) -> Callable[[Request], Awaitable[Event[Any]]]:
    """A dependency giving the request's verified event (400 when it is not genuine)."""

    async def verified_event(request: Request) -> Event[Any]:
        body = await request.body()
        try:
            return verify(body, request.headers, secret, tolerance=tolerance)
        except WebhookVerificationError as exc:
            raise HTTPException(status_code=400, detail=f"invalid webhook: {exc}") from exc

    return verified_event
