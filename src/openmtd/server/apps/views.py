"""App protection routes: APK uploads from agents, the analysis cache, app checks, fleet rescans."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from openmtd.domain.apps import ApkVerdict, AppFingerprint
from openmtd.domain.enums import InstallSource
from openmtd.domain.errors import Conflict, Forbidden, InvalidInput, PayloadTooLarge
from openmtd.engines.apps.analyze import analyze_apk
from openmtd.engines.apps.risk import judge_app
from openmtd.engines.apps.verdict_wire import verdict_to_dict
from openmtd.server.agent_api import service as agent_service
from openmtd.server.agent_api.schemas import ApkAnalysisOut, ApkRequests
from openmtd.server.apps import service
from openmtd.server.apps.schemas import (
    AnalysisDetail,
    AnalysisSummary,
    AppCheck,
    AppCheckOut,
    RescanOut,
)
from openmtd.server.audit.service import record
from openmtd.server.context import AppContext
from openmtd.server.deps import Admin, Analyst, Ctx, Db, Now, ReadOnly, bearer_token
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.schemas import Page
from openmtd.server.schemas_common import DeviceIdStr
from openmtd.store.db import transaction
from openmtd.store.models import ApkAnalysis, Device, DeviceApp

agent_router = APIRouter(prefix="/api/agent/v1", tags=["agent"], responses=API_ERRORS)
router = APIRouter(prefix="/api/apps", tags=["app protection"], responses=API_ERRORS)
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{64}$")]
_AUTH = responses(401, 403)
APK_MEDIA_TYPES = ("application/vnd.android.package-archive", "application/octet-stream")


def _out(row: ApkAnalysis, *, known: bool) -> ApkAnalysisOut:
    verdict = service.verdict_of(row)
    return ApkAnalysisOut(
        sha256=row.sha256,
        verdict=row.verdict,
        score=row.score,
        confidence=verdict.confidence,
        reasons=list(verdict.reasons),
        already_known=known,
    )


@agent_router.get(
    "/devices/{device_id}/apk-requests",
    response_model=ApkRequests,
    responses=responses(401, 403, 422),
)
def apk_requests(device_id: DeviceIdStr, request: Request, db: Db, ctx: Ctx) -> ApkRequests:
    """The APKs of this device the server would like to analyse (it asks for a few at a time)."""
    device = agent_service.authenticate_device(db, bearer_token(request))
    agent_service.require_own(device, device_id)
    wanted = service.apk_requests(db, device_id=device.id, scope=ctx.settings.apk_upload_scope)
    return ApkRequests(apk_requests=wanted, max_upload_bytes=ctx.settings.max_apk_upload_bytes)


@agent_router.put(
    "/devices/{device_id}/apks/{sha256}",
    response_model=ApkAnalysisOut,
    status_code=201,
    responses={
        **responses(401, 403, 409, 413, 422),
        200: {"description": "this APK was analysed before (the body was not needed)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in APK_MEDIA_TYPES
            },
        }
    },
)
async def upload_apk(
    device_id: DeviceIdStr, sha256: Sha256, request: Request, response: Response
) -> ApkAnalysisOut:
    """Upload one APK of this device's inventory for analysis (the raw file as the body).

    Each distinct APK is analysed once for the whole fleet: when the server already knows this
    SHA-256 it answers 200 with the cached verdict without reading the body. The body must hash
    to the SHA-256 in the path and be at most `max_upload_bytes` (413 otherwise).
    """
    ctx: AppContext = request.app.state.ctx
    credential = bearer_token(request)
    sha256 = sha256.lower()

    def precheck() -> tuple[str, ApkAnalysisOut | None]:
        with transaction(ctx.sessions) as db:
            device = agent_service.authenticate_device(db, credential)
            agent_service.require_own(device, device_id)
            if device.privacy.get("exclude_app_in_report"):
                raise Forbidden(
                    "this device excludes app details from reports, so it does not upload APKs",
                    code="apps_excluded",
                )
            if not service.is_in_inventory(db, device_id=device.id, sha256=sha256):
                raise Conflict(
                    f"this device's inventory has no app with SHA-256 {sha256}; report it in a "
                    "check-in first",
                    code="apk_not_in_inventory",
                )
            known = db.get(ApkAnalysis, sha256)
            return device.id, (_out(known, known=True) if known else None)

    uploader, known = await run_in_threadpool(precheck)
    if known is not None:
        response.status_code = 200
        return known
    data = await _apk_body(request, ctx.settings.max_apk_upload_bytes)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise InvalidInput(
            f"the body's SHA-256 is {actual}, not {sha256} as the path says",
            code="hash_mismatch",
        )

    def analyse_and_store() -> ApkAnalysisOut:
        verdict, rules_digest, elapsed_ms = _analyse(ctx, data)
        with transaction(ctx.sessions) as db:
            row = _store(db, ctx, data, sha256, verdict, rules_digest, elapsed_ms, uploader)
            return _out(row, known=False)

    return await run_in_threadpool(analyse_and_store)


async def _apk_body(request: Request, limit: int) -> bytes:
    """The request body (a whole APK), refused with 413 as soon as it passes `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"an APK may be at most {limit} bytes; this one is {declared}")
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise PayloadTooLarge(f"an APK may be at most {limit} bytes")
        body += chunk
    if not body:
        raise InvalidInput("the request body is empty: send the APK file", code="empty_body")
    return bytes(body)


def _analyse(ctx: AppContext, data: bytes) -> tuple[ApkVerdict, str, int]:
    """Static analysis with the current rules: (verdict, rules digest, milliseconds)."""
    rules, rules_digest = ctx.apps.rules()
    started = time.perf_counter()
    verdict = analyze_apk(data, rules=rules)
    return verdict, rules_digest, int((time.perf_counter() - started) * 1000)


def _store(
    db: Session,
    ctx: AppContext,
    data: bytes,
    sha256: str,
    verdict: ApkVerdict,
    rules_digest: str,
    elapsed_ms: int,
    uploaded_by: str | None,
) -> ApkAnalysis:
    """Cache the verdict and judge every device that has this APK by it."""
    now = ctx.clock()
    row = service.store_analysis(
        db,
        verdict=verdict,
        sha256=sha256,
        size=len(data),
        rules_digest=rules_digest,
        uploaded_by=uploaded_by,
        analysis_ms=elapsed_ms,
        now=now,
    )
    service.apply_verdict_to_fleet(db, sha256=sha256, index=ctx.apps.index(db), now=now)
    return row


# --- the console's API ------------------------------------------------------------------------


def _summary(row: ApkAnalysis, devices: int) -> AnalysisSummary:
    return AnalysisSummary(
        sha256=row.sha256,
        package=row.package,
        version_name=row.version_name,
        size=row.size,
        signer_sha256=row.signer_sha256,
        verdict=row.verdict,
        score=row.score,
        analysed_at=row.analysed_at,
        analysis_ms=row.analysis_ms,
        devices=devices,
    )


def _device_counts(db: Db, hashes: list[str]) -> dict[str, int]:
    if not hashes:
        return {}
    return {
        sha: n
        for sha, n in db.execute(
            select(DeviceApp.sha256, func.count(func.distinct(DeviceApp.device_id)))
            .join(Device, Device.id == DeviceApp.device_id)
            .where(DeviceApp.sha256.in_(hashes), Device.retired_at.is_(None))
            .group_by(DeviceApp.sha256)
        )
        if sha
    }


@router.get("/analyses", response_model=Page[AnalysisSummary], responses=_AUTH)
def list_analyses(
    _p: ReadOnly,
    db: Db,
    verdict: Literal["clean", "potentially unwanted", "malicious", "unparseable"] | None = None,
    q: Annotated[str | None, Query(max_length=255, description="package name prefix")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[AnalysisSummary]:
    """Analysed APKs, the most harmful first, with how many devices have each."""
    query = select(ApkAnalysis)
    count = select(func.count()).select_from(ApkAnalysis)
    if verdict:
        query = query.where(ApkAnalysis.verdict == verdict)
        count = count.where(ApkAnalysis.verdict == verdict)
    if q:
        query = query.where(ApkAnalysis.package.startswith(q, autoescape=True))
        count = count.where(ApkAnalysis.package.startswith(q, autoescape=True))
    rows = db.scalars(
        query.order_by(ApkAnalysis.score.desc(), ApkAnalysis.analysed_at.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    counts = _device_counts(db, [r.sha256 for r in rows])
    return Page(
        items=[_summary(r, counts.get(r.sha256, 0)) for r in rows],
        total=db.scalar(count) or 0,
        limit=limit,
        offset=offset,
    )


@router.get("/analyses/{sha256}", response_model=AnalysisDetail, responses=responses(401, 403, 404))
def get_analysis(sha256: Sha256, _p: ReadOnly, db: Db) -> AnalysisDetail:
    """One APK's analysis: facts, every risk factor, and the devices that have it (devices that
    exclude app details from reports are counted, never listed)."""
    row = service.analysis(db, sha256.lower())
    devices = db.execute(
        select(Device.id, Device.name, Device.privacy)
        .join(DeviceApp, DeviceApp.device_id == Device.id)
        .where(DeviceApp.sha256 == row.sha256, Device.retired_at.is_(None))
        .order_by(Device.name)
        .limit(1000)
    ).all()
    listed = [
        {"id": d.id, "name": d.name} for d in devices if not d.privacy.get("exclude_app_in_report")
    ]
    return AnalysisDetail(
        **_summary(row, len(devices)).model_dump(),
        result=row.result,
        device_list=listed,
        devices_excluded=len(devices) - len(listed),
    )


@router.post(
    "/analyses",
    response_model=AnalysisDetail,
    status_code=201,
    responses={**responses(401, 403, 413, 422), 200: {"description": "analysed before"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in APK_MEDIA_TYPES
            },
        }
    },
)
async def submit_apk(request: Request, response: Response, _p: Analyst, db: Db) -> AnalysisDetail:
    """An analyst submits an APK (the raw file as the body); its verdict joins the cache, so
    devices that have it are judged by it at once."""
    ctx: AppContext = request.app.state.ctx
    data = await _apk_body(request, ctx.settings.max_apk_upload_bytes)
    sha256 = hashlib.sha256(data).hexdigest()

    def work() -> tuple[AnalysisDetail, bool]:
        # The request's own session: the role check holds it (SQLite has one connection).
        existing = db.get(ApkAnalysis, sha256)
        created = existing is None
        if existing is None:
            verdict, rules_digest, elapsed_ms = _analyse(ctx, data)
            existing = _store(db, ctx, data, sha256, verdict, rules_digest, elapsed_ms, None)
        counts = _device_counts(db, [sha256])
        detail = AnalysisDetail(
            **_summary(existing, counts.get(sha256, 0)).model_dump(),
            result=existing.result,
            device_list=[],
            devices_excluded=0,
        )
        db.commit()
        return detail, created

    detail, created = await run_in_threadpool(work)
    response.status_code = 201 if created else 200
    return detail


@router.post("/check", response_model=AppCheckOut, responses=responses(401, 403, 422))
def check_app(body: AppCheck, _p: ReadOnly, db: Db, ctx: Ctx, now: Now) -> AppCheckOut:
    """What the app indicators and the analysis cache say about an app (nothing is recorded)."""
    cached = db.get(ApkAnalysis, body.sha256.lower()) if body.sha256 else None
    static: ApkVerdict | None = service.verdict_of(cached) if cached else None
    fingerprint = AppFingerprint(
        package=body.package or "",
        sha256=body.sha256.lower() if body.sha256 else None,
        sha1=cached.sha1 if cached else None,
        md5=cached.md5 if cached else None,
        signer_sha256=body.signer_sha256.lower() if body.signer_sha256 else None,
        signer_sha1=body.signer_sha1.lower() if body.signer_sha1 else None,
    )
    if not any(
        (
            fingerprint.package,
            fingerprint.sha256,
            fingerprint.signer_sha256,
            fingerprint.signer_sha1,
        )
    ):
        raise InvalidInput(
            "give a package, an APK SHA-256 or a signer thumbprint", code="empty_check"
        )
    groups = frozenset(body.device_groups) if body.device_groups else None
    reputation = ctx.apps.index(db).check(fingerprint, now=now, device_groups=groups)
    verdict = judge_app(
        static=static,
        reputation=reputation if reputation.matches else None,
        install_source=body.install_source or InstallSource.UNKNOWN,
    )
    return AppCheckOut(
        verdict=verdict.verdict.value,
        score=verdict.score,
        confidence=verdict.confidence,
        reasons=list(verdict.reasons),
        indicator_matches=[m.reason for m in reputation.matches],
        analysed=cached is not None,
        result=verdict_to_dict(verdict),
    )


@router.post("/rescan", response_model=RescanOut, responses=_AUTH)
def rescan(p: Admin, db: Db, ctx: Ctx, now: Now) -> RescanOut:
    """Judge every app of every device again (after rule or indicator changes made outside
    the API); alerts are raised and resolved as the verdicts say."""
    started = time.perf_counter()
    summary = service.evaluate_devices(
        db, device_ids=service.all_devices(db), index=ctx.apps.index(db), now=now
    )
    record(
        db,
        actor=p.username,
        action="apps.rescan",
        target="fleet",
        now=now,
        changes={
            "devices": summary.devices,
            "raised": summary.raised,
            "resolved": summary.resolved,
        },
    )
    return RescanOut(
        devices=summary.devices,
        apps=summary.apps,
        alerts_raised=summary.raised,
        alerts_resolved=summary.resolved,
        seconds=round(time.perf_counter() - started, 3),
    )
