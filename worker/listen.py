"""``batchhook listen``: the tenant's events, forwarded signed to a handler on this machine.

Like ``stripe listen``: it reads the API's event stream (``GET /v1/events/stream``) and
POSTs each event to ``--forward-to`` with Standard Webhooks headers made with a secret it
prints once at the start (new each session unless ``--secret`` is given), so a handler
can be tried with no public URL. When the stream drops it reconnects (1 s, doubling to
30 s) with ``Last-Event-ID`` of the last event it got, so no event is lost; the local
handler's answer does not matter to that (each event is forwarded once).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TextIO
from urllib.parse import urlsplit

import httpx
import httpx_sse

from worker import signing
from worker.errors import InputError
from worker.models import EVENT_TYPES
from worker.records import frozen

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STREAM_TIMEOUT = httpx.Timeout(10.0, read=45.0)  # the API sends a keep-alive every 15 s
FORWARD_TIMEOUT_S = 10.0


class Fatal(Exception):
    """The API refused the stream in a way retrying will not mend (a bad token)."""


@frozen
class Options:
    api_url: str
    token: str
    forward_to: str
    events: tuple[str, ...]  # empty: every type
    secret: str


def check_url(url: str, flag: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{flag} must be an http:// or https:// URL, not {url!r}")
    return url.rstrip("/") if flag == "--api" else url


def options(
    api: str, token: str, forward_to: str, events: str | None, secret: str | None
) -> Options:
    """The options as given, checked; bad ones raise ``InputError``."""
    if not token.strip():
        raise InputError("--token must not be empty")
    wanted = tuple(t.strip() for t in (events or "").split(",") if t.strip())
    unknown = sorted(set(wanted) - EVENT_TYPES)
    if unknown:
        raise InputError(
            f"--events: unknown event type {unknown[0]!r}; one of {sorted(EVENT_TYPES)}"
        )
    if secret is not None and not signing.is_valid_secret(secret):
        raise InputError("--secret must be a whsec_ secret")
    return Options(
        api_url=check_url(api, "--api"),
        token=token.strip(),
        forward_to=check_url(forward_to, "--forward-to"),
        events=wanted,
        secret=secret or signing.new_secret(),
    )


def backoffs() -> Iterator[float]:
    """1, 2, 4, ... up to 30 s between reconnections."""
    delay_s = FIRST_BACKOFF_S
    while True:
        yield delay_s
        delay_s = min(delay_s * 2, MAX_BACKOFF_S)


def forward(client: httpx.Client, opts: Options, sse: httpx_sse.ServerSentEvent) -> str:
    """POST one event to the local handler, signed; its status, or what went wrong."""
    body = sse.data.encode()
    headers = signing.webhook_headers([opts.secret], sse.id, int(time.time()), body)
    try:
        answer = client.post(opts.forward_to, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"error: {type(exc).__name__}: {exc}"
    return str(answer.status_code)


class Listener:
    def __init__(self, opts: Options, out: TextIO, err: TextIO) -> None:
        self.opts = opts
        self.out, self.err = out, err
        self.last_event_id: str | None = None
        self.ready = False

    def say(self, line: str, stream: TextIO | None = None) -> None:
        print(line, file=stream or self.out, flush=True)

    def run(self, sleep: Callable[[float], None] = time.sleep) -> int:
        headers = {"authorization": f"Bearer {self.opts.token}"}
        with (
            httpx.Client(headers=headers, timeout=STREAM_TIMEOUT) as api,
            httpx.Client(timeout=FORWARD_TIMEOUT_S, follow_redirects=False) as local,
        ):
            waits = backoffs()
            while True:
                try:
                    opened, problem = self.listen_once(api, local)
                    if opened:
                        waits = backoffs()  # it was connected: start again at 1 s
                except Fatal as exc:
                    self.say(f"batchhook: {exc}", self.err)
                    return 1
                except (httpx.HTTPError, httpx_sse.SSEError) as exc:
                    problem = f"the stream dropped ({type(exc).__name__})"
                delay_s = next(waits)
                self.say(f"batchhook: {problem}; reconnecting in {delay_s:g} s", self.err)
                sleep(delay_s)

    def listen_once(self, api: httpx.Client, local: httpx.Client) -> tuple[bool, str]:
        """Read the stream until it ends: whether it was open at all, and why it ended."""
        params = {"types": ",".join(self.opts.events)} if self.opts.events else {}
        headers = {"last-event-id": self.last_event_id} if self.last_event_id else {}
        url = f"{self.opts.api_url}/v1/events/stream"
        with httpx_sse.connect_sse(api, "GET", url, params=params, headers=headers) as source:
            refused = self.refusal(source.response)
            if refused:
                return False, refused
            self.announce()
            for sse in source.iter_sse():
                if sse.id and sse.event != "message":
                    self.say(
                        f"{_now()}  {sse.event}  {sse.id}  -> {forward(local, self.opts, sse)}"
                    )
                    self.last_event_id = sse.id
        return True, "the stream ended"

    def refusal(self, response: httpx.Response) -> str | None:
        """None for an open stream, else why it is not (worth retrying); ``Fatal`` when
        retrying cannot help."""
        if response.status_code == 200:
            return None
        response.read()
        message = _error_message(response)
        if response.status_code in (401, 403):
            raise Fatal(f"the API refused the token ({response.status_code}): {message}")
        if response.status_code == 404 and self.last_event_id:
            gone, self.last_event_id = self.last_event_id, None
            return f"the API no longer has event {gone}; continuing with new events"
        if 400 <= response.status_code < 500 and response.status_code != 429:
            raise Fatal(f"the API refused the stream ({response.status_code}): {message}")
        return f"the API answered {response.status_code}: {message}"

    def announce(self) -> None:
        if not self.ready:
            self.ready = True
            self.say(
                f"Ready! Forwarding batchhook events to {self.opts.forward_to}. "
                f"Webhook signing secret: {self.opts.secret}"
            )


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase


def _now() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")


def run(
    api: str,
    token: str,
    forward_to: str,
    events: str | None = None,
    secret: str | None = None,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Listen until Ctrl-C (exit 0) or a refusal retrying cannot mend (exit 1)."""
    listener = Listener(options(api, token, forward_to, events, secret), out, err)
    try:
        return listener.run()
    except KeyboardInterrupt:
        return 0
