"""What the API and the console ask of the stored results: per device, per vulnerability, per
app (the software inventory), the recommendations and the organisation's summary.

Lists are computed in SQL over `device_vulns` and `device_apps` of active devices; what a
vulnerability *is* (severity, CVSS vector, KEV, EPSS, the feeds' records) comes from the warm
`VulnState`. Recommendations need every device's findings, so they are computed on demand and
kept until the results change (`RecommendationCache`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, distinct, func, or_, select
from sqlalchemy.orm import Session

from openmtd.domain.device import AppInfo, DeviceFacts
from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.domain.errors import NotFound
from openmtd.domain.vulns import Product, VersionRange, VulnFinding, VulnRecord, VulnSource
from openmtd.engines.vulns.recommendations import DeviceContext, Recommendation, recommend
from openmtd.engines.vulns.scoring import (
    ExposureBand,
    ExposureScore,
    VulnSeverity,
    exposure_band,
    organisation_exposure,
)
from openmtd.engines.vulns.versions import range_text
from openmtd.server.vulns.state import VulnState
from openmtd.store.models import Device, DeviceApp, DeviceVuln, VulnImport, VulnRecordRow

SEVERITIES = ("Critical", "High", "Medium", "Low", "None", "Unknown")
_EXPLOITED = func.max(case((DeviceVuln.exploited.is_(True), 1), else_=0))
_ACTIVE = Device.retired_at.is_(None)


@dataclass(frozen=True, slots=True)
class VulnFilters:
    severities: tuple[str, ...] = ()  # any of SEVERITIES; empty: all
    exploited: bool | None = None  # True: actively exploited only (KEV or the feed says so)
    platform: Platform | None = None
    search: str = ""  # part of the vulnerability id
    vuln_id: str = ""  # exactly this one


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


# --- vulnerabilities ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VulnSummary:
    vuln_id: str
    severity: str
    base: float
    cvss_vector: str
    exploited: bool
    exploited_by: tuple[str, ...]
    epss: float | None
    epss_percentile: float | None
    devices: int
    products: tuple[str, ...]  # "iOS", "Android", "app:org.telegram.messenger"
    summary: str
    sources: tuple[str, ...]


def _summary(
    vuln_id: str,
    state: VulnState,
    *,
    devices: int,
    exploited: bool | None,
    products: tuple[str, ...],
) -> VulnSummary:
    """What a vulnerability is (from the state), with what the fleet's results say of it;
    `exploited` None: as the feeds and KEV say."""
    sev: VulnSeverity | None = state.severities.get(vuln_id)
    records = state.records_by_vuln.get(vuln_id, ())
    exploited_by = sev.exploited_by if sev else ()
    return VulnSummary(
        vuln_id=vuln_id,
        severity=sev.severity if sev else "Unknown",
        base=sev.base if sev else 5.0,
        cvss_vector=sev.cvss.vector if sev and sev.cvss else "",
        exploited=bool(exploited_by) if exploited is None else exploited,
        exploited_by=exploited_by,
        epss=sev.epss.score if sev and sev.epss else None,
        epss_percentile=sev.epss.percentile if sev and sev.epss else None,
        devices=devices,
        products=products,
        summary=next((r.summary for r in records if r.summary), "")[:500],
        sources=tuple(sorted({r.source.value for r in records})),
    )


def _vuln_query(filters: VulnFilters) -> Select[str, int, float, Any]:
    query = (
        select(
            DeviceVuln.vuln_id,
            func.count(distinct(DeviceVuln.device_id)).label("devices"),
            func.max(DeviceVuln.base).label("base"),
            _EXPLOITED.label("exploited"),
        )
        .join(Device, Device.id == DeviceVuln.device_id)
        .where(_ACTIVE)
        .group_by(DeviceVuln.vuln_id)
    )
    if filters.severities:
        query = query.where(DeviceVuln.severity.in_(filters.severities))
    if filters.exploited is not None:
        query = query.where(DeviceVuln.exploited.is_(filters.exploited))
    if filters.platform is not None:
        query = query.where(Device.platform == filters.platform.value)
    if filters.search:
        query = query.where(func.lower(DeviceVuln.vuln_id).like(_like(filters.search), "\\"))
    if filters.vuln_id:
        query = query.where(DeviceVuln.vuln_id == filters.vuln_id)
    return query


def list_vulnerabilities(
    db: Session, state: VulnState, filters: VulnFilters, *, limit: int, offset: int
) -> tuple[list[VulnSummary], int]:
    """The fleet's vulnerabilities, exploited first, then by severity and devices affected."""
    query = _vuln_query(filters)
    total = int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)
    page = db.execute(
        query.order_by(
            _EXPLOITED.desc(),
            func.max(DeviceVuln.base).desc(),
            func.count(distinct(DeviceVuln.device_id)).desc(),
            DeviceVuln.vuln_id,
        )
        .limit(limit)
        .offset(offset)
    ).all()
    products = _products(db, [row.vuln_id for row in page])
    items = [
        _summary(
            row.vuln_id,
            state,
            devices=int(row.devices),
            exploited=bool(row.exploited),
            products=products.get(row.vuln_id, ()),
        )
        for row in page
    ]
    return items, total


