"""PostgreSQL settings that keep report arrival times longer (issue 13).

PostgreSQL writes every transaction's commit time to the WAL, to the
microsecond, and a report is one transaction (SECURITY.md, "A seized server on
PostgreSQL"). That cannot be switched off, but several settings keep those
times, or log lines stamped with them, much longer than the WAL segment being
written. :func:`startup_warning` reads them once (``python -m app init``) and
returns one warning line naming each such setting, or None; :func:`judge` is the
pure rule. What to set instead, and why, is docs/postgresql.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.errors import StorageError

GUIDE = "docs/postgresql.md"
OFF = ("off", "")


@dataclass(frozen=True)
class Rule:
    """A setting, when its value keeps report times longer, and what it then keeps."""

    name: str
    risky: Callable[[str], bool]
    keeps: str


def _on(value: str) -> bool:
    return value.strip().lower() not in OFF


def _positive(value: str) -> bool:
    try:
        return float(value) > 0
    except ValueError:
        return True  # a value we cannot read: name it rather than hide it


def _not_minus_one(value: str) -> bool:
    return value.strip() != "-1"


RULES: tuple[Rule, ...] = (
    Rule("archive_mode", _on, "archived WAL keeps every commit time"),
    Rule("wal_keep_size", _positive, "keeps old WAL segments with their commit times"),
    Rule("wal_recycle", _on, "recycled WAL segments keep their old commit records"),
    Rule("summarize_wal", _on, "keeps WAL segments until they are summarized"),
    Rule("track_commit_timestamp", _on, "pg_commit_ts keeps every commit time"),
    Rule("log_statement", lambda v: v.strip().lower() in ("mod", "all"),
         "logs each report's INSERT with its time"),
    Rule("log_connections", _on, "logs connections opened as reports arrive"),
    Rule("log_disconnections", _on, "logs when connections end"),
    Rule("log_min_duration_statement", _not_minus_one, "logs statements with their time"),
    Rule("log_min_duration_sample", _not_minus_one, "logs sampled statements with their time"),
    Rule("log_transaction_sample_rate", _positive, "logs sampled transactions"),
    Rule("log_duration", _on, "logs every statement's duration with its time"),
    Rule("log_checkpoints", _on, "logs each checkpoint, which follows new reports"),
)
SLOTS = "replication slots"


def judge(settings: Mapping[str, str], slots: int = 0) -> list[str]:
    """``name=value (what it keeps)`` for each setting that keeps report times longer.

    A setting missing from ``settings`` (an older PostgreSQL) is not judged."""
    found = [f"{r.name}={settings[r.name]} ({r.keeps})"
             for r in RULES if r.name in settings and r.risky(settings[r.name])]
    if slots:
        found.append(f"{SLOTS}={slots} (hold WAL segments until they are consumed)")
    return found


def warning(problems: Sequence[str]) -> str | None:
    """One line naming every problem, or None when there is none."""
    if not problems:
        return None
    return (f"PostgreSQL keeps report arrival times longer with {'; '.join(problems)}; "
            f"see {GUIDE}")


def read_settings(engine: Engine) -> tuple[dict[str, str], int]:
    """The settings :data:`RULES` judge, and how many replication slots exist."""
    names = [r.name for r in RULES]
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT name, setting FROM pg_settings WHERE name = ANY(:names)"),
                {"names": names},
            ).all()
            slots = conn.execute(text("SELECT count(*) FROM pg_replication_slots")).scalar()
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot read PostgreSQL's settings ({type(exc).__name__})",
            hint=f"the checks of {GUIDE} were skipped; run them by hand",
        ) from None
    return {str(name): str(value) for name, value in rows}, int(slots or 0)


def startup_warning(engine: Engine) -> str | None:
    """The warning line for this server's settings (StorageError if unreadable)."""
    settings, slots = read_settings(engine)
    return warning(judge(settings, slots))
