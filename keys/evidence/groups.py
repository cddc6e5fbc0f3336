"""Corroboration: which reports describe the same incident. Nothing is ever dropped.

API:

* :func:`load_reports` ``(directory) -> list[ReportInfo]``: every ``<id>/report.json``
  of a decrypt output directory, with its attachments' SHA-256 and perceptual hashes
  (:func:`load_report` for one folder, :func:`report_info` for a report already read).
* :func:`group_reports` ``(reports) -> list[Group]``: every report in exactly one group
  (a report linked to nothing is a group of one), largest first, ids ``G0001``, ...
* :func:`export_groups` ``(groups, path)``: a CSV (group_id, report_id, reasons,
  independent_count), one row per report, written atomically (0600).

Links. Strong: two reports come from one form page (``same form page``: the same
``form_nonce``); a report cites another's receipt code (``citation``); the two share
an attachment with the same SHA-256 (``identical attachment``); two photos' pHashes
are within :data:`keys.evidence.phash.THRESHOLD` bits (``near-identical photo``).
Weak: the same region, polling station (digits, leading zeros dropped: "№ 0017" is
17), incident day and at least one category in ``what`` (``same station, day and
category``). Union-find joins linked groups, strong links first, with two guards
against chaining distinct incidents together:

* a veto: no link joins two groups whose reports give different incident days or
  regions, or different stations: their most given station numbers (a re-send not
  counted again) must agree, or one group gives a single number one typo (one digit
  changed, added, dropped, or two neighbours swapped: "71" for "17") from the other's
  and has no more reports than it
  (:func:`stations_clash`; strong links only: a weak link needs the main numbers to
  agree). So a typo'd report joins its incident through a photo or a citation, but
  typo'd reports cannot bridge two incidents at neighbouring numbers (17 and 67 are
  one typo apart, as are any two one-digit stations). Vetoed links are tried again
  once the others have joined what they join;
* a weak link joins two groups only if their core categories meet: a group's core is
  the categories ticked by the most of its reports. So a report ticking both "x" and
  "y" does not pull an "x" incident and a "y" incident at its station into one group,
  nor does an extra box ticked in a few reports of each.

Any link, strong or weak, also needs the two reports' categories to overlap (when both
give some): the same photo of the polling station's door in two reports about
different things that day is no evidence they are one incident. Weak links are tried
most alike first (Jaccard similarity of the categories), so a report ticking "x" and
"y" joins the reports ticking exactly what it ticks before a neighbour's.

A vetoed link is kept as ``Group.related`` (the other group's id): worth a look.

Cost: photos are compared pairwise (2,000 photos, 2,350 reports: about 1-2 s; grows
with the square of the number of photos).

Independent reports: a group's reports, counting as one a re-send: reports with the
same ``form_nonce`` (one form page sent twice), or with the same fields and the same
non-empty set of attachments (byte-identical). Two people ticking the same boxes
without attachments stay two.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from keys.evidence import containers, phash
from keys.evidence.scrub import attachment_files, read_original, read_report
from keys.output import REPORT_FILE, render_csv, write_atomic

CITATION = "citation"
SAME_PAGE = "same form page"
SAME_FILE = "identical attachment"
SAME_PHOTO = "near-identical photo"
SAME_PLACE = "same station, day and category"
_ALL_PAIRS = 30
_PASSES = 8
GROUP_COLUMNS = ["group_id", "report_id", "reasons", "independent_count"]


@dataclass
class ReportInfo:
    """What grouping needs of one report."""

    report_id: str
    receipt: Optional[str] = None
    cites: list[str] = field(default_factory=list)
    form_nonce: Optional[str] = None
    region: Optional[str] = None
    station: Optional[str] = None
    day: Optional[str] = None
    categories: frozenset[str] = frozenset()
    fields_digest: str = ""
    files: list[str] = field(default_factory=list)  # SHA-256 of each attachment
    hashes: list[int] = field(default_factory=list)  # pHash of each image attachment


@dataclass
class Group:
    id: str
    report_ids: list[str]
    reasons: list[str]
    independent: int
    related: list[str] = field(default_factory=list)


def normalise_station(value: Any) -> Optional[str]:
    """A station number as digits without leading zeros ("№ 0017" -> "17"), or None."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return None
    digits = "".join(ch for ch in str(value) if ch in "0123456789")
    return (digits.lstrip("0") or "0") if digits else None


