"""Detections become alerts or timeline events; alert changes recompute device risk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from openmtd.domain.device import Detection
from openmtd.domain.enums import AlertClassification, AlertStatus, RiskLevel, Severity
from openmtd.domain.errors import InvalidInput, NotFound
from openmtd.engines.risk import AlertFact, assess_risk
from openmtd.server.audit import service as audit
from openmtd.server.compliance import service as compliance
from openmtd.server.export.alerts import export_alert, export_alerts
from openmtd.server.timeline import add_event
from openmtd.store.models import Alert, Device

ACTIVE = (AlertStatus.NEW.value, AlertStatus.IN_PROGRESS.value)


@dataclass(frozen=True, slots=True)
class DetectionOutcome:
    raised: int  # new alerts
    updated: int  # repeated detections folded into an active alert
    resolved: int
    events: int


def apply_detections(
    db: Session, *, device_id: str, detections: Sequence[Detection], now: datetime
) -> DetectionOutcome:
    """Turn detections into alerts (de-duplicated per device and key) or timeline events."""
    raised = updated = resolved = events = 0
    for d in detections:
        dedup_key = f"{d.category}:{d.key}"
        evidence = dict(d.evidence)
        if d.timeline_only:
            add_event(
                db,
                device_id=device_id,
                kind=d.category,
                summary=d.title,
                now=now,
                severity=d.severity.value,
                evidence=evidence,
            )
            events += 1
            continue
        active = db.scalars(
            select(Alert).where(
                Alert.device_id == device_id,
                Alert.dedup_key == dedup_key,
                Alert.status.in_(ACTIVE),
            )
        ).all()
        if d.resolved:
            for alert in active:
                resolve_alert(db, alert, now=now, why="the device reports the condition is gone")
                resolved += 1
            continue
        if active:
            alert = active[0]
            alert.count += 1
            alert.last_seen = now
            alert.evidence = evidence or alert.evidence
            if Severity(d.severity).rank > Severity(alert.severity).rank:
                alert.severity = d.severity.value
                export_alert(db, alert, change="updated", now=now)  # exported: severity rose
            updated += 1
            continue
        alert = Alert(
            device_id=device_id,
            category=d.category,
            title=d.title,
            severity=d.severity.value,
            status=AlertStatus.NEW.value,
            classification=AlertClassification.UNKNOWN.value,
            assigned_to=None,
            evidence=evidence,
            dedup_key=dedup_key,
            first_seen=now,
            last_seen=now,
            count=1,
            resolved_at=None,
        )
        db.add(alert)
        db.flush()
        add_event(
            db,
            device_id=device_id,
            kind="alert",
            now=now,
            summary=f"{d.severity.value} alert #{alert.id} raised: {d.title}",
            alert_id=alert.id,
        )
        export_alert(db, alert, change="raised", now=now)
        raised += 1
    if raised or updated or resolved:
        recompute_risk(db, device_id=device_id, now=now)
    return DetectionOutcome(raised, updated, resolved, events)


def resolve_alert(
    db: Session, alert: Alert, *, now: datetime, why: str, remediation: bool = False
) -> None:
    """Resolve one alert with a timeline event; `remediation`: the threat itself went away
    (automatic remediation), which the timeline shows as such. Risk is recomputed."""
    alert.status = AlertStatus.RESOLVED.value
    alert.resolved_at = now
    export_alert(db, alert, change="resolved", now=now)
    add_event(
        db,
        device_id=alert.device_id,
        kind="remediation" if remediation else "alert",
        summary=f"alert #{alert.id} resolved: {why}",
        now=now,
        alert_id=alert.id,
    )
    if remediation:
        db.flush()
        recompute_risk(db, device_id=alert.device_id, now=now)


def recompute_risk(db: Session, *, device_id: str, now: datetime) -> RiskLevel:
    """Set the device's risk from its active alerts; record a timeline event when it changes."""
    rows = db.execute(
        select(Alert.id, Alert.title, Alert.severity, Alert.status).where(
            Alert.device_id == device_id, Alert.status.in_(ACTIVE)
        )
    ).all()
    assessment = assess_risk(
        AlertFact(r.id, r.title, Severity(r.severity), AlertStatus(r.status)) for r in rows
    )
    device = db.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} does not exist")
    if device.risk_level != assessment.level.value:
        add_event(
            db,
            device_id=device_id,
            kind="risk",
            now=now,
            summary=f"risk {device.risk_level} -> {assessment.level.value}: {assessment.reason}",
        )
    changed = device.risk_level != assessment.level.value
    device.risk_level = assessment.level.value
    device.risk_reason = assessment.reason
    if changed:
        compliance.access_changed(db, now=now)
    compliance.refresh_device(db, device_id=device_id, now=now)
    return assessment.level


