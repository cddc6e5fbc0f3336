"""Who else can read: the recipients pin of an output directory (SPEC.md, "Key
fingerprints and the recipients pin").

Every envelope's header lists, in clear, the public keys it is sealed to
(SPEC.md §2.1). An analyst pins the set of keys the reports are expected to be
sealed to (``decrypt --recipients FILE``); the pin is remembered in
``DIR/.skrynka-recipients.json`` with the keys each decrypted report was sealed
to, so a report sealed to any other key is flagged (in the run's summary and in
the ``unexpected_recipients`` column of reports.csv), even when the pin is set
after the report was decrypted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keys.errors import KeyFileError, OutputError, UsageError
from keys.output import read_json, write_atomic
from keys.pubkey import decode_public, encode_public, fingerprint

PIN_FILE = ".skrynka-recipients.json"
_FORMAT = "skrynka-recipients"
_HINT = (f"move {PIN_FILE} aside and decrypt again with --recipients FILE "
         "(the keys of earlier reports are then not known)")


@dataclass
class Recipients:
    """The pinned keys of a directory (None: not pinned) and each report's keys."""

    pinned: tuple[bytes, ...] | None = None
    sealed_to: dict[bytes, tuple[bytes, ...]] = field(default_factory=dict)

    def record(self, report_id: bytes, keys: Iterable[bytes]) -> tuple[bytes, ...]:
        """Remember the keys a report is sealed to; returns those outside the pin."""
        self.sealed_to[report_id] = tuple(dict.fromkeys(keys))
        return self.unexpected(report_id)

    def unexpected(self, report_id: bytes) -> tuple[bytes, ...]:
        if self.pinned is None:
            return ()
        return tuple(k for k in self.sealed_to.get(report_id, ()) if k not in self.pinned)

    def flagged(self) -> int:
        """How many reports of the directory are sealed to a key outside the pin."""
        return sum(1 for rid in self.sealed_to if self.unexpected(rid))

    def key_counts(self, report_ids: Iterable[bytes]) -> dict[bytes, int]:
        """Per key, how many of these reports are sealed to it."""
        counts: dict[bytes, int] = {}
        for rid in report_ids:
            for key in self.sealed_to.get(rid, ()):
                counts[key] = counts.get(key, 0) + 1
        return counts

    def dump(self) -> bytes:
        sets: dict[tuple[bytes, ...], int] = {}
        reports = {rid.hex(): sets.setdefault(keys, len(sets))
                   for rid, keys in sorted(self.sealed_to.items())}
        data = {
            "format": _FORMAT, "version": 1,
            "pinned": None if self.pinned is None else [encode_public(k) for k in self.pinned],
            "sets": [[encode_public(k) for k in keys] for keys in sets],
            "reports": reports,
        }
        return (json.dumps(data, separators=(",", ":")) + "\n").encode("ascii")

    def save(self, out_dir: Path) -> None:
        write_atomic(out_dir / PIN_FILE, self.dump())


def check_pin(mine: bytes, pin: Sequence[bytes], name: str = "the pinned recipients") -> None:
    """UsageError if the pin leaves out the decrypting key (every report would be flagged)."""
    if mine not in pin:
        raise UsageError(
            f"{name} does not list this key ({fingerprint(mine)})",
            hint="list every key the reports should be sealed to, your own too "
                 "(`python -m keys pubkey KEYFILE` prints it)",
        )


def describe(keys: Sequence[bytes]) -> str:
    """Keys by fingerprint, as the server's log line and ``app stats`` name them."""
    return ", ".join(fingerprint(k) for k in keys)


def load_recipients(out_dir: Path) -> Recipients:
    """The directory's pin and record; an empty one if there is none yet."""
    path = out_dir / PIN_FILE
    data = read_json(path, _HINT)
    if data is None:
        return Recipients()
    try:
        return _parse(data)
    except (ValueError, KeyError, TypeError, IndexError, KeyFileError):
        raise OutputError(f"{path} is damaged", hint=_HINT) from None


def _parse(data: Any) -> Recipients:
    if data["format"] != _FORMAT or data["version"] != 1:
        raise ValueError("not a recipients file")
    pinned = data["pinned"]
    out = Recipients(None if pinned is None else tuple(decode_public(k) for k in pinned))
    sets = [tuple(decode_public(k) for k in keys) for keys in data["sets"]]
    for rid, index in data["reports"].items():
        if type(index) is not int or index < 0 or len(bytes.fromhex(rid)) != 16:
            raise ValueError("bad entry")
        out.sealed_to[bytes.fromhex(rid)] = sets[index]
    return out
