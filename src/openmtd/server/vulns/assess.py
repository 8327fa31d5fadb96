"""One device's vulnerability assessment: match, score, and store the findings.

A device is assessed from its OS facts and stored app inventory (or its OS alone under
vulnerability privacy mode, when no inventory leaves the device). The result replaces the
device's `device_vulns` rows and its assessment columns in one go. What it was computed from is
kept as a digest (`input_digest`) with the feed generation, so a check-in that changes neither
costs nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from openmtd.domain.device import AppInfo, DeviceFacts
from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.domain.vulns import VulnFinding
from openmtd.engines.vulns.scoring import exposure_score, finding_vuln_ids
from openmtd.server.vulns.state import VulnState
from openmtd.store.models import Device, DeviceApp, DeviceVuln


class Assessment(StrEnum):
    """What a device's vulnerabilities were assessed on."""

    FULL = "full"  # OS and apps
    OS_ONLY = "os-only"  # vulnerability privacy mode: the app inventory stays on the device
    NONE = "none"  # not assessed yet
    FAILED = "failed"  # the device's facts could not be matched (the problems say why)


@dataclass(frozen=True, slots=True)
class DeviceInput:
    """What a device is assessed on."""

    device_id: str
    platform: Platform
    scenario: EnrollmentScenario
    os_version: str
    security_patch_level: date | None
    model: str
    os_only: bool
    inventory_digest: str


def input_digest(d: DeviceInput) -> str:
    material = orjson.dumps(
        [
            d.os_version,
            d.security_patch_level.isoformat() if d.security_patch_level else None,
            d.model,
            d.os_only,
            "" if d.os_only else d.inventory_digest,
        ]
    )
    return hashlib.sha256(material).hexdigest()


#: A stored finding's columns, in this order: the key first, then what it says.
KEY_COLUMNS = ("vuln_id", "source", "record_id", "app_identifier")
VALUE_COLUMNS = (
    "product", "package", "installed_version", "range_start", "start_inclusive", "range_end",
    "end_inclusive", "component", "severity", "base", "exploited", "epss",
)  # fmt: skip
ROW_COLUMNS = (*KEY_COLUMNS, *VALUE_COLUMNS)
Row = tuple[Any, ...]  # ROW_COLUMNS' values
#: How many findings' rows a state remembers before it starts afresh.
FINDING_ROWS_MEMO = 1 << 20


@dataclass(frozen=True, slots=True)
class DeviceResult:
    rows: list[Row]
    columns: dict[str, Any]


def _cut(text: str | None, size: int) -> str | None:
    return None if text is None else text[:size]


def _finding_rows(finding: VulnFinding, state: VulnState) -> tuple[Row, ...]:
    """The stored rows of one finding, one per vulnerability id (memoized in the state)."""
    rows = state.finding_rows.get(finding)
    if rows is not None:
        return rows
    r = finding.matched_range
    made = []
    for vuln_id in finding_vuln_ids(finding):
        severity = state.severities.get(vuln_id)
        made.append(
            (
                vuln_id[:200],
                finding.source.value,
                finding.vuln_id[:200],
                finding.app_identifier[:255],
                finding.product.value,
                finding.package[:512],
                finding.installed_version[:160],
                _cut(r.start, 160),
                r.start_inclusive,
                _cut(r.end, 160),
                r.end_inclusive,
                finding.component[:200],
                "Unknown" if severity is None else severity.severity,
                5.0 if severity is None else severity.base,
                severity is not None and severity.exploited,
                None if severity is None or severity.epss is None else severity.epss.score,
            )
        )
    if len(state.finding_rows) >= FINDING_ROWS_MEMO:
        state.finding_rows.clear()  # a cache: bounded, never wrong
    state.finding_rows[finding] = rows = tuple(made)
    return rows


def _rows(findings: Sequence[VulnFinding], state: VulnState) -> list[Row]:
    rows: dict[Row, Row] = {}
    for finding in findings:
        for row in _finding_rows(finding, state):
            rows.setdefault(row[:4], row)  # an app known under two products: one row a record
    return list(rows.values())


