"""docs/openapi.json is the document the API serves: regenerate it when the API changes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from worker.api.openapi_doc import COMMAND, document_app, render

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def served() -> dict[str, Any]:
    async def fetch() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=document_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            answer = await client.get("/openapi.json")
            assert answer.status_code == 200
            found: dict[str, Any] = answer.json()
            return found

    return asyncio.run(fetch())


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Which paths, webhooks and schemas differ, to say what the regeneration will change."""
    found = []
    for section in ("paths", "webhooks"):
        found += _changed(section, old.get(section, {}), new.get(section, {}))
    schemas = ("components", "schemas")
    found += _changed(
        "components.schemas",
        old.get(schemas[0], {}).get(schemas[1], {}),
        new.get(schemas[0], {}).get(schemas[1], {}),
    )
    rest = {k for k in old.keys() | new.keys() if k not in ("paths", "webhooks", "components")}
    found += [k for k in sorted(rest) if old.get(k) != new.get(k)]
    return found


def _changed(section: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [f"{section}: {k}" for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]


def test_the_checked_in_openapi_document_is_the_one_the_api_serves() -> None:
    document = served()
    assert CHECKED_IN.exists(), f"docs/openapi.json is missing; write it with `{COMMAND}`"
    text = CHECKED_IN.read_text(encoding="utf-8")
    changed = differences(json.loads(text), document)

    assert not changed, (
        f"docs/openapi.json is not what the API serves; regenerate it with `{COMMAND}` "
        f"(differs in {', '.join(changed[:10])})"
    )
    assert text == render(document), (
        f"docs/openapi.json is not in its written form; regenerate it with `{COMMAND}`"
    )
