"""The real app behind a test-only probe, for tests/hostile/test_memory.py.

gunicorn serves ``tests.hostile.memprobe:app`` with the real gunicorn.conf.py and
worker; every path but ``/__probe/…`` goes to the real app. The probe answers from
inside the worker that took the request, which nothing outside can ask when the
suite runs as root (root may read any process, dumpable or not):

* ``/__probe/self`` -> ``PID DUMPABLE`` (``prctl(PR_GET_DUMPABLE)``: 0 or 1);
* ``/__probe/keep/MARKER`` -> ``PID``, and the worker keeps MARKER in memory, so a
  test can show that its memory scan finds what is there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from app.hardening import is_dumpable
from app.wsgi import app as real_app

KEPT: list[bytearray] = []
PREFIX = "/__probe/"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = str(environ.get("PATH_INFO", ""))
    if not path.startswith(PREFIX):
        return real_app(environ, start_response)  # type: ignore[no-any-return]
    what = path[len(PREFIX):]
    if what == "self":
        body = f"{os.getpid()} {int(bool(is_dumpable()))}"
    elif what.startswith("keep/"):
        KEPT.append(bytearray(what[len("keep/"):].encode()))  # a fresh copy on the heap
        body = str(os.getpid())
    else:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
