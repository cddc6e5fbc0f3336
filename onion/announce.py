"""Signed onion address statements: announcements and revocations (format v2).

An announcement says "old address -> new address, valid from <day>"; a revocation says
"address X is revoked as of <day>". Exact format: onion/ANNOUNCEMENT.md. ``rotate`` and
``revoke`` write them unsigned; ``sign`` (on the organisation's offline machine) adds a
serial number and, for announcements, an expiry day to the signed body and writes a
detached OpenSSH signature (``FILE.sig``, onion/sshsig.py) that ``ssh-keygen -Y verify``
can check too. ``verify`` checks the signature and the expiry here, and the serial
against what it has seen before in onion/seen.py. Only PyNaCl is needed (not stem, Flask
or gunicorn); the passphrase-protected signing key file is onion/signkey.py.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Union

import nacl.signing

from onion import sshsig
from onion.errors import AnnouncementError, AnnouncementRefused, OnionKeyError
from onion.onionkey import ADDRESS_RE, public_of_address

MAGIC = "skrynka-onion-announcement v2"
REVOCATION_MAGIC = "skrynka-onion-revocation v2"
OLD_MAGIC = "skrynka-onion-announcement v1"
VERIFY_KEY_PREFIX = "skrynka-verify-key-v1 "
SIGNATURE_SUFFIX = ".sig"
DEFAULT_EXPIRES_DAYS = 90
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SERIAL_RE = re.compile(r"^[1-9][0-9]{0,14}$")
FORMAT_HINT = "see onion/ANNOUNCEMENT.md for the exact format"


def _render(header: str, summary: str, pairs: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"{line}\n" for line in (header, summary, *(f"{k}: {v}" for k, v in pairs)))


@dataclass(frozen=True)
class Announcement:
    old: str
    new: str
    valid_from: str       # YYYY-MM-DD (UTC): the new address works from this day
    old_until: str        # YYYY-MM-DD (UTC): the old address is retired after this day
    serial: int = 0       # 0: not signed yet
    expires: str = ""     # YYYY-MM-DD (UTC): not to be believed after this day

    HEADER: ClassVar[str] = MAGIC
    FIELDS: ClassVar[tuple[str, ...]] = ("old", "new", "valid-from", "old-until")
    TRAILER: ClassVar[tuple[str, ...]] = ("serial", "expires")

    def summary(self) -> str:
        return f"{self.old} -> {self.new}, valid from {self.valid_from}"

    def pairs(self) -> tuple[tuple[str, str], ...]:
        own = (("old", self.old), ("new", self.new), ("valid-from", self.valid_from),
               ("old-until", self.old_until))
        return own + ((("serial", str(self.serial)), ("expires", self.expires))
                      if self.serial else ())

    def body(self) -> str:
        """The exact text (every line ends with LF); signed once it has a serial."""
        return _render(self.HEADER, self.summary(), self.pairs())


@dataclass(frozen=True)
class Revocation:
    address: str
    revoked_from: str     # YYYY-MM-DD (UTC): do not use the address from this day on
    serial: int = 0

    HEADER: ClassVar[str] = REVOCATION_MAGIC
    FIELDS: ClassVar[tuple[str, ...]] = ("address", "revoked-from")
    TRAILER: ClassVar[tuple[str, ...]] = ("serial",)

    def summary(self) -> str:
        return f"{self.address} is revoked as of {self.revoked_from}: do not use it"

    def pairs(self) -> tuple[tuple[str, str], ...]:
        own = (("address", self.address), ("revoked-from", self.revoked_from))
        return own + ((("serial", str(self.serial)),) if self.serial else ())

    def body(self) -> str:
        return _render(self.HEADER, self.summary(), self.pairs())


Statement = Union[Announcement, Revocation]
_KINDS: dict[str, type[Announcement] | type[Revocation]] = {
    MAGIC: Announcement, REVOCATION_MAGIC: Revocation}


def check_address(addr: str) -> None:
    """AnnouncementError unless ``addr`` is a v3 onion address with a valid checksum."""
    if not ADDRESS_RE.match(addr):
        raise AnnouncementError(f"not a v3 onion address: {addr!r}", FORMAT_HINT)
    try:
        public_of_address(addr)
    except OnionKeyError as exc:    # a checksum that does not match: a format error here
        raise AnnouncementError(exc.message, exc.hint) from exc


def check_day(day: str) -> None:
    try:
        if DAY_RE.match(day):
            datetime.date.fromisoformat(day)
            return
    except ValueError:
        pass
    raise AnnouncementError(f"{day!r} is not a day (YYYY-MM-DD)", FORMAT_HINT)


def _lines(text: str) -> tuple[type[Announcement] | type[Revocation], list[str]]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = lines[0] if lines else ""
    if header == OLD_MAGIC:
        raise AnnouncementError(
            "this is a format v1 announcement: it has no serial number and no expiry, so an "
            "old one cannot be told from a current one; it is no longer accepted",
            "ask the organisation for the current announcement (format v2) and its .sig file")
    kind = _KINDS.get(header)
    if kind is None:
        raise AnnouncementError("not a Skrynka onion announcement or revocation (wrong first "
                                "line)", FORMAT_HINT)
    own = 2 + len(kind.FIELDS)
    if len(lines) not in (own, own + len(kind.TRAILER)):
        raise AnnouncementError(f"a {header} has {own} lines unsigned, {own + len(kind.TRAILER)}"
                                f" signed; this has {len(lines)}", FORMAT_HINT)
    return kind, lines


def parse(text: str) -> Statement:
    """The announcement or revocation in ``text`` (serial 0 if unsigned). Strict: the text
    must be exactly what its fields render to."""
    kind, lines = _lines(text)
    values: dict[str, str] = {}
    for line, name in zip(lines[2:], kind.FIELDS + kind.TRAILER):
        if not line.startswith(name + ": "):
            raise AnnouncementError(f"line {line!r} should start with {name + ': '!r}",
                                    FORMAT_HINT)
        values[name] = line[len(name) + 2:]
    serial = values.get("serial", "0")
    if "serial" in values and not SERIAL_RE.match(serial):
        raise AnnouncementError(f"serial {serial!r} is not a number from 1 up", FORMAT_HINT)
    st: Statement
    if kind is Announcement:
        st = Announcement(values["old"], values["new"], values["valid-from"],
                          values["old-until"], int(serial), values.get("expires", ""))
        addresses, days = [st.old, st.new], [st.valid_from, st.old_until]
        days += [st.expires] if st.serial else []
    else:
        st = Revocation(values["address"], values["revoked-from"], int(serial))
        addresses, days = [st.address], [st.revoked_from]
    for addr in addresses:
        check_address(addr)
    for day in days:
        check_day(day)
    if lines[1] != st.summary():
        raise AnnouncementError("the summary line does not match the lines below it",
                                FORMAT_HINT)
    if st.body() != text:
        raise AnnouncementError("not in the exact format (stray spaces, CR, or a missing final "
                                "LF)", FORMAT_HINT)
    return st


def sign(text: str, sk: nacl.signing.SigningKey, serial: int,
         expires: str) -> tuple[str, str]:
    """(the signed text, its armoured SSH signature): ``text`` (signed or not) with
    ``serial`` and, for an announcement, ``expires`` in its body."""
    st = parse(text)
    signed: Statement = (replace(st, serial=serial, expires=expires)
                         if isinstance(st, Announcement) else replace(st, serial=serial))
    if not SERIAL_RE.match(str(serial)):
        raise AnnouncementError(f"serial {serial} is not a number from 1 up")
    check_day(expires)
    body = signed.body()
    return body, sshsig.sign(body.encode("ascii"), sk)


def verify(text: str, signature: str, vk: nacl.signing.VerifyKey, today: str) -> Statement:
    """The statement if ``signature`` is ``vk``'s over ``text`` and it has not expired
    (AnnouncementError, AnnouncementRefused). The serial is checked by onion/seen.py."""
    st = parse(text)
    if not st.serial:
        raise AnnouncementError("the announcement is not signed (it has no serial number)",
                                "sign it with `python -m onion sign --key signing.key FILE`")
    sshsig.verify(st.body().encode("ascii"), signature, vk)
    if isinstance(st, Announcement) and st.expires < today:
        raise AnnouncementRefused(
            f"EXPIRED: this announcement ({st.summary()}, serial {st.serial}) expired on "
            f"{st.expires}; today is {today}",
            f"do not trust {st.new} on its word: look for the organisation's current "
            "announcement")
    return st


def verify_key_line(public: bytes) -> str:
    return VERIFY_KEY_PREFIX + base64.b64encode(public).decode("ascii")


def _verify_key_bytes(text: str) -> bytes:
    ssh = sshsig.parse_ssh_public(text)
    if ssh is not None:
        return ssh
    text = text.strip()
    if text.startswith(VERIFY_KEY_PREFIX.strip()):
        text = text[len(VERIFY_KEY_PREFIX.strip()):].strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise OnionKeyError("not a Skrynka verify key",
                            f"it looks like '{VERIFY_KEY_PREFIX}<base64>', or an "
                            "allowed_signers / 'ssh-ed25519 AAAA…' line")
    return raw


def load_verify_key(arg: str) -> nacl.signing.VerifyKey:
    """``arg`` is the verify key text itself or a file holding it: a
    ``skrynka-verify-key-v1`` line, an ``ssh-ed25519 AAAA…`` line or an allowed_signers
    line (as ``signing-keygen`` writes them)."""
    text = arg
    looks_like_key = arg.strip().startswith((VERIFY_KEY_PREFIX.strip(), "ssh-ed25519 "))
    if not looks_like_key and Path(arg).is_file():
        try:
            text = Path(arg).read_text("ascii")
        except OSError as exc:
            raise OnionKeyError(f"cannot read verify key {arg}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise OnionKeyError(f"{arg} is not a Skrynka verify key") from exc
    return nacl.signing.VerifyKey(_verify_key_bytes(text))
