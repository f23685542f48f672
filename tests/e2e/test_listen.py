"""``batchhook listen``: the tenant's events, forwarded signed to a local handler."""

from __future__ import annotations

import json
import re
import signal
import sys
from pathlib import Path

import httpx
import openai
import pytest
import redis
import standardwebhooks

from tests.e2e.flows import connect, new_batch_id, watch
from tests.e2e.stack import Stack
from tests.support.processes import ManagedProcess
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

READY = re.compile(
    r"Ready! Forwarding batchhook events to (?P<url>\S+)\. "
    r"Webhook signing secret: (?P<secret>whsec_\S+)"
)
VALID_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def start_listen(
    stack: Stack, token: str, forward_to: str, log_dir: Path, *extra: str
) -> tuple[ManagedProcess, str]:
    """A real ``batchhook listen`` process, once it says it is ready, and its secret."""
    argv = ["listen", "--api", stack.api_url, "--token", token, "--forward-to", forward_to]
    process = ManagedProcess(
        "listen", [sys.executable, "-m", "worker.cli", *argv, *extra], stack.env, log_dir
    )
    ready = process.wait_for_log(READY.pattern, timeout_s=30)
    assert ready["url"] == forward_to
    return process, ready["secret"]


def stop_with_ctrl_c(process: ManagedProcess) -> int:
    process.kill(signal.SIGINT)
    code = process.popen.wait(timeout=15)
    process.terminate()
    return code


def token_of(api: httpx.Client) -> str:
    return str(api.headers["authorization"]).removeprefix("Bearer ")


def test_listen_forwards_each_event_signed_with_the_secret_it_prints(
    stack: Stack, api: httpx.Client, receiver: Receiver, tmp_path: Path
) -> None:
    listen, secret = start_listen(stack, token_of(api), receiver.url, tmp_path)
    receiver.secret = secret
    with ProviderStub("openai", api_key="sk-listen") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.script(batch_id, ["in_progress", "completed"])
        watch(api, batch_id, conn["id"])

        hooks = receiver.wait_for(2)
    code = stop_with_ctrl_c(listen)

    assert [h.json["type"] for h in hooks] == ["batch.in_progress", "batch.completed"]
    for hook in hooks:
        assert hook.verified, hook.verify_error  # standardwebhooks and the openai SDK both
        assert hook.unwrapped_type == hook.json["type"]
        assert hook.headers["content-type"] == "application/json"
        event_id = hook.headers["webhook-id"]
        assert event_id == hook.json["id"]
        stored = api.get(f"/v1/events/{event_id}").json()["payload"]
        assert {**hook.json, "data": stored["data"]} == stored
        assert stored["data"].items() <= hook.json["data"].items()
    completed = hooks[1]
    assert f"/v1/batches/{batch_id}/output?" in completed.json["data"]["output_url"]
    standardwebhooks.Webhook(secret).verify(completed.body, completed.headers)
    unwrapped = openai.OpenAI(api_key="x", webhook_secret=secret).webhooks.unwrap(
        completed.body, completed.headers
    )
    assert unwrapped.type == "batch.completed"
    assert unwrapped.data.id == batch_id

    output = listen.log_text()
    for hook in hooks:
        line = re.search(rf"^(.*){hook.json['type']}\s+{hook.json['id']}\s+-> 200$", output, re.M)
        assert line, output
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line[1])
    assert code == 0
    assert "Traceback" not in output
    assert output.count(secret) == 1  # once, on the ready line
    assert secret not in stack.logs()


def test_listen_sends_only_the_chosen_types_signed_with_the_given_secret(
    stack: Stack, api: httpx.Client, receiver: Receiver, tmp_path: Path
) -> None:
    chosen = ("--events", "batch.completed,batch.failed", "--secret", VALID_SECRET)
    listen, secret = start_listen(stack, token_of(api), receiver.url, tmp_path, *chosen)
    assert secret == VALID_SECRET
    receiver.secret = VALID_SECRET
    with ProviderStub("openai", api_key="sk-listen-types") as stub:
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.script(batch_id, ["in_progress", "failed"])
        watch(api, batch_id, conn["id"])

        [hook] = receiver.wait_for(1)
    stop_with_ctrl_c(listen)

    assert hook.verified, hook.verify_error
    assert hook.json["type"] == "batch.failed"
    assert [h.json["type"] for h in receiver.received] == ["batch.failed"]


