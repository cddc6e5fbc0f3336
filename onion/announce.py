"""Signed onion address announcements: parse, sign, verify, and the signing key files.

An announcement says "old address -> new address, valid from <day>" (exact format:
onion/ANNOUNCEMENT.md); ``rotate`` writes it unsigned. The organisation's Ed25519
signing key may live on an offline machine: ``python -m onion signing-keygen | sign |
verify`` need only this module, PyNaCl and the announcement file (not stem, Flask or
gunicorn).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing

from onion.errors import AnnouncementError, OnionKeyError
from onion.onionkey import ADDRESS_RE, public_of_address

MAGIC = "skrynka-onion-announcement v1"
SIGNATURE_PREFIX = "signature: "
SIGNING_KEY_PREFIX = "skrynka-signing-key-v1 "
VERIFY_KEY_PREFIX = "skrynka-verify-key-v1 "
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Announcement:
    old: str
    new: str
    valid_from: str       # YYYY-MM-DD (UTC): the new address works from this day
    old_until: str        # YYYY-MM-DD (UTC): the old address is retired after this day

    def body(self) -> str:
        """The exact signed text (every line ends with LF)."""
        return (f"{MAGIC}\n"
                f"{self.old} -> {self.new}, valid from {self.valid_from}\n"
                f"old: {self.old}\n"
                f"new: {self.new}\n"
                f"valid-from: {self.valid_from}\n"
                f"old-until: {self.old_until}\n")


def parse(text: str) -> tuple[Announcement, bytes | None]:
    """The announcement and its signature (None if unsigned). Strict: any deviation fails."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) not in (6, 7) or lines[0] != MAGIC:
        raise AnnouncementError("not a Skrynka onion announcement (wrong header or line count)")
    fields = {}
    for line, name in zip(lines[2:6], ("old", "new", "valid-from", "old-until")):
        prefix = name + ": "
        if not line.startswith(prefix):
            raise AnnouncementError(f"announcement line {line!r} should start with {prefix!r}")
        fields[name] = line[len(prefix):]
    ann = Announcement(fields["old"], fields["new"], fields["valid-from"], fields["old-until"])
    for addr in (ann.old, ann.new):
        if not ADDRESS_RE.match(addr):
            raise AnnouncementError(f"not a v3 onion address: {addr!r}")
        try:
            public_of_address(addr)
        except OnionKeyError as exc:    # a checksum that does not match: a format error here
            raise AnnouncementError(exc.message, exc.hint) from exc
    if not DAY_RE.match(ann.valid_from) or not DAY_RE.match(ann.old_until):
        raise AnnouncementError("announcement days must be YYYY-MM-DD")
    if lines[1] != ann.body().split("\n")[1]:
        raise AnnouncementError("the summary line does not match the old/new/valid-from lines")
    signature = None
    if len(lines) == 7:
        if not lines[6].startswith(SIGNATURE_PREFIX):
            raise AnnouncementError("the last line must be 'signature: <base64>'")
        try:
            signature = base64.b64decode(lines[6][len(SIGNATURE_PREFIX):], validate=True)
        except binascii.Error as exc:
            raise AnnouncementError("the signature is not valid base64") from exc
        if len(signature) != 64:
            raise AnnouncementError("an Ed25519 signature is 64 bytes")
    return ann, signature


def signing_keygen(key_path: Path, pub_path: Path) -> str:
    """A new organisation signing key (0600, O_EXCL) and its verify key; returns the latter."""
    sk = nacl.signing.SigningKey.generate()
    vk = VERIFY_KEY_PREFIX + base64.b64encode(bytes(sk.verify_key)).decode() + "\n"
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise OnionKeyError(f"{key_path} already exists; refusing to overwrite a signing key"
                            ) from exc
    except OSError as exc:
        raise OnionKeyError(f"cannot create signing key {key_path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(SIGNING_KEY_PREFIX + base64.b64encode(bytes(sk)).decode() + "\n")
        pub_path.write_text(vk)
    except OSError as exc:
        raise OnionKeyError(f"cannot write {exc.filename or key_path}: {exc.strerror}") from exc
    return vk.strip()


def _b64_key(text: str, prefix: str, what: str) -> bytes:
    text = text.strip()
    if text.startswith(prefix):
        text = text[len(prefix):].strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise OnionKeyError(f"not a Skrynka {what}", f"it looks like '{prefix}<base64>'")
    return raw


def _read_key(path: Path, what: str) -> str:
    try:
        return path.read_text("ascii")
    except OSError as exc:
        raise OnionKeyError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise OnionKeyError(f"{path} is not a Skrynka {what}") from exc


def load_signing_key(path: Path) -> nacl.signing.SigningKey:
    """The organisation's signing key from its file (``skrynka-signing-key-v1 <base64>``)."""
    text = _read_key(path, "signing key")
    return nacl.signing.SigningKey(_b64_key(text, SIGNING_KEY_PREFIX.strip(), "signing key"))


def load_verify_key(arg: str) -> nacl.signing.VerifyKey:
    """``arg`` is the verify key text itself or a file holding it."""
    text = arg
    if not arg.strip().startswith(VERIFY_KEY_PREFIX.strip()) and Path(arg).is_file():
        text = _read_key(Path(arg), "verify key")
    return nacl.signing.VerifyKey(_b64_key(text, VERIFY_KEY_PREFIX.strip(), "verify key"))


def sign(text: str, sk: nacl.signing.SigningKey) -> str:
    """The announcement ``text`` (signed or not) signed with ``sk``: six lines + signature."""
    ann, _ = parse(text)
    body = ann.body()
    sig = sk.sign(body.encode("ascii")).signature
    return body + SIGNATURE_PREFIX + base64.b64encode(sig).decode("ascii") + "\n"


def verify(text: str, vk: nacl.signing.VerifyKey) -> Announcement:
    """The announcement if its signature verifies under ``vk``; AnnouncementError if not."""
    ann, sig = parse(text)
    if sig is None:
        raise AnnouncementError("the announcement is not signed",
                                "sign it with `python -m onion sign --key signing.key FILE`")
    try:
        vk.verify(ann.body().encode("ascii"), sig)
    except nacl.exceptions.BadSignatureError as exc:
        raise AnnouncementError("BAD SIGNATURE: this announcement was not signed by this key "
                                "or was altered", "do not trust the addresses in it") from exc
    return ann
