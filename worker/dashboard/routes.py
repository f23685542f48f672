"""GET /dashboard: the web dashboard's pages, served by the web process.

Every page is HTML rendered here from the same store reads and views as the JSON API,
for the tenant ``auth.viewer_of`` finds. A request without a token or session gets the
sign-in page: with JavaScript it reloads the page it stands for with the tab's token,
without it the form signs in with a session cookie. The pages' buttons call the ``/v1``
API from ``static/dashboard.js``; nothing here changes stored state but signing in and
out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from worker.api.deps import SettingsDep, StoreDep
from worker.dashboard import auth, views
from worker.dashboard.format import FILTERS
from worker.errors import NotFound
from worker.models import BatchStatus

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(FILTERS)

# What a page may load and do: its own scripts and styles only, no inline code, no frames.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` with the
    # page's own form posts, and the sign-in form's origin check (auth.same_origin) needs it
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

router = APIRouter(prefix="/dashboard", include_in_schema=False)

StatusFilter = Annotated[BatchStatus | None, Query()]
Cursor = Annotated[str | None, Query(min_length=1, max_length=256)]
Builder = Callable[[auth.Viewer], dict[str, Any]]


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    context = {"now": time.time(), "path": _here(request), **context}
    answer = templates.TemplateResponse(request, name, context, status_code=status_code)
    answer.headers.update(SECURITY_HEADERS)
    return answer


def _here(request: Request) -> str:
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def page(
    request: Request, store: StoreDep, settings: SettingsDep, name: str, build: Builder
) -> Response:
    """Render ``name`` for the signed-in tenant, or the sign-in page in its place."""
    who = auth.viewer_of(request, store, settings)
    if who is None:
        if request.headers.get("hx-request"):
            raise HTTPException(401, "sign in again: the session has ended")
        return render(request, "signin.html", {"next": _here(request), "resume": True})
    try:
        context = build(who)
    except NotFound as missing:
        return render(request, "notfound.html", {"viewer": who, "message": str(missing)}, 404)
    return render(request, name, {"viewer": who, **context})


@router.get("")
def home() -> RedirectResponse:
    return RedirectResponse("/dashboard/batches", status_code=303)


@router.get("/signin")
def signin_form(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "signin.html", {"next": auth.safe_next(next), "resume": False})


@router.post("/signin")
async def signin(request: Request, store: StoreDep) -> Response:
    """The form's post without JavaScript: a session cookie for reading the pages."""
    if not auth.same_origin(request):
        raise HTTPException(403, "sign-in must come from this server's own page")
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    next_path = auth.safe_next(next(iter(form.get("next", [])), None))
    session = store.open_dashboard_session(token, ttl_s=auth.SESSION_TTL_S) if token else None
    if session is None:
        context = {"next": next_path, "resume": False, "error": "That token is not valid."}
        return render(request, "signin.html", context, status_code=401)
    answer = RedirectResponse(next_path, status_code=303)
    answer.set_cookie(
        auth.SESSION_COOKIE,
        session,
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer


@router.post("/signout")
def signout(request: Request, store: StoreDep) -> RedirectResponse:
    if not auth.same_origin(request):
        raise HTTPException(403, "sign-out must come from this server's own page")
    session = request.cookies.get(auth.SESSION_COOKIE)
    if session:
        store.close_dashboard_session(session)
    answer = RedirectResponse("/dashboard/signin", status_code=303)
    answer.delete_cookie(auth.SESSION_COOKIE, path="/dashboard")
    return answer


@router.get("/batches")
def batches(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    status: StatusFilter = None,
    connection_id: Annotated[str | None, Query(max_length=256)] = None,
    starting_after: Cursor = None,
) -> Response:
    def build(who: auth.Viewer) -> dict[str, Any]:
        return views.batches_page(
            store,
            who.tenant,
            status=status.value if status else None,
            connection_id=connection_id or None,
            starting_after=starting_after,
        )

    return page(request, store, settings, "batches.html", build)


@router.get("/batches/{batch_id:path}")
def batch(batch_id: str, request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    return page(
        request,
        store,
        settings,
        "batch.html",
        lambda who: views.batch_page(store, who.tenant, batch_id),
    )


@router.get("/events")
def events(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    type: Annotated[str | None, Query(max_length=64)] = None,
    batch_id: Annotated[str | None, Query(max_length=256)] = None,
    starting_after: Cursor = None,
) -> Response:
    def build(who: auth.Viewer) -> dict[str, Any]:
        return views.events_page(
            store,
            who.tenant,
            event_type=type or None,
            batch_id=batch_id or None,
            starting_after=starting_after,
        )

    return page(request, store, settings, "events.html", build)


@router.get("/events/{event_id}")
def event(event_id: str, request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    return page(
        request,
        store,
        settings,
        "event.html",
        lambda who: views.event_page(store, who.tenant, event_id),
    )


@router.get("/endpoints")
def endpoints(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    return page(
        request,
        store,
        settings,
        "endpoints.html",
        lambda who: views.endpoints_page(store, settings, who.tenant),
    )


@router.get("/endpoints/{endpoint_id}")
def endpoint(
    endpoint_id: str, request: Request, store: StoreDep, settings: SettingsDep
) -> Response:
    return page(
        request,
        store,
        settings,
        "endpoint.html",
        lambda who: views.endpoint_page(store, settings, who.tenant, endpoint_id),
    )


@router.get("/connections")
def connections(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    return page(
        request,
        store,
        settings,
        "connections.html",
        lambda who: views.connections_page(store, who.tenant),
    )
