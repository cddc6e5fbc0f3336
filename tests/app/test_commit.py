"""Group commit (app/commit.py) and the group inserter's SQL (app/inserter.py)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from app.commit import MAX_GROUP, FileLock, GroupCommit, Ticket
from app.inserter import INSERT_ATTACHMENT, INSERT_REPORT, LOCK_STATE, UPDATE_STATE
from app.models import attachments, chain_state, reports


def run_threads(n: int, target) -> None:  # type: ignore[no-untyped-def]
    pool = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(30)
    assert not any(t.is_alive() for t in pool)


def test_concurrent_submits_are_batched_and_numbered_once() -> None:
    batches: list[int] = []
    counter = [0]

    def write(batch: list[Ticket[int]]) -> None:
        time.sleep(0.01)  # a slow commit lets others queue up behind it
        batches.append(len(batch))
        for ticket in batch:
            counter[0] += 1
            ticket.seq = counter[0]

    gc: GroupCommit[int] = GroupCommit(write)
    got: dict[int, int] = {}
    run_threads(150, lambda i: got.__setitem__(i, gc.submit(i)))
    assert sorted(got.values()) == list(range(1, 151))
    assert sum(batches) == 150
    assert max(batches) > 1, "nothing was ever batched"
    assert max(batches) <= MAX_GROUP
    assert len(batches) < 150


def test_a_failed_write_fails_every_report_in_its_batch() -> None:
    calls = [0]

    def write(batch: list[Ticket[int]]) -> None:
        calls[0] += 1
        for ticket in batch:
            if ticket.item == 3:
                ticket.error = ValueError("own error")
        if calls[0] == 1:
            raise OSError("commit failed")
        for ticket in batch:
            if ticket.error is None:
                ticket.seq = 100 + ticket.item

    gc: GroupCommit[int] = GroupCommit(write)
    with pytest.raises(OSError):
        gc.submit(1)  # first batch: the transaction fails
    with pytest.raises(ValueError):
        gc.submit(3)
    assert gc.submit(5) == 105


def test_a_ticket_the_writer_forgot_is_an_error_not_a_success() -> None:
    gc: GroupCommit[int] = GroupCommit(lambda batch: None)
    with pytest.raises(RuntimeError):
        gc.submit(1)


def test_file_lock_excludes_other_holders(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "w.lock"), FileLock(tmp_path / "w.lock")
    order: list[str] = []
    with first.held():
        t = threading.Thread(target=lambda: second.held().__enter__() or order.append("2"))
        t.start()
        time.sleep(0.2)
        order.append("1")
    t.join(5)
    assert order == ["1", "2"]  # the second waited for the first to let go
    assert (tmp_path / "w.lock").stat().st_mode & 0o777 == 0o600
    first.close()
    second.close()


def _columns(sql: str) -> list[str]:
    if sql.startswith("INSERT"):
        return re.search(r"\(([^)]*)\)", sql).group(1).replace(" ", "").split(",")  # type: ignore[union-attr]
    if sql.startswith("UPDATE"):
        return re.findall(r"(\w+) = \?", sql.split("WHERE")[0])
    return re.search(r"SELECT (.*) FROM", sql).group(1).replace(" ", "").split(",")  # type: ignore[union-attr]


@pytest.mark.parametrize(("sql", "table"), [
    (INSERT_REPORT, reports), (INSERT_ATTACHMENT, attachments),
    (UPDATE_STATE, chain_state), (LOCK_STATE, chain_state),
])
def test_writer_sql_names_real_columns(sql: str, table) -> None:  # type: ignore[no-untyped-def]
    names = _columns(sql)
    assert names and set(names) <= set(table.c.keys())
    assert sql.count("?") == len(names) or not sql.startswith("INSERT")
    if sql.startswith("INSERT"):
        required = {c.name for c in table.c if not c.nullable}
        assert required <= set(names)
