"""Lua script calls sent many at a time survive a Redis that lost its scripts."""

from __future__ import annotations

import pytest
import redis

from tests.support.redis_server import RedisServer
from worker.store.base import run_scripts


def test_calls_that_find_their_script_missing_load_it_and_run_once(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    counter = f"script-test-{id(client)}"
    bump = client.register_script("return redis.call('INCRBY', ARGV[1], ARGV[2])")
    echo = client.register_script("return 'seen ' .. ARGV[1]")
    client.script_flush()  # as after a restart: Redis knows no script

    answers = run_scripts(client, [(bump, [counter, 2]), (echo, ["x"]), (bump, [counter, 3])])

    assert answers == [2, "seen x", 5]
    assert client.get(counter) == "5"  # each call ran once, not once more after the reload
    assert run_scripts(client, [(echo, ["y"])]) == ["seen y"]


def test_a_failing_call_raises(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    broken = client.register_script("return redis.call('INCRBY', ARGV[1], 'not a number')")

    with pytest.raises(redis.ResponseError, match="not an integer"):
        run_scripts(client, [(broken, ["script-test-broken"])])
