"""An information row for ``bench/app_bench.py``: a bare Flask endpoint answering 201.

Served by the same ``gunicorn.conf.py`` (worker class, workers, threads) as the
real app, so its server CPU per request is what gunicorn and Flask cost before
any of Skrynka's work. The body is read (and discarded) so it takes in the same
bytes from the socket as the other sides. The target is set against
``bench/floor_app.py`` instead (read, seal, durable commit).
"""

from __future__ import annotations

from flask import Flask, request

app = Flask(__name__)


@app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@app.route("/<path:path>", methods=["GET", "POST"])
def answer(path: str) -> tuple[str, int]:
    del path
    stream = request.stream
    while stream.read(64 * 1024):
        pass
    return "", 201
