"""Log redaction's quick look (``_may_hold_secret``) never lets through a text that its
patterns would change: for any text, scrubbing gives what the patterns alone give."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.property._support import PROPERTY_SETTINGS
from worker.logging import _scrub_marked, _scrub_text

pytestmark = pytest.mark.property

# Letters that case-insensitive patterns take for ASCII ones (dotless and dotted i, long s,
# the Kelvin sign), so texts that only match through them are tried too.
LOOKALIKES = "\u0131\u0130\u017f\u212a"
# The start of every alternative of the patterns, written out here (not taken from the
# module's marks, which are what is tested), in both cases.
STARTS = [
    "whsec_", "bh_", "sk-", "sk_", "rk_", "pk-", "gsk_", "Bearer ", "basic\t", "eyJ", "AKIA",
    "ASIA", "https://user:pass@host/", "api-key=", "apikey: ", "access_token=", "token:",
    "secret=", "password='", "signature=",
]  # fmt: skip
PIECES = st.sampled_from(
    [*STARTS, *(s.upper() for s in STARTS), "_", "-", ".", "=", ":", " ", *LOOKALIKES]
)
CHARS = st.text(alphabet=string.ascii_letters + string.digits + LOOKALIKES + "_-.:/=@ ")
TEXTS = st.lists(PIECES | CHARS, max_size=8).map("".join)


@settings(PROPERTY_SETTINGS, max_examples=3000)
@given(TEXTS)
@example("ba\u017fic dXNlcjpwYXNz")
@example("\u017fk-proj-abcdefghij")
@example("bas\u0131c dXNlcjpwYXNz")
@example("AK\u0130AIOSFODNN7EXAMPLE")
@example("id ASIAIOSFODNN7EXAMPLE.")
def test_scrubbing_is_what_the_patterns_give(text: str) -> None:
    assert _scrub_text(text) == _scrub_marked(text)
