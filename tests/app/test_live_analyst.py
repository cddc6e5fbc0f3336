"""From a voter's POST through gunicorn to the analyst's own tool: ``python -m keys decrypt``.

The batch ``python -m app export`` writes is opened with a passphrase-protected
key file, exactly as on the air-gapped laptop; the report folder must hold the
text and the attachments byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from nacl.public import PrivateKey

from keys.keyfile import KdfParams, render
from testkit.live_client import (
    FilePart,
    Multipart,
    get_form,
    pattern_bytes,
    post,
    report_fields,
    token,
)
from testkit.liveserver import ROOT, LiveServer

CHEAP_KDF = KdfParams(memory_kib=64 * 1024, time_cost=1, parallelism=1)


def test_analyst_tool_decrypts_what_gunicorn_stored(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    keyfile = tmp_path / "analyst.key"
    keyfile.write_text(render(key, b"correct horse battery", CHEAP_KDF,
                              dt.date.today().isoformat()))
    passfile = tmp_path / "pass"
    passfile.write_bytes(b"correct horse battery\n")
    datas = [pattern_bytes(31, 65537), pattern_bytes(32, 0), b"%PDF-1.4 tiny"]
    names = ["фота.jpg", "empty.bin", "doc.pdf"]
    tok = token("kit")
    description = f"Назіральнікаў выдалілі з участка. {tok}"
    with LiveServer.start(tmp_path / "srv", analyst_key=key) as srv:
        page = get_form(srv.port, "be")
        files = [FilePart.of("attachments", n, d, "image/jpeg") for n, d in zip(names, datas)]
        resp = post(srv.port, page.action,
                    Multipart(page.hidden + report_fields(description, region="grodno"), files))
        assert resp.is_receipt, (resp.status, resp.text[:300])
        batch = tmp_path / "batch.skb"
        done = srv.run_app("export", "--out", str(batch))
        assert done.returncode == 0, done.stderr

    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "keys", "decrypt", "--signer", str(srv.data / "export.key"),
         "--key", str(keyfile), "--out", str(out),
         "--passphrase-file", str(passfile), str(batch)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    [folder] = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    report = json.loads((folder / "report.json").read_text("utf-8"))
    assert report["fields"]["description"] == description
    assert report["fields"]["region"] == "grodno" and report["lang"] == "be"
    listed = report["attachments"]
    assert [a["name"] for a in listed] == names
    assert [a["size"] for a in listed] == [len(d) for d in datas]
    assert all(len(a["envelope_sha256"]) == 64 for a in listed)
    # every attachment is in the folder, byte for byte (file names are the tool's choice)
    on_disk = sorted(p.read_bytes() for p in folder.rglob("*")
                     if p.is_file() and p.name != "report.json")
    assert on_disk == sorted(datas)
    assert tok in (out / "reports.jsonl").read_text("utf-8")
