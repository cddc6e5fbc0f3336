"""gunicorn settings for Skrynka: ``gunicorn -c gunicorn.conf.py app.wsgi:app``.

Listens only on SKRYNKA_BIND: ``unix:/path`` or a loopback ``host:port``
(default ``unix:<SKRYNKA_DATA>/run/gunicorn.sock``); anything else stops
gunicorn before it binds, and so does a data directory ``app init`` did not
make. No access log at all; errors go to stderr and name
only an error class, never a request's contents.

Why gthread (app/worker.py: gthread plus deadlines that cut off slowloris
clients), 2 workers x 40 threads: over Tor an upload of a 25 MB photo runs
at 20-100 KB/s, i.e. for minutes, and holds one thread for its whole duration
(the body is parsed and sealed as it arrives, never spooled). Request heads and
small bodies are read by each worker's event loop, not a thread (app/gate.py), and
at most threads - 8 = 32 uploads run per worker (more get a 503 "try again in a
minute"): 8 threads per worker are always left for small reports and pages, and 32
slow uploads fit even if they all land on one worker; each thread holds at most
~200 KiB of buffers, so memory stays small. Two processes
keep the form answering if one is busy sealing, and the master restarts a dead
worker. CPU work per request (sealing) is light, so more processes buy little.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from app.config import Config, check_bind
from contract import ENV_BIND
from keys.dispatch import run_cli

_settings: dict[str, Any] = {}
WSGI_APP = "app.wsgi:app"  # the drop; serve, tests and benchmarks may run other apps


def _read_settings() -> int:
    config = Config.from_env()
    default = f"unix:{config.paths.run / 'gunicorn.sock'}"
    _settings["config"] = config
    _settings["bind"] = check_bind(os.environ.get(ENV_BIND, "").strip() or default)
    return 0


_code = run_cli("skrynka", _read_settings, install_hint="run `make setup`")
if _code:
    raise SystemExit(_code)
_config: Config = _settings["config"]
bind_address: str = _settings["bind"]

bind = [bind_address]
worker_class = "app.worker.SkrynkaWorker"  # gthread + deadlines for slow clients
workers = 2
threads = 40
timeout = 60  # worker heartbeat; a slow upload in a thread does not block it
graceful_timeout = 120
# Recycling (app/worker.py): a worker retires after this many requests plus a random
# 0..jitter (so the two rarely retire together) or 10 minutes after its first request,
# finishing every request in flight however long; the master starts its replacement
# at once. Freed memory keeps earlier reports' bytes until the process ends.
max_requests = 1000
max_requests_jitter = 500
keepalive = 5
accesslog = None
disable_redirect_access_to_syslog = True
errorlog = "-"
loglevel = "error"  # gunicorn's warnings name the client address ("Invalid request from ip=")
capture_output = False
limit_request_line = 4096
limit_request_fields = 50
limit_request_field_size = 8190
forwarded_allow_ips = ""
proxy_allow_ips = ""
proc_name = "skrynka"


def on_starting(server: object) -> None:
    """Before any worker exists: harden the master (no core dumps, not dumpable; each
    worker hardens itself again), let retiring workers finish while their replacements
    start, refuse an unmigrated database, log unusable analyst keys (once per run), and
    remove pieces of uploads a crash interrupted (no worker runs yet)."""
    from app.analystkeys import check_at_start
    from app.hardening import harden_process
    from app.storage import open_store
    from app.worker import keep_serving_while_retiring

    harden_process()
    keep_serving_while_retiring(server)
    if getattr(getattr(server, "app", None), "app_uri", None) == WSGI_APP:
        # Once, before any file is made there and before a worker starts: a wrong data
        # directory is one error line, not a database created there, nor an error per
        # worker (app/wsgi.py says it too, for an app that imports it).
        code = run_cli("skrynka", _check_database, install_hint="run `make setup`")
        if code:
            raise SystemExit(code)
    if bind_address.startswith("unix:"):  # before gunicorn binds, after the check
        Path(bind_address[len("unix:") :]).parent.mkdir(mode=0o700, parents=True,
                                                         exist_ok=True)
    if _config.data_problem() is not None:
        return  # another WSGI app (a test's stub) on a folder init did not make: not ours

    check_at_start(_config.analyst_keys, _config.data)  # each run's log says why 503

    store = open_store(_config)
    try:
        store.sweep(alive=False)
    except Exception as exc:  # the workers will report a missing database clearly
        print(f"skrynka: warning: orphan sweep skipped ({type(exc).__name__})", file=sys.stderr)
    finally:
        store.close()


def _check_database() -> int:
    from app.cli import check_schema

    _config.check_data()
    check_schema(_config)
    return 0


def post_worker_init(worker: Any) -> None:
    """In each worker: keep the data directory's file times at the day (app/dayclock.py)."""
    from app.dayclock import DayClock

    worker.skrynka_dayclock = DayClock(_config.data).start()


def worker_exit(server: object, worker: Any) -> None:
    """In a worker that is exiting: one last pin of the file times."""
    clock = getattr(worker, "skrynka_dayclock", None)
    if clock is not None:
        clock.stop()


def on_exit(server: object) -> None:
    """In the master, after every worker has exited and the database's last
    connection has closed (SQLite's WAL checkpointed and removed): pin once more."""
    from app.dayclock import pin

    pin(_config.data)


def child_exit(server: object, worker: Any) -> None:
    """In the master, when a worker has exited (crashed, killed, timed out or
    stopped): its unfinished uploads can never complete, so remove their pieces
    now instead of at the next start (a report is all or nothing)."""
    from app.storage import open_store

    if _config.data_problem() is not None:
        return  # not a data directory init made: nothing of ours to remove, nothing to create
    store = open_store(_config)
    try:
        store.drop_pieces_of(worker.pid)
    except Exception as exc:
        print(f"skrynka: warning: pieces of a dead worker not removed ({type(exc).__name__})",
              file=sys.stderr)
    finally:
        store.close()
