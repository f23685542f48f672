"""The Redis client as the store sees it: typed, answering strings, failing in our tree.

redis-py's annotations cannot express ``decode_responses=True`` (every answer is typed
``bytes | str``, or an awaitable of it), so the store holds the client through the
protocols below: the commands it uses, with the answers they give on a decoding client.
``typed`` is the one place a ``redis.Redis`` becomes one.

``Guarded`` is the store's door to the rest of batchhook: every public method of a
class under it raises ``StoreUnavailable`` (chained) where redis-py would raise its own
exceptions, so no module outside ``worker/store`` needs to know them.
"""

from __future__ import annotations

import builtins
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeVar, cast, overload

import redis
from redis.commands.core import Script
from redis.exceptions import RedisClusterException

from worker.errors import StoreUnavailable

Value = str | int | float
F = TypeVar("F", bound=Callable[..., Any])


class Pipeline(Protocol):
    """Queued commands answer on ``execute``; only the ones the store queues."""

    def hgetall(self, name: str) -> object: ...
    def get(self, name: str) -> object: ...
    def hget(self, name: str, key: str) -> object: ...
    def hmget(self, name: str, keys: Sequence[str], *args: str) -> object: ...
    def hset(
        self, name: str, key: str | None = None, value: Value | None = None,
        mapping: Mapping[str, Any] | None = None,
    ) -> object: ...  # fmt: skip
    def hsetnx(self, name: str, key: str, value: Value) -> object: ...
    def hincrby(self, name: str, key: str, amount: int = 1) -> object: ...
    def hincrbyfloat(self, name: str, key: str, amount: float = 1.0) -> object: ...
    def lindex(self, name: str, index: int) -> object: ...
    def lrange(self, name: str, start: int, end: int) -> object: ...
    def llen(self, name: str) -> object: ...
    def lpush(self, name: str, *values: Value) -> object: ...
    def ltrim(self, name: str, start: int, end: int) -> object: ...
    def incr(self, name: str, amount: int = 1) -> object: ...
    def wait(self, num_replicas: int, timeout: int) -> object: ...
    def set(self, name: str, value: Value) -> object: ...
    def delete(self, *names: str) -> object: ...
    def expire(self, name: str, time: int) -> object: ...
    def sadd(self, name: str, *values: Value) -> object: ...
    def srem(self, name: str, *values: Value) -> object: ...
    def smismember(self, name: str, values: Sequence[str]) -> object: ...
    def zadd(
        self, name: str, mapping: Mapping[str, float], nx: bool = False, xx: bool = False,
        ch: bool = False,
    ) -> object: ...  # fmt: skip
    def zrem(self, name: str, *values: str) -> object: ...
    def zcard(self, name: str) -> object: ...
    def zcount(self, name: str, min: float | str, max: float | str) -> object: ...
    def zmscore(self, key: str, members: Sequence[str]) -> object: ...
    def zrange(self, name: str, start: int, end: int, withscores: bool = False) -> object: ...
    def zrevrange(self, name: str, start: int, end: int, withscores: bool = False) -> object: ...
    def zremrangebyscore(self, name: str, min: float | str, max: float | str) -> object: ...
    def execute_command(self, *args: Value) -> object: ...
    def execute(self, raise_on_error: bool = True) -> list[Any]: ...


class Client(Protocol):
    """A ``redis.Redis`` made with ``decode_responses=True``: the commands the store uses."""

    def ping(self) -> bool: ...
    def close(self) -> None: ...
    def pipeline(self, transaction: bool = True) -> Pipeline: ...
    def register_script(self, script: str) -> Script: ...
    def script_load(self, script: object) -> str: ...
    def get(self, name: str) -> str | None: ...
    def set(
        self, name: str, value: Value, nx: bool = False, ex: int | None = None
    ) -> bool | None: ...
    def delete(self, *names: str) -> int: ...
    def keys(self, pattern: str = "*") -> list[str]: ...
    def hgetall(self, name: str) -> dict[str, str]: ...
    def hget(self, name: str, key: str) -> str | None: ...
    def hset(
        self, name: str, key: str | None = None, value: Value | None = None,
        mapping: Mapping[str, Any] | None = None,
    ) -> int: ...  # fmt: skip
    def lrange(self, name: str, start: int, end: int) -> list[str]: ...
    def blpop(self, keys: Sequence[str], timeout: float = 0) -> tuple[str, str] | None: ...
    def smembers(self, name: str) -> builtins.set[str]: ...
    def zadd(
        self, name: str, mapping: Mapping[str, float], nx: bool = False, xx: bool = False,
        ch: bool = False,
    ) -> int: ...  # fmt: skip
    def zrem(self, name: str, *values: str) -> int: ...
    def zcard(self, name: str) -> int: ...
    @overload
    def zrange(
        self, name: str, start: int, end: int, withscores: Literal[False] = False
    ) -> list[str]: ...
    @overload
    def zrange(
        self, name: str, start: int, end: int, withscores: Literal[True]
    ) -> list[tuple[str, float]]: ...
    def zrevrange(self, name: str, start: int, end: int) -> list[str]: ...
    def zrangebyscore(
        self, name: str, min: float | str, max: float | str, start: int | None = None,
        num: int | None = None, withscores: bool = False,
    ) -> list[Any]: ...  # fmt: skip


def typed(client: redis.Redis) -> Client:
    """The store's view of a decoding client (see the module docstring)."""
    return cast(Client, client)


def reachable(url: str, timeout_s: float = 0.5) -> bool:
    """Whether a Redis answers at ``url`` within ``timeout_s`` (``batchhook dev`` asks
    before starting its own)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


# redis-py's Cluster client raises its own errors outside ``RedisError`` (a slot map it
# cannot get, a node it cannot reach after its retries).
REDIS_ERRORS = (redis.RedisError, RedisClusterException)


def unavailable(exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"Redis unavailable: {type(exc).__name__}: {exc}")


def guarded(func: F) -> F:
    """``func``, raising ``StoreUnavailable`` for redis-py's exceptions."""

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except REDIS_ERRORS as exc:
            raise unavailable(exc) from exc

    return cast(F, call)


class Guarded:
    """Every public method of a subclass is ``guarded``: the store's door raises only
    exceptions of batchhook's tree (``StoreUnavailable`` for Redis failing)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(member):
                setattr(cls, name, guarded(member))
