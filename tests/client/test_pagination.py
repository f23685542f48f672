"""``list()`` walks every page; ``list_page()`` gives one, with ``has_more``."""

from __future__ import annotations

from batchhook_client import Client

from tests.e2e.flows import new_batch_id
from tests.e2e.stack import Stack
from tests.support.provider_stub import ProviderStub


def test_listing_walks_every_page_of_seven_endpoints_three_at_a_time(stack: Stack) -> None:
    with Client(stack.api_url, stack.new_token()) as client:  # a tenant with these only
        made = [client.endpoints.create(url=f"https://example.com/hooks/{i}") for i in range(7)]

        first = client.endpoints.list_page(limit=3)
        second = client.endpoints.list_page(limit=3, starting_after=first.next_starting_after)
        listed = list(client.endpoints.list(limit=3))

    assert len(first.data) == 3 and first.has_more is True
    assert first.next_starting_after == first.data[-1].id
    assert not {e.id for e in first.data} & {e.id for e in second.data}
    assert sorted(e.id for e in listed) == sorted(e.id for e in made)
    assert len(listed) == 7  # none twice


def test_batches_are_paged_by_their_batch_id(stack: Stack, provider: ProviderStub) -> None:
    with Client(stack.api_url, stack.new_token()) as client:
        conn = client.connections.create(
            provider="openai", api_key=provider.api_key, base_url=provider.base_url
        )
        batch_ids = [new_batch_id() for _ in range(4)]
        for batch_id in batch_ids:
            provider.set_batch(batch_id, "in_progress")
            client.watch_batch(batch_id=batch_id, connection_id=conn.id, poll_interval=60)

        first = client.batches.list_page(limit=3)
        listed = [b.batch_id for b in client.batches.list(limit=3)]

    assert first.has_more is True and first.next_starting_after == first.data[-1].batch_id
    assert sorted(listed) == sorted(batch_ids)
