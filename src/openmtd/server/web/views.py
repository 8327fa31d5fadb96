"""Web protection API: indicators, feeds, the URL check and the web-protection policy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from openmtd.domain.errors import InvalidInput
from openmtd.domain.web import IndicatorAction, IndicatorType, WebMatch, WebVerdict
from openmtd.intel.web_export import export_admin_csv, export_stix_bundle
from openmtd.intel.web_feeds import FeedFormat, detect_format
from openmtd.server.apps.fleet import rejudge_apps_matching
from openmtd.server.audit.service import record
from openmtd.server.deps import Admin, Ctx, Db, Now, ReadOnly
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.schemas import Page
from openmtd.server.web import feeds as feed_service
from openmtd.server.web import indicators as service
from openmtd.server.web.policy import WebPolicyBody, load_policy, save_policy
from openmtd.server.web.protection import judge
from openmtd.server.web.refresh import refresh_now
from openmtd.server.web.schemas import (
    FeedCreate,
    FeedOut,
    FeedUpdate,
    ImportResult,
    IndicatorCreate,
    IndicatorOut,
    IndicatorUpdate,
    LineProblemOut,
    MatchOut,
    UrlCheck,
    VerdictOut,
)
from openmtd.store.models import CustomIndicator, Feed

router = APIRouter(prefix="/api/web", tags=["web protection"], responses=API_ERRORS)
_AUTH = responses(401, 403)
IndicatorId = Annotated[int, Path(ge=1, le=2**31 - 1)]
FeedId = Annotated[int, Path(ge=1, le=2**31 - 1)]
IMPORT_PATH = "/api/web/indicators/import"


def _rejudge_apps(db: Db, ctx: Ctx, now: datetime, row: CustomIndicator) -> None:
    if IndicatorType(row.type).is_app:
        rejudge_apps_matching(db, ctx=ctx, values=[row.value], now=now)


def indicator_out(row: CustomIndicator, now: datetime) -> IndicatorOut:
    return IndicatorOut(
        id=row.id,
        type=IndicatorType(row.type),
        value=row.value,
        action=IndicatorAction(row.action),
        severity=row.severity,
        title=row.title,
        description=row.description,
        recommended_actions=row.recommended_actions,
        category=row.category,
        mitre_techniques=list(row.mitre_techniques),
        generate_alert=row.generate_alert,
        expires_at=row.expires_at,
        expired=row.expires_at is not None and row.expires_at <= now,
        device_groups=list(row.device_groups),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


def feed_out(feed: Feed) -> FeedOut:
    return FeedOut(
        id=feed.id,
        name=feed.name,
        location=feed.location,
        format=feed.format,
        action=IndicatorAction(feed.action),
        severity=feed.severity,
        category=feed.category,
        enabled=feed.enabled,
        refresh_minutes=feed.refresh_minutes,
        revision=feed.revision,
        entry_count=feed.entry_count,
        last_refresh_at=feed.last_refresh_at,
        last_status=feed.last_status,
        last_report=feed.last_report,
    )


def match_out(m: WebMatch) -> MatchOut:
    return MatchOut(
        kind=m.meta.kind.value,
        source=m.meta.source,
        indicator_type=m.indicator_type,
        expression=m.expression,
        action=m.action,
        severity=m.meta.severity,
        title=m.meta.title,
        description=m.meta.description,
        recommended_actions=m.meta.recommended_actions,
        reason=m.reason,
    )


def verdict_out(v: WebVerdict) -> VerdictOut:
    return VerdictOut(
        target=v.target,
        action=v.action,
        blocked=v.blocks,
        explanation=v.explanation,
        problem=v.problem,
        decision=match_out(v.decision) if v.decision else None,
        matches=[match_out(m) for m in v.matches],
    )


# -- indicators -------------------------------------------------------------------------


@router.get("/indicators", response_model=Page[IndicatorOut], responses=_AUTH)
def list_indicators(
    _p: ReadOnly,
    db: Db,
    now: Now,
    q: Annotated[str, Query(max_length=256, description="Substring of value or title")] = "",
    type: IndicatorType | None = None,
    action: IndicatorAction | None = None,
    include_expired: bool = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[IndicatorOut]:
    """Custom indicators, newest first; search by value or title."""
    rows, total = service.search(
        db,
        query=service.IndicatorQuery(
            q=q, type=type, action=action, include_expired=include_expired
        ),
        now=now,
        limit=limit,
        offset=offset,
    )
    return Page(
        items=[indicator_out(r, now) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post(
    "/indicators",
    response_model=IndicatorOut,
    status_code=201,
    responses=responses(401, 403, _409="an indicator with this type and value exists"),
)
def create_indicator(body: IndicatorCreate, p: Admin, db: Db, ctx: Ctx, now: Now) -> IndicatorOut:
    """Add a custom indicator; it applies to the server's DNS at once and to agents at their
    next sync."""
    row = service.create(db, body=body, actor=p.username, now=now)
    _rejudge_apps(db, ctx, now, row)
    db.commit()
    ctx.web.changed()
    return indicator_out(row, now)


@router.get("/indicators/export", responses=_AUTH, response_class=Response)
def export_indicators(
    _p: ReadOnly,
    db: Db,
    now: Now,
    format: Literal["csv", "stix"] = "csv",
) -> Response:
    """All custom indicators in the admin CSV format or as a STIX 2.1 bundle."""
    indicators = list(service.all_indicators(db))
    if format == "stix":
        bundle = export_stix_bundle(indicators, created=now)
        return Response(
            orjson.dumps(bundle, option=orjson.OPT_INDENT_2),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="openmtd-indicators.json"'},
        )

    def chunks() -> Iterator[str]:
        yield from export_admin_csv(indicators)

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="openmtd-indicators.csv"'},
    )


@router.post(
    "/indicators/import",
    response_model=ImportResult,
    responses=responses(401, 403, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def import_indicators(
    request: Request,
    p: Admin,
    db: Db,
    ctx: Ctx,
    now: Now,
    format: Annotated[
        Literal[
            "auto",
            "domains",
            "hosts",
            "adblock",
            "urls",
            "csv",
            "stix",
            "admin-csv",
            "stalkerware-yaml",
            "samples-csv",
        ],
        Query(description="Document format; 'auto' detects it from content and file name."),
    ] = "auto",
    filename: Annotated[str, Query(max_length=255)] = "",
    action: IndicatorAction = IndicatorAction.BLOCK,
    title: Annotated[str, Query(max_length=255)] = "",
    category: Annotated[str, Query(max_length=64)] = "Phishing",
) -> ImportResult:
    """Import a document of indicators into the custom indicators (upsert by type and value).

    The body is the document itself. Bad lines are counted and reported with their line
    numbers; they never abort the import. Per-line fields of the admin CSV and STIX override
    the `action`, `title` and `category` given here.
    """
    raw = await request.body()
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise InvalidInput("the document is empty", code="empty_document")
    fmt = detect_format(text, filename) if format == "auto" else FeedFormat(format)
    defaults = service.import_defaults(action=action, title=title, category=category)

    def work() -> service.ImportOutcome:
        outcome = service.import_document(
            db, text=text, fmt=fmt, defaults=defaults, actor=p.username, now=now
        )
        if outcome.app_values:
            rejudge_apps_matching(db, ctx=ctx, values=outcome.app_values, now=now)
        db.commit()
        return outcome

    outcome = await run_in_threadpool(work)
    if outcome.created or outcome.updated:
        await run_in_threadpool(ctx.web.changed)
    r = outcome.report
    return ImportResult(
        format=r.format.value,
        lines=r.lines,
        accepted=r.accepted,
        created=outcome.created,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        duplicates=r.duplicates,
        ignored=r.ignored,
        ignored_reasons=dict(r.ignored_reasons),
        problem_count=r.problem_count,
        problems=[LineProblemOut(line=x.line, reason=x.reason, text=x.text) for x in r.problems],
    )


@router.get(
    "/indicators/{indicator_id}", response_model=IndicatorOut, responses=responses(401, 403, 404)
)
def get_indicator(indicator_id: IndicatorId, _p: ReadOnly, db: Db, now: Now) -> IndicatorOut:
    return indicator_out(service.get(db, indicator_id), now)


@router.patch(
    "/indicators/{indicator_id}", response_model=IndicatorOut, responses=responses(401, 403, 404)
)
def update_indicator(
    indicator_id: IndicatorId, body: IndicatorUpdate, p: Admin, db: Db, ctx: Ctx, now: Now
) -> IndicatorOut:
    row = service.update_indicator(
        db, indicator_id=indicator_id, body=body, actor=p.username, now=now
    )
    _rejudge_apps(db, ctx, now, row)
    db.commit()
    ctx.web.changed()
    return indicator_out(row, now)


@router.delete("/indicators/{indicator_id}", status_code=204, responses=responses(401, 403, 404))
def delete_indicator(indicator_id: IndicatorId, p: Admin, db: Db, ctx: Ctx, now: Now) -> Response:
    row = service.get(db, indicator_id)
    kind, value = IndicatorType(row.type), row.value
    service.delete(db, indicator_id=indicator_id, actor=p.username, now=now)
    if kind.is_app:
        rejudge_apps_matching(db, ctx=ctx, values=[value], now=now)
    db.commit()
    ctx.web.changed()
    return Response(status_code=204)


# -- feeds ------------------------------------------------------------------------------


@router.get("/feeds", response_model=list[FeedOut], responses=_AUTH)
def list_feeds(_p: ReadOnly, db: Db) -> list[FeedOut]:
    """Every feed with its last refresh result."""
    return [feed_out(f) for f in feed_service.list_feeds(db)]


@router.post(
    "/feeds", response_model=FeedOut, status_code=201, responses=responses(401, 403, 409, 422)
)
def create_feed(body: FeedCreate, p: Admin, db: Db, ctx: Ctx, now: Now) -> FeedOut:
    """Add a feed (an http(s) URL or a file in a feed folder); refresh it to load entries."""
    feed = feed_service.create(
        db, body=body, actor=p.username, now=now, allowed_dirs=ctx.settings.allowed_feed_dirs()
    )
    return feed_out(feed)


@router.patch("/feeds/{feed_id}", response_model=FeedOut, responses=responses(401, 403, 404, 422))
def update_feed(feed_id: FeedId, body: FeedUpdate, p: Admin, db: Db, ctx: Ctx, now: Now) -> FeedOut:
    feed = feed_service.update_feed(
        db,
        feed_id=feed_id,
        body=body,
        actor=p.username,
        now=now,
        allowed_dirs=ctx.settings.allowed_feed_dirs(),
    )
    db.commit()
    ctx.web.changed()
    return feed_out(feed)


@router.delete("/feeds/{feed_id}", status_code=204, responses=responses(401, 403, 404))
def delete_feed(feed_id: FeedId, p: Admin, db: Db, ctx: Ctx, now: Now) -> Response:
    feed_service.delete_feed(db, feed_id=feed_id, actor=p.username, now=now)
    db.commit()
    ctx.web.changed()
    return Response(status_code=204)


@router.post("/feeds/{feed_id}/refresh", response_model=FeedOut, responses=responses(401, 403, 404))
def refresh(feed_id: FeedId, p: Admin, db: Db, ctx: Ctx, now: Now) -> FeedOut:
    """Fetch and apply the feed now; the result (counts, bad lines) is in last_report."""
    feed_service.get(db, feed_id)
    record(db, actor=p.username, action="feed.refresh", target=f"feed:{feed_id}", now=now)
    db.commit()  # hands the connection back: the refresh runs in transactions of its own
    refresh_now(ctx, feed_id=feed_id, now=now)
    db.expire_all()
    return feed_out(feed_service.get(db, feed_id))


# -- verdicts and policy ----------------------------------------------------------------


@router.post("/check", response_model=VerdictOut, responses=_AUTH)
def check_url(body: UrlCheck, _p: ReadOnly, ctx: Ctx, now: Now) -> VerdictOut:
    """Judge a URL (or a bare host) as a device would, with the full explanation."""
    groups = frozenset(body.device_groups) if body.device_groups is not None else None
    return verdict_out(judge(ctx.web.index(), body.url, now=now, device_groups=groups))


@router.get("/policy", response_model=WebPolicyBody, responses=_AUTH)
def get_policy(_p: ReadOnly, db: Db) -> WebPolicyBody:
    """Anti-phishing and local proxy per platform, lookalike heuristics, protective DNS."""
    return load_policy(db)


@router.put("/policy", response_model=WebPolicyBody, responses=responses(401, 403, 422))
def put_policy(body: WebPolicyBody, p: Admin, db: Db, ctx: Ctx, now: Now) -> WebPolicyBody:
    save_policy(db, body=body, actor=p.username, now=now)
    db.commit()
    ctx.web.changed()
    return body
