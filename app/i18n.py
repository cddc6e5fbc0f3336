"""Message catalogs for the voter-facing pages (Belarusian, Russian, English).

Catalogs live in ``app/translations/<lang>.toml``. Each is a TOML document whose
tables are flattened into dotted keys (``[form] submit = "…"`` is ``form.submit``).
Texts are ``str.format`` templates: ``{limit_mb}`` is a placeholder, ``{{`` a
literal brace. English is the reference catalog: a key missing from ``be`` or
``ru`` falls back to English, a key missing from English is a :class:`KeyError`.
:meth:`Catalogs.check` lists every difference between the catalogs so a test
(and the app at start-up) can refuse a broken translation.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from app.errors import ConfigError

LANGS: tuple[str, ...] = ("be", "ru", "en")
DEFAULT_LANG = "be"
REFERENCE_LANG = "en"

#: Each language's name in that language (for the language switch).
LANG_NAMES: Mapping[str, str] = {"be": "Беларуская", "ru": "Русский", "en": "English"}


class I18nError(ConfigError):
    """A catalog file is missing or not valid TOML of strings."""


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` placeholders of a format string (ValueError if malformed)."""
    names = set()
    for _literal, field, _spec, _conv in string.Formatter().parse(text):
        if field is not None:
            names.add(field)
    return frozenset(names)


def _flatten(table: Mapping[str, Any], prefix: str, out: dict[str, str], where: str) -> None:
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            _flatten(value, key + ".", out, where)
        elif isinstance(value, str):
            if key in out:
                raise I18nError(f"{where}: key {key!r} is defined twice")
            out[key] = value
        else:
            raise I18nError(
                f"{where}: {key!r} must be a string, not {type(value).__name__}",
                "write every message as key = \"text\"",
            )


def _read_catalog(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise I18nError(f"catalog {path} is missing") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise I18nError(f"cannot read catalog {path}: {e}") from None
    out: dict[str, str] = {}
    _flatten(doc, "", out, str(path))
    return out


@dataclass(frozen=True)
class Catalogs:
    """All languages' messages, flattened to ``{lang: {key: text}}``."""

    messages: Mapping[str, Mapping[str, str]]

    def gettext(self, lang: str, key: str, **params: object) -> str:
        """The text for ``key`` in ``lang`` (English if untranslated), formatted.

        An unknown ``lang`` is treated as English. Raises KeyError when English
        lacks the key or when a placeholder has no parameter.
        """
        text = self.messages.get(lang, {}).get(key)
        if text is None:
            text = self.messages[REFERENCE_LANG][key]
        return text.format(**params) if params or "{" in text else text

    def translator(self, lang: str) -> Callable[..., str]:
        """A ``t(key, **params)`` bound to one language, for templates."""

        def t(key: str, **params: object) -> str:
            return self.gettext(lang, key, **params)

        return t

    def keys(self) -> frozenset[str]:
        """The keys of the reference (English) catalog."""
        return frozenset(self.messages[REFERENCE_LANG])

    def check(self) -> list[str]:
        """Every problem found: missing/extra keys, placeholder mismatches, bad formats."""
        problems: list[str] = []
        ref = self.messages.get(REFERENCE_LANG, {})
        for lang in LANGS:
            cat = self.messages.get(lang)
            if not cat:
                problems.append(f"{lang}: catalog is missing or empty")
                continue
            for key, text in sorted(cat.items()):
                try:
                    names = placeholders(text)
                except ValueError as e:
                    problems.append(f"{lang}: {key}: malformed format string: {e}")
                    continue
                if key not in ref:
                    problems.append(f"{lang}: {key}: not in the {REFERENCE_LANG} catalog")
                    continue
                if not text.strip():
                    problems.append(f"{lang}: {key}: empty text")
                try:
                    ref_names = placeholders(ref[key])
                except ValueError:
                    continue  # reported on the reference language's own pass
                if lang != REFERENCE_LANG and names != ref_names:
                    problems.append(
                        f"{lang}: {key}: placeholders {sorted(names)} differ from "
                        f"{REFERENCE_LANG} {sorted(ref_names)}"
                    )
            for key in sorted(set(ref) - set(cat)):
                problems.append(f"{lang}: {key}: missing (falls back to {REFERENCE_LANG})")
        return problems


def load_catalogs(directory: str | Path) -> Catalogs:
    """Read ``<directory>/<lang>.toml`` for every language in :data:`LANGS`."""
    base = Path(directory)
    return Catalogs({lang: _read_catalog(base / f"{lang}.toml") for lang in LANGS})
