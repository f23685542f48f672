"""List pagination, the same on every list call.

``limit`` (1 to 1000, default 100) items follow the one named by ``starting_after``
(the id of the last item of the previous page; a batch is named by its ``batch_id``),
in the list's own order. The answer is ``{"object": "list", "data": [...],
"has_more": bool}``; a ``starting_after`` that is not in the caller's list is ``404``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query

from worker.records import frozen
from worker.store.base import Page

T = TypeVar("T")

MAX_LIMIT = 1000


@frozen
class PageQuery:
    limit: int
    starting_after: str | None


async def page_query(  # async: no thread-pool hop for it (see deps.py)
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="how many items, 1 to 1000")] = 100,
    starting_after: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=256,
            description="the id of the last item of the previous page",
        ),
    ] = None,
) -> PageQuery:
    return PageQuery(limit=limit, starting_after=starting_after)


PageDep = Annotated[PageQuery, Depends(page_query)]


def list_answer(page: Page[T], view: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": [view(item) for item in page.data], "has_more": page.has_more}