@dataclass(frozen=True, slots=True)
class AlertFilters:
    severity: Severity | None = None
    status: AlertStatus | None = None
    category: str | None = None
    device_id: str | None = None
    platform: str | None = None
    assigned_to: str | None = None
    active_only: bool = False


def _filtered(query: Select[Any], f: AlertFilters) -> Select[Any]:
    if f.severity is not None:
        query = query.where(Alert.severity == f.severity.value)
    if f.status is not None:
        query = query.where(Alert.status == f.status.value)
    if f.active_only:
        query = query.where(Alert.status.in_(ACTIVE))
    if f.category:
        query = query.where(Alert.category == f.category)
    if f.device_id:
        query = query.where(Alert.device_id == f.device_id)
    if f.assigned_to:
        query = query.where(Alert.assigned_to == f.assigned_to)
    if f.platform:
        query = query.join(Device, Device.id == Alert.device_id).where(
            Device.platform == f.platform
        )
    return query


def list_alerts(
    db: Session, *, filters: AlertFilters, limit: int, offset: int
) -> tuple[list[Alert], int]:
    total = db.scalar(_filtered(select(func.count(Alert.id)), filters)) or 0
    rows = db.scalars(
        _filtered(select(Alert), filters)
        .order_by(Alert.last_seen.desc(), Alert.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def get_alert(db: Session, alert_id: int) -> Alert:
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return alert


def update_alert(
    db: Session,
    *,
    alert_id: int,
    actor: str,
    now: datetime,
    status: AlertStatus | None = None,
    classification: AlertClassification | None = None,
    assigned_to: str | None = None,
    unassign: bool = False,
) -> Alert:
    """An analyst's change to an alert; risk is recomputed and the change audited."""
    alert = get_alert(db, alert_id)
    if assigned_to is not None and unassign:
        raise InvalidInput("give either assigned_to or unassign, not both")
    changes: dict[str, Any] = {}
    if status is not None and status.value != alert.status:
        changes["status"] = [alert.status, status.value]
        alert.status = status.value
        alert.resolved_at = now if status is AlertStatus.RESOLVED else None
        add_event(
            db,
            device_id=alert.device_id,
            kind="alert",
            now=now,
            alert_id=alert.id,
            summary=f"alert #{alert.id} set to {status.value} by {actor}",
        )
    if classification is not None and classification.value != alert.classification:
        changes["classification"] = [alert.classification, classification.value]
        alert.classification = classification.value
    if assigned_to is not None or unassign:
        new = None if unassign else assigned_to
        if new != alert.assigned_to:
            changes["assigned_to"] = [alert.assigned_to, new]
            alert.assigned_to = new
    if "status" in changes or "classification" in changes:
        resolved = alert.status == AlertStatus.RESOLVED.value and "status" in changes
        export_alert(db, alert, change="resolved" if resolved else "updated", now=now)
    if changes:
        audit.record(
            db,
            actor=actor,
            action="alert.update",
            target=f"alert:{alert.id}",
            now=now,
            changes=changes,
        )
        if "status" in changes:
            recompute_risk(db, device_id=alert.device_id, now=now)
    return alert


def resolve_device_alerts(db: Session, *, device_ids: Iterable[str], now: datetime) -> int:
    """Resolve every active alert of devices being retired (a re-enrollment replaces them)."""
    devices = list(device_ids)
    resolving = db.scalars(  # for the export, which follows the update
        select(Alert.id).where(Alert.device_id.in_(devices), Alert.status.in_(ACTIVE))
    ).all()
    result = db.execute(
        update(Alert)
        .where(Alert.device_id.in_(devices), Alert.status.in_(ACTIVE))
        .values(status=AlertStatus.RESOLVED.value, resolved_at=now)
    )
    export_alerts(db, resolving, change="resolved", now=now)
    return int(getattr(result, "rowcount", 0) or 0)


def alerts_with_activity_since(db: Session, *, category: str, since: datetime) -> int:
    """Alerts of a category raised or detected again since `since` (any status)."""
    query = select(func.count(Alert.id)).where(Alert.category == category, Alert.last_seen >= since)
    return db.scalar(query) or 0
