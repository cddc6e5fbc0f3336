"""Decrypting batches into an analyst's output directory.

Each report becomes ``DIR/<report id>/`` holding ``report.json`` and its
attachments. A folder appears only once the whole report (report and every
attachment) has been authenticated and checked against the batch manifest, the
hash chain and what the directory has seen before: it is built in
``DIR/.tmp-<id>/`` and renamed. Reports that fail a check are named in the
summary and skipped; everything else is still decrypted. Before anything is
read, each batch's signer is checked against the one the directory trusts
(keys/origin.py); a report that is another version of a recorded seq is kept in
``DIR/quarantine/`` beside the recorded one (keys/quarantine.py).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from nacl.public import PrivateKey

from keys import batch, continuity, envelope, origin, output, quarantine, reader
from keys.errors import DamagedError, KeysError, NotRecipient, OutputError
from keys.origin import STRICT, Trust
from keys.recipients import Recipients, check_pin, describe, load_recipients
from keys.state import DirLock, Seen, State, load_state
from keys.summary import Summary
from keys.tables import MAX_REPORT_JSON, BadReport, check_report, write_tables

_TMP_DIR = re.compile(r"\.tmp-[0-9a-f]{32}")
Progress = Callable[[int, int, int, int], None]  # reports done, total, bytes done, total


class _Reject(Exception):
    """This report cannot be kept (kind: damaged, altered, duplicate, not-recipient)."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text


class _FdWriter:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        return len(data)


class _Limited:
    """The report plaintext, gathered in one buffer (no second copy to join it)."""

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.limit = limit

    def write(self, data: bytes) -> int:
        if len(self.data) + len(data) > self.limit:
            raise DamagedError("report is larger than any report the server makes")
        self.data += data
        return len(data)


def decrypt_batches(
    key: PrivateKey, batches: Sequence[str | Path], out_dir: str | Path,
    *, progress: Progress | None = None, trust: Trust = STRICT,
    recipients: Sequence[bytes] | None = None,
) -> Summary:
    """Decrypt every batch into ``out_dir``; see the module docstring.

    ``recipients``: pin these keys as the directory's expected recipients
    (keys.recipients); without it, the pin remembered in the directory applies.
    Raises FormatError before doing anything if a file is not a batch,
    OriginError if ``trust`` contradicts the directory's pinned signer, and
    OutputError if the directory cannot be written. Batches refused for their
    origin, per-report problems and batch-level errors found while streaming
    are collected in the Summary.
    """
    pin = None if recipients is None else tuple(recipients)
    if pin is not None:
        check_pin(bytes(key.public_key), pin)
    return _Run(key, Path(out_dir), progress, trust, pin).run([Path(b) for b in batches])


