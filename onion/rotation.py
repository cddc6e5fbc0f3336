"""Rotation: a new onion key, both addresses served for a grace period, and a signed
announcement "old address -> new address, valid from <day>" (format: onion/ANNOUNCEMENT.md).

The organisation's Ed25519 signing key may live offline; ``sign`` and ``verify`` need only
PyNaCl and the announcement file.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import nacl.exceptions
import nacl.signing

from onion import state
from onion.errors import AnnouncementError, KeyError_
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


def day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


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
        public_of_address(addr)
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
        raise KeyError_(f"{key_path} already exists; refusing to overwrite a signing key") from exc
    with os.fdopen(fd, "w") as fh:
        fh.write(SIGNING_KEY_PREFIX + base64.b64encode(bytes(sk)).decode() + "\n")
    pub_path.write_text(vk)
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
        raise KeyError_(f"not a Skrynka {what}", f"it looks like '{prefix}<base64>'")
    return raw


def load_signing_key(path: Path) -> nacl.signing.SigningKey:
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeyError_(f"cannot read signing key {path}: {exc.strerror}") from exc
    return nacl.signing.SigningKey(_b64_key(text, SIGNING_KEY_PREFIX.strip(), "signing key"))


def load_verify_key(arg: str) -> nacl.signing.VerifyKey:
    """``arg`` is the verify key text itself or a file holding it."""
    text = arg
    if not arg.strip().startswith(VERIFY_KEY_PREFIX.strip()) and Path(arg).is_file():
        text = Path(arg).read_text()
    return nacl.signing.VerifyKey(_b64_key(text, VERIFY_KEY_PREFIX.strip(), "verify key"))


def sign(text: str, sk: nacl.signing.SigningKey) -> str:
    ann, _ = parse(text)
    body = ann.body()
    sig = sk.sign(body.encode("ascii")).signature
    return body + SIGNATURE_PREFIX + base64.b64encode(sig).decode("ascii") + "\n"


def verify(text: str, vk: nacl.signing.VerifyKey) -> Announcement:
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


def rotate(data: Path, grace_seconds: float | None, now: float | None = None,
           default_grace: float = state.DEFAULT_GRACE_DAYS * state.DAY) -> tuple[Path, str]:
    """Make a new key; the current one enters its grace period. Returns the announcement
    path and the new address. ``grace_seconds=None``: the running serve's --grace-days,
    else ``default_grace``."""
    now = time.time() if now is None else now
    if grace_seconds is None:
        status = state.read_status(data) or {}
        running = status.get("grace_seconds")
        grace_seconds = float(running) if isinstance(running, (int, float)) else default_grace
    with state.locked(data):
        services = state.load_services(data)
        if not services:
            raise KeyError_("there is no onion address to rotate yet",
                            "run `python -m onion serve` once first")
        old = state.current(services)
        new, _ = state.new_service(data)
        new = replace(new, added=now)
        superseded = replace(old, superseded_at=now, grace_seconds=grace_seconds)
        others = [s for s in services if s is not old]
        state.save_services(data, [*others, superseded, new])
    until = superseded.retire_at(default_grace)
    assert until is not None
    ann = Announcement(old.address, new.address, day(now), day(until))
    path = state.onion_dir(data) / "announcements" / f"{day(now)}-{new.address[:16]}.txt"
    state.write_atomic(path, ann.body())
    return path, new.address