def assess(
    state: VulnState, d: DeviceInput, apps: Iterable[AppInfo], *, now: datetime
) -> DeviceResult:
    """The device's findings as rows and its assessment columns (nothing is written)."""
    facts = DeviceFacts(
        platform=d.platform,
        scenario=d.scenario,
        os_version=d.os_version,
        model=d.model,
        security_patch_level=d.security_patch_level,
        apps=() if d.os_only else tuple(apps),
    )
    match = state.matcher.match(facts)
    exposure = exposure_score(match.findings, state.severities, risks=state.risks)
    rows = _rows(match.findings, state)
    return DeviceResult(
        rows=rows,
        columns={
            "vuln_exposure": exposure.score,
            "vuln_count": exposure.vulnerabilities,
            "vuln_exploited": exposure.exploited,
            "vuln_assessment": (Assessment.OS_ONLY if d.os_only else Assessment.FULL).value,
            "vuln_input": input_digest(d),
            "vuln_generation": state.generation,
            "vuln_assessed_at": now,
            "vulns": {
                "band": exposure.band.value,
                "explanation": exposure.explanation,
                "top": [
                    {
                        "vuln_id": c.vuln_id,
                        "severity": c.severity,
                        "base": c.base,
                        "exploited": c.exploited,
                        "epss": c.epss,
                        "risk": round(c.risk, 4),
                    }
                    for c in exposure.top
                ],
                "problems": sorted(set(match.problems))[:20],
            },
        },
    )


def failed(state: VulnState, d: DeviceInput, reason: str, *, now: datetime) -> DeviceResult:
    """The result for a device whose facts broke the matcher: recorded, never retried blindly."""
    return DeviceResult(
        rows=[],
        columns={
            "vuln_exposure": None,
            "vuln_count": 0,
            "vuln_exploited": 0,
            "vuln_assessment": Assessment.FAILED.value,
            "vuln_input": input_digest(d),
            "vuln_generation": state.generation,
            "vuln_assessed_at": now,
            "vulns": {"band": "", "explanation": "", "top": [], "problems": [reason[:500]]},
        },
    )


_UPDATE = update(Device).where(Device.id == bindparam("device"))
_INSERT = insert(DeviceVuln)
_DELETE_ONE = delete(DeviceVuln).where(
    DeviceVuln.device_id == bindparam("device_id"),
    *(getattr(DeviceVuln, k) == bindparam(f"k_{k}") for k in KEY_COLUMNS),
)
_APPS = select(DeviceApp.identifier, DeviceApp.version, DeviceApp.name).where(
    DeviceApp.device_id == bindparam("device")
)

#: A device's stored findings: the key columns -> the row.
StoredRows = dict[Row, Row]


def stored_rows(db: Session, device_ids: Sequence[str]) -> dict[str, StoredRows]:
    """The stored findings of these devices, to write only what a new result changes."""
    found: dict[str, StoredRows] = {device_id: {} for device_id in device_ids}
    if not device_ids:
        return found
    columns = [getattr(DeviceVuln, c) for c in ROW_COLUMNS]
    query = select(DeviceVuln.device_id, *columns).where(DeviceVuln.device_id.in_(device_ids))
    for device_id, *values in db.connection().execute(query):  # Core: no ORM row processing
        found[device_id][tuple(values[:4])] = tuple(values)
    return found


def store(
    db: Session, device_id: str, result: DeviceResult, previous: StoredRows | None = None
) -> None:
    """Write the device's assessment columns and make its stored findings equal to the
    result's, touching only the rows that differ (a feed update changes few of them). The
    device row is written first: its lock orders a check-in and the background re-match
    writing the same device."""
    conn = db.connection()
    conn.execute(_UPDATE, {"device": device_id, **result.columns})
    if previous is None:
        previous = stored_rows(db, [device_id])[device_id]
    wanted = {row[:4]: row for row in result.rows}
    stale = [key for key, row in previous.items() if wanted.get(key) != row]
    fresh = [row for key, row in wanted.items() if previous.get(key) != row]
    if stale:
        conn.execute(
            _DELETE_ONE,
            [{"device_id": device_id, **dict(zip(("k_" + k for k in KEY_COLUMNS), key,
                                                 strict=True))} for key in stale],
        )  # fmt: skip
    if fresh:
        conn.execute(
            _INSERT,
            [{"device_id": device_id, **dict(zip(ROW_COLUMNS, row, strict=True))} for row in fresh],
        )


def stored_apps(db: Session, device_id: str) -> list[AppInfo]:
    return [
        AppInfo(identifier=i, version=v, name=n)
        for i, v, n in db.connection().execute(_APPS, {"device": device_id})
    ]
