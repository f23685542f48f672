"""The OpenAPI document the API serves at ``/openapi.json``, written out for the repository.

    python -m worker.api.openapi_doc > docs/openapi.json

Pretty-printed with sorted keys and a trailing newline, so a change to the API shows as a
readable diff of ``docs/openapi.json``; ``tests/unit/test_openapi_doc.py`` checks that the
file is the one served. The app is built without reaching Redis (the client connects on
first use, and building the document uses none).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from fastapi import FastAPI

from worker.api.app import create_app
from worker.settings import Settings

COMMAND = "python -m worker.api.openapi_doc > docs/openapi.json"


def document_app() -> FastAPI:
    """The API as served, on settings that leave the environment's Redis alone."""
    settings = Settings(
        redis_url="redis://127.0.0.1:6379/0",
        redis_cluster=False,
        redis_sentinels=None,
        redis_wait_replicas=0,
    )
    return create_app(settings)


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    sys.stdout.write(render(document_app().openapi()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
