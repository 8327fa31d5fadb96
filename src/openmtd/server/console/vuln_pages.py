"""Console pages of vulnerability management: the fleet's exposure and vulnerabilities, one
vulnerability, the software inventory, the recommendations and the admin's feeds and mapping.

The console's counterpart of the JSON API in server/vulns/views.py: the pages read through the
same `queries` functions and the warm state (`ctx.vulns`), the admin forms call the same
services in the same order (import or replace, commit, then `ctx.vulns.renew()` so that the
background re-match sees the committed generation). Everybody signed in may look; only admins
import, edit the mapping or re-match, and every form carries the session's CSRF token.
Feed texts (summaries, references, ranges) are shown escaped, and only http(s) references
become links.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from openmtd.domain.enums import Platform
from openmtd.domain.errors import InvalidInput, OpenMTDError, PayloadTooLarge
from openmtd.engines.vulns.mapping import DEFAULT_MAPPING, mapping_to_csv
from openmtd.engines.vulns.recommendations import Recommendation
from openmtd.engines.vulns.scoring import ExposureBand
from openmtd.server.audit.service import record as audit
from openmtd.server.console.charts import BarChart, bar_chart
from openmtd.server.console.web import (
    PAGE_SIZE,
    AdminPost,
    AdminViewer,
    ConsoleRoute,
    Pager,
    Viewer,
    bool_or_none,
    clip,
    enum_or_none,
    page_number,
    render,
)
from openmtd.server.context import AppContext
from openmtd.server.deps import Ctx, Db, Now
from openmtd.server.security import Principal
from openmtd.server.vulns import queries, service
from openmtd.server.vulns.protection import RematchStatus, mark_all_stale
from openmtd.server.vulns.state import VulnState, custom_mapping
from openmtd.server.web.feeds import check_location, fetch_bytes
from openmtd.store.models import VulnImport

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

BASE = "/console/vulnerabilities"
SOFTWARE = "/console/software"
RECOMMENDATIONS = f"{BASE}/recommendations"
ADMIN = f"{BASE}/admin"
#: Takes whole feed documents: app.py lets it have bodies up to max_import_bytes.
IMPORT_PAGE = f"{ADMIN}/import"
#: Takes the admin's mapping as one form field (the form parser reads at most 1 MiB of it).
MAPPING_PAGE = f"{ADMIN}/mapping"
REMATCH_PAGE = f"{ADMIN}/rematch"
API = "/api/vulns"

VulnId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,200}$")]

TOP_RECOMMENDATIONS = 10
IMPORT_LOG = 20
SEVERITIES = queries.SEVERITIES
BAND_LABELS = {"low": "Low (0–29)", "medium": "Medium (30–69)", "high": "High (70–100)"}
ASSESSMENT_LABELS = {
    "full": "OS and apps",
    "os-only": "OS only (privacy mode)",
    "none": "Not assessed yet",
    "failed": "Could not be assessed",
}


def _render(
    request: Request, template: str, principal: Principal, *, tab: str, **context: Any
) -> Response:
    return render(request, template, principal, section="vulnerabilities", tab=tab, **context)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _api_url(path: str, params: Sequence[tuple[str, str]]) -> str:
    """An API link (CSV export) with repeated parameters, as the API takes them."""
    return path + (f"?{urlencode(list(params))}" if params else "")


def reference_links(references: Sequence[object]) -> list[tuple[str, bool]]:
    """Each reference with whether it may be a link: only http(s) becomes an <a>."""
    out = []
    for ref in references:
        text = str(ref)
        out.append((text, text.lower().startswith(("http://", "https://"))))
    return out


@dataclass(frozen=True, slots=True)
class RematchNotice:
    """What the background re-match is doing, in words; none when it is idle."""

    state: str
    text: str
    done: int
    total: int


def rematch_notice(status: RematchStatus) -> RematchNotice | None:
    if status.state == "building":
        text = "Reading the feeds into a new matching state; the fleet is matched again next."
    elif status.state == "matching":
        text = f"Re-matching the fleet: {status.done} of {status.total} devices."
    elif status.state == "failed":
        text = (
            f"The last re-match failed ({status.error or 'unknown error'}); devices keep their "
            "previous results. The server log has the details."
        )
    else:
        return None
    return RematchNotice(status.state, text, status.done, status.total)


def _state_and_advice(db: Session, ctx: AppContext) -> tuple[VulnState, list[Recommendation]]:
    state = ctx.vulns.readable(db)
    return state, ctx.vulns.recommendations.get(db, state)


# --- the fleet's vulnerabilities --------------------------------------------------------------


def _severities(values: Sequence[str]) -> tuple[str, ...]:
    """Severity filter from repeated (the form) or comma-separated (the page links) values."""
    chosen = {w.strip() for v in values for w in v.split(",")}
    return tuple(s for s in SEVERITIES if s in chosen)


def _vuln_filters(request: Request) -> tuple[queries.VulnFilters, dict[str, str]]:
    q = request.query_params
    severities = _severities(q.getlist("severity"))
    exploited = True if bool_or_none(q.get("exploited")) else None
    platform = enum_or_none(Platform, q.get("platform"))
    search = clip(q.get("q"), 200)
    params = {
        "severity": ",".join(severities),
        "exploited": "true" if exploited else "",
        "platform": platform.value if platform else "",
        "q": search,
    }
    filters = queries.VulnFilters(severities, exploited, platform, search)
    return filters, {k: v for k, v in params.items() if v}


def _vuln_csv(filters: queries.VulnFilters) -> str:
    params = [("format", "csv"), *(("severity", s) for s in filters.severities)]
    if filters.exploited:
        params.append(("exploited", "true"))
    if filters.platform is not None:
        params.append(("platform", filters.platform.value))
    if filters.search:
        params.append(("q", filters.search))
    return _api_url(API, params)


def _charts(overview: queries.VulnOverview) -> tuple[BarChart, BarChart]:
    """Devices per exposure band (worst first) and vulnerabilities per severity."""
    bands = bar_chart(
        [
            (BAND_LABELS[b], overview.bands.get(b, 0), f"band-{b}", "/console/devices")
            for b in (ExposureBand.HIGH.value, ExposureBand.MEDIUM.value, ExposureBand.LOW.value)
        ]
    )
    severities = bar_chart(
        [
            (s, overview.severities.get(s, 0), f"vsev-{s.lower()}", f"{BASE}?severity={s}#vulns")
            for s in SEVERITIES
        ]
    )
    return bands, severities


@router.get(BASE)
def vulnerabilities(request: Request, p: Viewer, db: Db, ctx: Ctx) -> Response:
    overview = queries.overview(db)
    state, advice = _state_and_advice(db, ctx)
    filters, params = _vuln_filters(request)
    page = page_number(request.query_params.get("page"))
    items, total = queries.list_vulnerabilities(
        db, state, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    band_chart, severity_chart = _charts(overview)
    return _render(
        request,
        "vulns.html",
        p,
        tab="overview",
        o=overview,
        org=overview.organisation,
        band_chart=band_chart,
        severity_chart=severity_chart,
        assessments=[
            (ASSESSMENT_LABELS.get(k, k), n) for k, n in sorted(overview.assessments.items())
        ],
        rematch=rematch_notice(ctx.vulns.status),
        advice=advice[:TOP_RECOMMENDATIONS],
        advice_total=len(advice),
        items=items,
        pager=Pager(BASE, params, page, total),
        filters=filters,
        filtered=bool(params),
        severities=SEVERITIES,
        platforms=list(Platform),
        csv_url=_vuln_csv(filters),
    )


# --- recommendations ----------------------------------------------------------------------------


@router.get(RECOMMENDATIONS)
def recommendations(request: Request, p: Viewer, db: Db, ctx: Ctx) -> Response:
    _state, advice = _state_and_advice(db, ctx)
    page = page_number(request.query_params.get("page"))
    pager = Pager(RECOMMENDATIONS, {}, page, len(advice))
    return _render(
        request,
        "vuln_recommendations.html",
        p,
        tab="recommendations",
        advice=advice[pager.offset : pager.offset + PAGE_SIZE],
        first_rank=pager.offset + 1,
        pager=pager,
        rematch=rematch_notice(ctx.vulns.status),
        csv_url=_api_url(f"{API}/recommendations", [("format", "csv")]),
    )


# --- the software inventory -----------------------------------------------------------------


@router.get(SOFTWARE)
def software(request: Request, p: Viewer, db: Db) -> Response:
    q = request.query_params
    platform = enum_or_none(Platform, q.get("platform"))
    search = clip(q.get("q"), 200)
    vulnerable = bool(bool_or_none(q.get("vulnerable")))
    params = {
        "platform": platform.value if platform else "",
        "q": search,
        "vulnerable": "true" if vulnerable else "",
    }
    params = {k: v for k, v in params.items() if v}
    page = page_number(q.get("page"))
    rows, total = queries.software_inventory(
        db, platform=platform, search=search, vulnerable_only=vulnerable, limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )  # fmt: skip
    csv_params = [("format", "csv"), *params.items()]
    return _render(
        request,
        "software.html",
        p,
        tab="software",
        rows=rows,
        pager=Pager(SOFTWARE, params, page, total),
        platform=platform.value if platform else "",
        q=search,
        vulnerable=vulnerable,
        filtered=bool(params),
        platforms=list(Platform),
        csv_url=_api_url(f"{API}/software", csv_params),
    )


# --- the admin's page: feeds, mapping, re-match -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportLine:
    id: int
    origin: str
    format: str
    imported_at: Any
    records: int
    new: int
    changed: int
    unchanged: int
    problems: int
    samples: list[dict[str, str]]
    skipped: dict[str, int]


def _import_log(db: Session) -> list[ImportLine]:
    rows = db.scalars(select(VulnImport).order_by(VulnImport.id.desc()).limit(IMPORT_LOG)).all()
    out = []
    for row in rows:
        s: Mapping[str, Any] = row.summary or {}
        out.append(
            ImportLine(
                id=row.id,
                origin=row.origin,
                format=row.format,
                imported_at=row.imported_at,
                records=int(s.get("records", 0)),
                new=int(s.get("new", 0)),
                changed=int(s.get("changed", 0)),
                unchanged=int(s.get("unchanged", 0)),
                problems=int(s.get("problems", 0)),
                samples=[
                    {"record": str(x.get("record", "")), "reason": str(x.get("reason", ""))}
                    for x in s.get("problem_samples", [])
                    if isinstance(x, dict)
                ],
                skipped={str(k): int(v) for k, v in (s.get("skipped") or {}).items()},
            )
        )
    return out


def _admin_page(
    request: Request,
    p: Principal,
    db: Session,
    ctx: AppContext,
    *,
    status: int = 200,
    import_error: str = "",
    location: str = "",
    mapping_error: str = "",
    mapping_text: str | None = None,
) -> Response:
    return _render(
        request,
        "vuln_admin.html",
        p,
        tab="admin",
        status=status,
        imports=_import_log(db),
        import_error=import_error,
        location=location,
        mapping_error=mapping_error,
        mapping_text=mapping_to_csv(custom_mapping(db)) if mapping_text is None else mapping_text,
        builtin=DEFAULT_MAPPING.rows,
        rematch=rematch_notice(ctx.vulns.status),
        status_now=ctx.vulns.status,
        max_mib=ctx.settings.max_import_bytes // (1024 * 1024),
    )


@router.get(ADMIN)
def admin(request: Request, p: AdminViewer, db: Db, ctx: Ctx) -> Response:
    return _admin_page(request, p, db, ctx)


def _posted_document(upload: object, location: str, ctx: AppContext) -> tuple[bytes, str]:
    """The feed document of the import form: the uploaded file or what `location` names, with
    the API's limits (max_import_bytes for an upload, max_feed_bytes for a location)."""
    has_file = isinstance(upload, UploadFile) and bool(upload.filename)
    if has_file and location:
        raise InvalidInput("choose a file or give a location, not both", code="two_documents")
    if location:
        check_location(location, ctx.settings.allowed_feed_dirs())
        return fetch_bytes(location, max_bytes=ctx.settings.max_feed_bytes), location
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput(
            "choose a feed file or give its location: there is nothing to import",
            code="empty_body",
        )
    limit = ctx.settings.max_import_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the document is larger than {limit} bytes")
    if not data:
        raise InvalidInput(f"{upload.filename[:255]} is empty", code="empty_body")
    return data, upload.filename[:255]


