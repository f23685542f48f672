"""``@frozen`` classes behave as ``@dataclass(frozen=True)`` ones, only made faster."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from worker.records import frozen


@frozen
class Point:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class SamePoint:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str | None = dataclasses.field(default=None, repr=False)


@frozen
class Pair:
    x: int
    name: str


@dataclasses.dataclass(frozen=True)
class SamePair:
    x: int
    name: str


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, 2), {}), ((1,), {"tags": ["a"], "note": "n"}), ((), {"y": 3, "x": 4})],
)
def test_fields_defaults_and_factories_as_a_dataclass_sets_them(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    made, reference = Point(*args, **kwargs), SamePoint(*args, **kwargs)
    assert dataclasses.asdict(made) == dataclasses.asdict(reference)
    assert repr(made) == repr(reference).replace("SamePoint", "Point")


def test_each_instance_gets_its_own_factory_value() -> None:
    first, second = Point(1), Point(2)
    first.tags.append("a")
    assert second.tags == []


def test_frozen_hashable_comparable_replaceable_and_copyable() -> None:
    point = Point(1, 2, ["a"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 5  # type: ignore[misc]
    assert Point(1, 2) == Point(1, 2) != Point(1, 3)
    assert hash(Pair(1, "a")) == hash(Pair(1, "a")) == hash(SamePair(1, "a"))
    assert dataclasses.replace(point, y=7) == Point(1, 7, ["a"])
    assert copy.deepcopy(point) == point


def test_wrong_arguments_fail_as_a_dataclass_s_do() -> None:
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, z=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, 2, [], None, 5)  # type: ignore[call-arg]


def test_what_its_init_would_have_to_do_more_is_refused() -> None:
    with pytest.raises(TypeError, match="__post_init__"):

        @frozen
        class Checked:
            x: int

            def __post_init__(self) -> None:
                pass

    with pytest.raises(TypeError, match="kw_only"):

        @frozen
        class KeywordOnly:
            x: int = dataclasses.field(kw_only=True)

    with pytest.raises(TypeError, match="InitVar"):

        @frozen
        class Unset:
            x: int = dataclasses.field(init=False, default=0)
