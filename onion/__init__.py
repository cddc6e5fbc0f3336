"""Skrynka's Tor boundary: the only package that talks to tor, and only onion.tor imports stem.

    onion.cli       ``python -m onion``: serve, status, rotate, signing-keygen, sign, revoke,
                    verify
    onion.serve     tor + gunicorn, supervised (``python -m onion serve``)
    onion.tor       launch/attach, ADD_ONION with proof-of-work and stream limits (stem)
    onion.web       gunicorn on a loopback port, restartable
    onion.onionkey  v3 onion keys (tor's file format) and addresses
    onion.state     services.json, the hostnames file for the app, status.json
    onion.running   one serve per data directory (serve.pid, locked while serve runs)
    onion.checks    the data directory is one; are the analysts' keys usable
    onion.statustext  ``python -m onion status``'s lines
    onion.rotation  rotation: a new address, the old one kept for a grace period
    onion.announce  address announcements and revocations, signed (ANNOUNCEMENT.md)
    onion.sshsig    their signatures in OpenSSH's format (``ssh-keygen -Y verify``)
    onion.signkey   the organisation's signing key file, sealed under a passphrase
    onion.seen      what ``verify`` remembers: serials seen, revoked addresses
    onion.errors    the errors and their exit codes (20-29)
"""

from onion.errors import OnionError

__all__ = ["OnionError"]
