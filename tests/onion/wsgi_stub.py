"""A tiny WSGI app for onion/ tests that must not depend on the real app.

It honours the same Host contract as the real app: it answers only for the addresses in
$SKRYNKA_HOSTNAMES_FILE (plus 127.0.0.1/localhost when SKRYNKA_ALLOW_LOCAL_HOST=1).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any


def _hosts() -> set[str]:
    path = os.environ["SKRYNKA_HOSTNAMES_FILE"]
    try:
        with open(path) as fh:
            hosts = {line.strip() for line in fh if line.strip()}
    except FileNotFoundError:
        hosts = set()
    if os.environ.get("SKRYNKA_ALLOW_LOCAL_HOST") == "1":
        hosts |= {"127.0.0.1", "localhost"}
    return hosts


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0]
    if host not in _hosts():
        start_response("421 Misdirected Request", [("Content-Type", "text/plain")])
        return [b"unknown host\n"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"stub drop at {host}\n".encode()]
