"""``python -m onion serve | status | rotate | signing-keygen | sign | announce | revoke |
verify``.

Errors go through ``keys.dispatch.run_cli``, the one dispatcher of every Skrynka
command: ``onion: error: …`` and ``hint: …`` on stderr, exit 0 only on full success,
otherwise the error's exit code (``--help`` lists them); an unexpected error is one
"internal error … this is a bug" line, never a traceback. Each command imports what it
needs when it runs, so ``verify`` and ``revoke`` need only PyNaCl, ``signing-keygen`` and
``sign`` PyNaCl and argon2-cffi (not stem, Flask or gunicorn), and a missing package is
reported as such.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contract import DATA_ORDER, DEFAULT_MAX_STREAMS, DataDir, today, today_date
from keys.dispatch import exit_codes, prog_name, run_cli
from onion import cli_backend, errors
from onion.checks import require_data_dir
from onion.errors import AnnouncementError, NotRunning, UsageError

DEFAULT_EXPIRES_DAYS = 90

PROG = "onion"
INSTALL_HINT = ("run `make setup` (it installs requirements.txt, hash-checked, into .venv); "
                "signing-keygen, sign and verify need only PyNaCl and argon2-cffi "
                "(`pip install -r requirements-analyst.txt`)")
EPILOG = exit_codes(errors.ALL)


def say(line: str) -> None:
    print(f"{PROG}: {line}", flush=True)


def say_at(line: str) -> None:
    """serve's lines: the local time of day first (on the terminal or in the service's
    log, never in a file of ours; nothing in them is about a report)."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {PROG}: {line}", flush=True)


def data_dir(args: argparse.Namespace) -> Path:
    """--data, else $SKRYNKA_DATA, else the checkout's data/ (contract.DataDir), absolute."""
    return DataDir.from_env(given=args.data).root


def read_client_auth(path: str) -> tuple[str, ...]:
    """One base32 x25519 public key per line ('descriptor:x25519:KEY' also accepted)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read --client-auth {path}: {exc.strerror}") from exc
    keys = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key = line.rsplit(":", 1)[-1].upper()
        if len(key) != 52 or not set(key) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"):
            raise UsageError(f"{path}: {line!r} is not a base32 x25519 public key (52 chars)")
        keys.append(key)
    if not keys:
        raise UsageError(f"{path} holds no client keys")
    return tuple(keys)


def _tor_config(paths: list[str]) -> str:
    extra = ""
    for path in paths:
        try:
            extra += Path(path).read_text() + "\n"
        except OSError as exc:
            raise UsageError(f"cannot read --tor-config {path}: {exc.strerror}") from exc
    return extra


def cmd_serve(args: argparse.Namespace) -> int:
    from onion import state
    from onion.serve import ServeConfig, serve  # the one command that needs stem

    if args.control_port is not None and not 0 < args.control_port < 65536:
        raise UsageError(f"--control-port {args.control_port} is not a TCP port")
    if args.tor_config and (args.control_port is not None or args.control_socket):
        raise UsageError("--tor-config is for the tor serve launches; with --control-port or "
                         "--control-socket serve attaches to your tor and cannot configure it",
                         "put those lines into that tor's own torrc (see torrc.example) and "
                         "reload it, then run serve without --tor-config")
    frontends = cli_backend.frontends(args)
    days = args.grace_days if args.grace_days is not None else state.DEFAULT_GRACE_DAYS
    grace = args.grace_seconds if args.grace_seconds is not None else days * state.DAY
    cfg = ServeConfig(
        data=data_dir(args), bind=args.bind, control_port=args.control_port,
        control_socket=args.control_socket, tor_config=_tor_config(args.tor_config or []),
        grace_seconds=grace, pow_enabled=not args.no_pow, pow_queue_rate=args.pow_queue_rate,
        pow_queue_burst=args.pow_queue_burst, max_streams=args.max_streams,
        client_auth=read_client_auth(args.client_auth) if args.client_auth else (),
        bootstrap_warn=args.bootstrap_warn, local_look=args.local_look, wsgi=args.wsgi,
        init=args.init, frontends=frontends,
        instance_address=cli_backend.instance_address(args))
    if cfg.control_port is not None and cfg.control_socket is not None:
        raise UsageError("give --control-port or --control-socket, not both")
    serve(cfg, say_at)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """What the running serve last wrote; exit 0 if it runs, else NotRunning's code."""
    from onion import running, state, statustext

    data = data_dir(args)
    require_data_dir(data, os.environ)
    pid = running.running_pid(data)
    st = state.read_status(data)
    if pid is None and st is None and not state.load_services(data):
        raise NotRunning(f"no status in {state.onion_dir(data)}: serve has never run here",
                         "start it with `make run` or `python -m onion serve`")
    for line in (statustext.stopped(data) if pid is None else statustext.running(pid, st)):
        print(line)
    return 0 if pid is not None else int(NotRunning.exit_code)


