"""Fixtures of the onion tests: the organisation's signing key (cheap Argon2id)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import pytest

from keys import keyfile
from onion import announce, signkey

CHEAP = keyfile.KdfParams(memory_kib=65536, time_cost=1, parallelism=1)
STRONG = b"ember quarry lantern velvet oboe"


@dataclass(frozen=True)
class Signing:
    key: Path
    pub: Path
    sk: nacl.signing.SigningKey

    @property
    def vk(self) -> nacl.signing.VerifyKey:
        return announce.load_verify_key(str(self.pub))


@pytest.fixture
def signing(tmp_path: Path) -> Signing:
    key = tmp_path / "signing.key"
    signkey.signing_keygen(key, STRONG, CHEAP)
    return Signing(key, Path(f"{key}.pub"), signkey.load_signing_key(key, STRONG))