def _product_label(product: str, app_identifier: str) -> str:
    if product == Product.APP.value:
        return f"app:{app_identifier}"
    return {"ios": "iOS", "ipados": "iPadOS", "android": "Android"}.get(product, product)


def _products(db: Session, vuln_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, set[str]] = {}
    if not vuln_ids:
        return {}
    for vuln_id, product, app in db.execute(
        select(DeviceVuln.vuln_id, DeviceVuln.product, DeviceVuln.app_identifier)
        .distinct()
        .where(DeviceVuln.vuln_id.in_(list(vuln_ids)))
    ):
        found.setdefault(vuln_id, set()).add(_product_label(product, app))
    return {k: tuple(sorted(v)) for k, v in found.items()}


@dataclass(frozen=True, slots=True)
class AffectedDevice:
    device_id: str
    name: str
    platform: str
    os_version: str
    security_patch_level: date | None
    app_identifier: str
    installed_version: str
    range: str
    source: str
    record_id: str


@dataclass(frozen=True, slots=True)
class VulnDetail:
    summary: VulnSummary
    kev: dict[str, Any] | None
    records: list[dict[str, Any]]
    affected: list[AffectedDevice]
    affected_total: int


def vulnerability(
    db: Session, state: VulnState, vuln_id: str, *, limit: int, offset: int
) -> VulnDetail:
    """One vulnerability: what the feeds say of it and the devices that have it."""
    records = state.records_by_vuln.get(vuln_id, ())
    row = db.execute(_vuln_query(VulnFilters(vuln_id=vuln_id))).first()
    if row is None and not records:
        stored = db.scalar(select(VulnRecordRow.id).where(VulnRecordRow.id == vuln_id).limit(1))
        if stored is None:
            raise NotFound(f"no feed describes vulnerability {vuln_id!r}", code="unknown_vuln")
    summary = _summary(
        vuln_id,
        state,
        devices=int(row.devices) if row else 0,
        exploited=bool(row.exploited) if row else None,
        products=_products(db, [vuln_id]).get(vuln_id, ()) if row else (),
    )
    sev = state.severities.get(vuln_id)
    kev = None
    if sev is not None and sev.kev is not None:
        kev = {
            "vendor": sev.kev.vendor,
            "product": sev.kev.product,
            "name": sev.kev.name,
            "date_added": sev.kev.date_added,
            "due_date": sev.kev.due_date,
            "ransomware": sev.kev.ransomware,
        }
    query = (
        select(
            DeviceVuln, Device.name, Device.platform, Device.os_version, Device.security_patch_level
        )  # fmt: skip
        .join(Device, Device.id == DeviceVuln.device_id)
        .where(_ACTIVE, DeviceVuln.vuln_id == vuln_id)
    )
    total = int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)
    affected = [
        AffectedDevice(
            device_id=row.DeviceVuln.device_id,
            name=row.name,
            platform=row.platform,
            os_version=row.os_version,
            security_patch_level=row.security_patch_level,
            app_identifier=row.DeviceVuln.app_identifier,
            installed_version=row.DeviceVuln.installed_version,
            range=range_text(_range_of(row.DeviceVuln)),
            source=row.DeviceVuln.source,
            record_id=row.DeviceVuln.record_id,
        )
        for row in db.execute(
            query.order_by(Device.name, DeviceVuln.device_id, DeviceVuln.source)
            .limit(limit)
            .offset(offset)
        )
    ]
    return VulnDetail(summary, kev, [_record_json(r) for r in records], affected, total)


