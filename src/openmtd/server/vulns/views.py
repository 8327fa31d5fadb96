"""Vulnerability routes: the fleet's vulnerabilities, software inventory, recommendations, one
device's findings, feed imports, the app mapping and the background re-match. Every list
answers in JSON or, with ``format=csv``, as a CSV download."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from openmtd.domain.enums import Platform
from openmtd.domain.errors import InvalidInput, PayloadTooLarge
from openmtd.engines.vulns.mapping import DEFAULT_MAPPING, mapping_to_csv
from openmtd.engines.vulns.recommendations import Recommendation
from openmtd.server.audit.service import record as audit
from openmtd.server.deps import Admin, Ctx, Db, Now, ReadOnly
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.schemas import Page
from openmtd.server.schemas_common import DeviceIdStr
from openmtd.server.vulns import queries, service
from openmtd.server.vulns.protection import mark_all_stale
from openmtd.server.vulns.schemas import (
    DeviceVulnsOut,
    ImportOut,
    MappingOut,
    MappingRowOut,
    RecommendationOut,
    RematchOut,
    VulnDetailOut,
    VulnOverviewOut,
)
from openmtd.server.vulns.state import custom_mapping
from openmtd.server.web.feeds import check_location, fetch_bytes
from openmtd.store.models import VulnImport

router = APIRouter(tags=["vulnerabilities"], responses=API_ERRORS)
#: Routes that take whole documents (the import size limit applies, not the console's).
VULN_IMPORT_PATH = "/api/vulns/imports"
VULN_MAPPING_PATH = "/api/vulns/mapping"
_AUTH = responses(401, 403)
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}
VulnId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,200}$")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Search = Annotated[str, Query(max_length=200)]
Format = Literal["json", "csv"]
SeverityWord = Literal["Critical", "High", "Medium", "Low", "None", "Unknown"]

#: A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        value = " ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_response(name: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """A CSV download; cells that a spreadsheet would run as formulas are quoted with '."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="openmtd-{name}.csv"'},
    )


def _overview(db: Db, ctx: Ctx) -> VulnOverviewOut:
    o = queries.overview(db)
    state = ctx.vulns.readable(db)
    advice = ctx.vulns.recommendations.get(db, state)
    return VulnOverviewOut(
        exposure=o.organisation.score,
        band=o.organisation.band.value,
        explanation=o.organisation.explanation,
        devices_by_band=o.bands,
        devices_by_assessment=o.assessments,
        vulnerabilities_by_severity=o.severities,
        vulnerabilities=o.vulnerabilities,
        exploited=o.exploited,
        feed_records=o.records,
        last_import=o.last_import,
        top_recommendations=[RecommendationOut.of(r) for r in advice[:5]],
        rematch=RematchOut(**ctx.vulns.status.to_json()),
    )


@router.get("/api/vulns/summary", response_model=VulnOverviewOut, responses=_AUTH)
def vulns_summary(_p: ReadOnly, db: Db, ctx: Ctx) -> VulnOverviewOut:
    """The organisation's exposure (0.5 × mean + 0.5 × 90th percentile of the devices'),
    devices per band and assessment, vulnerabilities per severity, the top recommendations and
    the background re-match's progress."""
    return _overview(db, ctx)


@router.get(
    "/api/vulns",
    response_model=Page[queries.VulnSummary],
    responses={**_AUTH, **_CSV},
)
def list_vulns(
    _p: ReadOnly,
    db: Db,
    ctx: Ctx,
    severity: Annotated[list[SeverityWord] | None, Query()] = None,
    exploited: bool | None = None,
    platform: Platform | None = None,
    q: Search = "",
    limit: Limit = 50,
    offset: Offset = 0,
    format: Format = "json",
) -> Any:
    """The fleet's vulnerabilities with the devices they affect: actively exploited first
    (CISA KEV or the feed says so), then by CVSS base score and devices affected. Filters:
    severity (repeatable), exploited, platform, q (part of the id)."""
    state = ctx.vulns.readable(db)
    filters = queries.VulnFilters(tuple(severity or ()), exploited, platform, q.strip())
    if format == "csv":
        items, _ = queries.list_vulnerabilities(db, state, filters, limit=100_000, offset=0)
        return csv_response(
            "vulnerabilities",
            (
                "vulnerability",
                "severity",
                "cvss",
                "vector",
                "exploited",
                "epss",
                "devices",
                "products",
                "summary",
            ),  # fmt: skip
            (
                (
                    i.vuln_id,
                    i.severity,
                    i.base,
                    i.cvss_vector,
                    "yes" if i.exploited else "no",
                    i.epss,
                    i.devices,
                    i.products,
                    i.summary,
                )
                for i in items
            ),  # fmt: skip
        )
    items, total = queries.list_vulnerabilities(db, state, filters, limit=limit, offset=offset)
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/api/vulns/software",
    response_model=Page[queries.SoftwareRow],
    responses={**_AUTH, **_CSV},
)
def software_inventory(
    _p: ReadOnly,
    db: Db,
    platform: Platform | None = None,
    q: Search = "",
    vulnerable: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
    format: Format = "json",
) -> Any:
    """Software inventory: each app version, on how many devices, with its known
    vulnerabilities (apps with exploited or more vulnerabilities first). Devices in
    vulnerability privacy mode send no inventory and are not counted here."""
    if format == "csv":
        rows, _ = queries.software_inventory(
            db, platform=platform, search=q.strip(), vulnerable_only=vulnerable,
            limit=1_000_000, offset=0,
        )  # fmt: skip
        return csv_response(
            "software",
            (
                "identifier",
                "name",
                "version",
                "platform",
                "devices",
                "vulnerabilities",
                "exploited",
            ),  # fmt: skip
            (
                (
                    r.identifier,
                    r.name,
                    r.version,
                    r.platform,
                    r.devices,
                    r.vulnerabilities,
                    r.exploited,
                )
                for r in rows
            ),  # fmt: skip
        )
    rows, total = queries.software_inventory(
        db, platform=platform, search=q.strip(), vulnerable_only=vulnerable, limit=limit,
        offset=offset,
    )  # fmt: skip
    return Page(items=rows, total=total, limit=limit, offset=offset)


