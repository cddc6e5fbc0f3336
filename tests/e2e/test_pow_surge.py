"""A small election-night surge over the private Tor network (issue 18; the full-size
figures are `make bench`'s surge table): voters on a steady-then-spike profile, each on a
circuit of its own, file reports under an introduction/rendezvous flood and slow heads
and bodies, with serve's PoW defense on. No timing is asserted: a busy machine is slow,
not wrong. A --no-pow serve's descriptor is checked first, on a quiet network. Runs before
test_rotation.py (file order), which changes the served address: the flood ends here and
the service must answer normally again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.onion_serve import Served
from testkit.procfs import alive
from testkit.surge.observe import ClientTors, published_pow
from testkit.surge.scenario import Flood, run_surge
from testkit.surge.voters import Profile
from testkit.tornet import TorNet

pytestmark = [pytest.mark.e2e, pytest.mark.tor]


def test_no_pow_serve_publishes_no_pow_params(tornet: TorNet, tmp_path: Path) -> None:
    srv = Served.start(tmp_path / "nopow", tornet, ["--no-pow"])
    pids: list[int] = []
    try:
        srv.wait_for(lambda: (srv.data / "onion" / "status.json").exists(), 60, "status")
        srv.wait_for(lambda: all(s.get("published") for s in srv.status()["services"]), 90,
                     "the descriptor upload")
        pids = [srv.status()["tor_pid"], srv.status()["web_pid"]]
        fetched, params = published_pow(tornet.client, srv.address)
        assert fetched, "the client could not fetch the descriptor"
        assert params is None, params
    finally:
        assert srv.stop() == 0, srv.log_text()[-2000:]
    assert not [p for p in pids if alive(p)], "serve left tor or gunicorn running"


def test_voters_get_receipts_under_a_flood(served: Served, tornet: TorNet,
                                           tmp_path: Path) -> None:
    profile = Profile(rate=0.5, steady_s=10, spike_s=3, photo_fraction=0.3, seed=18)
    with ClientTors(tornet, tmp_path / "clients", 2) as clients:
        pids = clients.pids()
        out = run_surge(served, tornet, clients, profile,
                        Flood(intro=4, heads=8, bodies=2, lead_s=4), grace=120)
    assert not [p for p in pids if alive(p)], "client tors left behind"
    assert len(out.voters) >= 10
    # the flood really ran through tor: new circuits connected, slow streams held
    assert out.flood_total("intro", "opened") >= 5, [a.errors for a in out.flood["intro"]]
    assert out.flood_total("heads", "opened") >= 1, [a.errors for a in out.flood["heads"]]
    # generous: most voters get a receipt on a noisy machine (the bench's target is 95 %)
    assert out.receipts() >= 0.8, out.whys()
    acked, once, lost = out.reconcile(served, tmp_path / "out")
    assert acked >= 0.8 * len(out.voters)
    assert (once, lost) == (acked, 0), (acked, once, lost)
    # serve's PoW on is what the descriptor says, before and after the flood
    for fetched, params in (out.pow_before, out.pow_after):
        assert fetched and params is not None and params.type == "v1", params
        assert params.suggested_effort >= 0
    # the flood is over: the service answers a new visitor normally
    page = served.fetch(served.address, "/en/", timeout=120)
    assert page.status == 200
