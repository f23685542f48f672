"""A fast stand-in for OpenAI's batch API, in its own process (served by ``standin_http``:
plain asyncio and httptools), for benchmarks.

``GET /v1/batches/{id}`` answers an OpenAI batch object. A batch's status is, in order of
precedence: the last status set for it (``POST /_control/set``), the status its timeline
gives at this instant (``POST /_control/timelines``), else ``--default-status``. The
first time each tracked batch was served each status is recorded (``GET /_control/served``),
which is when a poller *detected* the change; ``GET /_control/stats`` counts requests
(also per API key, ``requests_by_key``, so two pollers sharing the stand-in are told apart).
With ``--progress-counts``, a batch with a timeline reports ``request_counts`` that grow
linearly over its ``in_progress`` step (0 while validating, all done from finalizing on).

    python bench/standin_provider.py --port 8100 [--default-status in_progress] [--delay-ms 0]
        [--progress-counts]
"""

from __future__ import annotations

import asyncio
import bisect
import sys
import time
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from standin_http import Request, Response, Routes, command_line, json_response, serve

sys.path.append(str(Path(__file__).resolve().parents[1]))  # the repository, for tests.support
from tests.support.openai_batch import DAY_S, openai_batch

API_KEY_HEADER = "authorization"


class Provider:
    def __init__(self, default_status: str, delay_s: float, progress: bool = False) -> None:
        self.default_status = default_status
        self.delay_s = delay_s
        self.progress = progress
        self.fixed: dict[str, str] = {}
        self.timelines: dict[str, tuple[list[float], list[str]]] = {}
        self.served: dict[str, dict[str, float]] = {}
        self.requests = 0
        self.requests_by_batch: Counter[str] = Counter()
        self.requests_by_key: Counter[str] = Counter()
        self.unauthorised = 0

    def status_of(self, batch_id: str, now: float) -> str:
        if batch_id in self.fixed:
            return self.fixed[batch_id]
        timeline = self.timelines.get(batch_id)
        if timeline is None:
            return self.default_status
        times, statuses = timeline
        index = bisect.bisect_right(times, now) - 1
        return statuses[max(index, 0)]

    def done_share(self, batch_id: str, status: str, now: float) -> float | None:
        """With ``--progress-counts``: the share of requests done, from the timeline."""
        timeline = self.timelines.get(batch_id)
        if not self.progress or timeline is None or batch_id in self.fixed:
            return None
        if status == "validating":
            return 0.0
        if status != "in_progress":
            return 1.0
        times, _ = timeline
        index = max(bisect.bisect_right(times, now) - 1, 0)
        if index + 1 >= len(times):
            return 0.4
        start, end = times[index], times[index + 1]
        return min(max((now - start) / (end - start), 0.0), 1.0) if end > start else 0.0

    def retrieve(self, request: Request) -> Response | Awaitable[Response]:
        auth = request.headers.get(API_KEY_HEADER, "")
        if not auth.startswith("Bearer "):
            self.unauthorised += 1
            return json_response({"error": {"message": "no key"}}, status=401)
        self.requests_by_key[auth.removeprefix("Bearer ")] += 1
        batch_id = request.params["batch_id"]
        if self.delay_s:
            return self.answer_later(batch_id)
        return self.answer(batch_id)

    async def answer_later(self, batch_id: str) -> Response:
        await asyncio.sleep(self.delay_s)
        return self.answer(batch_id)

    def answer(self, batch_id: str) -> Response:
        now = time.time()
        status = self.status_of(batch_id, now)
        self.requests += 1
        tracked = self.served.get(batch_id)
        if tracked is not None:
            self.requests_by_batch[batch_id] += 1
            tracked.setdefault(status, now)
        share = self.done_share(batch_id, status, now)
        return json_response(batch_object(batch_id, status, now, share))

    def set_status(self, request: Request) -> Response:
        body = request.json()
        for batch_id in body["ids"]:
            self.fixed[batch_id] = body["status"]
            self.served.setdefault(batch_id, {})
        return json_response({"set": len(body["ids"])})

    def set_timelines(self, request: Request) -> Response:
        """``{"timelines": {batch_id: [[unix_time, status], ...]}}`` (times ascending)."""
        body = request.json()
        for batch_id, steps in body["timelines"].items():
            self.timelines[batch_id] = ([float(t) for t, _ in steps], [s for _, s in steps])
            self.served.setdefault(batch_id, {})
        return json_response({"set": len(body["timelines"])})

    def served_times(self, _: Request) -> Response:
        return json_response(self.served)

    def stats(self, _: Request) -> Response:
        return json_response(
            {
                "requests": self.requests,
                "unauthorised": self.unauthorised,
                "requests_by_batch": dict(self.requests_by_batch),
                "requests_by_key": dict(self.requests_by_key),
            }
        )


def batch_object(
    batch_id: str, status: str, now: float, done_share: float | None = None
) -> dict[str, Any]:
    done = status == "completed"
    created = int(now) - 3600
    finished = (100 if done else 40) if done_share is None else round(100 * done_share)
    return openai_batch(
        batch_id,
        status,
        done=done,
        now=int(now),
        created_at=created,
        in_progress_at=created + 60,
        expires_at=created + DAY_S,
        request_counts={"total": 100, "completed": finished, "failed": 0},
        metadata={},
    )


def make_routes(provider: Provider) -> Routes:
    routes = Routes()
    routes.add("GET", "/v1/batches/{batch_id}", provider.retrieve)
    routes.add_control(
        {
            "POST set": provider.set_status,
            "POST timelines": provider.set_timelines,
            "GET served": provider.served_times,
            "GET stats": provider.stats,
        }
    )
    return routes


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--default-status", default="in_progress")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="answer this much later")
    parser.add_argument(
        "--progress-counts",
        action="store_true",
        help="request_counts of a batch with a timeline grow over its in_progress step",
    )
    args = parser.parse_args()
    provider = Provider(args.default_status, args.delay_ms / 1000, args.progress_counts)
    serve(make_routes(provider), args.port)


if __name__ == "__main__":
    main()
