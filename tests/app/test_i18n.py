"""The be/ru/en message catalogs: parity of keys and placeholders, fallback, checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.i18n import (
    DEFAULT_LANG,
    LANGS,
    Catalogs,
    I18nError,
    load_catalogs,
    placeholders,
)

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "app" / "translations"
TEMPLATES = ROOT / "app" / "templates"

#: Keys other modules (the views, error handlers and the form) rely on.
CONTRACT_KEYS = {
    "error.required": set(),
    "group.required": set(),
    "page.error_prefix": set(),
    "error.too_long": {"max"},
    "error.unknown_choice": set(),
    "error.duplicate": set(),
    "error.bad_chars": set(),
    "error.bad_date": set(),
    "error.bad_time": set(),
    "error.future_date": set(),
    "error.400": set(),
    "error.404": set(),
    "error.405": set(),
    "error.413": {"limit_mb"},
    "error.413_files": {"max_files"},
    "error.503_nokey": set(),
    "error.503_full": set(),
    "error.503_busy": set(),
    "error.500": set(),
    "error.host": set(),
    "error.title.400": set(),
    "error.title.404": set(),
    "error.title.405": set(),
    "error.title.413": set(),
    "error.title.503": set(),
    "error.title.500": set(),
    "error.title.host": set(),
    "error.code": {"status"},
    "form.file_limits": {"max_file_mb", "max_report_mb"},
    "form.file_count": {"max_files"},
}


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return load_catalogs(TRANSLATIONS)


def test_languages() -> None:
    assert LANGS == ("be", "ru", "en")
    assert DEFAULT_LANG == "be"


def test_shipped_catalogs_have_no_problems(catalogs: Catalogs) -> None:
    assert catalogs.check() == []


def test_same_keys_in_every_language(catalogs: Catalogs) -> None:
    en = set(catalogs.messages["en"])
    assert len(en) > 50
    for lang in LANGS:
        assert set(catalogs.messages[lang]) == en, lang


def test_same_placeholders_in_every_language(catalogs: Catalogs) -> None:
    for key, text in catalogs.messages["en"].items():
        for lang in ("be", "ru"):
            assert placeholders(catalogs.messages[lang][key]) == placeholders(text), (lang, key)


def test_contract_keys_exist_with_their_placeholders(catalogs: Catalogs) -> None:
    for key, names in CONTRACT_KEYS.items():
        for lang in LANGS:
            assert placeholders(catalogs.messages[lang][key]) == names, (lang, key)


def test_translations_are_translated(catalogs: Catalogs) -> None:
    """be and ru are written in Cyrillic, and differ from each other where they should."""
    cyr = re.compile("[\u0400-\u04ff]")
    for lang in ("be", "ru"):
        for key in ("form.submit", "form.intro", "safety.tor_text", "receipt.no_screenshot"):
            assert cyr.search(catalogs.gettext(lang, key)), (lang, key)
    assert catalogs.gettext("be", "form.submit") != catalogs.gettext("ru", "form.submit")
    # Belarusian-only letters appear in the Belarusian catalog, never in the Russian one.
    be_text = " ".join(catalogs.messages["be"].values())
    ru_text = " ".join(catalogs.messages["ru"].values())
    assert "ў" in be_text and "і" in be_text
    assert "ў" not in ru_text and "и" in ru_text


def test_every_key_used_by_templates_exists(catalogs: Catalogs) -> None:
    used: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']""", path.read_text("utf-8")))
    assert "form.submit" in used and "receipt.code_label" in used
    assert used - catalogs.keys() == set()


def test_gettext_formats_and_falls_back() -> None:
    cats = Catalogs(
        {
            "en": {"a": "A {n}", "b": "B", "c": "brace {{x}}"},
            "be": {"a": "А {n}"},
            "ru": {"a": "А {n}", "b": "Б"},
        }
    )
    assert cats.gettext("be", "a", n=3) == "А 3"
    assert cats.gettext("be", "b") == "B"  # missing in be: English
    assert cats.gettext("ru", "b") == "Б"
    assert cats.gettext("en", "c") == "brace {x}"
    assert cats.gettext("xx", "b") == "B"  # unknown language: English
    assert cats.translator("ru")("a", n=1) == "А 1"
    with pytest.raises(KeyError):
        cats.gettext("en", "nope")
    with pytest.raises(KeyError):
        cats.gettext("be", "a")  # placeholder without a parameter


def test_check_reports_each_kind_of_problem() -> None:
    cats = Catalogs(
        {
            "en": {"a": "A {n}", "b": "B", "c": "C"},
            "be": {"a": "А {m}", "b": "Б", "extra": "x"},
            "ru": {"a": "А {n}", "b": "Б {", "c": " "},
        }
    )
    problems = "\n".join(cats.check())
    assert "be: a: placeholders ['m'] differ" in problems
    assert "be: c: missing" in problems
    assert "be: extra: not in the en catalog" in problems
    assert "ru: b: malformed format string" in problems
    assert "ru: c: empty text" in problems
    assert "ru: a" not in problems


def test_load_rejects_bad_files(tmp_path: Path) -> None:
    for lang in LANGS:
        (tmp_path / f"{lang}.toml").write_text('[form]\nsubmit = "Go"\n', "utf-8")
    cats = load_catalogs(tmp_path)
    assert cats.gettext("be", "form.submit") == "Go"  # tables flatten to dotted keys

    (tmp_path / "ru.toml").write_text("count = 3\n", "utf-8")
    with pytest.raises(I18nError, match="must be a string"):
        load_catalogs(tmp_path)
    (tmp_path / "ru.toml").write_text("broken = \n", "utf-8")
    with pytest.raises(I18nError, match="cannot read"):
        load_catalogs(tmp_path)
    (tmp_path / "ru.toml").unlink()
    with pytest.raises(I18nError, match="missing"):
        load_catalogs(tmp_path)


def test_duplicate_flattened_key_is_rejected(tmp_path: Path) -> None:
    for lang in LANGS:
        (tmp_path / f"{lang}.toml").write_text(
            '"form.submit" = "x"\n[form]\nsubmit = "y"\n', "utf-8"
        )
    with pytest.raises(I18nError, match="defined twice"):
        load_catalogs(tmp_path)
