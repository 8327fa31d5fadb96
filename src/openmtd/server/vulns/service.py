"""Admin changes to vulnerability management: feed imports and the app mapping, audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from openmtd.domain.errors import InvalidInput
from openmtd.engines.vulns.mapping import AppMapping, parse_mapping_csv
from openmtd.server.audit.service import record as audit
from openmtd.server.vulns.imports import ImportSummary, import_document
from openmtd.server.vulns.state import VULN_GENERATION
from openmtd.server.web.sync import bump_counter
from openmtd.store.models import VulnMappingRow

MAX_MAPPING_BYTES = 4 * 1024 * 1024


def import_feed(
    db: Session, data: bytes, *, origin: str, actor: str, now: datetime
) -> ImportSummary:
    summary = import_document(db, data, origin=origin, now=now)
    audit(
        db,
        actor=actor,
        action="vulns.import",
        target=origin[:255],
        now=now,
        format=summary.format,
        new=summary.new,
        changed=summary.changed,
        problems=summary.problems,
    )
    return summary


def replace_mapping(db: Session, csv_text: str, *, actor: str, now: datetime) -> AppMapping:
    """Make the admin's mapping rows exactly those of `csv_text` (``identifier,product``).
    Any bad line refuses the whole document, with every line's reason."""
    if len(csv_text.encode()) > MAX_MAPPING_BYTES:
        raise InvalidInput(
            f"the mapping is larger than {MAX_MAPPING_BYTES} bytes", code="mapping_too_large"
        )
    parsed = parse_mapping_csv(csv_text)
    bad = [p for p in parsed.problems if not p.reason.startswith("same as line")]
    if bad:
        listed = "; ".join(f"line {p.line}: {p.reason}" for p in bad[:20])
        raise InvalidInput(
            f"{len(bad)} bad line(s) in the mapping, nothing changed: {listed}",
            code="bad_mapping",
        )
    db.execute(delete(VulnMappingRow))
    rows = [
        {"identifier": r.identifier, "product": r.product, "created_at": now, "created_by": actor}
        for r in parsed.mapping.rows
    ]
    if rows:
        db.execute(insert(VulnMappingRow), rows)
    bump_counter(db, VULN_GENERATION, now=now)
    audit(
        db,
        actor=actor,
        action="vulns.mapping.replace",
        target="app mapping",
        now=now,
        rows=len(rows),
    )
    return parsed.mapping
