"""The FastAPI application and the web process's entry point."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, generate_latest

from worker import keys
from worker.api import (
    batches,
    catalog,
    connections,
    endpoints,
    errors,
    events,
    inbound,
    results,
    stream,
)
from worker.api.durability import WaitForReplicas
from worker.api.limits import LimitRequests, RequestLimits
from worker.api.metrics import RequestMetrics, StoreCollector
from worker.api.request_id import RequestId
from worker.api.wake_beat import WakeBeat
from worker.dashboard import routes as dashboard
from worker.settings import Settings, get_settings
from worker.store import Store, open_store


def require_metrics_token(request: Request, token: str | None) -> None:
    """With ``BATCHHOOK_METRICS_TOKEN`` set, a scrape must send it as a bearer token."""
    if token is None:
        return
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        sent.strip().encode(), token.encode()
    ):
        raise HTTPException(
            401,
            "/metrics needs 'Authorization: Bearer <BATCHHOOK_METRICS_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await results.close_result_client(app)


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="batchhook", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store or open_store(settings)
    # Whether the server is stopping: ``batchhook web`` points it at uvicorn's flag, so an
    # open event stream ends (the client resumes elsewhere) instead of holding the exit.
    app.state.stopping = lambda: False
    registry = CollectorRegistry()
    # The broker's queue depths are read from Redis, where kombu keeps them, only when the
    # broker is that Redis; another broker (RabbitMQ) reports its own.
    queues = keys.QUEUES if settings.broker_url is None else ()
    registry.register(StoreCollector(app.state.store, queues))
    errors.install(app)
    if settings.redis_wait_replicas > 0:
        wait = WaitForReplicas(
            app.state.store, settings.redis_wait_replicas, settings.redis_wait_timeout_s
        )
        app.middleware("http")(wait)
    app.add_middleware(WakeBeat, store=app.state.store)
    app.add_middleware(RequestMetrics, registry=registry)
    app.add_middleware(LimitRequests, limits=RequestLimits(max_body_bytes=settings.max_body_bytes))
    app.add_middleware(RequestId)  # added last: the outermost, so every answer has the id
    # results before batches: its GET /v1/batches/{batch_id:path} would take their paths;
    # stream before events: its GET /v1/events/{event_id} would take /v1/events/stream
    for module in (catalog, connections, endpoints, results, batches, stream, events, inbound):
        app.include_router(module.router)
    catalog.add_webhooks(app)
    app.include_router(dashboard.router)
    app.mount("/dashboard/static", StaticFiles(directory=dashboard.STATIC_DIR), "dashboard-static")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        if app.state.store.ping():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "redis unreachable"}, status_code=503)

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(request: Request) -> Response:
        require_metrics_token(request, settings.metrics_token)
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    return app
