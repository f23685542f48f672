"""Commands packed into Redis's protocol by hiredis in one C call.

redis-py's own hiredis packer first passes every argument through its ``Encoder`` in
Python, one generator step and a few ``isinstance`` checks each: on the poll and
delivery paths, whose script calls carry a dozen arguments each, that was an eighth of a
worker's CPU. ``hiredis.pack_command`` takes ``str`` (as UTF-8), ``bytes``, ``int`` and
``float`` (as ``repr``, which is what the ``Encoder`` writes too) itself. Anything else,
and a first argument of several words (``"SCRIPT LOAD"``), goes to redis-py's own packer,
which splits the words or raises its ``DataError`` (a ``bool``, ``None``) as before.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis._parsers.encoders import Encoder
from redis.connection import PythonRespSerializer

# redis-py's default: a pipeline's packed commands are joined into pieces of up to this.
BUFFER_CUTOFF = 6000


class HiredisPacker:
    """A redis-py ``command_packer`` for clients that encode as UTF-8 (the store's)."""

    def __init__(self) -> None:
        # redis-py's parts carry no annotations: held as Any, the answer typed below.
        make_encoder: Any = Encoder
        encoder = make_encoder(encoding="utf-8", encoding_errors="strict", decode_responses=True)
        self._fallback: Any = PythonRespSerializer(BUFFER_CUTOFF, encoder.encode)

    def pack(self, *args: Any) -> list[bytes]:
        first = args[0]
        if (isinstance(first, str) and " " in first) or (
            isinstance(first, bytes) and b" " in first
        ):
            return list(self._fallback.pack(*args))
        try:
            return [hiredis.pack_command(args)]
        except TypeError:  # not str, bytes, int or float: redis-py's error for it
            return list(self._fallback.pack(*args))
