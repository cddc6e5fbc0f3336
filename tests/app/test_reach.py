"""Issue 15, parts 1-2: getting through censorship (``/<lang>/connect``) and reaching the
right address (the grace notice on an old address, ``/<lang>/address`` with the latest
signed announcement and how to check an address)."""

from __future__ import annotations

import html
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import nacl.signing
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import advice
from app.errors import ConfigError
from app.headers import CSP
from app.i18n import LANGS, load_catalogs
from onion import announce, sshsig, state
from onion.onionkey import OnionKey
from tests.app.test_templates import assert_safe_page

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = load_catalogs(ROOT / "app" / "translations")
VERIFY = ("ssh-keygen -Y verify -f allowed_signers -I skrynka -n skrynka-announcement "
          "-s announcement.txt.sig < announcement.txt")


@pytest.fixture(autouse=True)
def _hostnames_in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve and the test app must agree on the hostnames file: the data directory's."""
    monkeypatch.delenv("SKRYNKA_HOSTNAMES_FILE", raising=False)


def text_of(resp: TestResponse) -> str:
    return html.unescape(resp.get_data(as_text=True))


def assert_plain_page(resp: TestResponse, lang: str) -> str:
    """200, our CSP, no script or inline style, the page's language: works without JS."""
    assert resp.status_code == 200
    assert resp.headers["Content-Security-Policy"] == CSP
    body = resp.get_data(as_text=True)
    low = body.lower()
    assert "<script" not in low and " style=" not in low and "<style" not in low
    assert f'<html lang="{lang}">' in body
    return html.unescape(body)


# --- part 1: getting through censorship ------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_connect_page_has_the_advice_in_every_language(client: FlaskClient, lang: str) -> None:
    page = assert_plain_page(client.get(f"/{lang}/connect"), lang)
    for fact in ("WebTunnel", "Connection Assist", "GetTor", "gettor@torproject.org",
                 "@gettor_bot", "@GetBridgesBot", "bridges@torproject.org", "torproject.org",
                 "Snowflake", "obfs4", "New Identity", "Safest", "2020"):
        assert fact in page, (lang, fact)
    t = CATALOGS.translator(lang)
    for key in ("connect.heading", "connect.why_text", "connect.jam_later",
                "connect.jam_notes", "connect.identity_android", "connect.safest_android"):
        assert t(key) in page, key  # the text is the catalog's: operators edit it there
    reviewed = advice.load_reviewed(advice.ADVICE_FILE)
    assert t("connect.reviewed", date=reviewed) in page


