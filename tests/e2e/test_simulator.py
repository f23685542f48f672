"""``batchhook simulate-provider``: a local OpenAI Batch API to try the Quickstart against.

The simulator runs as a real process; the ``openai`` SDK, curl-like HTTP calls and the whole
batchhook stack talk to it as a newcomer's code would.
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import standardwebhooks
from openai.types import Batch

from tests.e2e.flows import new_batch_id, subscribe, watch
from tests.e2e.stack import Stack
from tests.support.processes import ManagedProcess
from tests.support.receiver import Receiver
from tests.support.waiting import free_port, wait_until

BEARER = {"authorization": "Bearer sk-sim"}
READY = r"Ctrl-C stops it\."


@dataclass
class Simulator:
    process: ManagedProcess
    url: str

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def move(self, batch_id: str, action: str) -> httpx.Response:
        return httpx.post(f"{self.base_url}/batches/{batch_id}/{action}", headers=BEARER)


def start_simulator(log_dir: Path, port: int | None = None, name: str = "simulator") -> Simulator:
    port = port or free_port()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": tempfile.gettempdir()}
    argv = [sys.executable, "-m", "worker.cli", "simulate-provider", "--port", str(port)]
    return Simulator(ManagedProcess(name, argv, env, log_dir), f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    running = start_simulator(tmp_path_factory.mktemp("simulator"))
    try:
        running.process.wait_for_log(READY)
        yield running
    finally:
        running.process.terminate()


@pytest.fixture
def sdk(simulator: Simulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=simulator.base_url, api_key="sk-sim", max_retries=0)


def retrieved_once(sdk: openai.OpenAI, batch_id: str, status: str) -> Batch:
    """The batch as the SDK retrieves it once it has reached ``status``."""

    def reached() -> Batch | None:
        batch = sdk.batches.retrieve(batch_id)
        return batch if batch.status == status else None

    found: Batch = wait_until(reached, timeout_s=10, message=f"{batch_id} never {status}")
    return found


def test_the_banner_says_how_to_connect_and_how_to_move_a_batch(simulator: Simulator) -> None:
    banner = simulator.process.log_text()
    connection = {"provider": "openai", "api_key": "sk-sim", "base_url": simulator.base_url}
    assert json.dumps(connection) in banner
    assert "BATCHHOOK_ALLOW_PRIVATE_DESTINATIONS=1" in banner
    for action in ("complete", "fail", "expire", "cancel"):
        assert f"{simulator.base_url}/batches/batch_abc123/{action}" in banner


def test_a_batch_created_with_the_sdk_starts_validating(sdk: openai.OpenAI) -> None:
    batch = sdk.batches.create(
        input_file_id="file-abc",
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"team": "search"},
    )
    assert batch.id.startswith("batch_sim_")
    assert batch.status == "validating"
    assert batch.input_file_id == "file-abc"
    assert batch.metadata == {"team": "search"}
    assert batch.request_counts is not None and batch.request_counts.total == 100


def test_any_batch_id_exists_from_its_first_retrieve_and_moves_to_in_progress(
    sdk: openai.OpenAI,
) -> None:
    batch_id = new_batch_id()
    first = sdk.batches.retrieve(batch_id)
    assert (first.id, first.status, first.in_progress_at) == (batch_id, "validating", None)

    later = retrieved_once(sdk, batch_id, "in_progress")
    assert later.in_progress_at is not None and later.in_progress_at >= first.created_at
    assert later.request_counts is not None and 0 < later.request_counts.completed < 100


def test_a_cancelled_batch_is_cancelling_then_cancelled_and_cannot_move_again(
    sdk: openai.OpenAI,
) -> None:
    batch_id = sdk.batches.create(
        input_file_id="file-abc", endpoint="/v1/chat/completions", completion_window="24h"
    ).id
    assert sdk.batches.cancel(batch_id).status == "cancelling"

    cancelled = retrieved_once(sdk, batch_id, "cancelled")
    assert cancelled.cancelling_at is not None and cancelled.cancelled_at is not None
    with pytest.raises(openai.ConflictError):
        sdk.batches.cancel(batch_id)


def test_the_sdk_pages_through_the_batch_list_newest_first(sdk: openai.OpenAI) -> None:
    mine = [
        sdk.batches.create(
            input_file_id=f"file-{n}", endpoint="/v1/chat/completions", completion_window="24h"
        ).id
        for n in range(3)
    ]
    first_page = sdk.batches.list(limit=2)
    assert len(first_page.data) == 2
    assert first_page.has_more
    assert first_page.data[0].id == mine[-1]

    listed = [batch.id for batch in sdk.batches.list(limit=2)]  # follows `after` page by page
    assert len(listed) == len(set(listed))
    assert [i for i in listed if i in mine] == mine[::-1]


@pytest.mark.parametrize(
    ("action", "status"), [("complete", "completed"), ("fail", "failed"), ("expire", "expired")]
)
def test_the_simulator_only_moves_end_a_batch_once(
    sdk: openai.OpenAI, simulator: Simulator, action: str, status: str
) -> None:
    batch_id = new_batch_id()
    sdk.batches.retrieve(batch_id)

    moved = simulator.move(batch_id, action)
    assert moved.status_code == 200, moved.text
    batch = sdk.batches.retrieve(batch_id)
    assert batch.status == status
    assert getattr(batch, f"{status}_at") is not None
    if status == "completed":
        assert batch.output_file_id and batch.output_file_id.startswith("file-sim-output-")
        assert batch.request_counts is not None and batch.request_counts.completed == 100
    if status == "failed":
        assert batch.errors is not None and batch.errors.data
    again = simulator.move(batch_id, "complete")
    assert again.status_code == 409
    assert set(again.json()["error"]) == {"message", "type", "param", "code"}


def test_moving_a_batch_never_seen_is_404_in_openai_error_shape(simulator: Simulator) -> None:
    response = simulator.move(new_batch_id(), "complete")
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_a_call_without_a_bearer_token_is_refused_with_401(simulator: Simulator) -> None:
    response = httpx.get(f"{simulator.base_url}/batches/{new_batch_id()}")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    basic = httpx.get(f"{simulator.base_url}/batches", headers={"authorization": "Basic c2s="})
    assert basic.status_code == 401


def test_ctrl_c_stops_the_simulator_cleanly_with_exit_code_0(tmp_path: Path) -> None:
    running = start_simulator(tmp_path)
    running.process.wait_for_log(READY)
    running.process.kill(signal.SIGINT)
    assert running.process.popen.wait(timeout=10) == 0
    assert "Traceback" not in running.process.log_text()
    running.process.terminate()


def test_a_port_in_use_is_a_one_line_error_and_exit_code_2(
    simulator: Simulator, tmp_path: Path
) -> None:
    port = int(simulator.url.rsplit(":", 1)[1])
    second = start_simulator(tmp_path, port=port, name="second")
    assert second.process.popen.wait(timeout=30) == 2
    log = second.process.log_text()
    assert log.strip() == f"batchhook: cannot listen on 127.0.0.1:{port}: Address already in use"
    second.process.terminate()


def batch_status(api: httpx.Client, batch_id: str) -> Any:
    return api.get(f"/v1/batches/{batch_id}").json().get("status")


def test_the_quickstart_against_the_simulator_delivers_one_verified_completion(
    stack: Stack, api: httpx.Client, receiver: Receiver, simulator: Simulator
) -> None:
    body = {"provider": "openai", "api_key": "sk-sim", "base_url": simulator.base_url}
    conn = api.post("/v1/connections", json=body)
    assert conn.status_code == 201, conn.text
    subscribe(api, receiver)
    sink = api.post("/v1/endpoints", json={"url": f"{simulator.url}/hooks"})
    assert sink.status_code == 201, sink.text
    batch_id = f"batch_abc{uuid.uuid4().hex[:8]}"
    watch(api, batch_id, conn.json()["id"])

    wait_until(lambda: batch_status(api, batch_id) == "in_progress", timeout_s=20)
    assert simulator.move(batch_id, "complete").json()["status"] == "completed"

    [hook] = receiver.wait_for(1, predicate=lambda r: r.json["type"] == "batch.completed")
    assert hook.verified, hook.verify_error
    assert hook.json["data"]["id"] == batch_id
    assert hook.json["data"]["output_file_id"].startswith("file-sim-output-")
    simulator.process.wait_for_log(
        rf"webhook batch\.completed evt_\w+ batch {batch_id} -> completed"
    )
    stored = wait_until(lambda: _sunk(simulator, batch_id))
    secret = sink.json()["secret"]
    standardwebhooks.Webhook(secret).verify(stored["body"], stored["headers"])
    assert stack.cli("verify", "--secret", secret, stdin=_as_text(stored)).returncode == 0
    assert [r.json["type"] for r in receiver.received] == ["batch.completed"]


def _sunk(simulator: Simulator, batch_id: str) -> dict[str, Any] | None:
    """The webhook about ``batch_id`` that the simulator's /hooks kept, if it arrived."""
    for hook in httpx.get(f"{simulator.url}/hooks").json()["data"]:
        if json.loads(hook["body"])["data"].get("id") == batch_id:
            return dict(hook)
    return None


def _as_text(hook: dict[str, Any]) -> str:
    """What ``batchhook verify`` reads: headers, a blank line, the body."""
    headers = "".join(f"{name}: {value}\n" for name, value in hook["headers"].items())
    return f"{headers}\n{hook['body']}"
