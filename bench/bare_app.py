"""The baseline for ``bench/app_bench.py``: a bare Flask endpoint answering 201.

Served by the same ``gunicorn.conf.py`` (worker class, workers, threads) as the
real app, so the ratio between the two measures what Skrynka itself costs per
report: validation, sealing and the durable commit. The body is read (and
discarded) so both sides take in the same bytes from the socket.
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
