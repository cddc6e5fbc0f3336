"""The Host check: the app answers only to its own onion names (and loopback, if allowed).

A phishing copy that proxies the real drop under a look-alike address sends
its own Host header and gets a 421 page instead of the form.
"""

from __future__ import annotations

from collections.abc import Iterable

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


def parse_hostnames(text: str) -> frozenset[str]:
    """The ``.onion`` names of a hostnames file (written by onion serve; ``#`` comments)."""
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip().lower()
        if line.endswith(".onion"):
            names.add(line)
    return frozenset(names)


def split_host(host: str) -> tuple[str, str]:
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1], host[end + 2 :] if end >= 0 else ""
    name, _, port = host.partition(":")
    return name, port


def host_allowed(host: str, onions: Iterable[str], allow_local: bool) -> bool:
    """Host is one of our onion names (port 80), or loopback when allowed."""
    name, port = split_host(host)
    if name.endswith(".onion"):
        return port in ("", "80") and name in onions
    return allow_local and name in LOCAL_HOSTS and (port == "" or port.isdigit())
