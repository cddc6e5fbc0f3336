"""Fixtures of the app tests (the helpers they use are in tests/app/helpers.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.app.helpers import FilePart, post, valid_fields


@pytest.fixture
def submit_ok(client: FlaskClient) -> Any:
    def run(lang: str = "en", files: Sequence[FilePart] = (), **extra: Any) -> TestResponse:
        resp = post(client, f"/{lang}/", valid_fields(lang, **extra), files)
        assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
        return resp

    return run
