"""Who is looking at a dashboard page.

With JavaScript, the page keeps the API token in the tab's session storage and sends it
as ``Authorization: Bearer`` with every request it makes (its pages and the ``/v1`` API
alike), so the dashboard answers exactly as the API does: the same token check, the
same rate limit, the same tenant. Without JavaScript the sign-in form posts the token
once; the answer sets a session cookie (HttpOnly, SameSite=Strict, no expiry date: gone
with the browser session) holding a random session id that stands for the token for
``SESSION_TTL_S``. Only digests are stored, revoking the token ends its sessions, and
the cookie opens the pages for reading only: every action goes through the ``/v1`` API
with the bearer token.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Request

from worker.api.deps import get_tenant, refuse_over_rate
from worker.records import frozen
from worker.settings import Settings
from worker.store import Store

SESSION_COOKIE = "bh_dashboard"
SESSION_TTL_S = 8 * 3600


@frozen
class Viewer:
    tenant: str
    by: Literal["token", "session"]  # a bearer token (script) or the sign-in cookie


def viewer_of(request: Request, store: Store, settings: Settings) -> Viewer | None:
    """The signed-in tenant, or None when the request carries neither a token nor a live
    session. A wrong token answers 401 and one over its rate 429, as the API does."""
    if request.headers.get("authorization"):
        return Viewer(get_tenant(request, store, settings), "token")
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return None
    found = store.authenticate_dashboard_session(
        session, per_minute=settings.api_rate_limit_per_min
    )
    if found.tenant is None:
        return None
    refuse_over_rate(found, settings)
    return Viewer(found.tenant, "session")


def same_origin(request: Request) -> bool:
    """A form post from a page of this server (browsers send ``Origin`` with every POST;
    one without it is not a cross-site form)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a dashboard path of this server, never elsewhere."""
    if path and path.startswith("/dashboard/") and not any(c in path for c in ("//", "\\", "..")):
        return path
    return "/dashboard/batches"
