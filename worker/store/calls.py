"""Lua script calls: loading a script's text, and sending many calls in one round trip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, Generic, NamedTuple, TypeVar

from redis.commands.core import Script
from redis.exceptions import NoScriptError

from worker.store.client import Client, Pipeline

T = TypeVar("T")
Arg = str | int | float


def lua(name: str, *, with_events: bool = False) -> str:
    folder = resources.files("worker") / "lua"
    body = (folder / f"{name}.lua").read_text()
    if with_events:
        body = (folder / "_events.lua").read_text() + "\n" + body
    return body


class Call(NamedTuple, Generic[T]):
    """One script call, ready to send, and how to read its answer (a tuple: one is
    made per poll and per attempt on the hot paths)."""

    script: Script
    keys: Sequence[str]
    args: Sequence[Arg]
    decode: Callable[[Any], T]


def _queue(pipe: Pipeline, call: Call[Any]) -> None:
    pipe.execute_command("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)


def run_scripts(client: Client, calls: Sequence[Call[T]]) -> list[T]:
    """Run many script calls in one round trip and return their decoded answers.

    redis-py's pipelines ask ``SCRIPT EXISTS`` before every execute that holds a script:
    a second round trip each time. Here the calls go straight out as EVALSHA; the ones
    that find their script missing (Redis restarted or flushed) ran nothing, so they are
    run again after loading it (on every primary of a Cluster). Any other error is
    raised, as a pipeline would. EVALSHA is sent as a raw command: a Cluster pipeline
    refuses its ``evalsha`` method but routes the raw command by its first key."""
    pipe = client.pipeline(transaction=False)
    for call in calls:
        _queue(pipe, call)
    answers: list[Any] = pipe.execute(raise_on_error=False)
    missing = [i for i, a in enumerate(answers) if isinstance(a, NoScriptError)]
    if missing:
        for script in {calls[i].script.sha: calls[i].script for i in missing}.values():
            client.script_load(script.script)
        again = client.pipeline(transaction=False)
        for i in missing:
            call = calls[i]
            _queue(again, call)
        for i, answer in zip(missing, again.execute(raise_on_error=False), strict=True):
            answers[i] = answer
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    return [call.decode(answer) for call, answer in zip(calls, answers, strict=True)]
