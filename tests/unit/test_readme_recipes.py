"""The README's receiver code, run as written against every event type batchhook sends."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from worker import samples, signing
from worker.models import EVENT_TYPES

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def readme_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    [block] = [b for b in blocks if containing in b]
    return block


@pytest.fixture(scope="module")
def read_event(monkeypatch_module: pytest.MonkeyPatch) -> Any:
    monkeypatch_module.setenv("OPENAI_API_KEY", "sk-unused")
    namespace: dict[str, Any] = {}
    exec(readme_block("def read_event").replace("whsec_...", SECRET), namespace)  # noqa: S102
    return namespace["read_event"]


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_the_readme_openai_sdk_recipe_reads_every_event_type(
    event_type: str, read_event: Any
) -> None:
    event = samples.sample_event(event_type)
    body = event.body.encode()
    headers = signing.webhook_headers([SECRET], event.id, int(time.time()), body)

    read_type, data = read_event(body, headers)

    assert read_type == event_type
    assert data == json.loads(body)["data"]


def test_the_readme_openai_sdk_recipe_refuses_a_tampered_body(read_event: Any) -> None:
    event = samples.sample_event("batch.completed")
    body = event.body.encode()
    headers = signing.webhook_headers([SECRET], event.id, int(time.time()), body)

    with pytest.raises(openai.InvalidWebhookSignatureError):
        read_event(body.replace(b"batch_sample", b"batch_evil"), headers)
