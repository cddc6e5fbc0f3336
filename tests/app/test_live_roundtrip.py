"""Through a real gunicorn on loopback: what analysts decrypt is exactly what was sent.

One server for the module (per-file limit raised to 100 MiB so the largest
attachment is exactly at both limits). Each test exports what it stored and
decrypts the batch with the analyst key (manifest, hashes and chain checked).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib

from keys.receipt import new_code
from testkit.live_client import (
    MIB,
    FilePart,
    Multipart,
    export_and_open,
    find_report,
    get,
    get_form,
    pattern,
    pattern_bytes,
    post,
    report_fields,
    token,
)
from testkit.liveserver import ROOT, LiveServer

FORM = tomllib.loads((ROOT / "app" / "forms" / "election.toml").read_text("utf-8"))
LABELS_EN = {f["name"]: f["label"]["en"] for f in FORM["fields"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("live")
    with LiveServer.start(tmp, extra_env={"SKRYNKA_MAX_FILE_MB": "100"}) as srv:
        yield srv


def _days() -> set[str]:
    now = dt.datetime.now(dt.timezone.utc)
    return {(now - dt.timedelta(minutes=m)).date().isoformat() for m in (0, 10)}


TEXTS = {
    "be": {
        "town": "Маладзечна, Мінскі раён",
        "description": "Старшыня камісіі не пусціў назіральнікаў у школу №12.\r\n"
                       "Бюлетэні вынеслі ў задні пакой — «для праверкі».\r\n"
                       "Сімвалы: ў і ё ' \" < > & 🗳",
        "contact": "анонімны адрас: skrynka-ab12@example.invalid",
    },
    "ru": {
        "town": "Гомель, Советский район",
        "description": "Председатель комиссии не пустил наблюдателей; бюллетени унесли.\r\n"
                       "Ёлки-палки — «подсчёт» шёл при закрытых дверях.\r\n"
                       "Символы: ё й ъ ' \" < > & 🗳",
        "contact": "новый анонимный адрес",
    },
    "en": {
        "town": "Mahilyow district",
        "description": "The commission chair barred observers from station 12.\r\n"
                       "Ballots went to a back room \"for checking\" <b>not</b> & counted.\r\n"
                       "\tIndented line with a tab.",
        "contact": "",
    },
}


@pytest.mark.parametrize("lang", ["be", "ru", "en"])
def test_text_in_each_language_decrypts_to_what_was_sent(
    server: LiveServer, tmp_path: Path, lang: str
) -> None:
    page = get_form(server.port, lang)
    tok = token("lang")
    text = TEXTS[lang]
    description = text["description"] + "\r\nref " + tok
    fields = report_fields(
        description, what=["other", "forced_early_voting", "opaque_counting"],
        region="gomel", town=text["town"], station="0712", day="2026-11-20", at="9:05",
        contact=text["contact"],
    )
    resp = post(server.port, page.action, Multipart(page.hidden + fields))
    assert resp.is_receipt, (resp.status, resp.text[:500])
    assert "set-cookie" not in resp.headers

    got = find_report(export_and_open(server, tmp_path / "batch.skb"), tok)
    report = got.report
    assert report["format"] == "skrynka-report" and report["version"] == 1
    assert report["form"] == {"id": FORM["id"], "version": FORM["version"]}
    assert report["lang"] == lang
    assert report["received_day"] in _days()
    assert got.day == report["received_day"]
    expected = {
        # choice ids in the form's order, whatever order they were ticked in
        "what": ["forced_early_voting", "opaque_counting", "other"],
        "region": "gomel",
        "town": text["town"],
        "station": "712",  # a polling station number is stored without leading zeros
        "incident_date": "2026-11-20",
        "incident_time": "09:05",
        "description": description.replace("\r\n", "\n"),
    }
    if text["contact"]:
        expected["contact"] = text["contact"]
    assert report["fields"] == expected
    assert report["labels"] == LABELS_EN
    assert report["attachments"] == []
    assert got.attachments == {}


# sizes around the 64 KiB chunk and the padding buckets (data + 8-byte trailer)
SIZES = [0, 1, 65527, 65528, 65529, 65535, 65536, 65537, MIB - 8, MIB - 7]
NAMES = ["пусты.txt", "адзін.bin", "фота 1.jpg", "фото_2.jpeg", "scan 3.png", "doc4.pdf",
         "video5.mp4", "audio6.ogg", "архіў7.zip", "note8.txt"]
TYPES = ["text/plain", "application/octet-stream", "image/jpeg", "image/jpeg", "image/png",
         "application/pdf", "video/mp4", "audio/ogg", "application/zip", "text/plain"]


def test_attachments_byte_for_byte_at_chunk_boundaries(server: LiveServer, tmp_path: Path) -> None:
    page = get_form(server.port, "ru")
    tok = token("att")
    datas = [pattern_bytes(1000 + i, n) for i, n in enumerate(SIZES)]
    files = [FilePart.of("attachments", name, data, ctype)
             for name, data, ctype in zip(NAMES, datas, TYPES)]
    body = Multipart(page.hidden + report_fields("attachments " + tok), files)
    resp = post(server.port, page.action, body)
    assert resp.is_receipt, (resp.status, resp.text[:500])

    got = find_report(export_and_open(server, tmp_path / "batch.skb", keep=2 * MIB), tok)
    listed = got.report["attachments"]
    assert [a["name"] for a in listed] == NAMES
    assert [a["media_type"] for a in listed] == TYPES
    assert [a["size"] for a in listed] == SIZES
    assert len({a["id"] for a in listed}) == len(SIZES)
    assert list(got.attachments) == [a["id"] for a in listed]  # batch order = report order
    for entry, data in zip(listed, datas):
        opened = got.attachments[entry["id"]]
        # the report binds each attachment by its envelope's hash (keys/SPEC.md 3.4)
        assert entry["envelope_sha256"] == opened.envelope_sha256
        assert opened.size == len(data)
        assert opened.sha256 == hashlib.sha256(data).hexdigest()
        assert opened.data == data, f"{entry['name']}: decrypted bytes differ"


@pytest.mark.slow
def test_100_mib_attachment_streams_and_decrypts(server: LiveServer, tmp_path: Path) -> None:
    size = 100 * MIB  # exactly the per-file and per-report limit of this server
    seed = 424242
    expect = hashlib.sha256()
    for chunk in pattern(seed, size):
        expect.update(chunk)
    page = get_form(server.port, "en")
    tok = token("big")
    part = FilePart("attachments", "big.mp4", size, lambda: pattern(seed, size), "video/mp4")
    resp = post(server.port, page.action, Multipart(page.hidden + report_fields(tok), [part]),
                timeout=300)
    assert resp.is_receipt, (resp.status, resp.text[:500])

    got = find_report(export_and_open(server, tmp_path / "batch.skb", keep=0), tok)
    [entry] = got.report["attachments"]
    opened = got.attachments[entry["id"]]
    assert entry["size"] == size and entry["envelope_sha256"] == opened.envelope_sha256
    assert (opened.size, opened.sha256) == (size, expect.hexdigest())


# -- the canary: plaintext must never reach a disk -------------------------------------------

TEMP_DIRS = [Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")]
SCAN_FILE_MAX = 256 * MIB
SCAN_TOTAL_MAX = 4096 * MIB


def _needles(canary: str) -> list[bytes]:
    return [canary.encode("utf-8"), canary.encode("utf-16-le")]


def _contains(path: Path | str, needles: list[bytes]) -> bool:
    overlap = max(map(len, needles))
    tail = b""
    with open(path, "rb") as f:
        while block := f.read(4 * MIB):
            window = tail + block
            if any(n in window for n in needles):
                return True
            tail = window[-overlap:]
    return False


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith("bash_jobs")]
        for name in filenames:
            yield Path(dirpath, name)


def scan(roots: list[Path], needles: list[bytes], since: float | None,
         max_file: int = SCAN_FILE_MAX, seconds: float = 120.0) -> tuple[list[str], int]:
    """Files under ``roots`` (changed after ``since`` unless None) holding a needle.

    Bounded: files over ``max_file`` bytes are skipped, and the scan stops after
    ``seconds`` (other jobs on a shared machine may fill the temp directories).
    """
    hits: list[str] = []
    total = files = 0
    seen: set[tuple[int, int]] = set()
    deadline = time.monotonic() + seconds
    for root in roots:
        for path in _walk(root):
            if time.monotonic() > deadline:
                return hits, files
            try:
                st = path.lstat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if since is not None and max(st.st_mtime, st.st_ctime) < since:
                continue
            if st.st_size > max_file or total + st.st_size > SCAN_TOTAL_MAX:
                continue
            total += st.st_size
            files += 1
            try:
                if _contains(path, needles):
                    hits.append(str(path))
            except OSError:
                continue
    return hits, files


def scan_open_files(pids: list[int], needles: list[bytes]) -> tuple[list[str], int]:
    """Regular files the server processes hold open, deleted ones included."""
    hits: list[str] = []
    files = 0
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            link = f"/proc/{pid}/fd/{fd}"
            try:
                if not stat.S_ISREG(os.stat(link).st_mode):
                    continue
                target = os.readlink(link)
                if target.startswith(str(ROOT)) and target.endswith(".py"):
                    continue
                files += 1
                if _contains(link, needles):
                    hits.append(f"pid {pid} fd {fd} -> {target}")
            except OSError:
                continue
    return hits, files


def test_canary_never_reaches_any_disk(server: LiveServer, tmp_path: Path) -> None:
    started = time.time() - 2
    canary = "kanarejka-" + os.urandom(12).hex() + "-канарэйка"
    needles = _needles(canary)
    size = 24 * MIB  # under the default 25 MiB per-file limit

    def plant(index: int, block: bytearray) -> None:
        for offset, needle in ((4096, needles[0]), (200_000, needles[1])):
            if offset + len(needle) <= len(block):
                block[offset:offset + len(needle)] = needle

    part = FilePart("attachments", "canary.jpg", size, lambda: pattern(7, size, edit=plant),
                    "image/jpeg")
    expect = hashlib.sha256(b"".join(pattern(7, size, edit=plant))).hexdigest()
    page = get_form(server.port, "be")
    body = Multipart(page.hidden + report_fields("Апісанне " + canary), [part])
    length = len(body)
    mid: dict[str, tuple[list[str], int]] = {}

    def midway(sent: int) -> None:
        # while the upload is in flight: what the server has open, and fresh temp files
        if not mid and sent >= length * 0.6:
            # the pause must stay well under the server's idle deadline (app/worker.py)
            time.sleep(0.5)  # let the server take in what was sent
            mid["open"] = scan_open_files(server.pids(), needles)
            mid["temp"] = scan(TEMP_DIRS, needles, since=started, max_file=2 * size,
                               seconds=8.0)

    resp = post(server.port, page.action, body, piece=1 << 20, on_sent=midway)
    assert resp.is_receipt, (resp.status, resp.text[:500])
    assert mid, "the mid-upload scan did not run"
    assert mid["open"][0] == [], f"canary in a file the server holds open: {mid['open'][0]}"
    assert mid["temp"][0] == [], f"canary in a temp file during the upload: {mid['temp'][0]}"

    hits, files = scan([server.data], needles, since=None)
    assert files > 0, "the data directory holds no files at all"
    assert hits == [], f"canary in the data directory: {hits}"
    hits, _ = scan([*TEMP_DIRS, tmp_path.parent], needles, since=started)
    assert hits == [], f"canary in a temp directory or the server log: {hits}"
    hits, _ = scan_open_files(server.pids(), needles)
    assert hits == [], f"canary in a file the server holds open: {hits}"

    # and it did arrive: the analysts see it
    got = find_report(export_and_open(server, tmp_path / "batch.skb", keep=0), canary)
    [entry] = got.report["attachments"]
    assert got.attachments[entry["id"]].sha256 == expect


def test_receipt_code_through_gunicorn(server: LiveServer, tmp_path: Path) -> None:
    """The code reaches the voter only through the 303 and the receipt page, which can
    be reloaded without filing again; no file of the server, its log included, holds the
    code or a cited one; the analysts find both sealed in the report."""
    started = time.time() - 2
    tok = token("receipt")
    earlier = new_code()
    page = get_form(server.port, "ru")
    body = Multipart(page.hidden + report_fields(f"Квитанция {tok}", follows_up=earlier), [])
    resp = post(server.port, page.action, body)
    code = resp.receipt_code
    assert code is not None, (resp.status, resp.headers, resp.text[:300])
    for _ in range(3):  # the page, then two reloads
        shown = get(server.port, resp.headers["location"])
        assert shown.status == 200 and code in shown.text
        assert shown.headers["cache-control"] == "no-store"
    needles = [n.encode() for c in (code, earlier) for n in (c, c.replace("-", ""))]
    hits, files = scan([server.data], needles, since=None)
    assert files > 0 and hits == [], hits
    hits, _ = scan([*TEMP_DIRS, tmp_path.parent], needles, since=started)
    assert hits == [], f"a code in a temp directory or the server log: {hits}"
    reports = export_and_open(server, tmp_path / "batch.skb", keep=0)
    got = find_report(reports, tok)  # exactly one: the reloads filed nothing
    assert got.report["receipt"] == code and got.report["cites"] == [earlier]
    assert len(got.report["form_nonce"]) == 32
