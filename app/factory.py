"""Building the Flask application: checks at start-up, then the app.

Refuses to start without a data directory made by ``app init`` (creating nothing
in a wrong one), an initialised database, a valid form definition or complete
translations; starts without a usable analyst key (every form page
then answers 503 and nothing is stored).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from app.addresses import parse_retiring
from app.advice import load_reviewed
from app.analystkeys import watched_keys
from app.config import PACKAGE_DIR, Config
from app.errors import ConfigError
from app.formdef import load_form
from app.headers import NoSessions
from app.hosts import parse_hostnames
from app.i18n import load_catalogs
from app.intake import CountingMiddleware, GuardedRequest
from app.storage import Store, open_store
from app.watched import WatchedFile
from contract import MIB

log = logging.getLogger("skrynka")
BODY_SLACK = MIB  # multipart framing and text fields on top of the attachments


def _check_database(store: Store) -> None:
    from app import migrate

    migrate.check(store.engine)
    store.ensure_chain()


def create_app(config: Config, **flask_config: Any) -> Flask:
    """The WSGI application for ``config`` (see app.config for every setting)."""
    from app import advice, views

    form_def = load_form(config.form_path)
    catalogs = load_catalogs(PACKAGE_DIR / "translations")
    problems = [p for p in catalogs.check() if "falls back" not in p]
    if problems:
        raise ConfigError(f"translations are broken: {problems[0]}")
    config.check_data()  # before anything opens a file there: SQLite would create one
    store = open_store(config)
    _check_database(store)

    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.request_class = GuardedRequest  # bodies are read only by app.intake
    app.session_interface = NoSessions()
    app.config.update(
        MAX_CONTENT_LENGTH=config.max_report_bytes + BODY_SLACK,
        SESSION_COOKIE_NAME="",
        TRAP_HTTP_EXCEPTIONS=False,
        PROPAGATE_EXCEPTIONS=False,
        **flask_config,
    )
    app.logger.disabled = True  # Flask's own request-failure lines quote the path
    app.extensions["skrynka"] = views.Runtime(
        config=config, form_def=form_def, catalogs=catalogs, store=store,
        keys=watched_keys(config.analyst_keys, config.data),
        hostnames=WatchedFile(config.hostnames_path, parse_hostnames),
        retiring=WatchedFile(config.hostnames_path, parse_retiring),
        reviewed=load_reviewed(advice.ADVICE_FILE),
    )
    views.register(app)
    app.wsgi_app = CountingMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    app.extensions["skrynka"].recipients()  # log once now if no key is usable
    return app
