"""Routes of conditional launch: the managed app's launch call (agent protocol), the admin's
app protection policies, the launch log and a device's latched blocks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from openmtd.domain.enums import Platform, RiskLevel
from openmtd.engines.launch import LaunchAction, LaunchDecision, LaunchOutcome
from openmtd.server.agent_api import service as agent_service
from openmtd.server.agent_api.views import ThisDevice
from openmtd.server.deps import Admin, Analyst, Ctx, Db, Now
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.launch import service
from openmtd.server.launch.schemas import (
    DeviceLaunchOut,
    LatchOut,
    LaunchAnswer,
    LaunchLogOut,
    LaunchRequest,
    PolicyBody,
    PolicyOut,
    PolicyRef,
)
from openmtd.server.schemas import Page
from openmtd.server.schemas_common import DeviceIdStr
from openmtd.store.models import AppProtectionPolicyRow, LaunchLogEntry

agent_router = APIRouter(prefix="/api/agent/v1", tags=["agent"], responses=API_ERRORS)
router = APIRouter(prefix="/api", tags=["conditional launch"], responses=API_ERRORS)
PolicyId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_AUTH = responses(401, 403)


def policy_out(row: AppProtectionPolicyRow) -> PolicyOut:
    return PolicyOut(
        id=row.id,
        name=row.name,
        app_ids=list(row.app_ids),
        device_group=row.device_group,
        platform=Platform(row.platform) if row.platform else None,
        max_risk=RiskLevel(row.max_risk),
        max_risk_code=RiskLevel(row.max_risk).code,
        action=LaunchAction(row.action),
        action_code=LaunchAction(row.action).code,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def answer(decision: LaunchDecision, *, retry_after_seconds: int) -> LaunchAnswer:
    p = decision.policy
    return LaunchAnswer(
        decision=decision.outcome.value,
        threat_level=decision.threat_level,
        threat_level_code=decision.threat_level_code,
        action_code=decision.action_code,
        policy=PolicyRef(id=p.id, name=p.name, max_risk=p.max_risk, action=p.action) if p else None,
        reason=decision.reason,
        retry_after_seconds=(
            None if decision.outcome is LaunchOutcome.ALLOW else retry_after_seconds
        ),
    )


def log_out(row: LaunchLogEntry) -> LaunchLogOut:
    return LaunchLogOut(
        id=row.id,
        device_id=row.device_id,
        app_id=row.app_id,
        app_version=row.app_version,
        at=row.at,
        decision=LaunchOutcome(row.decision).value,
        threat_level=service.level_of_code(row.threat_level),
        threat_level_code=row.threat_level,
        action_code=row.action_code,
        policy_id=row.policy_id,
        policy_name=row.policy_name,
        explanation=row.explanation,
    )


# --- the managed app's call -------------------------------------------------------------------


@agent_router.post(
    "/devices/{device_id}/launch",
    response_model=LaunchAnswer,
    responses=responses(
        401, 403, 413, _422="malformed body, or an app id that is no package name or bundle id"
    ),
)
def launch(
    device_id: DeviceIdStr, body: LaunchRequest, device: ThisDevice, db: Db, ctx: Ctx, now: Now
) -> LaunchAnswer:
    """Conditional launch: may this managed app open now on this device?

    Called by the managed app (or its wrapper) at every launch with the device credential, on
    enrolled and MAM-only devices alike. A block or wipe holds until the device's threat level
    is back at or under the policy's allowed level; wipe is answered once, then block.
    """
    agent_service.require_own(device, device_id)
    decision = service.decide(
        db,
        device_id=device.id,
        device_group=device.device_group,
        platform=Platform(device.platform),
        threat_level=RiskLevel(device.risk_level),
        app_id=body.app_id,
        app_version=body.app_version,
        now=now,
    )
    return answer(decision, retry_after_seconds=ctx.settings.checkin_interval_seconds)


# --- app protection policies ------------------------------------------------------------------


@router.get("/launch/policies", response_model=list[PolicyOut], responses=_AUTH)
def list_policies(_p: Analyst, db: Db) -> list[PolicyOut]:
    """Every app protection policy, oldest first."""
    return [policy_out(r) for r in service.list_policies(db)]


@router.post(
    "/launch/policies",
    response_model=PolicyOut,
    status_code=201,
    responses=responses(401, 403, _409="a policy with this name exists"),
)
def create_policy(body: PolicyBody, p: Admin, db: Db, now: Now) -> PolicyOut:
    """Add an app protection policy; it applies from the next launch."""
    return policy_out(service.create_policy(db, body=body, actor=p.username, now=now))


@router.get(
    "/launch/policies/{policy_id}", response_model=PolicyOut, responses=responses(401, 403, 404)
)
def get_policy(policy_id: PolicyId, _p: Analyst, db: Db) -> PolicyOut:
    return policy_out(service.get_policy(db, policy_id))


@router.put(
    "/launch/policies/{policy_id}",
    response_model=PolicyOut,
    responses=responses(401, 403, 404, _409="another policy has this name"),
)
def replace_policy(policy_id: PolicyId, body: PolicyBody, p: Admin, db: Db, now: Now) -> PolicyOut:
    """Replace a policy with the body (every field)."""
    row = service.replace_policy(db, policy_id=policy_id, body=body, actor=p.username, now=now)
    return policy_out(row)


@router.delete("/launch/policies/{policy_id}", status_code=204, responses=responses(401, 403, 404))
def delete_policy(policy_id: PolicyId, p: Admin, db: Db, now: Now) -> Response:
    service.delete_policy(db, policy_id=policy_id, actor=p.username, now=now)
    return Response(status_code=204)


# --- the log and a device's latches -----------------------------------------------------------


@router.get("/launch/log", response_model=Page[LaunchLogOut], responses=_AUTH)
def launch_log(
    _p: Analyst,
    db: Db,
    device_id: DeviceIdStr | None = None,
    app_id: Annotated[str | None, Query(max_length=255)] = None,
    decision: LaunchOutcome | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[LaunchLogOut]:
    """Launch decisions, newest first. Codes: threat level 1 Secured, 2 Low, 3 Medium, 4 High;
    action 0 Block, 1 Wipe (null when allowed)."""
    rows, total = service.launch_log(
        db, device_id=device_id, app_id=app_id, outcome=decision, limit=limit, offset=offset
    )
    return Page(items=[log_out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get(
    "/devices/{device_id}/launch",
    response_model=DeviceLaunchOut,
    responses=responses(401, 403, 404),
)
def device_launch(device_id: DeviceIdStr, _p: Analyst, db: Db) -> DeviceLaunchOut:
    """The device's threat level and the launches it holds blocked until the threat is gone."""
    device, latches = service.device_latches(db, device_id)
    level = RiskLevel(device.risk_level)
    return DeviceLaunchOut(
        device_id=device.id,
        threat_level=level,
        threat_level_code=level.code,
        latches=[
            LatchOut(
                app_id=latch.app_id,
                policy_id=latch.policy_id,
                action=LaunchAction(latch.action),
                wiped=latch.wiped,
                threat_level_code=latch.threat_level,
                latched_at=latch.latched_at,
                last_blocked_at=latch.last_blocked_at,
            )
            for latch in latches
        ],
    )
