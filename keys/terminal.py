"""Text for the analyst's terminal: every string printed passes through :func:`clean`.

Batch file names, ids and fields come from a batch the analyst cannot trust. An
escape sequence in them could rewrite the screen (hide an "altered" warning, fake
a success line), and a bidirectional override could reorder what is shown. So
every control character (C0, DEL, C1, ESC among them), every bidi embedding,
override or isolate, and every lone surrogate (an undecodable byte of a file
name) is shown as a visible escape: ``\\x1b``, ``\\u202e``, ``\\udcff``.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls; bidi marks, embeddings, overrides and isolates;
# line and paragraph separators; lone surrogates (undecodable bytes of a name).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """``text`` with every character that could act on a terminal made visible."""
    return _UNSAFE.sub(_escape, text)
