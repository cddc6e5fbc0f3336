"""The WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py app.wsgi:app``.

An error the operator can fix (a wrong data directory, an unmigrated database, a
broken form definition) is printed as ``skrynka: error: …`` and ``hint: …``
(keys.dispatch.run_cli), and the worker exits with gunicorn's "worker failed to boot"
code, so that the master stops instead of starting worker after worker, each with a
traceback. gunicorn.conf.py checks the data directory once before any worker starts.
"""

from __future__ import annotations

from typing import Any

from app import create_app
from app.config import Config
from keys.dispatch import run_cli

#: gunicorn's Arbiter.WORKER_BOOT_ERROR: the master halts instead of restarting the worker.
WORKER_BOOT_ERROR = 3
_built: dict[str, Any] = {}


def _build() -> int:
    _built["app"] = create_app(Config.from_env())
    return 0


if run_cli("skrynka", _build, install_hint="run `make setup`"):
    raise SystemExit(WORKER_BOOT_ERROR)
app = _built["app"]