@router.get(
    "/api/vulns/recommendations",
    response_model=Page[RecommendationOut],
    responses={**_AUTH, **_CSV},
)
def recommendations(
    _p: ReadOnly,
    db: Db,
    ctx: Ctx,
    limit: Limit = 50,
    offset: Offset = 0,
    format: Format = "json",
) -> Any:
    """Security recommendations ranked by impact: the exposure points they remove, summed
    over the devices ("Update iOS to 17.4.1: fixes 3 CVEs, 1 actively exploited, on 12
    devices")."""
    state = ctx.vulns.readable(db)
    advice: list[Recommendation] = ctx.vulns.recommendations.get(db, state)
    if format == "csv":
        return csv_response(
            "recommendations",
            (
                "recommendation",
                "kind",
                "subject",
                "target_version",
                "cves",
                "exploited",
                "devices",
                "impact",
            ),  # fmt: skip
            (
                (
                    r.title,
                    r.kind.value,
                    r.subject,
                    r.target_version,
                    r.cve_ids,
                    r.exploited_ids,
                    r.device_count,
                    r.impact,
                )
                for r in advice
            ),  # fmt: skip
        )
    page = advice[offset : offset + limit]
    return Page(
        items=[RecommendationOut.of(r) for r in page], total=len(advice), limit=limit,
        offset=offset,
    )  # fmt: skip


