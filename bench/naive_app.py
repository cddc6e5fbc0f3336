"""An information row for ``bench/app_bench.py``: a naive ORM insert per request.

What a first-draft drop might do, measured in the same run under the same
``gunicorn.conf.py`` and client as the others, for comparison only (no target
rests on it): Flask's own form parser, one ORM object, one session commit per
request (SQLite with its default journal, durable), and a 201. No validation,
no sealing; the fields are stored in clear, so this app exists only in the bench
and only in a temporary directory.
"""

from __future__ import annotations

import os

from flask import Flask, request
from sqlalchemy import LargeBinary, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class _Base(DeclarativeBase):
    pass


class Row(_Base):
    __tablename__ = "naive_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)


engine = create_engine(f"sqlite:///{os.environ['SKRYNKA_DATA']}/naive-bench.db")
try:
    _Base.metadata.create_all(engine)
except OperationalError:  # both workers import this at once: the other one created it
    _Base.metadata.create_all(engine)  # now only checks (or fails for a real reason)
app = Flask(__name__)


@app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@app.route("/<path:path>", methods=["GET", "POST"])
def answer(path: str) -> tuple[str, int]:
    del path
    fields = "\n".join(f"{k}={v}" for k, v in request.form.items(multi=True))
    with Session(engine) as session:
        session.add(Row(body=fields.encode()))
        session.commit()
    return "", 201
