"""What the server matches devices against: the stored feeds, built into one warm matcher.

The stored records, KEV and EPSS catalogs and the app mapping are read into a `VulnState`
(index, severities, mapping and a `Matcher` that remembers per-version results). Its
generation is the ``vulns`` counter, which every import and every mapping change bumps.
Building a state for 50,000 records takes seconds, so a check-in never waits for one: it uses
the state when it is current and otherwise leaves the device to the background re-match
(`server.vulns.rematch`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openmtd.domain.vulns import EpssScore, KevEntry, VulnFinding, VulnRecord
from openmtd.engines.vulns.index import VulnIndex
from openmtd.engines.vulns.mapping import DEFAULT_MAPPING, AppMapping
from openmtd.engines.vulns.match import Matcher
from openmtd.engines.vulns.scoring import Contribution, VulnSeverity, severity_index
from openmtd.intel.vuln_feeds.wire import record_from_json
from openmtd.server.web.sync import counter
from openmtd.store.models import EpssRow, KevRow, VulnMappingRow, VulnRecordRow

#: The counter every vulnerability import and mapping change bumps (a new state is due).
VULN_GENERATION = "vulns"
#: A device's generation when it must be matched again by the next re-match, whatever it is.
STALE_GENERATION = -1
_READ_CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class VulnState:
    """One generation of the vulnerability data, ready to match devices."""

    generation: int
    index: VulnIndex
    mapping: AppMapping
    custom_mapping: AppMapping
    severities: Mapping[str, VulnSeverity]
    matcher: Matcher
    #: vulnerability id (CVE or record id) -> the records that describe it, one per feed
    records_by_vuln: Mapping[str, tuple[VulnRecord, ...]] = field(default_factory=dict)
    #: What assessing a fleet works out once per vulnerability and per finding (the matcher
    #: hands devices on the same versions the same findings): risks for the exposure score,
    #: stored rows for `device_vulns`.
    risks: dict[str, Contribution] = field(default_factory=dict)
    finding_rows: dict[VulnFinding, tuple[tuple[Any, ...], ...]] = field(default_factory=dict)


def stored_records(db: Session) -> Iterator[VulnRecord]:
    rows = db.execute(
        select(VulnRecordRow.record).order_by(VulnRecordRow.source, VulnRecordRow.id)
    ).yield_per(_READ_CHUNK)
    for (doc,) in rows:
        yield record_from_json(doc)


def stored_kev(db: Session) -> dict[str, KevEntry]:
    return {
        cve: _kev_entry(cve, entry) for cve, entry in db.execute(select(KevRow.cve, KevRow.entry))
    }


def _kev_entry(cve: str, entry: Mapping[str, object]) -> KevEntry:
    def day(value: object) -> date | None:
        return date.fromisoformat(value) if isinstance(value, str) and value else None

    return KevEntry(
        cve=cve,
        vendor=str(entry.get("vendor") or ""),
        product=str(entry.get("product") or ""),
        name=str(entry.get("name") or ""),
        date_added=day(entry.get("date_added")),
        due_date=day(entry.get("due_date")),
        ransomware=bool(entry.get("ransomware")),
    )


def stored_epss(db: Session) -> dict[str, EpssScore]:
    return {
        cve: EpssScore(cve, score, percentile)
        for cve, score, percentile in db.execute(
            select(EpssRow.cve, EpssRow.score, EpssRow.percentile)
        )
    }


def custom_mapping(db: Session) -> AppMapping:
    """The admin's own mapping rows (the built-in rows are `DEFAULT_MAPPING`)."""
    rows = db.execute(
        select(VulnMappingRow.identifier, VulnMappingRow.product).order_by(
            VulnMappingRow.identifier, VulnMappingRow.product
        )
    )
    return AppMapping.from_rows((identifier, product) for identifier, product in rows)


def build_state(db: Session) -> VulnState:
    """Read everything stored into a state (for the generation current in this transaction)."""
    generation = counter(db, VULN_GENERATION)
    records = tuple(stored_records(db))
    index = VulnIndex.build(records)
    severities = severity_index(records, stored_kev(db), stored_epss(db))
    custom = custom_mapping(db)
    mapping = DEFAULT_MAPPING.merged(custom)
    by_vuln: defaultdict[str, list[VulnRecord]] = defaultdict(list)
    for record in records:
        for vuln_id in record.cve_ids or (record.id,):
            by_vuln[vuln_id].append(record)
    return VulnState(
        generation=generation,
        index=index,
        mapping=mapping,
        custom_mapping=custom,
        severities=severities,
        matcher=Matcher(index, mapping),
        records_by_vuln={k: tuple(v) for k, v in by_vuln.items()},
    )
