"""Checks of the summary's HTML for test_findings*.py: tags closed, no scripts, no
remote resources, every link's target present."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
URL_ATTRS = {"href", "src", "srcset", "action", "poster", "data", "xlink:href"}


class Checker(HTMLParser):
    """Collects the problems of one page and the URLs it links to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.urls: list[str] = []
        self.doctype = False
        self.lang: str | None = None
        self.ids: set[str] = set()

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" or any(name.startswith("on") for name, _ in attrs):
            self.problems.append(f"script: <{tag}>")
        if tag == "html":
            self.lang = dict(attrs).get("lang")
        if dict(attrs).get("id"):
            self.ids.add(str(dict(attrs)["id"]))
        for name, value in attrs:
            if name in URL_ATTRS and value is not None:
                self.urls.append(value)
            if name == "style" and value and "url(" in value:
                self.problems.append(f"url() in a style attribute: {value}")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else ''}>")
            return
        self.stack.pop()


def check_page(path: Path) -> Checker:
    text = path.read_text(encoding="utf-8")
    checker = Checker()
    checker.feed(text)
    checker.close()
    if checker.stack:
        checker.problems.append(f"unclosed: {checker.stack}")
    if not checker.doctype:
        checker.problems.append("no <!DOCTYPE html>")
    if "<script" in text.lower():
        checker.problems.append("<script")
    return checker


def remote(url: str) -> bool:
    return bool(urlsplit(url).scheme or url.startswith("//"))


def check_folder(out: Path, allowed_outside: Path) -> int:
    """Check every page of ``out``; returns how many links were followed."""
    followed = 0
    for page in sorted(out.rglob("*.html")):
        checker = check_page(page)
        assert checker.problems == [], (page, checker.problems)
        assert checker.lang in ("be", "ru", "en"), page
        for url in checker.urls:
            assert not remote(url), (page, url)
            parts = urlsplit(url)
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            assert target.exists(), (page, url)
            if parts.fragment:
                assert parts.fragment in check_page(target).ids, (page, url)
            inside = target.is_relative_to(out.resolve()) or \
                target.is_relative_to(allowed_outside.resolve())
            assert inside, (page, url)
            followed += 1
    css = (out / "style.css").read_text(encoding="utf-8")
    assert "@media print" in css
    assert not re.search(r"url\(|@import|https?://", css)
    return followed