def report_info(report_id: str, report: dict[str, Any],
                attachments: Sequence[bytes] = ()) -> ReportInfo:
    """A report's grouping facts; ``attachments``: its files' bytes, in listed order."""
    fields = report.get("fields")
    if not isinstance(fields, dict):
        fields = {}
    what = fields.get("what")
    cats = [what] if isinstance(what, str) else what if isinstance(what, list) else []
    day = fields.get("incident_date")
    region = fields.get("region")
    cites = report.get("cites") if isinstance(report.get("cites"), list) else []
    info = ReportInfo(
        report_id=report_id, receipt=_str(report.get("receipt")),
        cites=[c for c in cites or [] if isinstance(c, str)],
        form_nonce=_str(report.get("form_nonce")),
        region=region.strip().lower() if isinstance(region, str) and region.strip() else None,
        station=normalise_station(fields.get("station")),
        day=day if isinstance(day, str) and day else None,
        categories=frozenset(c for c in cats if isinstance(c, str) and c),
        fields_digest=hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest())
    for data in attachments:
        info.files.append(hashlib.sha256(data).hexdigest())
        if containers.sniff(data) is not None and (h := phash.image_hash(data)) is not None:
            info.hashes.append(h)
    return info


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def load_report(folder: Path) -> ReportInfo:
    """One report folder (report.json and its attachment files; a missing file is skipped)."""
    report = read_report(folder)
    info = report_info(folder.name, report)
    for name, _ in attachment_files(report):
        try:
            data, sha, _size = read_original(folder / name)
        except OSError:
            continue
        info.files.append(sha)
        if data is not None and (h := phash.image_hash(data)) is not None:
            info.hashes.append(h)
    return info


def load_reports(directory: Path) -> list[ReportInfo]:
    """Every report folder of a decrypt output directory, by report id."""
    folders = sorted(p for p in directory.iterdir()
                     if p.is_dir() and not p.is_symlink() and (p / REPORT_FILE).is_file())
    return [load_report(p) for p in folders]


# -- linking ---------------------------------------------------------------------------


def station_typo(a: str, b: str) -> bool:
    """Whether two station numbers are equal or one typo apart (Damerau distance <= 1)."""
    if a == b:
        return True
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    if len(long_) - len(short) != 1:
        return False
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


@dataclass
class _Part:
    """A union-find root's summary: what vetoes and category rules look at."""

    members: list[int]
    days: set[str]
    regions: set[str]
    stations: Counter[str]  # how many members give each station number
    counts: Counter[str]  # how many members tick each category
    reasons: set[str] = field(default_factory=set)

    @property
    def core(self) -> set[str]:
        """The categories ticked by the most members: what the group is about."""
        return _top(self.counts)


def _top(counts: Counter[str]) -> set[str]:
    """The most frequent values (all of them on a tie)."""
    top = max(counts.values(), default=0)
    return {value for value, n in counts.items() if n == top and n}


def stations_clash(a: Counter[str], b: Counter[str], typos: bool = True) -> bool:
    """Whether two groups' station numbers (with their counts) say different stations.

    Their main stations (the most given) must meet, every station then being within one
    typo of a shared main one; or (if ``typos``: a strong link) one group gives a single
    station, one typo from the other's main one, by no more reports than the other has
    (a typo joins the majority).
    """
    if not a or not b:
        return False
    shared = _top(a) & _top(b)
    if shared:
        return not all(any(station_typo(m, s) for m in shared) for s in set(a) | set(b))
    for lone, other in ((a, b), (b, a)) if typos else ():
        if len(lone) == 1 and sum(lone.values()) <= sum(other.values()):
            station = next(iter(lone))
            if any(station_typo(station, m) for m in _top(other)):
                return False
    return True


def _set(value: Optional[str]) -> set[str]:
    return {value} if value else set()


class _Parts(dict):  # type: ignore[type-arg]
    """Root -> _Part, made when a report is first linked (most reports never are)."""

    def __init__(self, groups: _Groups) -> None:
        super().__init__()
        self.groups = groups

    def __missing__(self, i: int) -> _Part:
        self[i] = part = self.groups.new_part(i)
        return part


