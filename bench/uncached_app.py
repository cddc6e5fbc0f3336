"""The real app with its receipt-page cache switched off, for ``bench/app_bench.py``.

``app.views.receipt_page`` renders the receipt once per language and then only puts
each code in. This side renders it for every receipt page, as the app would without
the cache. The receipt page is the GET after a report's 303 (issue 13), which the
small-report load does not request: see bench/app_bench.py.
"""

from __future__ import annotations

from flask import Response

from app import views


def _render_each_time(lang: str, code: str) -> Response:
    return views.page("receipt.html", lang, "title.receipt", receipt=code)


views.receipt_page = _render_each_time
from app.wsgi import app  # noqa: E402  (after the switch: the app is built here)

__all__ = ["app"]
