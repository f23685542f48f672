"""A fast webhook receiver for the fan-out benchmark, in its own process (served by
``standin_http``: plain asyncio and httptools).

Any ``POST`` outside ``/_control/`` is answered ``200`` at once (empty body). Each receipt
is counted per path and recorded as (``webhook-id``, path, ``time.time()``). Every
``--verify-every``-th receipt (default 50; 1 verifies all) is verified with the
``standardwebhooks`` library against the secret of its path, set beforehand with
``POST /_control/secrets {"secrets": {"/ep/0": "whsec_...", ...}}``; a failure, or a
path without a secret, counts in ``verify_failures``.

``GET /_control/stats``: receipts, per-path counts, duplicates (same ``webhook-id`` on
the same path), verified, verification failures, first and last receipt time.
``GET /_control/receipts?since=N``: the receipts from the N-th on.
``POST /_control/reset``: forget receipts and counts (secrets are kept).

    python bench/standin_receiver.py --port 8300 [--verify-every 50]
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from standin_http import Handler, Request, Response, command_line, json_response, serve_receiver


class Receiver:
    def __init__(self, verify_every: int) -> None:
        self.verify_every = max(verify_every, 1)
        self.secrets: dict[str, Webhook] = {}
        self.reset_counts()

    def control(self) -> dict[str, Handler]:
        return {
            "POST secrets": self.set_secrets,
            "GET stats": self.stats,
            "GET receipts": self.list_receipts,
            "POST reset": self.reset,
        }

    def reset_counts(self) -> None:
        self.receipts: list[tuple[str, str, float]] = []
        self.by_path: Counter[str] = Counter()
        self.seen: set[tuple[str, str]] = set()
        self.duplicates = 0
        self.verified = 0
        self.verify_failures = 0
        self.failure_examples: list[str] = []

    def hook(self, request: Request) -> Response:
        now = time.time()
        path = request.path
        webhook_id = request.headers.get("webhook-id", "")
        self.receipts.append((webhook_id, path, now))
        self.by_path[path] += 1
        key = (webhook_id, path)
        if key in self.seen:
            self.duplicates += 1
        self.seen.add(key)
        if len(self.receipts) % self.verify_every == 0:
            self.verify(path, request)
        return Response(200)

    def verify(self, path: str, request: Request) -> None:
        webhook = self.secrets.get(path)
        try:
            if webhook is None:
                raise WebhookVerificationError(f"no secret for {path}")
            webhook.verify(request.body, request.headers)  # names in lower case, as it asks
        except WebhookVerificationError as exc:
            self.verify_failures += 1
            if len(self.failure_examples) < 5:
                self.failure_examples.append(f"{path}: {exc}")
            return
        self.verified += 1

    def set_secrets(self, request: Request) -> Response:
        body = request.json()
        for path, secret in body["secrets"].items():
            self.secrets[path] = Webhook(secret)
        return json_response({"secrets": len(self.secrets)})

    def stats(self, _: Request) -> Response:
        times = [t for _, _, t in self.receipts]
        answer: dict[str, Any] = {
            "received": len(self.receipts),
            "paths": len(self.by_path),
            "by_path": dict(self.by_path),
            "duplicates": self.duplicates,
            "verified": self.verified,
            "verify_failures": self.verify_failures,
            "failure_examples": self.failure_examples,
            "first_at": min(times) if times else None,
            "last_at": max(times) if times else None,
        }
        return json_response(answer)

    def list_receipts(self, request: Request) -> Response:
        since = int(request.query.get("since", "0"))
        return json_response(self.receipts[since:])

    def reset(self, _: Request) -> Response:
        self.reset_counts()
        return json_response({"ok": True})


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--verify-every", type=int, default=50, help="verify every N-th receipt")
    serve_receiver(parser, lambda args: Receiver(args.verify_every))


if __name__ == "__main__":
    main()
