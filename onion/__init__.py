"""Skrynka's Tor boundary: the only package that talks to tor (stem).

    onion.serve     tor + gunicorn, supervised (``python -m onion serve``)
    onion.tor       launch/attach, ADD_ONION with proof-of-work and stream limits
    onion.onionkey  v3 onion keys (tor's file format) and addresses
    onion.state     services.json, the hostnames file for the app, status.json
    onion.rotation  rotation and signed address announcements (ANNOUNCEMENT.md)
"""

from onion.errors import OnionError

__all__ = ["OnionError"]
