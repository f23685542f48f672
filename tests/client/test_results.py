"""A finished batch's files, streamed through the API in chunks, byte for byte."""

from __future__ import annotations

import io

import pytest
from batchhook_client import Client, Connection, NotFoundError

from tests.e2e.flows import new_batch_id
from tests.support.provider_stub import ProviderStub
from tests.support.waiting import wait_until

MIB = 1024 * 1024


def lines(kind: str, count: int) -> bytes:
    return b"".join(
        b'{"custom_id": "req-%d", "kind": "%s"}\n' % (i, kind.encode()) for i in range(count)
    )


def test_output_and_error_files_stream_in_chunks(
    client: Client, connection: Connection, provider: ProviderStub
) -> None:
    batch_id = new_batch_id()
    output, errors = lines("output", 40_000), lines("error", 100)
    assert len(output) > MIB
    provider.set_batch(batch_id, "completed", error_file_id=f"file-err-{batch_id}")
    provider.set_file(f"file-out-{batch_id}", output)
    provider.set_file(f"file-err-{batch_id}", errors)
    client.watch_batch(batch_id=batch_id, connection_id=connection.id, poll_interval=1)
    wait_until(lambda: client.batches.get(batch_id).output_file_id, timeout_s=20)

    chunks = list(client.batches.output(batch_id, chunk_size=64 * 1024))
    sink = io.BytesIO()
    written = client.batches.write_errors(batch_id, sink)

    assert b"".join(chunks) == output
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= 64 * 1024
    assert (written, sink.getvalue()) == (len(errors), errors)
    assert b"".join(client.batches.errors(batch_id)) == errors


def test_the_files_of_a_batch_not_watched_are_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        b"".join(client.batches.output("batch_never_watched"))
