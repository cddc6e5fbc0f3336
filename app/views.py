"""The voter-facing pages: language chooser, form, submit, receipt, safety, getting
through blocks, checking the address, errors."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request
from nacl.utils import random as random_bytes
from werkzeug.exceptions import ClientDisconnected, HTTPException, NotFound

from app.addresses import Moving, Published, latest_announcement
from app.analystkeys import WatchedKeys
from app.config import Config
from app.errors import StorageFull
from app.formdef import FormDef
from app.headers import StaticFiles, set_headers
from app.hosts import host_allowed, split_host
from app.httperrors import (
    BUSY_ENVIRON,
    Busy,
    ClientStalled,
    Full,
    NoKeys,
    PageError,
    TooLarge,
    WrongHost,
)
from app.i18n import DEFAULT_LANG, LANGS, Catalogs
from app.intake import MAX_TEXT_BODY, NONCE_FIELD, Invalid, Receiving, drain, receive
from app.intake.validate import HTML_PATTERNS, date_years
from app.storage import Store
from app.watched import WatchedFile
from contract import MIB, in_mib, today
from keys.receipt import MAX_INPUT_CHARS, parse

log = logging.getLogger("skrynka")
bp = Blueprint("pages", __name__)
ERROR_TITLES = {
    400: "400", 404: "404", 405: "405", 408: "400", 413: "413", 421: "host", 503: "503",
}
# Where the code goes in a cached receipt page (letters only: never escaped), and in
# its language links' paths.
RECEIPT_MARK = "SKRYNKARECEIPTMARK" + base64.b32encode(random_bytes(10)).decode("ascii")
# Reading the rest of a refused body lets the voter see our page instead of a reset.
# Over Tor (20-100 KB/s) the rest of a 30 MB photo takes minutes, so the bound is by
# bytes (see error_page) and this generous ceiling; app/worker.py cuts tricklers.
DRAIN_SECONDS = 600.0


@dataclass
class Runtime:
    """What the views need, built once by create_app."""

    config: Config
    form_def: FormDef
    catalogs: Catalogs
    store: Store
    keys: WatchedKeys  # -> tuple of analyst public keys (raises if unusable)
    hostnames: WatchedFile  # -> frozenset of onion names
    retiring: WatchedFile  # -> {old onion name: Moving} (app/addresses.py)
    reviewed: str = ""  # the day the censorship advice was last checked (app/advice.py)
    receipts: dict[str, str] = field(default_factory=dict)  # see receipt_page

    def recipients(self) -> tuple[bytes, ...] | None:
        """The analyst keys, or None if there is no usable one (the reason is logged
        once, by the first worker that meets it: app/analystkeys.py)."""
        try:
            keys: tuple[bytes, ...] = self.keys.get()
        except Exception:
            return None
        return keys


def rt() -> Runtime:
    runtime: Runtime = current_app.extensions["skrynka"]
    return runtime


def path_lang() -> str:
    first = request.path.split("/")[1] if request.path.count("/") >= 1 else ""
    return first if first in LANGS else DEFAULT_LANG


def page(
    template: str, lang: str, title: str, status: int = 200, suffix: str | None = None,
    **ctx: Any,
) -> Response:
    """A page; its language links lead to ``/<other lang><suffix>`` (by default the
    same path as this request's in the other language)."""
    runtime = rt()
    t = runtime.catalogs.translator(lang)
    if suffix is None:
        suffix = request.path[len(lang) + 1 :] if request.path.startswith(f"/{lang}/") else "/"
    lang_urls = {code: f"/{code}{suffix}" for code in LANGS}
    html = render_template(
        template, lang=lang, t=t, lang_urls=lang_urls, page_title=t(title), status=status,
        moving=moving(), title_error=status >= 400, **ctx,
    )
    return Response(html, status=status, mimetype="text/html")


def moving() -> Moving | None:
    """Where to go instead, if this request came to an address in its grace period."""
    try:
        retiring: dict[str, Moving] = rt().retiring.get()
    except Exception:
        return None
    return retiring.get(split_host(request.host)[0])


def check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise NotFound()


@bp.get("/")
def index() -> Response:
    # Each language's button carries that language's tagline (tr), not the page's.
    return page("index.html", DEFAULT_LANG, "title.index", tr=rt().catalogs.gettext)


@bp.get("/<lang>/safety")
def safety(lang: str) -> Response:
    check_lang(lang)
    return page("safety.html", lang, "title.safety")


@bp.get("/<lang>/connect")
def connect(lang: str) -> Response:
    """Getting through censorship: the advice is in the catalogs, its day in advice.toml."""
    check_lang(lang)
    return page("connect.html", lang, "connect.title", reviewed=rt().reviewed)


def announcement() -> Published | None:
    return latest_announcement(rt().config.paths.onion / "announcements", today())


@bp.get("/<lang>/address")
def address(lang: str) -> Response:
    """How to check the address, and the latest signed announcement as signed."""
    check_lang(lang)
    return page("address.html", lang, "address.title", published=announcement(),
                host=split_host(request.host)[0])


@bp.get("/address/announcement.txt")
@bp.get("/address/announcement.txt.sig")
def announcement_file() -> Response:
    """The announcement and its signature byte for byte, for ``ssh-keygen -Y verify``."""
    published = announcement()
    if published is None:
        raise NotFound()
    sig = request.path.endswith(".sig")
    body = published.signature if sig else published.text
    response = Response(body, mimetype="text/plain")
    name = "announcement.txt" + (".sig" if sig else "")
    response.headers["Content-Disposition"] = f"attachment; filename={name}"
    return response


def form_page(
    lang: str, status: int = 200, values: Any = None, errors: Any = None, files_dropped: int = 0,
) -> Response:
    config = rt().config
    return page(
        "form.html", lang, "title.form", status=status, form_def=rt().form_def,
        values=values or {}, errors=errors or {}, files_dropped=files_dropped,
        date_years=date_years(), action=f"/{lang}/",
        max_file_mb=config.max_file_mb, max_report_mb=config.max_report_mb,
        max_files=config.max_files, nonce_field=NONCE_FIELD, nonce=random_bytes(16).hex(),
        html_patterns=HTML_PATTERNS,
    )


@bp.get("/<lang>/")
def form(lang: str) -> Response:
    check_lang(lang)
    if rt().recipients() is None:
        raise NoKeys()
    return form_page(lang)


@bp.post("/<lang>/")
@bp.post("/<lang>/submit")
def submit(lang: str) -> Response:
    check_lang(lang)
    runtime = rt()
    recipients = runtime.recipients()
    if recipients is None:
        raise NoKeys()
    config = runtime.config
    declared = request.content_length or config.max_report_bytes
    max_body = current_app.config["MAX_CONTENT_LENGTH"]
    if declared > max_body:
        raise TooLarge(config.max_report_bytes)  # too big is 413, full or not
    if not runtime.store.has_room(declared, files=declared > MAX_TEXT_BODY):
        raise Full()  # a body too long to be text only must leave the text reserve free
    rx = Receiving(
        recipients, runtime.store.blobs.writer, config.max_file_bytes, config.max_report_bytes,
        frozenset(runtime.form_def.file_fields()), max_body_bytes=max_body,
        max_files=config.max_files,
    )
    day = today()
    try:
        outcome = receive(request.environ, rx, runtime.form_def, lang, day)
        if isinstance(outcome, Invalid):  # plaintext's one way out: back to the voter
            v = outcome.validated
            return form_page(lang, 400, values=v.values, errors=v.errors,
                             files_dropped=outcome.files_dropped)
        runtime.store.store_report(outcome.pending, day)
        rx.release()  # the attachments' pieces are the stored report's now
    except StorageFull:
        raise Full() from None
    finally:
        rx.discard()  # a refused or failed request's pieces go
    # See Other: the browser fetches the receipt page with GET, so reloading it (or
    # going back to it) shows it again and never sends the report a second time.
    return see_other(receipt_path(lang, outcome.receipt))


def receipt_path(lang: str, code: str) -> str:
    return f"/{lang}/receipt/{code}"


def see_other(path: str) -> Response:
    """303 to a path of this site (relative: the onion name is the browser's)."""
    response = Response("", status=303, mimetype="text/plain")
    response.headers["Location"] = path
    return response


@bp.get("/<lang>/receipt/<code>")
def receipt(lang: str, code: str) -> Response:
    """The receipt page for any well-formed code, the same for all: nothing here can
    tell an issued code from a made-up one (nothing is looked up, nothing kept)."""
    check_lang(lang)
    written = parse(code) if len(code) <= MAX_INPUT_CHARS else None
    if written is None:
        raise NotFound()
    if written != code:  # lower case, no dashes, look-alikes: one address per code
        return see_other(receipt_path(lang, written))
    return receipt_page(lang, written)


def receipt_page(lang: str, code: str) -> Response:
    """The receipt: rendered once per language, then only the code differs.

    Kept from when the POST itself rendered the receipt, where `make bench` showed it
    saved about a fifth of the app's server CPU per report; the page is now the GET
    after the 303, which the bench's load does not request (bench/app_bench.py)."""
    cache = rt().receipts
    notice = moving()  # the page on an old address carries the notice: cached apart
    slot = f"{lang} {notice.new} {notice.day}" if notice else lang
    html = cache.get(slot)
    if html is None:
        html = page("receipt.html", lang, "title.receipt", receipt=RECEIPT_MARK,
                    suffix=receipt_path("", RECEIPT_MARK)[1:]).get_data(as_text=True)
        cache[slot] = html
    return Response(html.replace(RECEIPT_MARK, code), mimetype="text/html")


# --- errors and every response ---------------------------------------------------------


def error_page(exc: HTTPException) -> Response:
    code = exc.code or 500
    if isinstance(exc, PageError):
        key, params = exc.message_key, dict(exc.params)
    elif code in (400, 404, 405, 413):
        key, params = f"error.{code}", {}
    else:
        key, params, code = "error.500", {}, 500
    if code == 413 and "limit_mb" not in params:
        params["limit_mb"] = in_mib(rt().config.max_report_bytes)
    # A stalled or vanished client sends nothing more: don't wait for it. A busy
    # answer must not take a thread for the body: the worker closes after it.
    close = isinstance(exc, (ClientStalled, ClientDisconnected, Busy))
    if request.method == "POST" and not close:
        limit = 2 * rt().config.max_report_bytes + MIB
        close = not drain(request.environ, limit, DRAIN_SECONDS)
    title = ERROR_TITLES.get(code, "500")
    try:
        resp = page("error.html", path_lang(), f"error.title.{title}", status=code,
                    title_key=f"error.title.{title}", message_key=key, message_params=params,
                    form_closed=isinstance(exc, NoKeys))
    except Exception as render_exc:  # a broken template must not hide the status
        log.error("error page failed: %s", type(render_exc).__name__)
        resp = Response(f"Error {code}\n", status=code, mimetype="text/plain")
    if close:
        resp.headers["Connection"] = "close"
    if isinstance(exc, Busy):
        resp.headers["Retry-After"] = str(exc.retry_after_s)
    for name, value in exc.get_headers():
        if name.lower() == "allow":
            resp.headers["Allow"] = value
    return resp


def handle_http(exc: HTTPException) -> Response | HTTPException:
    if exc.code is None or exc.code < 400:
        return exc
    if isinstance(exc, ClientDisconnected) and isinstance(exc.__cause__, TimeoutError):
        return error_page(ClientStalled())  # werkzeug's name for our worker's cut-off
    return error_page(exc)


def handle_other(exc: Exception) -> Response:
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return error_page(ClientStalled())  # a slow or vanished client, not a fault of ours
    log.error("request failed: %s", type(exc).__name__)  # never its message: it may quote input
    return error_page(HTTPException())


def refuse_when_busy() -> None:
    """First of all: an upload over the worker's cap gets the busy page, unread."""
    if request.environ.get(BUSY_ENVIRON):
        raise Busy()


def check_host() -> None:
    runtime = rt()
    try:
        onions: frozenset[str] = runtime.hostnames.get()
    except Exception:
        onions = frozenset()
    if not host_allowed(request.host, onions, runtime.config.allow_local_host):
        raise WrongHost()


def after(response: Response) -> Response:
    static = request.endpoint == "static" and response.status_code < 400
    return set_headers(response, cacheable=static)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    if app.static_folder:  # Flask's static view would date files by mtime
        app.view_functions["static"] = StaticFiles(Path(app.static_folder))
    app.before_request(refuse_when_busy)  # before check_host: a 421 would read the body
    app.before_request(check_host)
    app.after_request(after)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(Exception, handle_other)
