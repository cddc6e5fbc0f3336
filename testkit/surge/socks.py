"""SOCKS5 (RFC 1928, username/password RFC 1929) to tor, and HTTP over it.

tor's ``IsolateSOCKSAuth`` (on by default) puts streams with different credentials on
different circuits, so one credential per simulated voter is one voter's Tor Browser
tab: its own rendezvous circuit, its own introduction.
"""

from __future__ import annotations

import http.client
import socket
import struct

#: tor's SOCKS5 reply codes (with ExtendedErrors, 0xF0-0xF7 are onion-specific).
REPLIES = {1: "general failure", 2: "not allowed", 3: "network unreachable",
           4: "host unreachable", 5: "refused", 6: "ttl expired", 7: "command unsupported",
           8: "address unsupported", 0xF0: "onion descriptor not found",
           0xF1: "onion descriptor invalid", 0xF2: "onion intro failed",
           0xF3: "onion rendezvous failed", 0xF4: "onion client auth missing",
           0xF5: "onion client auth wrong", 0xF6: "onion address invalid",
           0xF7: "onion intro timed out"}


class SocksError(OSError):
    """tor refused or failed the stream; ``reply`` is the SOCKS5 reply code (0: none)."""

    def __init__(self, reply: int, what: str) -> None:
        super().__init__(what)
        self.reply = reply


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SocksError(0, "tor closed the SOCKS connection")
        data += chunk
    return data


def open_stream(socks_port: int, host: str, port: int, user: str, password: str,
                timeout: float) -> socket.socket:
    """A connected stream to ``host:port`` through tor (the name resolved by tor)."""
    sock = socket.create_connection(("127.0.0.1", socks_port), timeout=timeout)
    try:
        sock.sendall(b"\x05\x01\x02")
        if _recv_exact(sock, 2) != b"\x05\x02":
            raise SocksError(0, "tor did not accept username/password authentication")
        u, p = user.encode(), password.encode()
        sock.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
        if _recv_exact(sock, 2)[1] != 0:
            raise SocksError(0, "tor refused the SOCKS credentials")
        name = host.encode()
        sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", port))
        head = _recv_exact(sock, 4)
        if head[1] != 0:
            raise SocksError(head[1], REPLIES.get(head[1], f"SOCKS reply {head[1]}"))
        rest = {1: 4, 4: 16}.get(head[3])
        if rest is None:
            rest = _recv_exact(sock, 1)[0]
        _recv_exact(sock, rest + 2)
        return sock
    except BaseException:
        sock.close()
        raise


class SocksHTTPConnection(http.client.HTTPConnection):
    """``http.client`` through tor's SOCKS port with the given credentials."""

    def __init__(self, socks_port: int, host: str, user: str, password: str,
                 timeout: float = 60.0) -> None:
        super().__init__(host, 80, timeout=timeout)
        self.socks_port = socks_port
        self.user = user
        self.password = password

    def connect(self) -> None:
        self.sock = open_stream(self.socks_port, self.host, self.port, self.user,
                                self.password, float(self.timeout or 60))
