"""The async client: the same calls as the sync one, awaited, against the running API."""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from batchhook_client import AsyncClient, Connection, NotFoundError, webhooks

from tests.e2e.flows import new_batch_id
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub
from tests.support.receiver import Received, Receiver
from worker.models import EVENT_TYPES


def test_the_async_client_registers_a_batch_and_reads_what_was_sent(
    stack: Stack, token: str, provider: ProviderStub, receiver: Receiver
) -> None:
    batch_id = new_batch_id()
    output = b'{"custom_id": "req-1"}\n' * 1000
    provider.set_batch(batch_id, "completed")
    provider.set_file(f"file-out-{batch_id}", output)

    async def scenario() -> None:
        async with AsyncClient(stack.api_url, token, timeout=10) as client:
            conn = await client.connections.create(
                provider="openai", api_key=provider.api_key, base_url=provider.base_url
            )
            assert isinstance(conn, Connection)
            assert conn.id in [c.id async for c in client.connections.list()]
            assert (await client.connections.get(conn.id)).id == conn.id
            ep = await client.endpoints.create(url=receiver.url, events=["batch.completed"])
            receiver.secret = ep.secret
            assert ep.id in [e.id async for e in client.endpoints.list(limit=50)]
            updated = await client.endpoints.update(ep.id, description="async")
            assert updated.description == "async"
            assert (await client.endpoints.get(ep.id)).health is not None

            watched = await client.watch_batch(
                batch_id=batch_id, connection_id=conn.id, endpoint_ids=[ep.id], poll_interval=1
            )
            assert watched.created is True
            again = await client.batches.watch(batch_id=batch_id, connection_id=conn.id)
            assert again.created is False
            await asyncio.to_thread(receiver.wait_for, 1)
            assert batch_id in [b.batch_id async for b in client.batches.list()]
            batch = await client.batches.get(batch_id)
            assert batch.output_file_id == f"file-out-{batch_id}"

            chunks = [c async for c in client.batches.output(batch_id)]
            assert b"".join(chunks) == output
            sink = io.BytesIO()
            assert await client.batches.write_output(batch_id, sink) == len(output)

            [event] = [e async for e in client.events.list(batch_id=batch_id)]
            assert (await client.events.get(event.id)).type == "batch.completed"
            page = await client.events.list_page(batch_id=batch_id)
            assert [e.id for e in page.data] == [event.id]
            redelivered = await client.events.redeliver(event.id)
            assert redelivered.id == event.id
            assert {t.name async for t in client.event_types.list()} == EVENT_TYPES

            rotated = await client.endpoints.rotate_secret(ep.id)
            assert rotated.secret != ep.secret
            receiver.secret = rotated.secret
            sent = await client.endpoints.send_test(ep.id)
            assert sent.type == "webhook.test"
            [test_hook] = await asyncio.to_thread(receiver.wait_for, 1, predicate=is_test)
            assert receiver.secret is not None
            event = webhooks.verify(test_hook.body, test_hook.headers, receiver.secret)
            assert isinstance(event, webhooks.WebhookTest)
            recovery = await client.endpoints.recover(ep.id, since=time.time() - 60)
            got = await client.endpoints.get_recovery(ep.id, recovery.id)
            assert got.id == recovery.id

            assert (await client.batches.unwatch(batch_id)).deleted is True
            with pytest.raises(NotFoundError):
                await client.batches.get(batch_id)
            assert (await client.endpoints.delete(ep.id)).deleted is True
            assert (await client.connections.delete(conn.id)).deleted is True

    asyncio.run(scenario())


def is_test(hook: Received) -> bool:
    return bool(hook.json["type"] == "webhook.test")
