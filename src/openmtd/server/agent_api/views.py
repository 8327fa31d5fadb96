"""Routes of the agent protocol, v1: enroll, check in, sync, read own record."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from openmtd.domain.enums import RiskLevel
from openmtd.server.agent_api import service
from openmtd.server.agent_api.schemas import (
    CheckInRequest,
    CheckInResponse,
    EnrollRequest,
    EnrollResponse,
    OwnDevice,
    SyncResponse,
)
from openmtd.server.deps import Ctx, Db, Now, bearer_token
from openmtd.server.errors import responses
from openmtd.server.schemas_common import DeviceIdStr
from openmtd.store.models import Device

router = APIRouter(prefix="/api/agent/v1", tags=["agent"])


def current_device(request: Request, db: Db) -> Device:
    return service.authenticate_device(db, bearer_token(request))


ThisDevice = Annotated[Device, Depends(current_device)]

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
    result = service.enroll(db, req=req, now=now, unresponsive_days=ctx.settings.unresponsive_days)
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
)
def check_in(
    device_id: DeviceIdStr, req: CheckInRequest, device: ThisDevice, db: Db, ctx: Ctx, now: Now
) -> CheckInResponse:
    """Report device facts, app inventory, signals and detections. Idempotent per report_id."""
    service.require_own(device, device_id)
    body_digest = hashlib.sha256(req.model_dump_json().encode()).hexdigest()
    result = service.check_in(db, device=device, req=req, body_digest=body_digest, now=now)
    return CheckInResponse(
        report_id=req.report_id,
        duplicate=result.duplicate,
        risk_level=RiskLevel(device.risk_level),
        alerts_raised=result.alerts_raised,
        sync_etag=service.sync_etag(db, device),
        next_checkin_seconds=ctx.settings.checkin_interval_seconds,
    )


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
    etag = service.sync_etag(db, device)
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return SyncResponse(
        etag=etag,
        device_id=device.id,
        device_group=device.device_group,
        checkin_interval_seconds=ctx.settings.checkin_interval_seconds,
        privacy={k: bool(v) for k, v in device.privacy.items()},
        policy={"unresponsive_days": ctx.settings.unresponsive_days},
        indicators=[],
    )


@router.get("/devices/{device_id}", response_model=OwnDevice, responses=_ERRORS)
def own_device(device_id: DeviceIdStr, device: ThisDevice, db: Db) -> OwnDevice:
    """This device's own record: risk level and active alerts (what the agent shows its user)."""
    service.require_own(device, device_id)
    return service.own_device(db, device)