@router.get("/api/vulns/imports", response_model=Page[ImportOut], responses=_AUTH)
def list_imports(_p: ReadOnly, db: Db, limit: Limit = 50, offset: Offset = 0) -> Page[ImportOut]:
    """The import log, newest first, with each document's counts and sample problems."""
    total = int(db.scalar(select(func.count()).select_from(VulnImport)) or 0)
    rows = db.scalars(
        select(VulnImport).order_by(VulnImport.id.desc()).limit(limit).offset(offset)
    ).all()
    return Page(
        items=[ImportOut.of(r.id, r.imported_at, r.summary) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    VULN_IMPORT_PATH,
    response_model=ImportOut,
    status_code=201,
    responses=responses(401, 403, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
                "application/gzip": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def import_vulns(
    request: Request,
    p: Admin,
    db: Db,
    ctx: Ctx,
    location: Annotated[str, Query(max_length=2048)] = "",
    name: Annotated[str, Query(max_length=255)] = "",
) -> ImportOut:
    """Import one feed document: OSV, CVE JSON 5, SOFA, NVD CVE API 2.0, CISA KEV or EPSS
    (detected from the content). Send the document as the body, or give `location` (an
    http(s) URL, or a file under a feed folder of the server) to fetch it. Only new and
    changed records are written; a malformed record is counted and reported, never fatal.
    The fleet is then matched again in the background (`GET /api/vulns/rematch`)."""
    limit = ctx.settings.max_feed_bytes if location else ctx.settings.max_import_bytes
    if location:
        check_location(location, ctx.settings.allowed_feed_dirs())
        data = await run_in_threadpool(fetch_bytes, location, max_bytes=limit)
        origin = location
    else:
        data = await request.body()
        if not data:
            raise InvalidInput(
                "send the feed document as the body, or give ?location=", code="empty_body"
            )
        if len(data) > limit:
            raise PayloadTooLarge(f"the document is larger than {limit} bytes")
        origin = name or "upload"

    def unit_of_work() -> ImportOut:
        now = ctx.clock()
        summary = service.import_feed(db, data, origin=origin, actor=p.username, now=now)
        db.flush()
        row = db.scalars(select(VulnImport).order_by(VulnImport.id.desc()).limit(1)).one()
        db.commit()  # before the re-match starts: it must see this generation
        return ImportOut.of(row.id, now, summary.to_json())

    out = await run_in_threadpool(unit_of_work)
    ctx.vulns.renew()
    return out


@router.get("/api/vulns/mapping", response_model=MappingOut, responses={**_AUTH, **_CSV})
def get_mapping(_p: ReadOnly, db: Db, format: Format = "json") -> Any:
    """The app mapping: package name or bundle id -> product identifiers (CPE, purl or OSV
    package), the built-in rows and the admin's own. `format=csv` gives the admin's rows in
    the form `PUT` takes."""
    custom = custom_mapping(db)
    if format == "csv":
        return Response(
            mapping_to_csv(custom),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="openmtd-app-mapping.csv"'},
        )
    return MappingOut(
        builtin=[
            MappingRowOut(identifier=r.identifier, product=r.product) for r in DEFAULT_MAPPING.rows
        ],  # fmt: skip
        custom=[MappingRowOut(identifier=r.identifier, product=r.product) for r in custom.rows],
    )


@router.put(
    "/api/vulns/mapping",
    response_model=MappingOut,
    responses=responses(401, 403, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def put_mapping(request: Request, p: Admin, db: Db, ctx: Ctx) -> MappingOut:
    """Replace the admin's mapping rows with the CSV body (`identifier,product` per line, an
    optional header, `#` comments). A bad line refuses the whole document with every line's
    reason. The fleet is then matched again in the background."""
    body = await request.body()
    if len(body) > service.MAX_MAPPING_BYTES:
        raise PayloadTooLarge(f"the mapping is larger than {service.MAX_MAPPING_BYTES} bytes")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the mapping must be UTF-8 text", code="bad_mapping") from None

    def unit_of_work() -> MappingOut:
        mapping = service.replace_mapping(db, text, actor=p.username, now=ctx.clock())
        db.commit()  # before the re-match starts: it must see this generation
        return MappingOut(
            builtin=[
                MappingRowOut(identifier=r.identifier, product=r.product)
                for r in DEFAULT_MAPPING.rows
            ],  # fmt: skip
            custom=[
                MappingRowOut(identifier=r.identifier, product=r.product) for r in mapping.rows
            ],  # fmt: skip
        )

    out = await run_in_threadpool(unit_of_work)
    ctx.vulns.renew()
    return out


@router.get("/api/vulns/rematch", response_model=RematchOut, responses=_AUTH)
def rematch_status(_p: ReadOnly, ctx: Ctx) -> RematchOut:
    """What the background re-match is doing (idle, building, matching, failed), with its
    progress and timings."""
    return RematchOut(**ctx.vulns.status.to_json())


@router.post("/api/vulns/rematch", response_model=RematchOut, status_code=202, responses=_AUTH)
def start_rematch(p: Admin, db: Db, ctx: Ctx, now: Now, all: bool = False) -> RematchOut:
    """Match the fleet again in the background: devices behind the current feeds, or with
    `all=true` every active device."""
    if all:
        count = mark_all_stale(db)
        audit(db, actor=p.username, action="vulns.rematch", target="all devices", now=now,
              devices=count)  # fmt: skip
        db.commit()
    ctx.vulns.renew()
    return RematchOut(**ctx.vulns.status.to_json())


@router.get(
    "/api/devices/{device_id}/vulnerabilities",
    response_model=DeviceVulnsOut,
    responses={**_AUTH, **_CSV},
)
def device_vulns(device_id: DeviceIdStr, _p: ReadOnly, db: Db, format: Format = "json") -> Any:
    """One device's vulnerabilities with their evidence (record, range, installed version),
    its exposure score and how it was worked out, and whether only the OS was assessed
    (vulnerability privacy mode)."""
    d = queries.device_vulnerabilities(db, device_id)
    if format == "csv":
        return csv_response(
            f"device-{device_id}-vulnerabilities",
            (
                "record",
                "feed",
                "cves",
                "product",
                "app",
                "package",
                "installed",
                "range",
                "severity",
                "cvss",
                "exploited",
                "epss",
            ),  # fmt: skip
            (
                (
                    f.record_id,
                    f.source,
                    f.cve_ids,
                    f.product,
                    f.app_identifier,
                    f.package,
                    f.installed_version,
                    f.range,
                    f.severity,
                    f.base,
                    "yes" if f.exploited else "no",
                    f.epss,
                )
                for f in d.findings
            ),  # fmt: skip
        )
    return DeviceVulnsOut.of(d)


@router.get(
    "/api/vulns/{vuln_id}", response_model=VulnDetailOut, responses=responses(401, 403, 404)
)
def vuln_detail(
    vuln_id: VulnId,
    _p: ReadOnly,
    db: Db,
    ctx: Ctx,
    limit: Limit = 100,
    offset: Offset = 0,
) -> VulnDetailOut:
    """One vulnerability: severity and how it was worked out, KEV and EPSS, every feed's
    record, and the devices that have it (with the range and installed version)."""
    state = ctx.vulns.readable(db)
    d = queries.vulnerability(db, state, vuln_id, limit=limit, offset=offset)
    return VulnDetailOut(
        vulnerability=d.summary,
        kev=d.kev,
        records=d.records,
        affected=d.affected,
        affected_total=d.affected_total,
    )
