"""The real parts that the tests and the benchmarks drive, shared by ``tests/`` and ``bench/``.

Nothing here is a test and nothing here imports from ``tests/`` (tests/test_layout.py checks
that): the suite and ``make bench`` both start these, each on loopback only.

- :mod:`testkit.liveserver`: a real gunicorn serving the real app (or a bench app) on
  127.0.0.1, with a private data directory and a throw-away analyst key;
- :mod:`testkit.tornet`: a private Tor network on 127.0.0.1 (authority, relays, client);
- :mod:`testkit.onion_serve`: ``python -m onion serve`` of the real app joined to it;
- :mod:`testkit.pg`: a throw-away PostgreSQL cluster (pytest fixtures);
- raw HTTP clients: :mod:`testkit.live_client` (streamed multipart posts and decrypted
  exports), :mod:`testkit.keepalive` (a cheap keep-alive load client),
  :mod:`testkit.hostile.client` (byte-exact requests, for load and abuse) and
  :mod:`testkit.formfill` (reads the rendered form and fills every field);
- :mod:`testkit.hostile`: crash/load scenarios, a strict batch reader, batch mutations;
- :mod:`testkit.procfs`: CPU time, RSS and liveness of processes, from /proc.
"""