def _record_json(r: VulnRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "source": r.source.value,
        "summary": r.summary[:2000],
        "published": r.published,
        "modified": r.modified,
        "severity": r.severity,
        "cvss": list(r.cvss),
        "exploited": r.exploited,
        "references": list(r.references[:20]),
        "affected": [
            {
                "product": a.product.value,
                "package": a.package,
                "component": a.component,
                "ranges": [range_text(rng) for rng in a.ranges],
            }
            for a in r.affected[:50]
        ],
    }


def _range_of(row: DeviceVuln) -> VersionRange:
    return VersionRange(row.range_start, row.start_inclusive, row.range_end, row.end_inclusive)


# --- one device ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceFinding:
    record_id: str
    source: str
    cve_ids: tuple[str, ...]
    product: str
    app_identifier: str
    package: str
    component: str
    installed_version: str
    range: str
    fixed_version: str  # the range's exclusive end ("" when none)
    severity: str
    base: float
    exploited: bool
    epss: float | None


@dataclass(frozen=True, slots=True)
class DeviceVulns:
    device_id: str
    assessment: str
    assessed_at: datetime | None
    exposure: int | None
    band: str
    explanation: str
    count: int
    exploited: int
    top: list[dict[str, Any]]
    problems: list[str]
    findings: list[DeviceFinding]
    privacy_note: str


_SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def device_vulnerabilities(db: Session, device_id: str) -> DeviceVulns:
    device = db.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}", code="unknown_device")
    grouped: dict[tuple[str, str, str, str], list[DeviceVuln]] = {}
    for row in db.scalars(
        select(DeviceVuln)
        .where(DeviceVuln.device_id == device_id)
        .order_by(DeviceVuln.source, DeviceVuln.record_id, DeviceVuln.vuln_id)
    ):
        grouped.setdefault((row.source, row.record_id, row.app_identifier, row.package), []).append(
            row
        )
    findings = [_device_finding(rows) for rows in grouped.values()]
    findings.sort(
        key=lambda f: (not f.exploited, -f.base, _SEVERITY_RANK.get(f.severity, 9), f.record_id)
    )
    doc = device.vulns or {}
    note = ""
    if device.vuln_assessment == "os-only":
        note = (
            "Vulnerability privacy mode: the device keeps its app inventory to itself, so only "
            "its operating system is assessed."
        )
    return DeviceVulns(
        device_id=device.id,
        assessment=device.vuln_assessment,
        assessed_at=device.vuln_assessed_at,
        exposure=device.vuln_exposure,
        band=str(doc.get("band", "")),
        explanation=str(doc.get("explanation", "")),
        count=device.vuln_count,
        exploited=device.vuln_exploited,
        top=list(doc.get("top", [])),
        problems=[str(p) for p in doc.get("problems", [])],
        findings=findings,
        privacy_note=note,
    )


def _device_finding(rows: list[DeviceVuln]) -> DeviceFinding:
    first = rows[0]
    worst = max(rows, key=lambda r: (r.exploited, r.base))
    rng = _range_of(first)
    return DeviceFinding(
        record_id=first.record_id,
        source=first.source,
        cve_ids=tuple(r.vuln_id for r in rows if r.vuln_id.upper().startswith("CVE-")),
        product=first.product,
        app_identifier=first.app_identifier,
        package=first.package,
        component=first.component,
        installed_version=first.installed_version,
        range=range_text(rng),
        fixed_version=(rng.end or "") if not rng.end_inclusive else "",
        severity=worst.severity,
        base=worst.base,
        exploited=any(r.exploited for r in rows),
        epss=max((r.epss for r in rows if r.epss is not None), default=None),
    )


# --- software inventory --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SoftwareRow:
    identifier: str
    version: str
    name: str
    platform: str
    devices: int
    vulnerabilities: int
    exploited: int


