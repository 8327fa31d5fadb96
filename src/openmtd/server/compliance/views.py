"""Compliance policies (per device group) and the MDM partner health-state API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import ColumnElement, and_, func, not_, select

from openmtd.domain.enums import Platform, RiskLevel
from openmtd.engines.compliance import PartnerState, UnresponsiveAction
from openmtd.server.compliance import service
from openmtd.server.deps import Admin, Db, Now, ReadOnly
from openmtd.server.errors import API_ERRORS, responses
from openmtd.store.models import CompliancePolicyRow, Device

router = APIRouter(tags=["compliance"], responses=API_ERRORS)

GroupName = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
PolicyId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MinOs = Annotated[str, StringConstraints(min_length=1, max_length=32, strip_whitespace=True)]


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
    device_group: GroupName | None = Field(
        default=None, description="The group it applies to; null: every group without its own."
    )
    max_risk: RiskLevel = Field(
        default=RiskLevel.LOW, description="Highest allowed device threat level (at or under)."
    )
    require_onboarding: bool = True
    unresponsive_days: int = Field(default=7, ge=1, le=365)
    unresponsive_action: UnresponsiveAction = UnresponsiveAction.NONCOMPLIANT
    min_os_android: MinOs | None = None
    min_os_ios: MinOs | None = None

    def to_input(self) -> service.PolicyInput:
        return service.PolicyInput(
            name=self.name,
            device_group=self.device_group,
            max_risk=self.max_risk,
            require_onboarding=self.require_onboarding,
            unresponsive_days=self.unresponsive_days,
            unresponsive_action=self.unresponsive_action,
            min_os_android=self.min_os_android,
            min_os_ios=self.min_os_ios,
        )


class PolicyOut(BaseModel):
    id: int
    name: str
    device_group: str | None
    max_risk: RiskLevel
    require_onboarding: bool
    unresponsive_days: int
    unresponsive_action: UnresponsiveAction
    min_os_android: str | None
    min_os_ios: str | None
    updated_at: datetime
    updated_by: str
    devices: int = Field(description="Live devices judged by this policy now.")


def policy_out(row: CompliancePolicyRow, devices: int) -> PolicyOut:
    return PolicyOut(
        id=row.id,
        name=row.name,
        device_group=row.device_group,
        max_risk=RiskLevel(row.max_risk),
        require_onboarding=row.require_onboarding,
        unresponsive_days=row.unresponsive_days,
        unresponsive_action=UnresponsiveAction(row.unresponsive_action),
        min_os_android=row.min_os_android,
        min_os_ios=row.min_os_ios,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        devices=devices,
    )


def _device_counts(db: Db) -> dict[str, int]:
    rows = db.execute(
        select(Device.compliance_policy, func.count())
        .where(Device.retired_at.is_(None))
        .group_by(Device.compliance_policy)
    ).all()
    return {str(name): int(n) for name, n in rows}


_WRITE = responses(401, 403, 404, 409, 422)


@router.get("/api/compliance/policies", response_model=list[PolicyOut], responses=responses(401))
def list_policies(_p: ReadOnly, db: Db) -> list[PolicyOut]:
    """The compliance policies: the all-groups one first, then one per device group."""
    counts = _device_counts(db)
    return [policy_out(r, counts.get(r.name, 0)) for r in service.list_policies(db)]


@router.post(
    "/api/compliance/policies", response_model=PolicyOut, status_code=201, responses=_WRITE
)
def create_policy(body: PolicyIn, p: Admin, db: Db, now: Now) -> PolicyOut:
    """A policy for a device group; its devices are judged again at once (audited)."""
    row = service.create_policy(db, data=body.to_input(), actor=p.username, now=now)
    return policy_out(row, _device_counts(db).get(row.name, 0))


@router.put("/api/compliance/policies/{policy_id}", response_model=PolicyOut, responses=_WRITE)
def update_policy(policy_id: PolicyId, body: PolicyIn, p: Admin, db: Db, now: Now) -> PolicyOut:
    """Change a policy; the devices it covers are judged again at once (audited)."""
    row = service.update_policy(
        db, policy_id=policy_id, data=body.to_input(), actor=p.username, now=now
    )
    return policy_out(row, _device_counts(db).get(row.name, 0))


@router.delete("/api/compliance/policies/{policy_id}", status_code=204, responses=_WRITE)
def delete_policy(policy_id: PolicyId, p: Admin, db: Db, now: Now) -> Response:
    """Delete a group's policy: its devices fall back to the all-groups policy (audited)."""
    service.delete_policy(db, policy_id=policy_id, actor=p.username, now=now)
    return Response(status_code=204)


# --- MDM partner health states -----------------------------------------------------------------


class HealthOut(BaseModel):
    device_id: str | None
    hardware_id: str
    name: str
    platform: Platform | None
    health_state: PartnerState
    compliant: bool | None
    risk_level: RiskLevel | None
    changed_at: datetime | None


class HealthPage(BaseModel):
    items: list[HealthOut]
    total: int


def _health(device: Device, now: datetime) -> HealthOut:
    state = service.view(device, now)
    return HealthOut(
        device_id=device.id,
        hardware_id=device.hardware_id,
        name=device.name,
        platform=Platform(device.platform),
        health_state=state.partner_state,
        compliant=state.compliant,
        risk_level=RiskLevel(device.risk_level),
        changed_at=device.health_changed_at,
    )


@router.get("/api/partner/devices", response_model=HealthPage, responses=responses(401))
def partner_devices(
    _p: ReadOnly,
    db: Db,
    now: Now,
    hardware_id: Annotated[str | None, Query(max_length=128)] = None,
    state: PartnerState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HealthPage:
    """Each device's partner health state, as an MDM polls it. `hardware_id` asks for one
    device: a device openmtd does not know is answered with the state `unknown`. Retired
    devices are `deactivated`; `state` filters on the state now (unresponsive included)."""
    query = select(Device)
    if hardware_id is not None:
        query = query.where(Device.hardware_id == hardware_id)
    if state is not None:
        query = query.where(_in_state(state, now))
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.order_by(Device.retired_at.is_not(None), Device.id).limit(limit).offset(offset)
    ).all()
    items = [_health(d, now) for d in rows]
    if hardware_id is not None and total == 0 and state in (None, PartnerState.UNKNOWN):
        unknown = HealthOut(
            device_id=None,
            hardware_id=hardware_id,
            name="",
            platform=None,
            health_state=PartnerState.UNKNOWN,
            compliant=None,
            risk_level=None,
            changed_at=None,
        )
        return HealthPage(items=[unknown], total=1)
    return HealthPage(items=items, total=total)


def _in_state(state: PartnerState, now: datetime) -> ColumnElement[bool]:
    """The SQL form of `partner_state_at`: retired beats unresponsive beats the stored base."""
    retired = Device.retired_at.is_not(None)
    quiet = Device.unresponsive_after < now
    if state is PartnerState.DEACTIVATED:
        return retired
    if state is PartnerState.UNRESPONSIVE:
        return and_(not_(retired), quiet)
    return and_(not_(retired), not_(quiet), Device.health_base == state.value)
