"""v3 onion service keys: made once, kept in the data directory, mode 0600.

A key file is tor's own ``hs_ed25519_secret_key`` format (a 32-byte header, then the
64-byte expanded Ed25519 secret key), so an operator can move it into a HiddenServiceDir.
The address is derived from the public key exactly as tor does (rend-spec-v3 §6).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

import nacl.bindings
import nacl.utils

from onion.errors import OnionKeyError

HEADER = b"== ed25519v1-secret: type0 ==\x00\x00\x00"
KEY_FILE_SIZE = len(HEADER) + 64
ADDRESS_RE = re.compile(r"^[a-z2-7]{56}\.onion$")


def expand_seed(seed: bytes) -> bytes:
    """The 64-byte expanded secret key tor uses: clamped SHA-512(seed)."""
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)


def public_key(expanded: bytes) -> bytes:
    """Ed25519 public key (A = a·B) of an expanded secret key."""
    return bytes(nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(expanded[:32]))


def address_of_public(pub: bytes) -> str:
    version = b"\x03"
    checksum = hashlib.sha3_256(b".onion checksum" + pub + version).digest()[:2]
    return base64.b32encode(pub + checksum + version).decode("ascii").lower() + ".onion"


def public_of_address(address: str) -> bytes:
    """The Ed25519 key inside a v3 address; raises OnionKeyError if the checksum is wrong."""
    if not ADDRESS_RE.match(address):
        raise OnionKeyError(f"not a v3 onion address: {address!r}")
    raw = base64.b32decode(address[:56].upper())
    pub = raw[:32]
    if address_of_public(pub) != address:
        raise OnionKeyError(f"onion address checksum does not match: {address}",
                        "the address was mistyped or altered")
    return pub


class OnionKey:
    """An expanded v3 onion secret key and its address."""

    def __init__(self, expanded: bytes) -> None:
        if len(expanded) != 64:
            raise OnionKeyError("an onion secret key must be 64 bytes")
        self.expanded = expanded
        self.address = address_of_public(public_key(expanded))

    @classmethod
    def generate(cls) -> OnionKey:
        return cls(expand_seed(nacl.utils.random(32)))

    @property
    def service_id(self) -> str:
        return self.address[: -len(".onion")]

    def tor_key_blob(self) -> str:
        """``ED25519-V3:<base64>`` as ADD_ONION wants it."""
        return "ED25519-V3:" + base64.b64encode(self.expanded).decode("ascii")

    def to_file_bytes(self) -> bytes:
        return HEADER + self.expanded

    @classmethod
    def from_file_bytes(cls, data: bytes, name: str = "key") -> OnionKey:
        if len(data) != KEY_FILE_SIZE or not data.startswith(HEADER):
            raise OnionKeyError(f"{name} is not an onion secret key (tor hs_ed25519_secret_key)",
                            "restore it from backup, or remove it to make a new address")
        return cls(data[len(HEADER):])


def write_new(path: Path, key: OnionKey) -> None:
    """Create ``path`` with mode 0600; refuses to overwrite (O_EXCL)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key.to_file_bytes())
        os.fsync(fd)
    finally:
        os.close(fd)


def load(path: Path) -> OnionKey:
    try:
        st = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise OnionKeyError(f"cannot read onion key {path}: {exc.strerror}") from exc
    if st.st_mode & 0o077:
        raise OnionKeyError(f"onion key {path} is readable by others (mode {st.st_mode & 0o777:o})",
                        f"chmod 600 {path}")
    return OnionKey.from_file_bytes(data, str(path))


def load_or_create(path: Path) -> tuple[OnionKey, bool]:
    """The key at ``path``, made on first use. Returns (key, created)."""
    if path.exists():
        return load(path), False
    key = OnionKey.generate()
    try:
        write_new(path, key)
    except FileExistsError:
        return load(path), False
    return key, True
