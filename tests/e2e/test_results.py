"""A finished batch's result files, fetched through the API with the stored key.

Each case finishes a batch at a provider stand-in that serves its files on the real
provider's file path behind the real provider's key check; the API answers them byte for
byte to the tenant's token or to a signed link (no token), and never shows the key.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest

from tests.e2e.flows import connect, new_batch_id, watch
from tests.e2e.stack import TEST_SECRET_KEY, Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Receiver
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from worker import keys
from worker.results import result_url

MIB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    provider: str
    done: str  # the provider's own word for a finished batch
    errors: bool = True  # whether the batch ends with an error file


CASES = {
    "openai": Case("openai", "completed"),
    "keywordsai": Case("keywordsai", "completed"),
    "portkey": Case("portkey", "completed"),
    "azure": Case("azure", "completed"),
    "anthropic": Case("anthropic", "ended", errors=False),  # one results file
    "mistral": Case("mistral", "SUCCESS"),
}
ERROR_FIELDS = {"mistral": "error_file"}  # elsewhere error_file_id


@dataclass(frozen=True)
class Tenant:
    name: str
    api: httpx.Client


@pytest.fixture(scope="module")
def results_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own: links point at it, and its web process's memory is its own."""
    with RedisServer() as server:
        stack = Stack(server.url, tmp_path_factory.mktemp("results-stack"))
        stack.env["BATCHHOOK_PUBLIC_URL"] = stack.api_url
        try:
            yield stack.start()
        finally:
            stack.stop()


