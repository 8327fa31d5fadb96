"""Routes of the agent protocol, v1: enroll, check in, sync, read own record."""

from __future__ import annotations

import hashlib
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from openmtd.domain.errors import NotFound
from openmtd.server import privacy as privacy_service
from openmtd.server.agent_api import service
from openmtd.server.agent_api.schemas import (
    CheckInRequest,
    CheckInResponse,
    EnrollRequest,
    EnrollResponse,
    IndicatorSetOut,
    IndicatorSetRef,
    OwnDevice,
    PrivacyChoices,
    PrivacyOut,
    SyncResponse,
    WebSettings,
)
from openmtd.server.context import AppContext
from openmtd.server.deps import Ctx, Db, Now, bearer_token
from openmtd.server.dns.service import DohResolver
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.openapi import parse_body, schema_ref
from openmtd.server.schemas_common import DeviceIdStr
from openmtd.server.web.protection import indicator_sets, load_set
from openmtd.store.db import transaction

router = APIRouter(prefix="/api/agent/v1", tags=["agent"], responses=API_ERRORS)


def current_device(request: Request, db: Db) -> service.AgentDevice:
    return service.authenticate_device(db, bearer_token(request))


ThisDevice = Annotated[service.AgentDevice, Depends(current_device)]

_ERRORS = responses(401, 403, 413, 422)


@router.post(
    "/enroll",
    response_model=EnrollResponse,
    status_code=201,
    responses=responses(
        _401="unknown, expired, revoked or used-up onboarding token",
        _422="unsupported scenario or malformed request",
    ),
)
def enroll(req: EnrollRequest, db: Db, ctx: Ctx, now: Now) -> EnrollResponse:
    """Enroll a device with an onboarding token; the device credential is returned only once."""
    result = service.enroll(
        db,
        req=req,
        now=now,
        unresponsive_days=ctx.settings.unresponsive_days,
        privacy_rules=ctx.settings.privacy_rules(),
    )
    return EnrollResponse(
        device_id=result.device.id,
        device_credential=result.credential,
        protection_scope=result.device.protection_scope,
        device_group=result.device.device_group,
        warnings=list(result.warnings),
        checkin_interval_seconds=ctx.settings.checkin_interval_seconds,
    )


@router.post(
    "/devices/{device_id}/checkins",
    response_model=CheckInResponse,
    responses={**_ERRORS, **responses(_409="report id reused with different content")},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema_ref(CheckInRequest)}},
        }
    },
)
async def check_in(device_id: DeviceIdStr, request: Request) -> Response:
    """Report device facts, app inventory, signals and detections. Idempotent per report_id.

    The busiest route of the server, so it is written lean: the body is validated straight
    from its JSON bytes, and the whole unit of work runs in one thread-pool hop (each FastAPI
    dependency would cost one of its own).
    """
    ctx: AppContext = request.app.state.ctx
    req = parse_body(CheckInRequest, await request.body())
    credential = bearer_token(request)
    body_digest = hashlib.sha256(req.model_dump_json().encode()).hexdigest()

    def unit_of_work() -> CheckInResponse:
        with transaction(ctx.sessions) as db:
            device = service.authenticate_device(db, credential)
            service.require_own(device, device_id)
            result = service.check_in(
                db,
                device=device,
                req=req,
                body_digest=body_digest,
                now=ctx.clock(),
                apps=service.AppJudging(ctx.apps, ctx.settings.apk_upload_scope),
                integrity=ctx.integrity,
                vulns=ctx.vulns,
            )
            return CheckInResponse(
                report_id=req.report_id,
                duplicate=result.duplicate,
                risk_level=result.risk_level,
                alerts_raised=result.alerts_raised,
                sync_etag=service.sync_etag(
                    device,
                    service.agent_policy(ctx.settings),
                    privacy_service.user_toggles(
                        ctx.settings, scenario=device.scenario, device_group=device.device_group
                    ),
                ),
                next_checkin_seconds=ctx.settings.checkin_interval_seconds,
                apk_requests=list(result.apk_requests),
                integrity_state=result.integrity_state,
                compromise_response=list(result.compromise_response),
                attestation_requests=list(result.attestation_requests),
            )

    answer = await run_in_threadpool(unit_of_work)
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get(
    "/devices/{device_id}/sync",
    response_model=SyncResponse,
    responses={**_ERRORS, **responses(304)},
)
def sync(
    device_id: DeviceIdStr,
    device: ThisDevice,
    db: Db,
    ctx: Ctx,
    response: Response,
    if_none_match: Annotated[str | None, Header()] = None,
) -> SyncResponse | Response:
    """Policy and indicators for this device; answers 304 when the ETag is unchanged."""
    service.require_own(device, device_id)
    policy = service.agent_policy(ctx.settings)
    toggles = privacy_service.user_toggles(
        ctx.settings, scenario=device.scenario, device_group=device.device_group
    )
    etag = service.sync_etag(device, policy, toggles)
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    web = ctx.web.policy()
    platform = device.platform
    return SyncResponse(
        etag=etag,
        device_id=device.id,
        device_group=device.device_group,
        device_groups=service.device_groups(device),
        checkin_interval_seconds=ctx.settings.checkin_interval_seconds,
        privacy=device.privacy,
        privacy_user_toggles=toggles,
        policy=dict(policy),
        web=WebSettings(
            anti_phishing=getattr(web.anti_phishing, platform),
            local_proxy=getattr(web.local_proxy, platform),
            dns_block_mode=web.dns.block_mode,
            dns_block_ipv4=str(web.dns.block_ipv4),
            dns_block_ipv6=str(web.dns.block_ipv6),
            dns_blocked_ttl=web.dns.blocked_ttl,
            heuristics=web.heuristics.model_dump(mode="json"),
        ),
        indicator_sets=[
            IndicatorSetRef(name=n, revision=r, count=c) for n, r, c in indicator_sets(db)
        ],
    )


