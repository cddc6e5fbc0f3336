"""The real app with its receipt-page cache switched off, for ``bench/app_bench.py``.

``app.views.receipt_page`` renders the receipt once per language and path and then
only puts each voter's code in. This side renders it for every report, as the app
would without the cache, so that `make bench` shows what the cache is worth.
"""

from __future__ import annotations

from flask import Response

from app import views


def _render_each_time(lang: str) -> Response:
    return views.page("receipt.html", lang, "title.receipt", receipt=views.receipt_code())


views.receipt_page = _render_each_time
from app.wsgi import app  # noqa: E402  (after the switch: the app is built here)

__all__ = ["app"]
