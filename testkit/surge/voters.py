"""Voters on election day: a steady arrival rate, then a 10x spike at closing time.

Each voter is a thread with SOCKS credentials of its own (its own circuit): GET the
form, POST a report (a fraction with a photo of ``photo_size`` bytes), follow the 303
to the receipt page, all on one keep-alive stream as a browser does. A voter whose
attempt fails tries once more on a new circuit (new credentials), as a person would
after "New Tor circuit for this site". Time to receipt runs from the voter's arrival to
the receipt page, retry included.

    voters = Election(address, [port1, port2], Profile(rate=1, steady_s=60, spike_s=20))
    results = voters.run()
"""

from __future__ import annotations

import os
import random
import struct
import threading
import time
from dataclasses import dataclass, field

from testkit.live_client import FilePart, FormParser, Multipart, report_fields, token
from testkit.surge.socks import SocksError, SocksHTTPConnection


@dataclass(frozen=True)
class Profile:
    """Arrivals per second in the steady phase, then ``spike`` times that (Poisson, seeded)."""

    rate: float
    steady_s: float
    spike_s: float
    spike: float = 10.0
    photo_fraction: float = 0.3
    photo_size: int = 150_000
    seed: int = 18
    op_timeout: float = 45.0  # per socket operation (connect includes intro + rendezvous)

    def arrivals(self) -> list[tuple[float, bool]]:
        """(seconds after the start, with a photo) for every voter, in order."""
        rnd = random.Random(self.seed)
        out: list[tuple[float, bool]] = []
        t = 0.0
        for start, length, rate in ((0.0, self.steady_s, self.rate),
                                    (self.steady_s, self.spike_s, self.rate * self.spike)):
            t = max(t, start)
            while True:
                t += rnd.expovariate(rate)
                if t >= start + length:
                    t = start + length
                    break
                out.append((t, rnd.random() < self.photo_fraction))
        return out


def photo(size: int, tag: bytes) -> bytes:
    """A JPEG-shaped photo of about ``size`` bytes: SOI, COM segments of random bytes
    (incompressible, like a real photo's data), then a valid 8x8 baseline image."""
    from testkit.formfill import tiny_jpeg

    body = b""
    left = max(0, size - 400)
    while left > 0:
        n = min(60_000, left)
        body += struct.pack(">BBH", 0xFF, 0xFE, n + 2) + os.urandom(n)
        left -= n
    return b"\xff\xd8" + body + tiny_jpeg(tag)[2:]


@dataclass
class Voter:
    index: int
    arrival: float          # scheduled, seconds after the start
    with_photo: bool
    token: str
    attempts: int = 0
    first_ok: bool = False
    ok: bool = False
    acknowledged: bool = False  # some attempt got the 303 to a receipt
    seconds: float = 0.0    # arrival -> receipt page (or -> giving up)
    whys: list[str] = field(default_factory=list)
    location: str = ""      # the receipt page the 303 named


class Election:
    """Runs every voter of ``profile`` against ``address`` through ``socks_ports``
    (voter i uses port i mod n: one client tor per group of voters)."""

    def __init__(self, address: str, socks_ports: list[int], profile: Profile,
                 run_id: str = "") -> None:
        self.address = address
        self.ports = socks_ports
        self.profile = profile
        self.run_id = run_id or os.urandom(3).hex()
        self.voters = [Voter(i, t, p, token(f"surge{self.run_id}v{i}"))
                       for i, (t, p) in enumerate(profile.arrivals())]

    def run(self, *, grace: float = 300.0) -> list[Voter]:
        """Start each voter at its arrival; wait for all, at most ``grace`` s after the
        last arrival (a voter still out then counts as failed)."""
        threads: list[threading.Thread] = []
        t0 = time.monotonic()
        for v in self.voters:
            delay = t0 + v.arrival - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            th = threading.Thread(target=self._vote, args=(v, t0), daemon=True)
            th.start()
            threads.append(th)
        end = time.monotonic() + grace
        for th in threads:
            th.join(max(0.0, end - time.monotonic()))
        for v in self.voters:
            if not v.ok and not v.whys:
                v.whys.append("still waiting at the end")
        return self.voters

    def _vote(self, v: Voter, t0: float) -> None:
        for attempt in range(2):
            v.attempts = attempt + 1
            why = self._attempt(v, attempt)
            if why is None:
                v.ok = True
                v.first_ok = attempt == 0
                break
            v.whys.append(why)
        v.seconds = time.monotonic() - (t0 + v.arrival)

    def _attempt(self, v: Voter, attempt: int) -> str | None:
        port = self.ports[v.index % len(self.ports)]
        user = f"{self.run_id}-{v.index}-{attempt}"
        conn = SocksHTTPConnection(port, self.address, user, os.urandom(4).hex(),
                                   timeout=self.profile.op_timeout)
        try:
            if not v.location:
                why = self._file(conn, v)
                if why is not None:
                    return why
            conn.request("GET", v.location)
            resp = conn.getresponse()
            text = resp.read()
            if resp.status != 200 or b"receipt" not in text:
                return f"receipt page: HTTP {resp.status}"
            return None
        except SocksError as exc:
            return f"socks: {exc}"
        except TimeoutError:
            return "timeout"
        except Exception as exc:  # OSError, http.client's RemoteDisconnected, …
            return f"{type(exc).__name__}"
        finally:
            conn.close()

    def _file(self, conn: SocksHTTPConnection, v: Voter) -> str | None:
        """GET the form and POST the report; None once the 303 named a receipt (a retry
        then only loads the receipt page: the report is stored, filing again would
        duplicate it)."""
        conn.request("GET", "/en/")
        resp = conn.getresponse()
        page = resp.read()
        if resp.status != 200:
            return f"form: HTTP {resp.status}"
        parser = FormParser()
        parser.feed(page.decode("utf-8", "replace"))
        action = parser.action or "/en/"
        files = [FilePart.of("attachments", "photo.jpg",
                             photo(self.profile.photo_size, v.token.encode()),
                             "image/jpeg")] if v.with_photo else []
        body = Multipart(parser.hidden + report_fields(v.token), files)
        data = b"".join(body)
        conn.request("POST", action, body=data,
                     headers={"Content-Type": body.content_type})
        resp = conn.getresponse()
        resp.read()
        location = resp.getheader("Location") or ""
        if resp.status != 303 or "/receipt/" not in location:
            return f"report: HTTP {resp.status}"
        v.acknowledged = True
        v.location = location.split(self.address, 1)[-1]
        return None