@router.get(
    "/devices/{device_id}/indicator-sets/{name}",
    response_model=IndicatorSetOut,
    responses={**_ERRORS, **responses(304, 404)},
)
def indicator_set(
    device_id: DeviceIdStr,
    name: Annotated[str, Path(pattern=r"^(custom|feed:[0-9]{1,10})$")],
    device: ThisDevice,
    db: Db,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """One indicator set (as the sync listed it); 304 when the agent holds this revision."""
    service.require_own(device, device_id)
    found = load_set(db, name)
    if found is None:
        raise NotFound(f"no indicator set {name!r}")
    etag = f'"{found.name}@{found.revision}"'
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(
        orjson.dumps(found.to_dict()), media_type="application/json", headers={"ETag": etag}
    )


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*` or any listed tag, compared weakly (W/ prefix ignored)."""
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


@router.get("/devices/{device_id}", response_model=OwnDevice, responses=_ERRORS)
def own_device(device_id: DeviceIdStr, device: ThisDevice, db: Db) -> OwnDevice:
    """This device's own record: risk level and active alerts (what the agent shows its user)."""
    service.require_own(device, device_id)
    return service.own_device(db, device.id)


@router.get("/devices/{device_id}/privacy", response_model=PrivacyOut, responses=_ERRORS)
def own_privacy(device_id: DeviceIdStr, device: ThisDevice, ctx: Ctx) -> PrivacyOut:
    """This device's privacy settings, and the keys its user may change."""
    service.require_own(device, device_id)
    policy = privacy_service.device_policy(
        ctx.settings, scenario=device.scenario, device_group=device.device_group
    )
    state = privacy_service.current(policy, device.privacy)
    return PrivacyOut(privacy=state.privacy, user_toggles=state.user_toggles)


@router.put(
    "/devices/{device_id}/privacy",
    response_model=PrivacyOut,
    responses={
        **_ERRORS,
        **responses(_403="not this device's credential, or a key the organisation keeps"),
    },
)
def change_privacy(
    device_id: DeviceIdStr,
    changes: PrivacyChoices,
    request: Request,
    device: ThisDevice,
    db: Db,
    ctx: Ctx,
    now: Now,
) -> PrivacyOut:
    """The device user changes privacy settings the organisation leaves to them (omitted keys
    stay as they are). A key the organisation keeps is refused with 403 `privacy_key_locked`
    (its name in the message and in `details.keys`) and nothing changes. A change is a timeline
    event of the device; it never changes the device's risk or compliance."""
    service.require_own(device, device_id)
    policy = privacy_service.device_policy(
        ctx.settings, scenario=device.scenario, device_group=device.device_group
    )
    wanted = {k: v for k, v in changes.model_dump().items() if v is not None}
    state = privacy_service.change_by_user(
        db, device_id=device.id, policy=policy, stored=device.privacy, changes=wanted, now=now
    )
    doh = getattr(request.app.state, "dns", None)
    if state.changed and isinstance(doh, DohResolver):
        doh.forget(device.id)  # this process's DoH reads the new settings at once
    return PrivacyOut(privacy=state.privacy, user_toggles=state.user_toggles, changed=state.changed)
