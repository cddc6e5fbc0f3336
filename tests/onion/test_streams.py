"""Issue 13: how much of the web workers one Tor circuit can hold.

ADD_ONION cannot export circuit ids to the app (``HiddenServiceExportCircuitID`` is a
torrc option for services in a HiddenServiceDir), so the app cannot tell circuits apart;
tor's per-circuit stream cap is the lever: a circuit that opens more concurrent streams
than ``MaxStreams`` is closed. It must leave Tor Browser its 6 connections to a site, and
be small against the upload slots, so that filling them takes many circuits.
"""

from __future__ import annotations

import re

from contract import DEFAULT_MAX_STREAMS
from onion import cli
from onion.onionkey import OnionKey
from onion.tor import PublishOptions, add_onion_command
from testkit.liveserver import ROOT

BROWSER_CONNECTIONS = 6  # Firefox's (and Tor Browser's) persistent connections per server
MIN_CIRCUITS = 8  # circuits it takes at the least to hold every upload slot


def _upload_slots() -> int:
    from app.gate import SPARE_THREADS

    text = (ROOT / "gunicorn.conf.py").read_text()
    workers, threads = (int(re.search(rf"^{n} = (\d+)", text, re.M).group(1))  # type: ignore
                        for n in ("workers", "threads"))
    return workers * (threads - SPARE_THREADS)


def test_one_circuit_holds_a_small_share_of_the_upload_slots() -> None:
    assert DEFAULT_MAX_STREAMS >= BROWSER_CONNECTIONS + 1
    assert _upload_slots() // DEFAULT_MAX_STREAMS >= MIN_CIRCUITS, (
        _upload_slots(), DEFAULT_MAX_STREAMS)


def test_add_onion_sends_the_cap_and_closes_the_circuit_past_it() -> None:
    cmd = add_onion_command(OnionKey.generate(), PublishOptions(target="127.0.0.1:8080"))
    words = cmd.split()
    assert f"MaxStreams={DEFAULT_MAX_STREAMS}" in words
    flags = next(w for w in words if w.startswith("Flags=")).split("=", 1)[1].split(",")
    assert "MaxStreamsCloseCircuit" in flags


def test_serve_defaults_to_the_cap() -> None:
    args = cli.parser().parse_args(["serve"])
    assert args.max_streams == DEFAULT_MAX_STREAMS
