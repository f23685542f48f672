"""Headless Chromium for the dashboard's browser tests: Debian's ``chromium`` driven by
Playwright (its own browser download does not work here, so it is never used).

Where Chromium or Playwright is missing the tests skip with the reason; under CI
(``BATCHHOOK_TEST_REQUIRE_SERVERS=1``) they fail instead, and ``.ci/run`` installs
Chromium first, so CI always runs them. Screenshots go to ``docs/screenshots/`` (or
``BATCHHOOK_SCREENSHOTS_DIR``), where the README shows them from.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.servers import skip_or_fail

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("BATCHHOOK_SCREENSHOTS_DIR", REPO / "docs" / "screenshots"))


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        skip_or_fail("Chromium is not installed (apt-get install -y chromium)")
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright is not installed (pip install -e '.[test]')")
    executable = chromium_path()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