class _Groups:
    def __init__(self, reports: Sequence[ReportInfo]) -> None:
        self.reports = reports
        self.parent = list(range(len(reports)))
        self.firsts: list[int] | None = None
        self.parts: dict[int, _Part] = _Parts(self)
        self.vetoed: list[tuple[int, int, str]] = []

    def new_part(self, i: int) -> _Part:
        if self.firsts is None:
            self.firsts = resend_classes(self.reports)
        r = self.reports[i]
        # a re-send is no second witness of the station number: it does not count
        return _Part([i], _set(r.day), _set(r.region),
                     Counter(_set(r.station) if self.firsts[i] == i else ()),
                     Counter(r.categories))

    def members(self, root: int) -> list[int]:
        return self.parts[root].members if root in self.parts else [root]

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def conflict(self, a: _Part, b: _Part, weak: bool) -> bool:
        if len(a.days | b.days) > 1 or len(a.regions | b.regions) > 1:
            return True
        return stations_clash(a.stations, b.stations, typos=not weak)

    def link(self, i: int, j: int, reason: str) -> bool:
        """Join the groups of reports i and j unless vetoed; whether they were joined."""
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            self.parts[ri].reasons.add(reason)
            return False
        a, b = self.parts[ri], self.parts[rj]
        weak = reason == SAME_PLACE
        ci, cj = self.reports[i].categories, self.reports[j].categories
        if (self.conflict(a, b, weak) or (weak and not a.core & b.core)
                or (ci and cj and not ci & cj)):
            self.vetoed.append((i, j, reason))
            return False
        if len(a.members) < len(b.members):
            ri, rj, a, b = rj, ri, b, a
        self.parent[rj] = ri
        a.members += b.members
        a.days |= b.days
        a.regions |= b.regions
        a.stations += b.stations
        a.counts += b.counts
        a.reasons |= b.reasons | {reason}
        return True

    def link_all(self, links: list[tuple[int, int, str]]) -> None:
        """Every link in order; then the vetoed ones again while that joins more (a typo'd
        report citing another typo'd one joins once that one has joined its incident)."""
        for _ in range(_PASSES):
            self.vetoed = []
            joined = [self.link(i, j, reason) for i, j, reason in links]
            if not any(joined) or not self.vetoed:
                return
            links = self.vetoed


def _strong_links(reports: Sequence[ReportInfo], threshold: int) -> list[tuple[int, int, str]]:
    links = _pairs_by_key(((i, r.form_nonce) for i, r in enumerate(reports) if r.form_nonce),
                          SAME_PAGE)
    by_code = {r.receipt: i for i, r in enumerate(reports) if r.receipt}
    for i, r in enumerate(reports):
        links += [(i, by_code[code], CITATION) for code in r.cites
                  if code in by_code and by_code[code] != i]
    files = _pairs_by_key(((i, f) for i, r in enumerate(reports) for f in set(r.files)),
                          SAME_FILE)
    images = [(i, h) for i, r in enumerate(reports) for h in set(r.hashes)]
    links += [(images[a][0], images[b][0], SAME_PHOTO) for a, b in near_pairs(
        [h for _, h in images], threshold) if images[a][0] != images[b][0]]
    return files + links  # re-sends (same files) join first


