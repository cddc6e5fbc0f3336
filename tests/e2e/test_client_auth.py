"""A staff-only onion (v3 client authorization) over the private Tor network: once its
descriptor is published, a Tor client without the key cannot reach it; with the key added
(ONION_CLIENT_AUTH_ADD) the same client can."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from testkit.onion_serve import Served
from testkit.tornet import TorNet

pytestmark = [pytest.mark.e2e, pytest.mark.tor]


def b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def test_staff_onion_needs_the_client_key(tornet: TorNet, tmp_path: Path) -> None:
    staff = PrivateKey.generate()
    keys = tmp_path / "staff.keys"
    keys.write_text(f"# staff\n{b32(bytes(staff.public_key))}\n")
    srv = Served.start(tmp_path / "staging", tornet, ["--client-auth", str(keys)])
    try:
        srv.wait_for(lambda: (srv.data / "onion" / "status.json").exists()
                     and all(s["published"] for s in srv.status()["services"]), 120,
                     "the staging descriptor to be published")
        assert srv.status()["client_auth"] is True
        address = srv.address
        for _ in range(3):
            denied = srv.curl(f"http://{address}/en/", max_time=15)
            assert denied.code != 0 and denied.status == 0, "reached without the client key"
            time.sleep(1)
        with tornet.client.controller() as ctl:
            reply = ctl.msg(f"ONION_CLIENT_AUTH_ADD {address[:-6]} "
                            f"x25519:{base64.b64encode(bytes(staff)).decode()}")
            # 252: the client already held the descriptor and could decrypt it only now
            assert reply.content()[0][0] in ("250", "251", "252"), str(reply)
        page = srv.fetch(address, "/en/", timeout=90)
        assert page.status == 200
    finally:
        assert srv.stop() == 0, srv.log_text()[-2000:]
