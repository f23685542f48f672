"""A webhook receiver for the latency benchmarks, in its own process (served by
``standin_http``: plain asyncio and httptools).

Every POST, on any path, is verified with the ``standardwebhooks`` library against the
endpoint secret (``--secret`` or ``POST /_control/secret {"secret": "whsec_..."}``) and
answered at once: ``200`` when the signature holds, ``401`` otherwise. Each verified
webhook is recorded with its ``webhook-id``, ``type``, batch id (``data.id``) and the
``time.time()`` at which it was received and verified. ``GET /_control/received``
returns them (``?since=N`` skips the first N); ``POST /_control/reset`` forgets them.

    python bench/latency_receiver.py --port 8200 [--secret whsec_...]
"""

from __future__ import annotations

import time
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from standin_http import Handler, Request, Response, command_line, json_response, serve_receiver


class Receiver:
    def __init__(self, secret: str | None) -> None:
        self.webhook = Webhook(secret) if secret else None
        self.received: list[dict[str, Any]] = []
        self.invalid = 0
        self.duplicates = 0
        self.seen: set[str] = set()

    def control(self) -> dict[str, Handler]:
        return {
            "POST secret": self.set_secret,
            "GET received": self.list_received,
            "POST reset": self.reset,
        }

    def hook(self, request: Request) -> Response:
        arrived_at = time.time()
        if self.webhook is None:
            self.invalid += 1
            return json_response({"error": "no secret set"}, status=401)
        try:
            # The header names are in lower case, as the library looks them up.
            payload = self.webhook.verify(request.body, request.headers)
        except WebhookVerificationError:
            self.invalid += 1
            return json_response({"error": "invalid signature"}, status=401)
        received_at = time.time()
        webhook_id = request.headers.get("webhook-id", "")
        if webhook_id in self.seen:
            self.duplicates += 1
        self.seen.add(webhook_id)
        data = payload.get("data") or {}
        self.received.append(
            {
                "webhook_id": webhook_id,
                "type": payload.get("type"),
                "batch_id": data.get("id"),
                "arrived_at": arrived_at,
                "received_at": received_at,
                "path": request.path,
            }
        )
        return json_response({"ok": True})

    def set_secret(self, request: Request) -> Response:
        body = request.json()
        self.webhook = Webhook(body["secret"])
        return json_response({"ok": True})

    def list_received(self, request: Request) -> Response:
        since = int(request.query.get("since", "0"))
        return json_response(
            {
                "count": len(self.received),
                "invalid": self.invalid,
                "duplicates": self.duplicates,
                "received": self.received[since:],
            }
        )

    def reset(self, _: Request) -> Response:
        self.received.clear()
        self.seen.clear()
        self.invalid = self.duplicates = 0
        return json_response({"ok": True})


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--secret", default=None, help="the endpoint's whsec_ secret")
    serve_receiver(parser, lambda args: Receiver(args.secret))


if __name__ == "__main__":
    main()
