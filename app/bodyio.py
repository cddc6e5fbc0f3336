"""A request body of known length read straight from gunicorn's socket.

gunicorn's ``wsgi.input`` (``Body`` over ``LengthReader`` over ``SocketUnreader``)
copies every byte several times: ``recv`` into a new 1 MiB object, into the
unreader's ``BytesIO``, out of it with ``getvalue``, the surplus back into a new
``BytesIO``, then the same again in ``Body``. For a 512 MiB upload that copying,
and the page faults of all those fresh buffers, took most of the worker's time
(py-spy: 64% of the time holding the GIL was in ``Unreader.read``).

:func:`direct` wraps such a body so that ``readinto`` first hands out what the
unreader already holds (the bytes that came with the headers), then ``recv_into``
the caller's own buffer. It keeps gunicorn's bookkeeping exact, so the
connection's next request starts where gunicorn expects: ``LengthReader.length``
goes down by every byte handed out, surplus beyond the body goes back to the
unreader, and a failed read marks the body failed (the connection is then closed,
as gunicorn does). Any other body (chunked, a test client's stream) is used as it
is. This reaches into gunicorn internals; requirements.txt pins gunicorn, and
tests/app/test_bodyio.py fails if a new version no longer takes this path.
"""

from __future__ import annotations

from typing import Any

from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader


class DirectBody:
    """``read``/``readinto`` of a gunicorn body of known length, without the copies.

    Reads may be short (whatever one ``recv`` brings), as for any raw stream; 0
    means the client closed the connection early (or the body is complete).
    """

    def __init__(self, body: Any) -> None:
        self.body = body
        self.reader = body.reader
        self.unreader = body.reader.unreader

    def readinto(self, buf: Any) -> int:
        if self.body.buf.tell():  # something was read with readline: gunicorn's way
            data: bytes = self.body.read(len(buf))
            buf[: len(data)] = data
            return len(data)
        want = min(len(buf), self.reader.length)
        if want <= 0:
            return 0
        held = self.unreader.take_buffered()
        try:
            if held:
                n = min(len(held), want)
                with memoryview(buf) as view:
                    view[:n] = held[:n]
                if n < len(held):
                    self.unreader.unread(held[n:])
            else:
                n = self.unreader.sock.recv_into(buf, want)
        except Exception:
            self.body.failed = True
            raise
        self.reader.length -= n
        return int(n)

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left if negative), short only at the end."""
        left = self.reader.length + self.body.buf.tell()
        size = left if size is None or size < 0 else min(size, left)
        out = bytearray(size)
        got = 0
        with memoryview(out) as view:
            while got < size:
                n = self.readinto(view[got:])
                if not n:
                    break
                got += n
        del out[got:]
        return bytes(out)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.body, name)


def direct(stream: Any) -> Any:
    """``stream`` wrapped in :class:`DirectBody` if it is gunicorn's body of known
    length on a socket; otherwise ``stream`` itself."""
    if (
        type(stream) is Body
        and type(stream.reader) is LengthReader
        and isinstance(stream.reader.unreader, SocketUnreader)
    ):
        return DirectBody(stream)
    return stream


def read_upto(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes of ``stream``, however short its single reads are
    (a raw stream's ``read``, :class:`DirectBody`'s included, may return less)."""
    parts, got = [], 0
    while got < size:
        data = stream.read(size - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)
