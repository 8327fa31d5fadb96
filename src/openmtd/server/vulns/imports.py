"""Importing vulnerability feed documents into the store, incrementally.

A document (any format `intel.vuln_feeds.detect` knows) is parsed, and only what changed is
written: records are kept per source with their revision, so a re-import of the same feed
writes nothing but its log line. KEV and EPSS are catalogs: each import makes the stored copy
equal to the document (EPSS is a daily full snapshot, KEV only grows but an entry can change).
The whole import is one transaction: a document that fails leaves the store as it was. An
import that changed anything bumps the vulnerability generation: the server then re-matches
the fleet in the background (`server.vulns.protection`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from openmtd.domain.errors import InvalidInput
from openmtd.domain.vulns import EpssScore, ImportProblem, KevEntry
from openmtd.intel.vuln_feeds import incremental, parse_epss, parse_kev, revision
from openmtd.intel.vuln_feeds.detect import RECORD_PARSERS, VulnFormat, detect_format
from openmtd.intel.vuln_feeds.wire import record_to_json
from openmtd.server.vulns.state import VULN_GENERATION
from openmtd.server.web.sync import bump_counter
from openmtd.store.models import EpssRow, KevRow, VulnImport, VulnRecordRow

SAMPLE_PROBLEMS = 20
_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class ImportSummary:
    origin: str
    format: str
    records: int  # in the document (records, KEV entries or EPSS scores)
    new: int
    changed: int
    unchanged: int
    problems: int
    problem_samples: list[dict[str, str]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _samples(problems: Sequence[ImportProblem]) -> list[dict[str, str]]:
    return [{"record": p.record, "reason": p.reason} for p in problems[:SAMPLE_PROBLEMS]]


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


def import_document(db: Session, data: bytes, *, origin: str, now: datetime) -> ImportSummary:
    """Parse and store one feed document; InvalidInput when it is no feed at all."""
    try:
        kind = detect_format(data)
        if kind is VulnFormat.KEV:
            entries, problems = parse_kev(data)
            summary = _store_kev(db, entries, problems, origin)
        elif kind is VulnFormat.EPSS:
            scores, epss_problems = parse_epss(data)
            summary = _store_epss(db, scores, epss_problems, origin)
        else:
            summary = _store_records(db, kind, data, origin, now)
    except ValueError as e:
        raise InvalidInput(f"{origin}: {e}", code="bad_vuln_feed") from None
    db.add(VulnImport(origin=origin[:2048], format=summary.format, imported_at=now,
                      summary=summary.to_json()))  # fmt: skip
    if summary.new or summary.changed or kind is VulnFormat.EPSS:
        bump_counter(db, VULN_GENERATION, now=now)  # the fleet is matched again
    return summary


def _store_records(
    db: Session, kind: VulnFormat, data: bytes, origin: str, now: datetime
) -> ImportSummary:
    result = RECORD_PARSERS[kind](data)
    sources = {r.source.value for r in result.records}
    previous: dict[tuple[str, str], str] = {
        (row.source, row.id): row.revision
        for row in db.execute(
            select(VulnRecordRow.source, VulnRecordRow.id, VulnRecordRow.revision).where(
                VulnRecordRow.source.in_(sources)
            )
        )
    }
    new_rows: list[dict[str, Any]] = []
    changed_rows: list[dict[str, Any]] = []
    unchanged = 0
    for source in sorted(sources):
        earlier = {rid: rev for (src, rid), rev in previous.items() if src == source}
        fresh, same = incremental(earlier, [r for r in result.records if r.source.value == source])
        unchanged += len(same)
        written: set[str] = set()
        for record in fresh:
            if record.id in written:
                continue  # listed twice in one document: the first one counts
            written.add(record.id)
            row = {
                "source": source,
                "id": record.id,
                "revision": revision(record),
                "record": record_to_json(record),
                "imported_at": now,
            }
            (changed_rows if record.id in earlier else new_rows).append(row)
    for chunk in _chunks(new_rows):
        db.execute(insert(VulnRecordRow), list(chunk))
    for row in changed_rows:
        db.execute(
            update(VulnRecordRow)
            .where(VulnRecordRow.source == row["source"], VulnRecordRow.id == row["id"])
            .values(revision=row["revision"], record=row["record"], imported_at=now)
        )
    return ImportSummary(
        origin=origin,
        format=kind.value,
        records=len(result.records),
        new=len(new_rows),
        changed=len(changed_rows),
        unchanged=unchanged,
        problems=len(result.problems),
        problem_samples=_samples(result.problems),
        skipped=dict(result.skipped),
    )


def _store_kev(
    db: Session, entries: Sequence[KevEntry], problems: Sequence[ImportProblem], origin: str
) -> ImportSummary:
    stored: dict[str, Any] = {
        row.cve: row.entry for row in db.execute(select(KevRow.cve, KevRow.entry))
    }
    new: list[dict[str, Any]] = []
    changed = 0
    for e in {e.cve: e for e in entries}.values():
        doc = {
            "vendor": e.vendor,
            "product": e.product,
            "name": e.name,
            "date_added": e.date_added.isoformat() if e.date_added else None,
            "due_date": e.due_date.isoformat() if e.due_date else None,
            "ransomware": e.ransomware,
        }
        if e.cve not in stored:
            new.append({"cve": e.cve, "entry": doc})
        elif stored[e.cve] != doc:
            db.execute(update(KevRow).where(KevRow.cve == e.cve).values(entry=doc))
            changed += 1
    for chunk in _chunks(new):
        db.execute(insert(KevRow), list(chunk))
    return ImportSummary(
        origin=origin,
        format=VulnFormat.KEV.value,
        records=len(entries),
        new=len(new),
        changed=changed,
        unchanged=len(entries) - len(new) - changed,
        problems=len(problems),
        problem_samples=_samples(problems),
    )


def _store_epss(
    db: Session, scores: Sequence[EpssScore], problems: Sequence[ImportProblem], origin: str
) -> ImportSummary:
    before = len(db.scalars(select(EpssRow.cve)).all())
    db.execute(delete(EpssRow))
    rows = [
        {"cve": s.cve, "score": s.score, "percentile": s.percentile}
        for s in {s.cve: s for s in scores}.values()
    ]
    for chunk in _chunks(rows):
        db.execute(insert(EpssRow), list(chunk))
    return ImportSummary(
        origin=origin,
        format=VulnFormat.EPSS.value,
        records=len(scores),
        new=max(0, len(rows) - before),
        changed=0,
        unchanged=0,
        problems=len(problems),
        problem_samples=_samples(problems),
    )
