"""Skrynka's web app: ``create_app(config)`` builds the Flask application.

    app.factory     create_app: start-up checks, then the Flask app
    app.views       the voter's pages (language, form, submit, receipt, errors)
    app.intake      THE plaintext boundary: body reading, parsing, validation, sealing
    app.storage     sealed reports in the database (+ commit.py, inserter.py, pending.py)
    app.cli         operator commands behind ``python -m app`` (init, stats)
    app.export      ``python -m app export`` (and ``--again`` for a lost batch)
    app.purge       ``python -m app purge``: says what first, guards recent exports
    app.config      the frozen Config, read from SKRYNKA_* variables
    app.errors      the operator's errors (exit codes 12-19); app.httperrors the voter's
    app.worker      gunicorn's gthread worker with deadlines for slow clients

Importing this package imports no third-party package, so that ``python -m app``
can report a missing one clearly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from app.config import Config


def create_app(config: Config, **flask_config: Any) -> Flask:
    """The WSGI application for ``config`` (see app.config for every setting)."""
    from app.factory import create_app as build

    return build(config, **flask_config)
