"""Device inventory API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from openmtd.domain.enums import EnrollmentScenario, Platform, RiskLevel
from openmtd.domain.errors import InvalidInput
from openmtd.domain.integrity import IntegrityState
from openmtd.server import presenters
from openmtd.server.deps import Admin, Ctx, Db, Now, ReadOnly
from openmtd.server.devices import service
from openmtd.server.devices.service import DeviceFilters, DeviceStateRules
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.schemas import (
    DeviceDetail,
    DeviceRetire,
    DeviceSummary,
    FleetSummaryOut,
    Page,
)
from openmtd.server.schemas_common import DeviceIdStr
from openmtd.store.models import Device

router = APIRouter(prefix="/api/devices", tags=["devices"], responses=API_ERRORS)

_AUTH = responses(401, 403)


def state_rules(now: datetime) -> DeviceStateRules:
    return DeviceStateRules(now=now)


def _as_utc(value: datetime | None, name: str) -> datetime | None:
    """A query datetime in UTC; one without an offset is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as e:
        raise InvalidInput(f"{name} is out of range: {value.isoformat()}") from e


@router.get("", response_model=Page[DeviceSummary], responses=_AUTH)
def list_devices(
    _p: ReadOnly,
    db: Db,
    ctx: Ctx,
    now: Now,
    platform: Platform | None = None,
    scenario: EnrollmentScenario | None = None,
    risk: RiskLevel | None = None,
    integrity: IntegrityState | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    group: Annotated[str | None, Query(max_length=128)] = None,
    compliant: bool | None = None,
    unresponsive: bool | None = None,
    seen_after: datetime | None = None,
    seen_before: datetime | None = None,
    q: Annotated[str | None, Query(max_length=128, description="search text")] = None,
    include_retired: Annotated[
        bool, Query(description="also list retired devices (hidden by default)")
    ] = False,
    sort: Annotated[str, Query(pattern="^(last_seen|name|enrolled)$")] = "last_seen",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[DeviceSummary]:
    """The device inventory with filters, search and pagination."""
    rules = state_rules(now)
    filters = DeviceFilters(
        platform=platform,
        scenario=scenario,
        risk=risk,
        integrity=integrity,
        tag=tag,
        group=group,
        compliant=compliant,
        unresponsive=unresponsive,
        seen_after=_as_utc(seen_after, "seen_after"),
        seen_before=_as_utc(seen_before, "seen_before"),
        search=q,
        include_retired=include_retired,
    )
    rows, total = service.list_devices(
        db, filters=filters, rules=rules, limit=limit, offset=offset, sort=sort
    )
    return Page(
        items=[presenters.device_summary(d, rules) for d in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/summary", response_model=FleetSummaryOut, responses=_AUTH)
def fleet_summary(_p: ReadOnly, db: Db, ctx: Ctx, now: Now) -> FleetSummaryOut:
    """Counts by platform, risk, scenario and active alert severity."""
    s = service.fleet_summary(db, rules=state_rules(now))
    return FleetSummaryOut(
        total=s.total,
        by_platform=s.by_platform,
        by_risk=s.by_risk,
        by_scenario=s.by_scenario,
        unresponsive=s.unresponsive,
        active_alerts_by_severity=s.active_alerts_by_severity,
    )


@router.get(
    "/{device_id}",
    response_model=DeviceDetail,
    responses=responses(401, 403, 404),
)
def get_device(device_id: DeviceIdStr, _p: ReadOnly, db: Db, ctx: Ctx, now: Now) -> DeviceDetail:
    """One device: facts, apps, alerts, compliance reasons and timeline."""
    return _detail(db, service.get_device(db, device_id), state_rules(now))


@router.post(
    "/{device_id}/retire",
    response_model=DeviceDetail,
    responses=responses(401, 403, 404, _409="the device is already retired"),
)
def retire_device(
    device_id: DeviceIdStr, body: DeviceRetire, p: Admin, db: Db, ctx: Ctx, now: Now
) -> DeviceDetail:
    """Retire a lost, wiped or replaced device (admin).

    Its active alerts are resolved, its credential stops working and it leaves the default
    inventory lists; its record, alerts and timeline are kept (list with include_retired=true).
    """
    device = service.retire_device(
        db, device_id=device_id, actor=p.username, now=now, reason=body.reason
    )
    return _detail(db, device, state_rules(now))


def _detail(db: Session, device: Device, rules: DeviceStateRules) -> DeviceDetail:
    summary = presenters.device_summary(device, rules)
    return DeviceDetail(
        **summary.model_dump(),
        hardware_id=device.hardware_id,
        build=device.build,
        risk_reason=device.risk_reason,
        compliance_reasons=presenters.compliance_reasons(device, rules),
        enrollment_warnings=list(device.enrollment_warnings),
        privacy={k: bool(v) for k, v in device.privacy.items()},
        signals=device.signals,
        apps=[presenters.app_out(a) for a in service.device_apps(db, device.id)],
        alerts=[presenters.alert_out(a) for a in service.device_alerts(db, device.id)],
        timeline=[presenters.event_out(e) for e in service.device_timeline(db, device.id)],
    )
