"""Debian's Chromium, headless, as the browser tests launch it (JavaScript is chosen per
context): no sandbox (root in CI), no GPU, and nothing of its own on the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
QUIET = ("--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update")


def launch(playwright: Any, *args: str) -> Any:
    """A Chromium browser with :data:`QUIET` and ``args`` (a proxy, host rules, ...)."""
    assert Path(CHROMIUM).exists(), "chromium is missing: `make setup-test` installs it"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*args, *QUIET])
