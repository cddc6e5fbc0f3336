"""Fixtures for keys/ tests: an analyst key and a drop sealing to it (tests/keys/helpers.py)."""

from __future__ import annotations

import pytest
from nacl.public import PrivateKey

from tests.keys.helpers import Drop


@pytest.fixture(scope="session")
def analyst() -> PrivateKey:
    return PrivateKey.generate()


@pytest.fixture
def drop(analyst: PrivateKey) -> Drop:
    return Drop([bytes(analyst.public_key)])
