"""Queries over the device inventory, with the derived states users filter on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select, update
from sqlalchemy.orm import Session

from openmtd.domain.enums import EnrollmentScenario, Platform, RiskLevel
from openmtd.domain.errors import Conflict, NotFound
from openmtd.domain.integrity import IntegrityState
from openmtd.server.alerts.service import (
    ACTIVE,
    recompute_risk,
    resolve_device_alerts,
)
from openmtd.server.audit import service as audit
from openmtd.server.timeline import add_event
from openmtd.store.models import Alert, Device, DeviceApp, DeviceEvent


@dataclass(frozen=True, slots=True)
class DeviceFilters:
    platform: Platform | None = None
    scenario: EnrollmentScenario | None = None
    risk: RiskLevel | None = None
    integrity: IntegrityState | None = None
    tag: str | None = None
    group: str | None = None
    compliant: bool | None = None
    unresponsive: bool | None = None
    seen_after: datetime | None = None
    seen_before: datetime | None = None
    search: str | None = None
    include_retired: bool = False


@dataclass(frozen=True, slots=True)
class DeviceStateRules:
    """The moment lists are computed for: compliance and unresponsiveness are stored per device
    (server.compliance) except the part time alone decides, which `now` finishes."""

    now: datetime

    def unresponsive(self) -> ColumnElement[bool]:
        return Device.unresponsive_after < self.now

    def compliant(self) -> ColumnElement[bool]:
        return and_(
            Device.compliance_ok.is_(True),
            or_(Device.unresponsive_noncompliant.is_(False), not_(self.unresponsive())),
        )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select[Any], f: DeviceFilters, rules: DeviceStateRules) -> Select[Any]:
    if not f.include_retired:
        query = query.where(Device.retired_at.is_(None))
    if f.platform is not None:
        query = query.where(Device.platform == f.platform.value)
    if f.scenario is not None:
        query = query.where(Device.scenario == f.scenario.value)
    if f.risk is not None:
        query = query.where(Device.risk_level == f.risk.value)
    if f.integrity is not None:
        query = query.where(Device.integrity_state == f.integrity.value)
    if f.tag:
        query = query.where(Device.tags.like(f"% {_like_escape(f.tag)} %", escape="\\"))
    if f.group:
        query = query.where(Device.device_group == f.group)
    if f.unresponsive is True:
        query = query.where(rules.unresponsive())
    elif f.unresponsive is False:
        query = query.where(not_(rules.unresponsive()))
    if f.compliant is True:
        query = query.where(rules.compliant())
    elif f.compliant is False:
        query = query.where(not_(rules.compliant()))
    if f.seen_after is not None:
        query = query.where(Device.last_seen_at >= f.seen_after)
    if f.seen_before is not None:
        query = query.where(Device.last_seen_at < f.seen_before)
    if f.search:
        pattern = f"%{_like_escape(f.search.lower())}%"
        query = query.where(
            or_(
                func.lower(Device.name).like(pattern, escape="\\"),
                func.lower(Device.model).like(pattern, escape="\\"),
                func.lower(Device.id).like(pattern, escape="\\"),
                func.lower(Device.os_version).like(pattern, escape="\\"),
                func.lower(Device.tags).like(pattern, escape="\\"),
            )
        )
    return query


SORTS: dict[str, Any] = {
    "last_seen": Device.last_seen_at.desc(),
    "name": Device.name.asc(),
    "enrolled": Device.enrolled_at.desc(),
}


def list_devices(
    db: Session,
    *,
    filters: DeviceFilters,
    rules: DeviceStateRules,
    limit: int,
    offset: int,
    sort: str = "last_seen",
) -> tuple[list[Device], int]:
    total = db.scalar(_filtered(select(func.count(Device.id)), filters, rules)) or 0
    rows = db.scalars(
        _filtered(select(Device), filters, rules)
        .order_by(SORTS.get(sort, SORTS["last_seen"]), Device.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def devices_by_id(db: Session, device_ids: Iterable[str]) -> dict[str, Device]:
    """Several devices by id in one query (e.g. to name the devices of a page of alerts)."""
    ids = sorted(set(device_ids))
    if not ids:
        return {}
    return {d.id: d for d in db.scalars(select(Device).where(Device.id.in_(ids)))}


def get_device(db: Session, device_id: str) -> Device:
    device = db.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} does not exist")
    return device


def retire_device(db: Session, *, device_id: str, actor: str, now: datetime, reason: str) -> Device:
    """Take a lost, wiped or replaced device out of the inventory, keeping its history.

    Its active alerts are resolved (so its risk no longer counts), its credential stops working
    (the agent API refuses a retired device), and lists hide it unless asked to include retired
    devices. The device row, its alerts and timeline stay.
    """
    device = get_device(db, device_id)
    already = Conflict(f"device {device_id} is already retired", code="already_retired")
    if device.retired_at is not None:
        raise already
    # Conditional on "not retired yet", so that of two concurrent retirements one wins and the
    # other gets the 409 (PostgreSQL re-checks the condition once the first one commits).
    changed = db.execute(
        update(Device)
        .where(Device.id == device_id, Device.retired_at.is_(None))
        .values(retired_at=now)
    )
    if int(getattr(changed, "rowcount", 0) or 0) != 1:
        raise already
    resolved = resolve_device_alerts(db, device_ids=[device_id], now=now)
    recompute_risk(db, device_id=device_id, now=now)
    add_event(
        db,
        device_id=device_id,
        kind="enrollment",
        now=now,
        summary=f"retired by {actor}: {reason}",
        actor=actor,
        reason=reason,
        alerts_resolved=resolved,
    )
    audit.record(
        db,
        actor=actor,
        action="device.retire",
        target=f"device:{device_id}",
        now=now,
        reason=reason,
        alerts_resolved=resolved,
    )
    return device


def device_apps(db: Session, device_id: str) -> list[DeviceApp]:
    return list(
        db.scalars(
            select(DeviceApp).where(DeviceApp.device_id == device_id).order_by(DeviceApp.identifier)
        )
    )


def device_alerts(db: Session, device_id: str, *, limit: int = 100) -> list[Alert]:
    return list(
        db.scalars(
            select(Alert)
            .where(Alert.device_id == device_id)
            .order_by(Alert.last_seen.desc(), Alert.id.desc())
            .limit(limit)
        )
    )


def device_timeline(db: Session, device_id: str, *, limit: int = 200) -> list[DeviceEvent]:
    return list(
        db.scalars(
            select(DeviceEvent)
            .where(DeviceEvent.device_id == device_id)
            .order_by(DeviceEvent.occurred_at.desc(), DeviceEvent.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True, slots=True)
class FleetSummary:
    total: int
    by_platform: dict[str, int]
    by_risk: dict[str, int]
    by_scenario: dict[str, int]
    unresponsive: int
    active_alerts_by_severity: dict[str, int]


def fleet_summary(db: Session, *, rules: DeviceStateRules) -> FleetSummary:
    live = Device.retired_at.is_(None)

    def grouped(column: Any) -> dict[str, int]:
        rows = db.execute(select(column, func.count()).where(live).group_by(column)).all()
        return {str(k): int(v) for k, v in rows}

    alert_rows = db.execute(
        select(Alert.severity, func.count())
        .join(Device, Device.id == Alert.device_id)
        .where(live, Alert.status.in_(ACTIVE))
        .group_by(Alert.severity)
    ).all()
    return FleetSummary(
        total=db.scalar(select(func.count(Device.id)).where(live)) or 0,
        by_platform=grouped(Device.platform),
        by_risk=grouped(Device.risk_level),
        by_scenario=grouped(Device.scenario),
        unresponsive=db.scalar(select(func.count(Device.id)).where(live, rules.unresponsive()))
        or 0,
        active_alerts_by_severity={str(k): int(v) for k, v in alert_rows},
    )