def near_pairs(hashes: Sequence[int], threshold: int, bits: int = 64) -> list[tuple[int, int]]:
    """Index pairs (a < b, in order) of ``hashes`` within ``threshold`` bits.

    Comparing every pair took 32 s for 10,000 photos. Instead the hashes are cut into
    ``threshold // 2 + 1`` blocks: two hashes at most ``threshold`` bits apart differ
    in at most one bit in some block (were it two or more in every block, they would
    be at least ``threshold + 1`` apart). So each hash is compared only with the
    hashes whose value in some block equals its own or is one bit off it. The result
    is exactly the all-pairs one (a property test checks it)."""
    blocks = threshold // 2 + 1
    edges = [bits * k // blocks for k in range(blocks + 1)]
    found: set[tuple[int, int]] = set()
    for lo, hi in zip(edges, edges[1:]):
        width, index = hi - lo, dict[int, list[int]]()  # block value -> hash positions
        mask = (1 << width) - 1
        for n, h in enumerate(hashes):
            value = (h >> lo) & mask
            for probe in [value] + [value ^ (1 << k) for k in range(width)]:
                for m in index.get(probe, ()):
                    if (m, n) not in found and phash.hamming(hashes[m], h) <= threshold:
                        found.add((m, n))
            index.setdefault(value, []).append(n)
    return sorted(found)


def _pairs_by_key(items: Iterable[tuple[int, Any]], reason: str) -> list[tuple[int, int, str]]:
    """Links among the reports that share a key: every pair of a small bucket (so one
    vetoed link does not hide the others), a chain through a large one."""
    buckets: dict[Any, list[int]] = {}
    for i, key in items:
        bucket = buckets.setdefault(key, [])
        if i not in bucket:
            bucket.append(i)
    links = []
    for bucket in buckets.values():
        if len(bucket) <= _ALL_PAIRS:
            links += [(a, b, reason) for n, a in enumerate(bucket) for b in bucket[n + 1:]]
        else:
            links += [(a, b, reason) for a, b in zip(bucket, bucket[1:])]
    return links


def _weak_links(reports: Sequence[ReportInfo]) -> list[tuple[int, int, str]]:
    items = ((i, (r.region, r.station, r.day, cat)) for i, r in enumerate(reports)
             if r.region and r.station and r.day for cat in sorted(r.categories))
    return _pairs_by_key(items, SAME_PLACE)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def independent_count(reports: Sequence[ReportInfo]) -> int:
    """How many of ``reports`` are not re-sends of another (see the module docstring)."""
    return len(set(resend_classes(reports)))


def resend_classes(reports: Sequence[ReportInfo]) -> list[int]:
    """For each report, the index of one report standing for it and its re-sends."""
    keys: dict[Any, int] = {}
    parent = list(range(len(reports)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, r in enumerate(reports):
        for key in ([("nonce", r.form_nonce)] if r.form_nonce else []) + (
                [("same", r.fields_digest, frozenset(r.files))] if r.files else []):
            if key in keys:
                parent[find(i)] = find(keys[key])
            keys.setdefault(key, i)
    return [find(i) for i in range(len(reports))]


def group_reports(reports: Sequence[ReportInfo],
                  threshold: int = phash.THRESHOLD) -> list[Group]:
    """Groups of ``reports`` (see the module docstring)."""
    groups = _Groups(reports)
    weak = sorted(_weak_links(reports), key=lambda link: -_jaccard(
        reports[link[0]].categories, reports[link[1]].categories))
    groups.link_all(_strong_links(reports, threshold) + weak)
    roots = sorted({groups.find(i) for i in range(len(reports))},
                   key=lambda r: (-len(groups.members(r)),
                                  min(reports[m].report_id for m in groups.members(r))))
    names = {root: f"G{n:04d}" for n, root in enumerate(roots, start=1)}
    out = {}
    for root in roots:
        if root not in groups.parts:  # never linked: a group of one
            out[root] = Group(names[root], [reports[root].report_id], [], 1)
            continue
        part = groups.parts[root]
        members = sorted(part.members, key=lambda m: reports[m].report_id)
        out[root] = Group(names[root], [reports[m].report_id for m in members],
                          sorted(part.reasons), independent_count([reports[m] for m in members]))
    for i, j, _ in groups.vetoed:
        a, b = groups.find(i), groups.find(j)
        if a != b:
            _add(out[a].related, names[b])
            _add(out[b].related, names[a])
    return [out[root] for root in roots]


def _add(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)
        values.sort()


def groups_csv(groups: Sequence[Group]) -> bytes:
    """groups.csv: one row per report (UTF-8 with BOM, formula-looking cells defused)."""
    rows = [{"group_id": g.id, "report_id": rid, "reasons": g.reasons,
             "independent_count": g.independent} for g in groups for rid in g.report_ids]
    return render_csv(GROUP_COLUMNS, rows)


def export_groups(groups: Sequence[Group], path: Path) -> None:
    """Write :func:`groups_csv` to ``path`` atomically (0600)."""
    write_atomic(path, groups_csv(groups))
