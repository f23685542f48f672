"""The Celery app: broker, queues, routes and the beat tick. No business logic here."""

from __future__ import annotations

import gc
import signal
import threading
from types import FrameType
from typing import Any

from celery import Celery
from celery.signals import beat_init, setup_logging, worker_process_init, worker_ready

from worker import logging as bh_logging
from worker.broker import broker_config
from worker.keys import DELIVER_QUEUE, POLL_QUEUE, QUEUES, TICK_QUEUE
from worker.settings import get_settings

GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (CPython default: 700)

__all__ = ["QUEUES", "app"]


def make_app() -> Celery:
    settings = get_settings()
    app = Celery("batchhook", include=["worker.tasks"])
    app.conf.update(
        **broker_config(settings),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        # No remote control: its pub/sub channel, losing Redis mid-read, brings the whole
        # worker down (kombu: AttributeError in _connparams, "Unrecoverable error").
        worker_enable_remote_control=False,
        task_default_queue=POLL_QUEUE,
        task_routes={
            "batchhook.tick": {"queue": TICK_QUEUE},
            "batchhook.poll_batches": {"queue": POLL_QUEUE},
            "batchhook.discover_batches": {"queue": POLL_QUEUE},
            "batchhook.deliver": {"queue": DELIVER_QUEUE},
        },
        # Beat keeps no schedule file: the tick is idempotent, so nothing needs persisting.
        beat_scheduler="worker.beat:TickScheduler",
        beat_schedule={
            "tick": {
                "task": "batchhook.tick",
                "schedule": settings.tick_interval_s,
                "options": {"expires": max(settings.tick_interval_s * 5, 5.0)},
            }
        },
    )
    return app


app = make_app()


def _configure_logging_as_set() -> None:
    settings = get_settings()
    bh_logging.configure(settings.effective_log_format, settings.log_level_number)


@setup_logging.connect
def _configure_logging(**_: object) -> None:
    _configure_logging_as_set()


@worker_process_init.connect
def _child_setup(**_: object) -> None:
    _configure_logging_as_set()
    tune_collector()


@worker_ready.connect
def _main_process_setup(**_: object) -> None:
    tune_collector()  # the solo pool (`--concurrency 1`) runs every task here


def tune_collector() -> None:
    # What the process holds by now (Celery, the app, the libraries) lives as long as it
    # does: keep it out of the cyclic collector, and collect the young generation less
    # often. Each poll and webhook makes thousands of short-lived objects; with the
    # defaults, the collections took about a fifth of a busy worker's CPU and stalled its
    # event loop.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 50, 1000)


@beat_init.connect
def _stop_beat_between_ticks(sender: Any, **_: object) -> None:
    """Celery's own SIGTERM handler syncs and closes the broker connection inside the
    handler, which may interrupt a publish on that very connection; here the handler
    only asks the loop to stop, and beat closes the connection after its current tick."""

    if threading.current_thread() is not threading.main_thread():
        return  # beat embedded in a worker (`worker --beat`): the worker owns the signals

    def stop(_signum: int, _frame: FrameType | None) -> None:
        sender._is_shutdown.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
