"""Analyst private key files: an X25519 key sealed under a passphrase.

Format and rules: ``keys/SPEC.md`` (section "Private key file"). The key is
derived with Argon2id from the passphrase and a random salt, and the 32-byte
private key is encrypted with libsodium's secretbox (XSalsa20-Poly1305). The
public key is repeated in a comment so it can be shown without the passphrase,
and is checked against the decrypted key on every load.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey
from nacl.secret import SecretBox
from nacl.utils import random

from keys.errors import KeyFileError, OutputError, WrongPassphrase
from keys.passphrase import check_strength
from keys.pubkey import decode_public, encode_public

TAG = "SKRYNKA-KEY-1"
KDF = "argon2id"
SALT_LEN = 16
NONCE_LEN = SecretBox.NONCE_SIZE  # 24
BOX_LEN = NONCE_LEN + 32 + SecretBox.MACBYTES  # 72
MIN_MEMORY_KIB = 64 * 1024
MAX_MEMORY_KIB = 4 * 1024 * 1024
MAX_TIME = 64
MAX_PARALLELISM = 1  # libsodium's crypto_pwhash computes p = 1 only (SPEC 4)
MAX_FILE = 64 * 1024
PUBLIC_PREFIX = "# public key: "
_FIRST_LINE = "# Skrynka analyst private key. Keep it offline; never copy it to the server."
_NUM = re.compile(r"[1-9][0-9]{0,9}")
_HINT = "use the key file made by `python -m keys keygen`, or a backup copy of it"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: memory in KiB, passes, lanes."""

    memory_kib: int = 262144
    time_cost: int = 3
    parallelism: int = 1

    def check(self) -> None:
        """KeyFileError unless every cost is within the accepted range."""
        if not MIN_MEMORY_KIB <= self.memory_kib <= MAX_MEMORY_KIB:
            raise KeyFileError(
                f"key file asks for {self.memory_kib} KiB of memory (allowed "
                f"{MIN_MEMORY_KIB}..{MAX_MEMORY_KIB})", hint=_HINT)
        if not 1 <= self.time_cost <= MAX_TIME:
            raise KeyFileError(
                f"key file asks for {self.time_cost} passes (allowed 1..{MAX_TIME})", hint=_HINT)
        if self.parallelism != MAX_PARALLELISM:
            raise KeyFileError(
                f"key file asks for {self.parallelism} lanes (only p=1 is allowed)", hint=_HINT)


@dataclass(frozen=True)
class _Parsed:
    params: KdfParams
    salt: bytes
    box: bytes  # nonce | ciphertext
    public: bytes


def _derive(passphrase: bytes, salt: bytes, params: KdfParams) -> bytes:
    return hash_secret_raw(
        passphrase, salt, time_cost=params.time_cost, memory_cost=params.memory_kib,
        parallelism=params.parallelism, hash_len=32, type=Type.ID,
    )


def calibrate(target_seconds: float = 1.0, memory_kib: int = 262144) -> KdfParams:
    """Argon2id params taking about ``target_seconds`` on this machine.

    One pass is timed at ``memory_kib``; the pass count is scaled from it.
    """
    params = KdfParams(memory_kib, 1, 1)
    params.check()
    start = time.perf_counter()
    _derive(b"calibration", bytes(SALT_LEN), params)
    elapsed = max(time.perf_counter() - start, 1e-6)
    passes = max(1, min(MAX_TIME, round(target_seconds / elapsed)))
    return KdfParams(memory_kib, passes, 1)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, length: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise KeyFileError(f"key file {what} is not valid base64", hint=_HINT) from None
    if len(raw) != length or _b64(raw) != text:
        raise KeyFileError(f"key file {what} has a wrong length", hint=_HINT)
    return raw


def seal(secret: bytes, passphrase: bytes, params: KdfParams) -> str:
    """``argon2id m=… t=… p=… <salt> <box>``: a 32-byte ``secret`` sealed under
    ``passphrase`` (fresh salt and nonce); also the signing key file's (onion/signkey.py)."""
    params.check()
    salt = random(SALT_LEN)
    box = bytes(SecretBox(_derive(passphrase, salt, params)).encrypt(secret, random(NONCE_LEN)))
    return (f"{KDF} m={params.memory_kib} t={params.time_cost} p={params.parallelism} "
            f"{_b64(salt)} {_b64(box)}")


def unseal(fields: list[str], passphrase: bytes) -> bytes | None:
    """The secret of ``seal``'s fields (checked: KeyFileError), None for a wrong passphrase."""
    params, salt, box = _sealed(fields)
    try:
        return SecretBox(_derive(passphrase, salt, params)).decrypt(box)
    except CryptoError:
        return None


def _sealed(fields: list[str]) -> tuple[KdfParams, bytes, bytes]:
    if len(fields) != 6 or fields[0] != KDF:
        raise KeyFileError("key file line is malformed", hint=_HINT)
    params = KdfParams(_num(fields[1], "m"), _num(fields[2], "t"), _num(fields[3], "p"))
    params.check()
    return params, _unb64(fields[4], SALT_LEN, "salt"), _unb64(fields[5], BOX_LEN, "sealed key")


