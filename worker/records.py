"""``@frozen``: a frozen dataclass whose ``__init__`` costs what a plain class's does.

A frozen dataclass's generated ``__init__`` sets each field through
``object.__setattr__`` (its own ``__setattr__`` refuses): about 0.12 us a field here,
four times a plain assignment. A poll and its delivery make some 16 records of about
100 fields between them (a watch, its snapshot, the plan, the event, the job, the
outcome), so on the fan-out path that was a few percent of a worker's CPU.

``frozen`` makes the class with ``dataclass(frozen=True)`` (equality, hash, repr,
``replace``, copying and the refusal to assign are all dataclasses' own) and then
gives it an ``__init__`` that writes the new instance's ``__dict__`` directly, which a
frozen class's ``__setattr__`` does not guard. Fields with a default or a
``default_factory`` work as in a dataclass; what ``__init__`` would have to do more
(``__post_init__``, ``InitVar``, keyword-only fields, ``init=False`` fields, slots) is
refused at import, so such a class never silently differs from its dataclass.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")
SELF, DICT = "__record_self", "__record_dict"  # the generated __init__'s own names


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: type[T]) -> type[T]:
    """Decorate a class as ``@dataclass(frozen=True)`` would, with a faster ``__init__``."""
    made = dataclasses.dataclass(frozen=True)(cls)
    made.__init__ = _dict_init(made)  # type: ignore[method-assign]
    return made


def _dict_init(cls: type[Any]) -> Callable[..., None]:
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    # The dataclass's own __init__ takes exactly the fields, in order, by position or
    # name, unless it has more to do: an InitVar, a keyword-only or init=False field.
    own = list(inspect.signature(cls.__init__).parameters.values())[1:]
    plain = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in own)
    if hasattr(cls, "__post_init__") or "__slots__" in cls.__dict__:
        raise TypeError(f"@frozen cannot make {cls.__qualname__}: __post_init__ or slots")
    if not plain or [p.name for p in own] != names:
        raise TypeError(f"@frozen cannot make {cls.__qualname__}: InitVar, init or kw_only")
    if {SELF, DICT} & set(names):
        raise TypeError(f"@frozen cannot make {cls.__qualname__}: a field named {SELF}/{DICT}")
    scope: dict[str, Any] = {"MISSING": dataclasses.MISSING}
    params, lines = [SELF], [f" {DICT} = {SELF}.__dict__"]
    for f in fields:
        if f.default is not dataclasses.MISSING:
            scope[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=MISSING")
            lines.append(f" if {f.name} is MISSING: {f.name} = _factory_{f.name}()")
        else:
            params.append(f.name)
        lines.append(f" {DICT}[{f.name!r}] = {f.name}")
    source = f"def __init__({', '.join(params)}):\n" + "\n".join(lines)
    exec(source, scope)  # noqa: S102 (our own field names, checked by dataclasses)
    init: Callable[..., None] = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    return init
