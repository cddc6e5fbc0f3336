"""An election-day surge over the private Tor network (issue 18, part 1).

* :mod:`testkit.surge.socks`: a SOCKS5 client with a username/password per voter (tor
  isolates circuits by SOCKS credentials), and an ``http.client`` connection over it;
* :mod:`testkit.surge.voters`: voters arriving on a steady-then-spike profile, each
  loading the form and filing a report (some with a photo), one retry on a new circuit;
* :mod:`testkit.surge.flood`: an introduction/rendezvous flood (a fresh circuit per
  connection, dropped at once) and slow heads and slow bodies, all through tor's SOCKS;
* :mod:`testkit.surge.observe`: extra client tors, PoW effort from CIRC events, the
  published descriptor's ``pow-params``, CPU seconds per process group, and the limit
  that bound first.

Every loop here is bounded in count and in time and talks only to 127.0.0.1.
"""