def render(private: PrivateKey, passphrase: bytes, params: KdfParams, day: str) -> str:
    """The text of a key file holding ``private`` (fresh salt and nonce)."""
    return (
        f"{_FIRST_LINE}\n# created: {day}\n"
        f"{PUBLIC_PREFIX}{encode_public(bytes(private.public_key))}\n"
        f"{TAG} {seal(bytes(private), passphrase, params)}\n"
    )


def _read_text(path: str | Path) -> str:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE + 1)
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE:
        raise KeyFileError(f"{path} is too large to be a key file", hint=_HINT)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileError(f"{path} is not UTF-8 text", hint=_HINT) from None


def _lines(text: str) -> tuple[list[str], list[str]]:
    """(comment lines, other non-empty lines)."""
    comments: list[str] = []
    other: list[str] = []
    for line in text.split("\n"):
        line = line[:-1] if line.endswith("\r") else line
        if not line.strip():
            continue
        (comments if line.startswith("#") else other).append(line)
    return comments, other


def _num(field: str, name: str) -> int:
    if not field.startswith(name + "=") or not _NUM.fullmatch(field[len(name) + 1 :]):
        raise KeyFileError(f"key file parameter {name!r} is malformed", hint=_HINT)
    return int(field[len(name) + 1 :])


def parse(text: str) -> _Parsed:
    """Check a key file's text (everything but the passphrase)."""
    comments, other = _lines(text)
    publics = [c[len(PUBLIC_PREFIX):] for c in comments if c.startswith(PUBLIC_PREFIX)]
    if len(other) != 1 or not other[0].startswith("SKRYNKA-KEY-"):
        raise KeyFileError("not a Skrynka private key file", hint=_HINT)
    fields = other[0].split(" ")
    if fields[0] != TAG:
        raise KeyFileError(f"key file version {fields[0]!r} is not supported", hint=_HINT)
    params, salt, box = _sealed(fields[1:])
    if len(publics) != 1:
        raise KeyFileError("key file must have exactly one '# public key:' line", hint=_HINT)
    return _Parsed(params, salt, box, decode_public(publics[0]))


def load_private(path: str | Path, passphrase: bytes) -> PrivateKey:
    """The private key in ``path``, opened with ``passphrase``."""
    parsed = parse(_read_text(path))
    key = _derive(passphrase, parsed.salt, parsed.params)
    try:
        raw = SecretBox(key).decrypt(parsed.box)
    except CryptoError:
        raise WrongPassphrase(
            f"wrong passphrase for {path}",
            hint="type it again; if it is surely right, the key file is damaged: use a backup",
        ) from None
    private = PrivateKey(raw)
    if bytes(private.public_key) != parsed.public:
        raise KeyFileError(f"{path}: the public key comment does not match the key", hint=_HINT)
    return private


def public_from_file(path: str | Path) -> bytes:
    """The raw public key of a private key file (no passphrase) or of a ``.pub`` file."""
    text = _read_text(path)
    comments, other = _lines(text)
    if any(line.startswith("SKRYNKA-KEY-") for line in other):
        return parse(text).public
    if len(other) != 1:
        raise KeyFileError(f"{path} holds no single public key",
                           hint="give the .pub file or the private key file")
    return decode_public(other[0])


def _create(path: Path, data: str, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise OutputError(
            f"{path} already exists; it is never overwritten",
            hint="choose another file name, or move the old key away first",
        ) from None
    except OSError as exc:
        raise OutputError(f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, mode)  # exactly this mode, whatever the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def generate(path: str | Path, passphrase: bytes, *, params: KdfParams | None = None) -> bytes:
    """Make a new key: ``path`` (mode 0600) and ``path.pub``; never overwrites. The
    passphrase must meet keys/passphrase.py's rule (WeakPassphrase)."""
    check_strength(passphrase)
    path = Path(path)
    pub_path = Path(str(path) + ".pub")
    for existing in (path, pub_path):
        if existing.exists() or existing.is_symlink():
            raise OutputError(f"{existing} already exists; it is never overwritten",
                              hint="choose another file name, or move the old key away first")
    params = params if params is not None else calibrate()
    private = PrivateKey.generate()
    day = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    text = render(private, passphrase, params, day)
    public = bytes(private.public_key)
    _create(path, text, 0o600)
    try:
        _create(pub_path, f"# Skrynka analyst public key (created {day}); put this line in "
                f"the server's analyst keys file.\n{encode_public(public)}\n", 0o644)
    except OutputError:
        os.unlink(path)
        raise
    _fsync_dir(path)
    return public


def change_passphrase(path: str | Path, old: bytes, new: bytes) -> None:
    """Re-seal the key in ``path`` under ``new`` (fresh salt and nonce), atomically."""
    check_strength(new)
    path = Path(path)
    text = _read_text(path)
    private = load_private(path, old)
    params = parse(text).params
    day = next((c[len("# created: "):] for c in _lines(text)[0] if c.startswith("# created: ")),
               datetime.datetime.now(datetime.timezone.utc).date().isoformat())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _create(tmp, render(private, new, params, day), 0o600)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise OutputError(f"cannot replace {path}: {exc.strerror or exc}") from None
    _fsync_dir(path)
