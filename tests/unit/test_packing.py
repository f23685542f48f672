"""The store's command packer writes what redis-py's own would, byte for byte, and refuses
what it refuses, with the same errors."""

from __future__ import annotations

from typing import Any

import pytest
from redis._parsers.encoders import Encoder
from redis.connection import HiredisRespSerializer, PythonRespSerializer
from redis.exceptions import DataError

from worker.store.connection import CLIENT_OPTIONS, redis_client
from worker.store.packing import BUFFER_CUTOFF, HiredisPacker


def redis_py_packer() -> HiredisRespSerializer:
    encoder = Encoder(encoding="utf-8", encoding_errors="strict", decode_responses=True)
    return HiredisRespSerializer(PythonRespSerializer(BUFFER_CUTOFF, encoder.encode).pack,
                                 encoder.encode)  # fmt: skip


COMMANDS: list[tuple[Any, ...]] = [
    ("EVALSHA", "a" * 40, 2, "bh:watch:wat_1", "bh:due", 1733450000.123456, "", 0, -3),
    ("HSET", "k", "f", 0.1 + 0.2, "g", -0.0, "h", 1e300, "i", float("inf"), "j", 2**70),
    ("SET", "k", "é ✓ 日本", "EX", 5),
    ("SET", b"k", b"\x00\xff\r\n"),
    ("SET", "k", memoryview(b"view")),
    ("SCRIPT LOAD", "return 1"),  # several words: split, as redis-py does
    (b"CLIENT SETNAME", "batchhook"),
    ("SET", "k", "x" * (BUFFER_CUTOFF * 3)),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]))
def test_packs_as_redis_py_does(command: tuple[Any, ...]) -> None:
    assert b"".join(HiredisPacker().pack(*command)) == b"".join(redis_py_packer().pack(*command))


@pytest.mark.parametrize(
    ("value", "error"),
    [(True, DataError), (None, DataError), (object(), DataError), ("\ud800", UnicodeEncodeError)],
)
def test_refuses_what_redis_py_refuses(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        redis_py_packer().pack("SET", "k", value)
    with pytest.raises(error):
        HiredisPacker().pack("SET", "k", value)


def test_the_store_client_packs_with_it() -> None:
    client = redis_client("redis://127.0.0.1:1/0")  # never connected: only built
    connection = client.connection_pool.make_connection()
    assert connection._command_packer is CLIENT_OPTIONS["command_packer"]
    assert connection.pack_commands([("GET", "a"), ("SET", "a", 1.5)]) == [
        b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$3\r\n1.5\r\n"
    ]
