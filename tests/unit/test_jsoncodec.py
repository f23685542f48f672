"""The store's JSON reads back what it wrote, whatever orjson cannot do itself."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from worker.jsoncodec import dumps_compact, dumps_sorted, loads

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(JSON_VALUES)
def test_any_value_reads_back_as_it_was_written(value: Any) -> None:
    assert loads(dumps_sorted(value)) == value
    assert json.loads(dumps_sorted(value)) == value  # plain JSON for every other reader
    assert json.loads(dumps_compact(value)) == value


def test_compact_text_keeps_the_keys_in_their_order() -> None:
    body = {"id": "evt_1", "object": "event", "data": {"z": 1, "a": "ü"}}
    assert dumps_compact(body) == '{"id":"evt_1","object":"event","data":{"z":1,"a":"ü"}}'


def test_keys_are_sorted_and_the_text_compact() -> None:
    assert dumps_sorted({"b": 1, "a": [1, 2], "é": "ü"}) == '{"a":[1,2],"b":1,"é":"ü"}'


def test_what_only_the_standard_library_handles_still_works() -> None:
    huge = 2**70
    assert dumps_sorted({"n": huge}) == '{"n":1180591620717411303424}'
    assert dumps_compact({"n": huge, "at": object()}, default=lambda _: "x") == (
        '{"n":1180591620717411303424,"at":"x"}'
    )
    assert loads('{"n": 1180591620717411303424}') == {"n": huge}
    assert math.isnan(loads('{"rate": NaN}')["rate"])


def test_a_float_json_has_no_word_for_is_written_as_null() -> None:
    assert loads(dumps_sorted({"eta": math.inf, "rate": math.nan})) == {"eta": None, "rate": None}