def software_inventory(
    db: Session, *, platform: Platform | None, search: str, vulnerable_only: bool,
    limit: int, offset: int,
) -> tuple[list[SoftwareRow], int]:  # fmt: skip
    """Apps x versions x devices, with each app version's known vulnerabilities."""
    vulns = (
        select(
            DeviceVuln.app_identifier.label("identifier"),
            DeviceVuln.installed_version.label("version"),
            func.count(distinct(DeviceVuln.vuln_id)).label("vulns"),
            func.count(distinct(case((DeviceVuln.exploited.is_(True), DeviceVuln.vuln_id)))).label(
                "exploited"
            ),
        )
        .where(DeviceVuln.product == Product.APP.value)
        .group_by(DeviceVuln.app_identifier, DeviceVuln.installed_version)
        .subquery()
    )
    vuln_count = func.coalesce(func.max(vulns.c.vulns), 0)
    exploited_count = func.coalesce(func.max(vulns.c.exploited), 0)
    query = (
        select(
            DeviceApp.identifier,
            DeviceApp.version,
            func.max(DeviceApp.name).label("name"),
            Device.platform,
            func.count(distinct(DeviceApp.device_id)).label("devices"),
            vuln_count.label("vulns"),
            exploited_count.label("exploited"),
        )
        .join(Device, Device.id == DeviceApp.device_id)
        .outerjoin(
            vulns,
            and_(vulns.c.identifier == DeviceApp.identifier, vulns.c.version == DeviceApp.version),
        )
        .where(_ACTIVE)
        .group_by(DeviceApp.identifier, DeviceApp.version, Device.platform)
    )
    if platform is not None:
        query = query.where(Device.platform == platform.value)
    if search:
        pattern = _like(search)
        query = query.where(
            or_(
                func.lower(DeviceApp.identifier).like(pattern, "\\"),
                func.lower(DeviceApp.name).like(pattern, "\\"),
            )
        )
    if vulnerable_only:
        query = query.where(vulns.c.vulns > 0)
    total = int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = db.execute(
        query.order_by(
            exploited_count.desc(),
            vuln_count.desc(),
            func.count(distinct(DeviceApp.device_id)).desc(),
            DeviceApp.identifier,
            DeviceApp.version,
        )
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        SoftwareRow(
            r.identifier,
            r.version,
            r.name,
            r.platform,
            int(r.devices),
            int(r.vulns),
            int(r.exploited),
        )  # fmt: skip
        for r in rows
    ], total


# --- recommendations -----------------------------------------------------------------------


def _fleet(db: Session) -> Iterator[tuple[str, DeviceContext, list[VulnFinding]]]:
    """Every active device with findings, as `recommend` reads it."""
    findings: dict[str, list[VulnFinding]] = {}
    rows = db.execute(
        select(
            DeviceVuln.device_id,
            DeviceVuln.source,
            DeviceVuln.record_id,
            DeviceVuln.app_identifier,
            DeviceVuln.package,
            DeviceVuln.vuln_id,
            DeviceVuln.product,
            DeviceVuln.installed_version,
            DeviceVuln.range_start,
            DeviceVuln.start_inclusive,
            DeviceVuln.range_end,
            DeviceVuln.end_inclusive,
        )
        .join(Device, Device.id == DeviceVuln.device_id)
        .where(_ACTIVE)
    )
    grouped: dict[tuple[str, str, str, str, str], list[Any]] = {}
    for row in rows:
        grouped.setdefault(tuple(row[:5]), []).append(row)  # type: ignore[arg-type]
    for (device_id, source, record_id, app, package), group in grouped.items():
        first = group[0]
        cves = tuple(r.vuln_id for r in group if r.vuln_id.upper().startswith("CVE-"))
        findings.setdefault(device_id, []).append(
            VulnFinding(
                vuln_id=record_id,
                cve_ids=cves,
                product=Product(first.product),
                package=package,
                app_identifier=app,
                installed_version=first.installed_version,
                matched_range=VersionRange(
                    first.range_start, first.start_inclusive, first.range_end, first.end_inclusive
                ),
                source=VulnSource(source),
            )
        )
    if not findings:
        return
    names: dict[str, dict[str, str]] = {}
    for device_id, identifier, name in db.execute(
        select(DeviceApp.device_id, DeviceApp.identifier, DeviceApp.name)
        .join(
            DeviceVuln,
            and_(
                DeviceVuln.device_id == DeviceApp.device_id,
                DeviceVuln.app_identifier == DeviceApp.identifier,
            ),
        )
        .distinct()
    ):
        names.setdefault(device_id, {})[identifier] = name
    for device in db.execute(
        select(
            Device.id,
            Device.platform,
            Device.scenario,
            Device.os_version,
            Device.model,
            Device.security_patch_level,
        ).where(_ACTIVE, Device.id.in_(list(findings)))  # fmt: skip
    ):
        apps = tuple(AppInfo(i, "", n) for i, n in names.get(device.id, {}).items())
        facts = DeviceFacts(
            platform=Platform(device.platform),
            scenario=EnrollmentScenario(device.scenario),
            os_version=device.os_version,
            model=device.model,
            security_patch_level=device.security_patch_level,
            apps=apps,
        )
        yield device.id, DeviceContext.from_facts(facts), findings[device.id]