@pytest.fixture(scope="module")
def tenant(results_stack: Stack) -> Iterator[Tenant]:
    """One tenant for the module (a token costs a CLI run); each test has its own batches."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    with results_stack.client(results_stack.new_token(name)) as api:
        yield Tenant(name, api)


def error_file_id(batch_id: str) -> str:
    return f"file-err-{batch_id}"


def finished_batch(api: httpx.Client, stub: ProviderStub, case: Case, **fields: Any) -> str:
    """A batch that finished at the provider, polled until the API shows its output."""
    batch_id = new_batch_id()
    if case.errors:
        fields.setdefault(ERROR_FIELDS.get(case.provider, "error_file_id"), error_file_id(batch_id))
    stub.set_batch(batch_id, case.done, **fields)
    watch(api, batch_id, connect(api, stub)["id"])
    wait_until(
        lambda: api.get(f"/v1/batches/{batch_id}").json()["output_file_id"],
        timeout_s=20,
        message=f"{batch_id} never showed its output file",
    )
    return batch_id


def jsonl(batch_id: str, kind: str, lines: int = 50) -> bytes:
    return b"".join(
        b'{"id": "%s", "custom_id": "req-%d", "kind": "%s"}\n'
        % (batch_id.encode(), i, kind.encode())
        for i in range(lines)
    )


def assert_error(response: httpx.Response, status: int, error_type: str, key: str) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["type"] == error_type
    assert isinstance(error["message"], str) and error["message"]
    assert key not in response.text
    return str(error["message"])


@pytest.mark.parametrize("name", list(CASES))
def test_a_finished_batchs_files_stream_through_the_api_byte_for_byte(
    tenant: Tenant, name: str
) -> None:
    case = CASES[name]
    with ProviderStub(case.provider, api_key=f"sk-results-{name}") as stub:
        batch_id = finished_batch(tenant.api, stub, case)
        output, errors = jsonl(batch_id, "output"), jsonl(batch_id, "errors")
        stub.set_file(stub.output_file_id(batch_id), output)
        stub.set_file(error_file_id(batch_id), errors)

        got_output = tenant.api.get(f"/v1/batches/{batch_id}/output")
        got_errors = tenant.api.get(f"/v1/batches/{batch_id}/errors")

        assert got_output.status_code == 200, got_output.text
        assert got_output.content == output
        assert got_output.headers["content-type"].startswith("application/jsonl")
        if case.errors:
            assert got_errors.status_code == 200, got_errors.text
            assert got_errors.content == errors
        else:
            message = assert_error(got_errors, 404, "not_found", stub.api_key)
            assert message == f"batch {batch_id!r} has no error file"
        assert stub.mismatches == []
        assert stub.requests_for(stub.output_file_id(batch_id)), "the file was never asked for"


def test_a_signed_link_opens_the_file_without_a_token(results_stack: Stack, tenant: Tenant) -> None:
    with ProviderStub("openai", api_key="sk-results-link") as stub:
        batch_id = finished_batch(tenant.api, stub, CASES["openai"])
        output = jsonl(batch_id, "output")
        stub.set_file(stub.output_file_id(batch_id), output)
        link = result_url(
            results_stack.env["BATCHHOOK_PUBLIC_URL"],
            batch_id,
            keys.watch_id(tenant.name, batch_id),
            "output",
            int(time.time()) + 300,
            TEST_SECRET_KEY,
        )

        answer = httpx.get(link, timeout=10)

        assert answer.status_code == 200, answer.text
        assert answer.content == output


def test_a_changed_mismatched_or_expired_link_is_forbidden_and_no_auth_is_unauthorised(
    results_stack: Stack, tenant: Tenant
) -> None:
    base = results_stack.env["BATCHHOOK_PUBLIC_URL"]
    with ProviderStub("openai", api_key="sk-results-forbidden") as stub:
        batch_id = finished_batch(tenant.api, stub, CASES["openai"])
        other_id = finished_batch(tenant.api, stub, CASES["openai"])
        stub.set_file(stub.output_file_id(batch_id), jsonl(batch_id, "output"))
        expires_at = int(time.time()) + 300

        def link(batch: str = batch_id, wid: str | None = None, **change: Any) -> str:
            made = {
                "public_url": base,
                "batch_id": batch,
                "watch_id": wid or keys.watch_id(tenant.name, batch),
                "kind": "output",
                "expires_at": expires_at,
                "secret_key": TEST_SECRET_KEY,
                **change,
            }
            return result_url(**made)

        genuine = link()
        own_watch, other_watch = (keys.watch_id(tenant.name, b) for b in (batch_id, other_id))
        expiry, later = f"expires={expires_at}", f"expires={expires_at + 1}"
        refused = {
            "a changed signature": genuine.replace("signature=", "signature=x"),
            "a changed expiry": genuine.replace(expiry, later),
            "another batch's watch id": genuine.replace(own_watch, other_watch),
            "another batch's link": link(other_id).replace(f"/{other_id}/", f"/{batch_id}/"),
            "an expired link": link(expires_at=int(time.time()) - 1),
            "another key's link": link(secret_key="not-the-stacks-secret-key"),
            "the output's link to the errors": genuine.replace("/output?", "/errors?"),
        }

        for what, url in refused.items():
            answer = httpx.get(url, timeout=10)
            assert answer.status_code == 403, (what, answer.status_code, answer.text)
            assert answer.json()["error"]["type"] == "permission_error", what
        assert httpx.get(genuine, timeout=10).status_code == 200
        bare = httpx.get(f"{results_stack.api_url}/v1/batches/{batch_id}/output", timeout=10)
        assert_error(bare, 401, "authentication_error", stub.api_key)
        stranger = results_stack.client()
        assert_error(stranger.get(f"/v1/batches/{batch_id}/output"), 404, "not_found", stub.api_key)
        stranger.close()
        assert stub.mismatches == []


def test_a_batch_without_an_error_file_answers_404(results_stack: Stack, tenant: Tenant) -> None:
    with ProviderStub("openai", api_key="sk-results-no-errors") as stub:
        batch_id = finished_batch(tenant.api, stub, CASES["openai"], error_file_id=None)
        link = result_url(
            results_stack.api_url,
            batch_id,
            keys.watch_id(tenant.name, batch_id),
            "errors",
            int(time.time()) + 300,
            TEST_SECRET_KEY,
        )

        by_token = tenant.api.get(f"/v1/batches/{batch_id}/errors")
        by_link = httpx.get(link, timeout=10)

        for answer in (by_token, by_link):
            message = assert_error(answer, 404, "not_found", stub.api_key)
            assert message == f"batch {batch_id!r} has no error file"
        assert stub.requests_for(error_file_id(batch_id)) == [], "no file to ask for"


@pytest.mark.parametrize(
    ("code", "status", "error_type", "says"),
    [
        (404, 404, "not_found", "openai has no output file of batch"),
        (500, 502, "provider_error", "openai answered 500 to the request for the output file"),
        (401, 502, "provider_error", "openai refused the API key stored with connection"),
    ],
)
def test_a_provider_refusing_the_file_answers_with_an_error_body_and_no_key(
    results_stack: Stack, tenant: Tenant, code: int, status: int, error_type: str, says: str
) -> None:
    api_key = f"sk-results-refused-{code}-{uuid.uuid4().hex[:6]}"
    with ProviderStub("openai", api_key=api_key) as stub:
        batch_id = finished_batch(tenant.api, stub, CASES["openai"])
        echoing = {"error": {"message": f"trouble with key {api_key}", "type": "server_error"}}
        stub.fail_next(stub.output_file_id(batch_id), code, body=echoing)

        answer = tenant.api.get(f"/v1/batches/{batch_id}/output")

        message = assert_error(answer, status, error_type, api_key)
        assert says in message
        assert api_key not in results_stack.logs()


class PeakRss:
    """The most memory a process held while the block ran, over its resident size at
    the start: the kernel's high-water mark (reset on entry), or else samples."""

    def __init__(self, pid: int) -> None:
        self.status = Path(f"/proc/{pid}/status")
        self.clear_refs = Path(f"/proc/{pid}/clear_refs")
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self.hwm_reset = False

    def _kib(self, field: str) -> int:
        for line in self.status.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in {self.status}")

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.samples.append(self._kib("VmRSS"))

    def __enter__(self) -> Self:
        try:
            self.clear_refs.write_text("5")  # resets VmHWM to the current VmRSS
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.baseline_kib = self._kib("VmRSS")
        self._sampler.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._sampler.join()
        peak = max([self.baseline_kib, *self.samples])
        if self.hwm_reset:
            peak = max(peak, self._kib("VmHWM"))
        self.growth_bytes = (peak - self.baseline_kib) * 1024