class _Run:
    def __init__(self, key: PrivateKey, out_dir: Path, progress: Progress | None,
                 trust: Trust = STRICT, pin: tuple[bytes, ...] | None = None) -> None:
        self.key = key
        self.trust = trust
        self.quarantine: set[Path] = set()  # final folders of quarantined versions
        self.pin = pin
        self.recipients = Recipients()
        self.sealed: dict[bytes, None] = {}  # the keys the current report is sealed to
        self.fresh: list[bytes] = []  # ids of the reports decrypted in this run
        self.known_chains: set[bytes] = set()
        self.out = out_dir
        self.progress = progress
        self.summary = Summary(out_dir)
        self.state = State()
        self.read = 0  # report envelopes whose opening was tried
        self.not_recipient = 0
        self.listed: dict[bytes, set[int]] = {}
        self.anchors: dict[bytes, set[int]] = {}  # each batch's prev.seq
        self.done = [0, 0, 0, 0]
        self.queue: list[tuple[int, str]] = []
        self.publisher = output.Publisher(out_dir)
        self.lock = DirLock(out_dir)

    def run(self, paths: list[Path]) -> Summary:
        try:
            return self._run(paths)
        finally:
            self.lock.release()

    def _run(self, paths: list[Path]) -> Summary:
        files = _open_all(paths)
        try:
            self._prepare()
            accepted = self._origin(files)
            accepted.sort(key=lambda f: (f.manifest.chain_id, f.manifest.prev_seq))
            self.done[1] = sum(len(f.manifest.reports) for f in accepted)
            self.done[3] = sum(f.manifest.body_size for f in accepted)
            for bf in accepted:
                try:
                    self._batch(bf)
                except DamagedError as exc:  # truncated, trailing bytes
                    self.summary.fatal.append(exc)
                self._publish()
        finally:
            self.publisher.discard()
            for bf in files:
                bf.close()
        continuity.report_gaps(self.state, self.listed, self.anchors, self.known_chains,
                               self.summary)
        self._recipient_notes()
        if self.not_recipient and self.not_recipient == self.read:  # SPEC 3.3
            self.summary.problems = [p for p in self.summary.problems
                                     if not p.startswith("not-recipient")]
            self.summary.fatal.insert(0, NotRecipient(
                f"these batches are not sealed to this key (none of the {self.not_recipient} "
                "reports opens with it)",
                hint="decrypt with the key whose public key the server was configured with",
            ))
        tables = write_tables(self.out, self.state, self.recipients)
        self.summary.unresolved, self.summary.left_out = tables.unresolved, tables.left_out
        return self.summary

    def _origin(self, files: list[reader.BatchFile]) -> list[reader.BatchFile]:
        """The batches whose signer and chain the directory accepts (keys/origin.py)."""
        verdict = origin.check(self.state, files, self.trust)
        self.summary.fatal.extend(verdict.refused)
        self.summary.signer_pinned = verdict.pinned_now
        self.summary.signers_pinned, self.summary.signers_added = verdict.pinned, verdict.added
        self.summary.new_chains = verdict.new_chains
        self.summary.several_signers = len(self.state.signers) > 1
        self.summary.names = {k: self.state.names[k] for k in verdict.named}
        if verdict.pinned or verdict.added or verdict.bound or verdict.named:
            self.state.save(self.out)
        return verdict.accepted

    def _recipient_notes(self) -> None:
        pinned = self.recipients.pinned
        if pinned is not None:
            self.summary.pinned = len(pinned)
            total = self.recipients.flagged()
            if total > self.summary.unexpected:
                self.summary.notes.append(
                    f"{total} report(s) in {self.out} are sealed to keys outside the pinned "
                    "recipients (column unexpected_recipients of reports.csv)")
            return
        counts = self.recipients.key_counts(self.fresh)
        if counts:
            keys = ", ".join(f"{describe([k])} ({n})" for k, n in counts.items())
            self.summary.notes.append(
                f"recipients not pinned for {self.out}: the reports decrypted are sealed to "
                f"{keys}; pin the expected keys with --recipients FILE")

    def _publish(self) -> None:
        """Make staged reports durable and visible, then remember them."""
        for item, fresh in self.publisher.publish():
            if item.final in self.quarantine:
                self.summary.quarantined += fresh
            elif fresh:
                self.summary.decrypted += 1
                self.summary.attachments += item.attachments
            else:
                self.summary.skipped += 1  # decrypted before (the state was lost)
        self.state.save(self.out)
        self.recipients.save(self.out)

    def _prepare(self) -> None:
        try:
            self.out.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.lock.acquire()  # before touching anything another run may be using
            for entry in os.scandir(self.out):
                if _TMP_DIR.fullmatch(entry.name):
                    _remove(Path(entry.path))
        except OSError as exc:
            raise OutputError(f"cannot use output directory {self.out}: {exc.strerror}") from None
        self.state = load_state(self.out)
        self.known_chains = set(self.state.chains)
        self.recipients = load_recipients(self.out)
        if self.pin is not None:
            before = self.recipients.pinned
            if before is not None and set(before) != set(self.pin):
                self.summary.notes.append(
                    f"recipients pin of {self.out} replaced: was {describe(before)}")
            self.recipients.pinned = self.pin
            self.recipients.save(self.out)

    def _batch(self, bf: reader.BatchFile) -> None:
        m = bf.manifest
        self.anchors.setdefault(m.chain_id, set()).add(m.prev_seq)
        listed = self.listed.setdefault(m.chain_id, set())
        listed.update(r.seq for r in m.reports)
        anchor = self.state.get(m.chain_id, m.prev_seq)
        known = batch.GENESIS if m.prev_seq == 0 else anchor.chain if anchor else None
        if known is not None and known != m.prev_chain:
            name = self.state.chain_name(m.chain_id)
            lead = "" if name == f"server {m.chain_id.hex()}" else f"{name}: "
            self.summary.problems.append(
                f"forked: {lead}{bf.name}: its link to report seq {m.prev_seq} differs from the "
                "one seen before (this server's chain was rewritten); its reports are kept"
            )
        for index, item in enumerate(m.reports):
            self._report(bf, index, item)
            if self.publisher.full():
                self._publish()
            self.done[0] += 1
            self.done[2] += item.size + sum(a.size for a in item.attachments)
            if self.progress:
                self.progress(*self.done)
        bf.finish()

    def _report(self, bf: reader.BatchFile, index: int, item: reader.ReportItem) -> None:
        staging = self.out / f".tmp-{item.id.hex()}"
        self.queue = [(item.size, f"report seq {item.seq}")]
        self.queue += [(a.size, f"attachment {a.id.hex()} of report seq {item.seq}")
                       for a in item.attachments]
        try:
            try:
                if not self._skip_known(bf, item):
                    self._decrypt(bf, index, item, staging)
            except _Reject as exc:
                if exc.kind == "not-recipient":
                    self.not_recipient += 1
                name = f"report {item.id.hex()} (seq {item.seq}) in {bf.name}"
                self.summary.problems.append(f"{exc.kind}: {name}: {exc.text}")
            while self.queue:
                self._next(bf).drain()
        finally:
            staged = self.publisher.pending and self.publisher.pending[-1].staging == staging
            if not staged and (staging.exists() or staging.is_symlink()):
                _remove(staging)

    def _next(self, bf: reader.BatchFile) -> reader.Section:
        size, where = self.queue.pop(0)
        return bf.section(size, where)

    def _skip_known(self, bf: reader.BatchFile, item: reader.ReportItem) -> bool:
        m = bf.manifest
        where = self.state.ids.get(item.id)
        if where is not None and where != (m.chain_id, item.seq):
            other = (f" of {self.state.chain_name(where[0])}"
                     if where[0] != m.chain_id and self.summary.several_signers else "")
            raise _Reject("duplicate", f"this report id was seen before as seq {where[1]}{other}")
        known = self.state.get(m.chain_id, item.seq)
        if known is None or (known.report_id, known.envelope_sha256, known.chain) != (
                item.id, item.sha256, item.chain):
            return False  # new, or another version of a recorded seq (quarantined)
        if not (self.out / item.id.hex()).is_dir():
            return False  # seen, but its folder was removed: decrypt it again
        if self._next(bf).sha256() != known.envelope_sha256:
            raise _Reject("altered", "differs from the copy decrypted before")
        self.summary.skipped += 1
        return True

    def _decrypt(
        self, bf: reader.BatchFile, index: int, item: reader.ReportItem, staging: Path
    ) -> None:
        m = bf.manifest
        section = self._next(bf)
        report = self._open_report(section, item)
        sha = section.sha256()
        if sha != item.sha256 or reader.link_ok(m, index, sha) is False:
            raise _Reject("altered", "its envelope does not match the batch's hash chain")
        if item.attachments:
            try:
                staging.mkdir(mode=0o700)
            except OSError as exc:
                raise OutputError(f"cannot create {staging}: {exc.strerror}") from None
        names = output.attachment_names(report)
        listing = {bytes.fromhex(a["id"]): (a, n) for a, n in zip(report["attachments"], names)}
        if len(listing) != len(names) or set(listing) != {a.id for a in item.attachments}:
            raise _Reject("damaged", "its attachments in the batch differ from those it lists")
        files = [staging / output.REPORT_FILE] + [staging / listing[a.id][1]
                                                  for a in item.attachments]
        for att in item.attachments:
            self._attachment(self._next(bf), att, item, listing[att.id], staging)
        seen = Seen(item.id, sha, item.chain)
        final = self._destination(bf, item.seq, seen)
        staged = output.Staged(staging, final, files, len(item.attachments))
        self.publisher.stage(staged, output.report_json_chunks(report),
                             sum(a.size for a in item.attachments) + item.size,
                             make_dir=not item.attachments)
        if final not in self.quarantine:
            self.state.add(m.chain_id, item.seq, seen)
        self.fresh.append(item.id)
        extra = self.recipients.record(item.id, self.sealed)
        if extra:
            self.summary.unexpected += 1
            self.summary.flags.append(
                f"unexpected-recipient: report {item.id.hex()} (seq {item.seq}) in {bf.name}: "
                f"also sealed to {describe(extra)}, outside the pinned recipients")

    def _destination(self, bf: reader.BatchFile, seq: int, seen: Seen) -> Path:
        """DIR/<id>, or the quarantine folder if the seq was recorded as something else."""
        m = bf.manifest
        known = self.state.get(m.chain_id, seq)
        if known is None or known == seen:
            return self.out / seen.report_id.hex()
        conflict = quarantine.Conflict(m.chain_id, seq, known, seen, bf.name, m.signer,
                                       self.state.chain_name(m.chain_id))
        final = quarantine.prepare(self.out, conflict)
        self.quarantine.add(final)
        self.summary.problems.append(conflict.problem(final))
        return final

    def _open_report(
        self, section: reader.Section, item: reader.ReportItem
    ) -> dict[str, Any]:
        sink = _Limited(MAX_REPORT_JSON)
        self.read += 1
        try:
            header, _ = envelope.open_stream(section, sink, self.key)  # type: ignore[arg-type]
        except NotRecipient:
            raise _Reject("not-recipient", "it is not sealed to this key") from None
        except reader.BatchTruncated:
            raise
        except KeysError as exc:
            raise _Reject("damaged", exc.message) from None
        self.sealed = dict.fromkeys(header.recipients)
        if header.kind != envelope.KIND_REPORT or header.report_id != item.id:
            raise _Reject("damaged", "its envelope is not this report's")
        try:
            report = check_report(sink.data)
        except BadReport as exc:
            raise _Reject("damaged", str(exc)) from None
        return report

    def _attachment(
        self, section: reader.Section, att: reader.AttachmentItem, item: reader.ReportItem,
        listed: tuple[dict[str, Any], str], staging: Path,
    ) -> None:
        entry, name = listed
        fd = output.create_exclusive(staging / name)
        try:
            header, info = envelope.open_stream(section, _FdWriter(fd), self.key)  # type: ignore[arg-type]
        except reader.BatchTruncated:
            raise
        except KeysError as exc:
            raise _Reject("damaged", f"attachment {att.id.hex()}: {exc.message}") from None
        except OSError as exc:
            raise OutputError(f"cannot write {staging / name}: {exc.strerror}") from None
        finally:
            os.close(fd)
        if (header.kind != envelope.KIND_ATTACHMENT or header.envelope_id != att.id
                or header.report_id != item.id):
            raise _Reject("damaged", f"attachment {att.id.hex()} belongs to another report")
        self.sealed.update(dict.fromkeys(header.recipients))
        # The envelope hash binds the plaintext: the AEAD authenticates it under the file
        # key sealed in these very bytes (SPEC 3.4).
        sha = section.sha256()
        if info.size != entry["size"] or sha.hex() != entry["envelope_sha256"]:
            raise _Reject("damaged", f"attachment {att.id.hex()} differs from the report's listing")
        if sha != att.sha256:
            raise _Reject("altered", f"attachment {att.id.hex()} differs from the batch manifest")


def _open_all(paths: list[Path]) -> list[reader.BatchFile]:
    files: list[reader.BatchFile] = []
    try:
        for path in paths:
            files.append(reader.open_batch(path))
    except BaseException:
        for bf in files:
            bf.close()
        raise
    return files


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)
