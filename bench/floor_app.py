"""The floor for ``bench/app_bench.py``: only the work every report must cost.

This endpoint does what no implementation of the drop can skip, and nothing
else: it reads the body, seals it to the analyst keys
(``keys.envelope.seal_bytes``, as app/intake does) and stores it durably
through ``app.storage`` (the same group commit, SQLite settings and fsync as
the app), then answers 201. No multipart parsing, no validation, no pages, no
Host check, no headers.

Measured in the same run, under the same ``gunicorn.conf.py`` and client, its
server CPU per report is the baseline of the app's (target: app <= 1.5 x
floor). It stores real (sealed) reports, so the bench counts them afterwards.
"""

from __future__ import annotations

import hashlib

from flask import Flask, request
from nacl.utils import random as random_bytes

from app.config import Config
from app.pending import PendingReport
from app.storage import open_store
from contract import today
from keys.envelope import KIND_REPORT, seal_bytes
from keys.pubkey import read_recipients

config = Config.from_env()
store = open_store(config)
recipients = tuple(read_recipients(config.analyst_keys))
app = Flask(__name__)


@app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@app.route("/<path:path>", methods=["GET", "POST"])
def answer(path: str) -> tuple[str, int]:
    del path
    report_id = random_bytes(16)
    envelope = seal_bytes(request.get_data(), recipients, kind=KIND_REPORT, report_id=report_id)
    pending = PendingReport(report_id, envelope, hashlib.sha256(envelope).digest(), ())
    store.store_report(pending, today())
    return "", 201