def cmd_rotate(args: argparse.Namespace) -> int:
    from onion import rotation, running, state

    grace = args.grace_seconds if args.grace_seconds is not None else (
        args.grace_days * state.DAY if args.grace_days is not None else None)
    data = data_dir(args)
    require_data_dir(data, os.environ)
    cli_backend.refuse_rotate(data)
    sk = _signing_key(args) if args.signing_key else None   # asks before rotating
    path, new = rotation.rotate(data, grace)
    say(f"new onion address: {new}")
    say(f"announcement: {path}")
    pid = running.running_pid(data)
    if pid is None:
        say("serve is not running: the new address is published at its next start, with "
            "the old one for its grace period")
    else:
        say(f"the running serve (pid {pid}) picks this up within seconds and serves both "
            "addresses")
    if sk is not None:
        _sign_file(args, sk, path, path)
    else:
        say(f"next: sign it offline: python -m onion sign --key signing.key {path}")
    return 0


def _kdf(args: argparse.Namespace) -> Any:
    from keys import keyfile

    if args.kdf_memory_mib is None and args.kdf_passes is None:
        return None
    low, high = keyfile.MIN_MEMORY_KIB // 1024, keyfile.MAX_MEMORY_KIB // 1024
    memory = args.kdf_memory_mib if args.kdf_memory_mib is not None else 256
    passes = args.kdf_passes if args.kdf_passes is not None else 3
    if not low <= memory <= high or not 1 <= passes <= keyfile.MAX_TIME:
        raise UsageError(f"--kdf-memory-mib must be from {low} to {high} and --kdf-passes "
                         f"from 1 to {keyfile.MAX_TIME}", "leave them out for the defaults")
    return keyfile.KdfParams(memory * 1024, passes, 1)


def cmd_keygen(args: argparse.Namespace) -> int:
    from keys.passphrase import read_passphrase
    from onion import signkey

    seed = signkey.read_v1_seed(Path(args.from_v1)) if args.from_v1 else None
    params = _kdf(args)
    passphrase = read_passphrase(args.passphrase_file, "New passphrase for the signing key: ",
                                 confirm=True, strong=True)
    vk = signkey.signing_keygen(Path(args.out), passphrase, params, seed)
    say(f"signing key: {args.out} (keep it offline); verify key: {args.out}.pub; for "
        f"ssh-keygen -Y verify: {args.out}.allowed_signers")
    if seed is not None:
        say(f"the same key as {args.from_v1}, now sealed under the passphrase: destroy "
            f"{args.from_v1}")
    print(vk)
    return 0


def _read(path: str) -> str:
    try:
        return Path(path).read_text("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc


def _signing_key(args: argparse.Namespace) -> Any:
    from keys.passphrase import read_passphrase
    from onion import signkey

    key = Path(args.signing_key)
    signkey.next_serial(key, args.serial)      # refuse a bad --serial before asking
    passphrase = read_passphrase(args.passphrase_file, f"Passphrase for {key}: ")
    return signkey.load_signing_key(key, passphrase)


def _sign_file(args: argparse.Namespace, sk: Any, src: Path, out: Path) -> None:
    from onion import announce, signkey, state

    if args.expires_days < 1:
        raise UsageError("--expires-days must be 1 or more")
    key = Path(args.signing_key)
    serial = signkey.next_serial(key, args.serial)
    expires = (today_date() + datetime.timedelta(days=args.expires_days)).isoformat()
    signed, signature = announce.sign(_read(str(src)), sk, serial, expires)
    sig = Path(str(out) + announce.SIGNATURE_SUFFIX)
    try:
        state.write_atomic(out, signed)
        state.write_atomic(sig, signature)
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename or out}: {exc.strerror}") from exc
    signkey.record_serial(key, serial)
    say(f"signed: {out} (serial {serial}, expires {expires}); signature: {sig}")
    say("publish both files")


