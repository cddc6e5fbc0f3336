"""A generated set of reports with known incidents, to measure keys.evidence.groups.

:func:`make_corpus` ``(seed, incidents)`` gives reports (id, report.json content,
attachment files) and the truth (report id -> incident number). The noise:

* 1-6 reports per incident; station numbers written "17", "017", "№ 0017", "No. 17";
* a typo'd station ("71" for "17", a digit changed) only in a report that also carries the
  incident's photo or cites an earlier report's receipt (nothing else could join it);
* the incident's photo re-sent as is (same bytes), re-compressed at JPEG quality 35-95,
  resized to 50-100 %, or as PNG; other reports bring their own, different photo;
* re-sends: a report sent again (same fields and files; half of them from the same
  form page, so the same form_nonce); 70 % of reports have a description in words;
* an extra category ticked now and then (never one of another incident at the same
  station and day: a voter does not tick what they did not see);
* "sibling" incidents: the same station on another day (other photos), or the same
  station and day with another category; a few reports cite a sibling's receipt
  (a voter's own earlier report about something else) or reuse one photo of the
  polling station's entrance for two incidents on different days.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from tests.keys.evidence_images import jpeg_bytes, picture

REGIONS = ["brest", "gomel", "grodno", "minsk", "minsk_city", "mogilev", "vitebsk"]
CATEGORIES = ["forced_early_voting", "ballot_stuffing", "carousel", "observer_removed",
              "count_hidden", "pressure_at_work", "police_intimidation", "photo_of_ballot"]
WORDS = ["урна", "бюллетени", "наблюдатель", "милиция", "директор", "автобус", "список",
         "комиссия", "подпись", "окно", "вечером", "утром", "выгнали", "снимать", "нельзя"]
DAYS = [f"2025-01-{d:02d}" for d in range(20, 27)]


@dataclass
class Incident:
    number: int
    region: str
    station: int
    day: str
    category: str
    photo_seed: int
    reports: list[str] = field(default_factory=list)


@dataclass
class Corpus:
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    truth: dict[str, int] = field(default_factory=dict)
    resends: int = 0
    # incident -> reports that are not re-sends the rules can tell (same form page,
    # or same fields and same files); a re-send without files from a new page counts
    independent: dict[int, int] = field(default_factory=dict)


def _incidents(rnd: random.Random, count: int) -> list[Incident]:
    out: list[Incident] = []
    for n in range(count):
        if out and rnd.random() < 0.35:  # a sibling of an earlier incident
            base = rnd.choice(out)
            taken = {i.category for i in out if (i.region, i.station, i.day) ==
                     (base.region, base.station, base.day)}
            same_day = rnd.random() < 0.4 and len(taken) < len(CATEGORIES)
            day = base.day if same_day else rnd.choice([d for d in DAYS if d != base.day])
            cat = rnd.choice([c for c in CATEGORIES if c not in taken]) if same_day else (
                rnd.choice(CATEGORIES))
            out.append(Incident(n, base.region, base.station, day, cat, 1000 + n))
        else:
            out.append(Incident(n, rnd.choice(REGIONS), rnd.randrange(1, 120),
                                rnd.choice(DAYS), rnd.choice(CATEGORIES), 1000 + n))
    return out


def _typo(station: int, rnd: random.Random) -> str:
    text = str(station)
    if len(text) >= 2 and text[0] != text[1] and rnd.random() < 0.5:
        return text[1] + text[0] + text[2:]
    i = rnd.randrange(len(text))
    digit = rnd.choice([d for d in "123456789" if d != text[i]])
    return text[:i] + digit + text[i + 1:]


def _variant(original: bytes, rnd: random.Random) -> tuple[str, bytes]:
    kind = rnd.choice(["same", "quality", "resize", "png"])
    if kind == "same":
        return "photo.jpg", original
    img = Image.open(io.BytesIO(original)).convert("RGB")
    if kind in ("resize", "png"):
        scale = rnd.uniform(0.5, 1.0)
        img = img.resize((max(8, int(img.width * scale)), max(8, int(img.height * scale))))
    if kind == "png":
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return "photo.png", buf.getvalue()
    return "IMG_0001.jpg", jpeg_bytes(img, quality=rnd.randrange(35, 96))


class _Maker:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.corpus = Corpus()
        self.receipts: dict[str, str] = {}
        self.photo_sent: dict[int, bool] = {}

    def new_id(self) -> str:
        return f"{self.rnd.getrandbits(128):032x}"

    def report(self, inc: Incident, incidents: list[Incident], photo: bytes) -> str:
        rnd, rid = self.rnd, self.new_id()
        station = rnd.choice(["{}", "0{}", "№ 00{}", "No. {}"]).format(inc.station)
        files: list[tuple[str, bytes]] = []
        cites: list[str] = []
        roll = rnd.random()
        if roll < 0.55:
            files.append(_variant(photo, rnd))
        elif roll < 0.8:
            files.append(("mine.jpg", jpeg_bytes(picture(rnd.getrandbits(30)))))
        if inc.reports and rnd.random() < 0.25:
            cites.append(self.receipts[rnd.choice(inc.reports)])
        shared = files and files[0][0] != "mine.jpg" and self.photo_sent.get(inc.number)
        if (cites or shared) and rnd.random() < 0.25:
            station = _typo(inc.station, rnd)
        if files and files[0][0] != "mine.jpg":
            self.photo_sent[inc.number] = True
        what = [inc.category]
        same_place = {i.category for i in incidents if (i.region, i.station, i.day) ==
                      (inc.region, inc.station, inc.day)}
        free = [c for c in CATEGORIES if c not in same_place]
        if free and rnd.random() < 0.2:
            what.append(rnd.choice(free))
        self.add(rid, inc, station, what, cites, files)
        if rnd.random() < 0.7:
            words = rnd.sample(WORDS, rnd.randint(3, 8))
            self.corpus.reports[rid]["fields"]["description"] = " ".join(words)
        return rid

    def add(self, rid: str, inc: Incident, station: str, what: list[str], cites: list[str],
            files: list[tuple[str, bytes]], nonce: str | None = None) -> None:
        self.receipts[rid] = f"R{self.rnd.getrandbits(40):010X}"
        self.corpus.reports[rid] = {
            "format": "skrynka-report", "version": 1,
            "form": {"id": "election-violation", "version": 3}, "lang": "ru",
            "received_day": "2026-12-01", "receipt": self.receipts[rid], "cites": cites,
            "form_nonce": nonce or f"{self.rnd.getrandbits(128):032x}",
            "fields": {"what": what, "region": inc.region, "station": station,
                       "incident_date": inc.day},
            "attachments": [{"id": f"{self.rnd.getrandbits(128):032x}", "name": name,
                             "media_type": "image/jpeg", "size": len(data)}
                            for name, data in files]}
        self.corpus.files[rid] = files
        self.corpus.truth[rid] = inc.number
        self.corpus.independent[inc.number] = self.corpus.independent.get(inc.number, 0) + 1
        inc.reports.append(rid)

    def resend(self, rid: str, inc: Incident) -> None:
        old = self.corpus.reports[rid]
        same_page = self.rnd.random() < 0.5
        new = self.new_id()
        self.add(new, inc, old["fields"]["station"], old["fields"]["what"],
                 old["cites"], self.corpus.files[rid], old["form_nonce"] if same_page else None)
        self.corpus.reports[new]["fields"] = dict(old["fields"])
        self.corpus.resends += 1
        if same_page or self.corpus.files[rid]:
            self.corpus.independent[inc.number] -= 1


def make_corpus(seed: int = 16, incidents: int = 60) -> Corpus:
    maker = _Maker(seed)
    rnd = maker.rnd
    known = _incidents(rnd, incidents)
    entrance: dict[tuple[str, int], bytes] = {}
    for inc in known:
        photo = jpeg_bytes(picture(inc.photo_seed), quality=92)
        for _ in range(rnd.randint(1, 6)):
            rid = maker.report(inc, known, photo)
            files = maker.corpus.files[rid]
            if not files and rnd.random() < 0.3:  # the polling station's door, reused
                door = entrance.setdefault((inc.region, inc.station),
                                           jpeg_bytes(picture(rnd.getrandbits(30))))
                files.append(("door.jpg", door))
                maker.corpus.reports[rid]["attachments"].append(
                    {"id": "00", "name": "door.jpg", "media_type": "image/jpeg"})
            if inc.reports[:-1] and rnd.random() < 0.15:
                maker.resend(rid, inc)
        others = [i for i in known[: inc.number] if i.reports and i.day != inc.day]
        if others and rnd.random() < 0.1:  # the voter's own earlier report, another incident
            cited = rnd.choice(others)
            maker.corpus.reports[inc.reports[-1]]["cites"].append(
                maker.receipts[cited.reports[0]])
    return maker.corpus


def pairwise(groups: list[list[str]], truth: dict[str, int]) -> tuple[float, float]:
    """Pairwise precision and recall of ``groups`` against ``truth``."""
    same_group = {frozenset((a, b)) for g in groups for n, a in enumerate(g) for b in g[n + 1:]}
    ids = sorted(truth)
    same_truth = {frozenset((a, b)) for n, a in enumerate(ids) for b in ids[n + 1:]
                  if truth[a] == truth[b]}
    hits = len(same_group & same_truth)
    return (hits / len(same_group) if same_group else 1.0,
            hits / len(same_truth) if same_truth else 1.0)
