"""The WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py app.wsgi:app``."""

from __future__ import annotations

from app import create_app
from app.config import Config

app = create_app(Config.from_env())
