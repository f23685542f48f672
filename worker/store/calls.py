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


def lua(name: str, *, with_events: bool = False, with_counts: bool = False) -> str:
    """A script's text, after the shared parts it uses: ``_counts.lua`` (counters summed
    and written once at the end: the script calls ``flush_counts`` before it returns)
    and ``_events.lua`` (creating events, which counts them)."""
    folder = resources.files("worker") / "lua"
    parts = ["_counts"] if with_counts or with_events else []
    parts += ["_events"] if with_events else []
    return "\n".join((folder / f"{part}.lua").read_text() for part in [*parts, name])


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
    answers, _ = run_scripts_then(client, calls, lambda pipe: None)
    return answers


def run_scripts_then(
    client: Client, calls: Sequence[Call[T]], queue_after: Callable[[Pipeline], None]
) -> tuple[list[T], list[Any]]:
    """``run_scripts``, and in the same round trip the commands ``queue_after`` queues
    (a write's reads of what it wrote): the calls' decoded answers, then those commands'
    answers as Redis gave them. When a call's script was missing, the commands are sent
    again behind the calls run again, so they always see what every call did."""
    pipe = client.pipeline(transaction=False)
    for call in calls:
        _queue(pipe, call)
    queue_after(pipe)
    answers: list[Any] = pipe.execute(raise_on_error=False)
    missing = [i for i, a in enumerate(answers[: len(calls)]) if isinstance(a, NoScriptError)]
    if missing:
        for script in {calls[i].script.sha: calls[i].script for i in missing}.values():
            client.script_load(script.script)
        again = client.pipeline(transaction=False)
        for i in missing:
            _queue(again, calls[i])
        queue_after(again)
        retried = again.execute(raise_on_error=False)
        for i, answer in zip(missing, retried, strict=False):
            answers[i] = answer
        answers[len(calls) :] = retried[len(missing) :]
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    decoded = [call.decode(answer) for call, answer in zip(calls, answers, strict=False)]
    return decoded, answers[len(calls) :]