@router.post(IMPORT_PAGE)
def import_feed(request: Request, posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    """Import one feed document (as POST /api/vulns/imports), then re-match in the background."""
    location = posted.text("location", max_length=2048)
    try:
        data, origin = _posted_document(posted.form.get("file"), location, ctx)
        service.import_feed(db, data, origin=origin, actor=posted.principal.username, now=now)
    except OpenMTDError as e:
        db.rollback()
        return _admin_page(
            request, posted.principal, db, ctx, status=e.status, import_error=e.message,
            location=location,
        )  # fmt: skip
    db.commit()  # before the re-match starts: it must see this generation
    ctx.vulns.renew()
    return _see_other(f"{ADMIN}?msg=vulns-imported#imports")


@router.post(MAPPING_PAGE)
def replace_mapping(request: Request, posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    """Replace the admin's mapping rows (as PUT /api/vulns/mapping); a bad line changes nothing
    and the page comes back with the text as it was sent."""
    value = posted.form.get("mapping")
    text = value if isinstance(value, str) else ""
    try:
        service.replace_mapping(db, text, actor=posted.principal.username, now=now)
    except OpenMTDError as e:
        db.rollback()
        return _admin_page(
            request, posted.principal, db, ctx, status=e.status, mapping_error=e.message,
            mapping_text=text,
        )  # fmt: skip
    db.commit()
    ctx.vulns.renew()
    return _see_other(f"{ADMIN}?msg=vulns-mapping-saved#mapping")


@router.post(REMATCH_PAGE)
def rematch_all(posted: AdminPost, db: Db, ctx: Ctx, now: Now) -> Response:
    """Match every active device again in the background (as POST /api/vulns/rematch?all=true)."""
    count = mark_all_stale(db)
    audit(db, actor=posted.principal.username, action="vulns.rematch", target="all devices",
          now=now, devices=count)  # fmt: skip
    db.commit()
    ctx.vulns.renew()
    return _see_other(f"{ADMIN}?msg=vulns-rematch-started#rematch")


# --- one vulnerability (last: its path takes any id) -------------------------------------------


@router.get(BASE + "/{vuln_id}")
def vulnerability(vuln_id: VulnId, request: Request, p: Viewer, db: Db, ctx: Ctx) -> Response:
    state = ctx.vulns.readable(db)
    page = page_number(request.query_params.get("page"))
    detail = queries.vulnerability(
        db, state, vuln_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    severity = state.severities.get(vuln_id)
    records = [{**r, "links": reference_links(r.get("references", []))} for r in detail.records]
    return _render(
        request,
        "vuln.html",
        p,
        tab="overview",
        v=detail.summary,
        kev=detail.kev,
        basis=severity.basis.value if severity is not None else "unknown",
        feed_severity=severity.feed_severity if severity is not None else "",
        records=records,
        affected=detail.affected,
        pager=Pager(f"{BASE}/{vuln_id}", {}, page, detail.affected_total),
    )