def test_the_reviewed_day_comes_from_the_data_file(
    make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "advice.toml"
    data.write_text("reviewed = 2031-05-17\n")
    monkeypatch.setattr(advice, "ADVICE_FILE", data)
    client = make_app().test_client()
    for lang in LANGS:
        page = text_of(client.get(f"/{lang}/connect"))
        assert "2031-05-17" in page
        assert CATALOGS.gettext(lang, "connect.reviewed", date="2031-05-17") in page


@pytest.mark.parametrize("text", ["", "reviewed = \"soon\"\n", "reviewed = 2031-05-17T10:00:00\n",
                                  "reviewed = 2031-02-30\n"])
def test_a_bad_reviewed_day_stops_the_start(tmp_path: Path, text: str) -> None:
    data = tmp_path / "advice.toml"
    data.write_text(text)
    with pytest.raises(ConfigError):
        advice.load_reviewed(data)


@pytest.mark.parametrize("lang", LANGS)
def test_safety_page_and_every_footer_lead_to_the_new_pages(
    client: FlaskClient, lang: str,
) -> None:
    for path in (f"/{lang}/safety", f"/{lang}/"):
        body = client.get(path).get_data(as_text=True)
        assert f'href="/{lang}/connect"' in body and f'href="/{lang}/address"' in body
    safety = text_of(client.get(f"/{lang}/safety"))
    assert CATALOGS.gettext(lang, "connect.safety_text") in safety


# --- part 2: the grace notice on an old address ----------------------------------------


def rotated(data: Path) -> tuple[str, str, str]:
    """(old, new, retirement day) after a rotation, in the hostnames file serve writes."""
    old, new = OnionKey.generate().address, OnionKey.generate().address
    now = time.time()
    services = [
        state.Service(old, "keys/old.key", now - 99, superseded_at=now, grace_seconds=None),
        state.Service(new, "keys/new.key", now),
    ]
    grace = 3 * state.DAY
    state.write_hostnames(data, services, grace)
    return old, new, time.strftime("%Y-%m-%d", time.gmtime(now + grace))


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_on_the_old_address_shows_the_new_one_and_the_day(
    client: FlaskClient, data_dir: Path, lang: str, submit_ok: Callable[..., TestResponse],
) -> None:
    old, new, day = rotated(data_dir)
    notice = CATALOGS.gettext(lang, "notice.moving", day=day)
    receipt = submit_ok(lang).headers["Location"]
    for path in ("/", f"/{lang}/", f"/{lang}/safety", f"/{lang}/connect", f"/{lang}/address",
                 receipt, f"/{lang}/no-such-page"):
        if path == "/" and lang != "be":
            continue  # the chooser is in Belarusian
        on_old = client.get(path, base_url=f"http://{old}")
        page = text_of(on_old)
        assert notice in page and new in page and day in page, (path, on_old.status_code)
        on_new = text_of(client.get(path, base_url=f"http://{new}"))
        assert notice not in on_new and day not in on_new, path
        assert CATALOGS.gettext(lang, "notice.trust") not in on_new
        local = text_of(client.get(path))
        assert notice not in local, path


def test_no_notice_before_a_rotation(client: FlaskClient, data_dir: Path) -> None:
    address = OnionKey.generate().address
    services = [state.Service(address, "keys/a.key", time.time())]
    state.write_hostnames(data_dir, services, 3 * state.DAY)
    page = text_of(client.get("/en/", base_url=f"http://{address}"))
    assert CATALOGS.gettext("en", "notice.trust") not in page


# --- part 2: the signed announcement and how to check an address -----------------------


def publish(data: Path, old: str, new: str, serial: int, day: str = "2026-12-02",
            sk: nacl.signing.SigningKey | None = None) -> tuple[str, str]:
    sk = sk or nacl.signing.SigningKey.generate()
    body = announce.Announcement(old, new, day, "2026-12-16").body()
    text, sig = announce.sign(body, sk, serial, "2027-03-01")
    folder = state.onion_dir(data) / "announcements"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{day}-{new[:16]}.txt"
    (folder / name).write_text(text)
    (folder / f"{name}.sig").write_text(sig)
    return text, sig


@pytest.mark.parametrize("lang", LANGS)
def test_address_page_teaches_how_to_check_an_address(client: FlaskClient, lang: str) -> None:
    page = assert_plain_page(client.get(f"/{lang}/address"), lang)
    t = CATALOGS.translator(lang)
    for key in ("address.check_where", "address.check_whole", "address.check_bookmark",
                "address.check_messages", "address.ann_none"):
        assert t(key) in page, key
    assert "localhost" in page  # the address it was reached on, to compare
    assert client.get("/address/announcement.txt").status_code == 404


@pytest.mark.parametrize("lang", LANGS)
def test_address_page_shows_the_signed_announcement_on_both_addresses(
    client: FlaskClient, data_dir: Path, lang: str,
) -> None:
    old, new, _day = rotated(data_dir)
    text, sig = publish(data_dir, old, new, serial=3)
    for host in (old, new):
        resp = client.get(f"/{lang}/address", base_url=f"http://{host}")
        page = assert_plain_page(resp, lang)
        assert text in page and sig.strip() in page
        assert VERIFY in page
        assert CATALOGS.gettext(lang, "address.check_whole") in page
        assert f"<code>{host}</code>" in resp.get_data(as_text=True)
        assert client.get("/address/announcement.txt", base_url=f"http://{host}"
                          ).get_data(as_text=True) == text
        assert client.get("/address/announcement.txt.sig", base_url=f"http://{host}"
                          ).get_data(as_text=True) == sig


def test_the_latest_signed_announcement_is_shown(client: FlaskClient, data_dir: Path) -> None:
    a, b, c = (OnionKey.generate().address for _ in range(3))
    publish(data_dir, a, b, serial=1, day="2026-11-01")
    latest, _ = publish(data_dir, b, c, serial=2, day="2026-10-01")  # sorts first by name
    folder = state.onion_dir(data_dir) / "announcements"
    unsigned = announce.Announcement(c, a, "2026-12-30", "2027-01-13").body()
    (folder / "2026-12-30-unsigned.txt").write_text(unsigned)  # as rotate leaves it
    page = text_of(client.get("/en/address"))
    assert latest in page and f"{a} -> {b}" not in page and f"{c} -> {a}" not in page
    (folder / "2026-12-30-unsigned.txt.sig").write_text("x" * 5000)  # not a signature
    assert latest in text_of(client.get("/en/address"))


def test_an_expired_or_revoked_announcement_is_not_shown(
    client: FlaskClient, data_dir: Path,
) -> None:
    a, b, c = (OnionKey.generate().address for _ in range(3))
    sk = nacl.signing.SigningKey.generate()
    folder = state.onion_dir(data_dir) / "announcements"
    old_text, _ = publish(data_dir, a, b, serial=1, sk=sk)
    body = announce.Announcement(a, b, "2020-01-01", "2020-01-15").body()
    text, sig = announce.sign(body, sk, 2, "2020-04-01")  # expired long ago
    (folder / "2020-01-01-expired.txt").write_text(text)
    (folder / "2020-01-01-expired.txt.sig").write_text(sig)
    page = text_of(client.get("/en/address"))
    assert old_text not in page and text not in page  # the newest is expired: none shown
    assert CATALOGS.gettext("en", "address.ann_none") in page
    (folder / "2020-01-01-expired.txt").unlink()
    assert old_text in text_of(client.get("/en/address"))
    revocation, rsig = announce.sign(announce.Revocation(b, "2026-12-03").body(), sk, 3,
                                     "2027-01-01")
    (folder / "revocation.txt").write_text(revocation)
    (folder / "revocation.txt.sig").write_text(rsig)
    assert old_text not in text_of(client.get("/en/address"))
    assert client.get("/address/announcement.txt").status_code == 404
    publish(data_dir, a, c, serial=4, sk=sk)
    assert f"{a} -> {c}" in text_of(client.get("/en/address"))


def test_the_page_s_command_verifies_the_downloaded_files(
    client: FlaskClient, data_dir: Path, tmp_path: Path,
) -> None:
    """What a voter does: save both files, take allowed_signers from the organisation, run
    the command exactly as the page prints it."""
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("ssh-keygen (openssh-client) is not installed")
    sk = nacl.signing.SigningKey.generate()
    old, new = OnionKey.generate().address, OnionKey.generate().address
    publish(data_dir, old, new, serial=1, sk=sk)
    work = tmp_path / "voter"
    work.mkdir()
    for name in ("announcement.txt", "announcement.txt.sig"):
        (work / name).write_bytes(client.get(f"/address/{name}").get_data())
    (work / "allowed_signers").write_text(
        sshsig.allowed_signers_line(bytes(sk.verify_key)) + "\n")
    assert VERIFY in text_of(client.get("/en/address"))
    args = shlex.split(VERIFY.split(" < ")[0])
    with open(work / "announcement.txt", "rb") as stdin:
        res = subprocess.run([keygen, *args[1:]], cwd=work, stdin=stdin, capture_output=True,
                             text=True, timeout=60)
    assert res.returncode == 0 and "Good" in res.stdout + res.stderr, res.stderr


@pytest.mark.parametrize("lang", LANGS)
def test_new_pages_pass_the_template_rules_with_notice_and_announcement(
    client: FlaskClient, data_dir: Path, lang: str,
) -> None:
    """The rules of test_templates (no script, no inline style, nothing from another origin,
    unique ids), on the fullest pages: the notice and an announcement shown."""
    old, new, _day = rotated(data_dir)
    publish(data_dir, old, new, serial=1)
    for path in (f"/{lang}/connect", f"/{lang}/address", f"/{lang}/safety"):
        resp = client.get(path, base_url=f"http://{old}")
        assert resp.status_code == 200
        page = assert_safe_page(resp.get_data(as_text=True), lang)
        switch = {a["hreflang"]: a["href"] for a in page.all("a") if "hreflang" in a}
        assert switch == {code: f"/{code}{path[len(lang) + 1:]}" for code in LANGS}