def generated_file(blocks: int) -> Callable[[], Iterator[bytes]]:
    """A JSONL file of ``blocks`` MiB, made a block at a time (the same every call)."""
    line = b'{"custom_id": "req-%09d", "response": {"body": "' + b"x" * 967 + b'"}}\n'
    assert len(line % 0) == 1024

    def chunks() -> Iterator[bytes]:
        for block in range(blocks):
            yield b"".join(line % (block * 1024 + i) for i in range(1024))

    return chunks


@pytest.mark.slow
@pytest.mark.announce("200 MiB result file")
def test_a_200_mib_output_streams_through_the_web_process_in_bounded_memory(
    results_stack: Stack, tenant: Tenant
) -> None:
    blocks = 200
    chunks = generated_file(blocks)
    expected = hashlib.sha256()
    for chunk in chunks():
        expected.update(chunk)
    with ProviderStub("openai", api_key="sk-results-large") as stub:
        batch_id = finished_batch(tenant.api, stub, CASES["openai"])
        stub.set_file(stub.output_file_id(batch_id), chunks, size=blocks * MIB)
        url = f"{results_stack.api_url}/v1/batches/{batch_id}/output"
        received, digest = 0, hashlib.sha256()

        with (
            PeakRss(results_stack.processes["web"].pid) as rss,
            httpx.stream("GET", url, headers=tenant.api.headers, timeout=30) as answer,
        ):
            assert answer.status_code == 200, answer.read()
            assert answer.headers["content-length"] == str(blocks * MIB)
            for chunk in answer.iter_bytes(MIB):
                received += len(chunk)
                digest.update(chunk)

        assert received == blocks * MIB
        assert digest.hexdigest() == expected.hexdigest()
        assert rss.growth_bytes < 100 * MIB, (
            f"the web process grew {rss.growth_bytes / MIB:.0f} MiB"
        )


def test_the_terminal_webhook_links_to_its_files_and_the_links_need_no_token(
    tenant: Tenant,
) -> None:
    case = CASES["openai"]
    with Receiver() as receiver, ProviderStub("openai", api_key="sk-links") as stub:
        endpoint = tenant.api.post(
            "/v1/endpoints", json={"url": receiver.url, "result_links_ttl": 600}
        ).json()
        receiver.secret = endpoint["secret"]
        batch_id = new_batch_id()
        stub.set_file(stub.output_file_id(batch_id), jsonl(batch_id, "output"))
        sent_at = time.time()
        stub.set_batch(batch_id, case.done)  # an output file, no error file
        watch(tenant.api, batch_id, connect(tenant.api, stub)["id"])
        [hook] = receiver.wait_for(predicate=lambda r: r.json["type"] == "batch.completed")

        data = hook.json["data"]
        fetched = httpx.get(data["output_url"], timeout=10)  # no token

    assert hook.verified and hook.unwrapped_type == "batch.completed"
    assert data["error_url"] is None
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == jsonl(batch_id, "output")
    expires = int(httpx.URL(data["output_url"]).params["expires"])
    assert sent_at + 600 - 5 <= expires <= time.time() + 600  # the endpoint's own TTL


def result_line(custom_id: str, status: int, tokens: int = 0) -> bytes:
    usage = {"prompt_tokens": tokens, "completion_tokens": 1, "total_tokens": tokens + 1}
    body = {"usage": usage} if status == 200 else {"error": {"message": "bad request"}}
    line = {"custom_id": custom_id, "response": {"status_code": status, "body": body}}
    return json.dumps({**line, "error": None}).encode() + b"\n"


def test_include_results_summary_counts_the_files_into_the_terminal_event(
    tenant: Tenant,
) -> None:
    with Receiver() as receiver, ProviderStub("openai", api_key="sk-summary") as stub:
        endpoint = tenant.api.post(
            "/v1/endpoints", json={"url": receiver.url, "include_results_summary": True}
        ).json()
        receiver.secret = endpoint["secret"]
        batch_id = new_batch_id()
        output = b"".join(result_line(f"ok-{i}", 200, tokens=i) for i in range(30))
        errors = b"".join(result_line(f"bad-{i}", 400) for i in range(3))
        stub.set_file(stub.output_file_id(batch_id), output)
        stub.set_file(error_file_id(batch_id), errors)
        stub.set_batch(batch_id, "completed", error_file_id=error_file_id(batch_id))
        watch(tenant.api, batch_id, connect(tenant.api, stub)["id"])
        [hook] = receiver.wait_for(predicate=lambda r: r.json["type"] == "batch.completed")

    summary = hook.json["data"]["results_summary"]
    assert hook.verified
    assert summary["by_status"] == {"200": 30, "400": 3}
    assert summary["usage"] == {
        "prompt_tokens": sum(range(30)),
        "completion_tokens": 30,  # the failed requests used none
        "total_tokens": sum(range(30)) + 30,
    }
    assert summary["failed_custom_ids"] == ["bad-0", "bad-1", "bad-2"]
    assert hook.json["data"]["error_url"] is not None