def cmd_sign(args: argparse.Namespace) -> int:
    from onion import announce

    announce.parse(_read(args.announcement))            # before asking the passphrase
    sk = _signing_key(args)
    _sign_file(args, sk, Path(args.announcement), Path(args.out or args.announcement))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from onion import announce, state

    day = args.as_of or today()
    announce.check_address(args.address)
    announce.check_day(day)
    text = announce.Revocation(args.address, day).body()
    out = Path(args.out or f"revocation-{args.address[:8]}.txt")
    try:
        state.write_atomic(out, text)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}") from exc
    say(f"revocation: {out}")
    say(f"next: sign it offline: python -m onion sign --key signing.key {out}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from onion import announce, seen

    vk = announce.load_verify_key(args.verify_key)
    text = _read(args.announcement)
    sig_path = args.signature or args.announcement + announce.SIGNATURE_SUFFIX
    if not Path(sig_path).is_file():
        raise AnnouncementError(f"no signature file {sig_path}",
                                "the signature is published beside the announcement as "
                                "FILE.sig; give it with --signature if it is elsewhere")
    st = announce.verify(text, _read(sig_path), vk, today())
    note = seen.check(Path(args.state) if args.state else seen.default_path(), vk, st)
    if isinstance(st, announce.Announcement):
        print(f"GOOD SIGNATURE: {st.old} -> {st.new}, valid from {st.valid_from}; "
              f"the old address is retired after {st.old_until} (serial {st.serial}, "
              f"expires {st.expires})")
    else:
        print(f"GOOD SIGNATURE: REVOKED: {st.address} is revoked as of {st.revoked_from}: "
              f"do not use it (serial {st.serial})")
    if note:
        print(note)
    return 0


def _add(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, description=help_text, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser


def _serve_parser(sub: Any) -> None:
    p = _add(sub, "serve", "run tor + gunicorn and publish the onion service")
    p.add_argument("--bind", default="127.0.0.1:8086",
                   help="loopback HOST:PORT for gunicorn (default 127.0.0.1:8086)")
    p.add_argument("--control-port", type=int, help="attach to an operator's tor on this port")
    p.add_argument("--control-socket", help="attach to an operator's tor via this socket")
    p.add_argument("--tor-config", action="append", metavar="FILE",
                   help="extra torrc lines for the tor serve launches (repeatable; not with "
                   "--control-port/--control-socket: put them into that tor's torrc)")
    p.add_argument("--grace-days", type=float,
                   help="how long an old address is served after a rotation (default 14)")
    p.add_argument("--grace-seconds", type=float, metavar="SECONDS",
                   help="the same in seconds (overrides --grace-days; for tests)")
    p.add_argument("--no-pow", action="store_true", help="turn the PoW defense off (not advised)")
    p.add_argument("--pow-queue-rate", type=int, default=250)
    p.add_argument("--pow-queue-burst", type=int, default=2500)
    p.add_argument("--max-streams", type=int, default=DEFAULT_MAX_STREAMS,
                   help="concurrent streams per rendezvous circuit before it is closed "
                   f"(default {DEFAULT_MAX_STREAMS})")
    p.add_argument("--client-auth", metavar="FILE",
                   help="staff-only onion: file of x25519 client public keys (ClientAuthV3)")
    p.add_argument("--bootstrap-warn", type=float, default=60.0, metavar="SECONDS",
                   help="say so when tor has not bootstrapped after this long (default 60)")
    p.add_argument("--local-look", action=argparse.BooleanOptionalAction, default=False,
                   help="also let the app answer Host: 127.0.0.1/localhost, to look at the "
                   "form on this machine (default: off, only the onion names are answered)")
    p.add_argument("--wsgi", default="app.wsgi:app", help=argparse.SUPPRESS)
    p.add_argument("--init", action="store_true",
                   help="first run `python -m app init` (make the data directory and database "
                        "or migrate them), once no other serve runs with them (`make run`)")
    cli_backend.add_serve_options(p)
    p.set_defaults(func=cmd_serve)


def _signing_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--passphrase-file", help="read the signing key's passphrase from FILE "
                   "(default: ask on the terminal)")
    p.add_argument("--serial", type=int, help="serial number to sign with (default: one above "
                   "the last signed with this key, kept in KEY.serial)")
    p.add_argument("--expires-days", type=int, default=DEFAULT_EXPIRES_DAYS,
                   help=f"an announcement expires this many days after today (default "
                   f"{DEFAULT_EXPIRES_DAYS}); revocations never expire")


def _announcement_parsers(sub: Any) -> None:
    p = _add(sub, "signing-keygen", "make the organisation's Ed25519 signing key, sealed under "
             "a passphrase (16+ characters, 10+ different, not mostly runs)")
    p.add_argument("--out", default="signing.key", help="key file (default signing.key); "
                   "the verify key goes to FILE.pub and FILE.allowed_signers")
    p.add_argument("--passphrase-file", help="read the new passphrase from FILE")
    p.add_argument("--kdf-memory-mib", type=int, help="Argon2id memory (default 256)")
    p.add_argument("--kdf-passes", type=int, help="Argon2id passes (default: ~1 s)")
    p.add_argument("--from-v1", metavar="OLD", help="seal the key of an old unprotected (v1) "
                   "signing key file instead of making a new key (same verify key)")
    p.set_defaults(func=cmd_keygen)
    p = _add(sub, "sign", "sign an announcement or revocation (on the offline machine): adds "
             "its serial and expiry, writes FILE.sig")
    p.add_argument("--key", dest="signing_key", required=True, help="the signing key file")
    _signing_options(p)
    p.add_argument("--out", help="write here (default: sign the file in place)")
    p.add_argument("announcement")
    p.set_defaults(func=cmd_sign)
    p = _add(sub, "revoke", "write an (unsigned) revocation of an onion address")
    p.add_argument("address", help="the onion address to revoke (xxx.onion)")
    p.add_argument("--as-of", help="day from which it must not be used (default today, UTC)")
    p.add_argument("--out", help="file to write (default revocation-<address prefix>.txt)")
    p.set_defaults(func=cmd_revoke)
    cli_backend.announce_parser(sub, _add)
    cli_backend.config_parser(sub, _add)
    p = _add(sub, "verify", "check an announcement or revocation: signature, expiry, and "
             "serial against those seen before")
    p.add_argument("--verify-key", required=True, help="the verify key text or a file with it "
                   "(FILE.pub or FILE.allowed_signers)")
    p.add_argument("--signature", help="the signature file (default ANNOUNCEMENT.sig)")
    p.add_argument("--state", help="where the serials seen are remembered (default "
                   "$XDG_STATE_HOME/skrynka/announcements.json, else "
                   "~/.local/state/skrynka/announcements.json)")
    p.add_argument("announcement")
    p.set_defaults(func=cmd_verify)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=prog_name("skrynka-onion", "python -m onion"), epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter, description=(
            "Skrynka's onion service: serve it, check it, rotate its address, sign and "
            "verify address announcements."))
    top.add_argument("--data", help=f"data directory ({DATA_ORDER})")
    sub = top.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    p = _add(sub, "status", "whether serve runs; if so what it reports (bootstrap, addresses, "
             "descriptors published), else the addresses it would publish")
    p.set_defaults(func=cmd_status)
    p = _add(sub, "rotate", "new onion address; the old one stays for a grace period")
    p.add_argument("--grace-days", type=float,
                   help="grace period (default: serve's --grace-days, as the running or last "
                   "serve wrote it, else 14 days)")
    p.add_argument("--grace-seconds", type=float, metavar="SECONDS",
                   help="the same in seconds (overrides --grace-days; for tests)")
    p.add_argument("--signing-key", help="sign the announcement right away with this key")
    _signing_options(p)
    p.set_defaults(func=cmd_rotate)
    _announcement_parsers(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code is returned, never raised (but argparse's 2)."""
    args = parser().parse_args(argv)
    return run_cli(PROG, lambda: int(args.func(args)), install_hint=INSTALL_HINT)