def test_listen_says_when_the_local_handler_cannot_be_reached(
    stack: Stack, api: httpx.Client, receiver: Receiver, tmp_path: Path
) -> None:
    nowhere = "http://127.0.0.1:9/hooks"  # the discard port: nothing listens
    listen, _ = start_listen(stack, token_of(api), nowhere, tmp_path)
    endpoint = api.post("/v1/endpoints", json={"url": receiver.url}).json()
    event_id = api.post(f"/v1/endpoints/{endpoint['id']}/test").json()["id"]

    listen.wait_for_log(rf"webhook\.test\s+{event_id}\s+-> error: ConnectError")
    assert stop_with_ctrl_c(listen) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--token", "bh_not_a_token"], "refused the token (401)"),
        (["--token", "TOKEN", "--forward-to", "ftp://127.0.0.1/x"], "--forward-to must be"),
        (["--token", "TOKEN", "--events", "batch.nope"], "unknown event type 'batch.nope'"),
        (  # space-separated types are read one by one, as comma-separated ones are
            ["--token", "TOKEN", "--events", "batch.completed", "batch.nope"],
            "unknown event type 'batch.nope'",
        ),
        (["--token", "TOKEN", "--secret", "whsec_short"], "--secret must be a whsec_"),
    ],
)
def test_listen_ends_with_a_clear_message_on_a_bad_token_or_argument(
    stack: Stack, api: httpx.Client, argv: list[str], message: str
) -> None:
    argv = [token_of(api) if arg == "TOKEN" else arg for arg in argv]
    if "--forward-to" not in argv:
        argv += ["--forward-to", "http://127.0.0.1:9/hooks"]
    result = stack.cli("listen", "--api", stack.api_url, *argv)

    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "Ready!" not in result.stdout


def test_listen_reconnects_after_the_api_restarts_and_loses_no_event(
    own_stack: tuple[Stack, RedisServer], receiver: Receiver, tmp_path: Path
) -> None:
    stack, redis_server = own_stack
    stack.start()
    tenant = "listen-restart"
    with (
        stack.client(stack.new_token(tenant)) as api,
        ProviderStub("openai", api_key="sk-re") as stub,
    ):
        listen, receiver.secret = start_listen(stack, token_of(api), receiver.url, tmp_path)
        conn = connect(api, stub)
        batch_id = new_batch_id()
        stub.set_batch(batch_id, "in_progress")
        watch(api, batch_id, conn["id"])
        receiver.wait_for(1)

        stack.processes["web"].terminate()  # the stream drops with the API
        listen.wait_for_log("reconnecting")
        stub.script(batch_id, ["finalizing", "completed"])  # changes while listen is cut off
        store = redis.Redis.from_url(redis_server.url)
        wait_until(
            lambda: store.zcard(f"bh:tenant:{tenant}:events") == 3,
            timeout_s=30,
            message="the worker never recorded the changes",
        )
        store.close()
        stack.start_web()

        hooks = receiver.wait_for(3, timeout_s=60)
        events = api.get("/v1/events", params={"batch_id": batch_id}).json()["data"]
    stop_with_ctrl_c(listen)

    assert [h.json["type"] for h in hooks] == [
        "batch.in_progress",
        "batch.finalizing",
        "batch.completed",
    ]
    assert all(h.verified for h in hooks), [h.verify_error for h in hooks]
    assert sorted(h.json["id"] for h in hooks) == sorted(e["id"] for e in events)
    assert json.loads(hooks[-1].body)["data"]["previous_status"] == "finalizing"