def _results_stamp(db: Session, state: VulnState) -> tuple[object, ...]:
    latest, count = db.execute(
        select(func.max(Device.vuln_assessed_at), func.count()).where(_ACTIVE)
    ).one()
    return (state.generation, latest, count)


#: A large fleet changes some device's results every few seconds; within one feed generation
#: the recommendations are worked out again at most this often.
RECOMMENDATIONS_MIN_AGE_SECONDS = 30.0


@dataclass
class RecommendationCache:
    """The fleet's recommendations, kept until a device's results or the feeds change (and,
    for results alone, at least `RECOMMENDATIONS_MIN_AGE_SECONDS`)."""

    _stamp: tuple[object, ...] | None = None
    _value: list[Recommendation] = field(default_factory=list)
    _computed: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, db: Session, state: VulnState) -> list[Recommendation]:
        stamp = _results_stamp(db, state)
        with self._lock:
            fresh_enough = (
                self._stamp is not None
                and self._stamp[0] == stamp[0]
                and time.monotonic() - self._computed < RECOMMENDATIONS_MIN_AGE_SECONDS
            )
            if stamp != self._stamp and not fresh_enough:
                self._value = recommend(_fleet(db), {}, state.severities)
                self._stamp = stamp
                self._computed = time.monotonic()
            return self._value


# --- summary -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VulnOverview:
    organisation: ExposureScore
    bands: dict[str, int]  # devices per exposure band
    assessments: dict[str, int]  # devices per assessment (full, os-only, none, failed)
    severities: dict[str, int]  # distinct vulnerabilities per severity
    vulnerabilities: int
    exploited: int
    records: int  # stored feed records
    last_import: datetime | None


def overview(db: Session) -> VulnOverview:
    scores = [
        ExposureScore(score, exposure_band(score), float(score))
        for score in db.scalars(
            select(Device.vuln_exposure).where(_ACTIVE, Device.vuln_exposure.is_not(None))
        )
        if score is not None
    ]
    bands = {band.value: 0 for band in ExposureBand}
    for s in scores:
        bands[s.band.value] += 1
    assessments = {
        kind: int(n)
        for kind, n in db.execute(
            select(Device.vuln_assessment, func.count())
            .where(_ACTIVE)
            .group_by(Device.vuln_assessment)
        )
    }
    per_vuln = (
        select(
            DeviceVuln.vuln_id,
            func.max(DeviceVuln.severity).label("severity"),
            _EXPLOITED.label("exploited"),
        )
        .join(Device, Device.id == DeviceVuln.device_id)
        .where(_ACTIVE)
        .group_by(DeviceVuln.vuln_id)
        .subquery()
    )
    severities = dict.fromkeys(SEVERITIES, 0)
    exploited = 0
    total = 0
    for severity, is_exploited, n in db.execute(
        select(per_vuln.c.severity, per_vuln.c.exploited, func.count()).group_by(
            per_vuln.c.severity, per_vuln.c.exploited
        )
    ):
        severities[severity] = severities.get(severity, 0) + int(n)
        total += int(n)
        exploited += int(n) if is_exploited else 0
    return VulnOverview(
        organisation=organisation_exposure(scores),
        bands=bands,
        assessments=assessments,
        severities=severities,
        vulnerabilities=total,
        exploited=exploited,
        records=int(db.scalar(select(func.count()).select_from(VulnRecordRow)) or 0),
        last_import=db.scalar(select(func.max(VulnImport.imported_at))),
    )
