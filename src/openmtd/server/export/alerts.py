"""Alert changes into the outbox (topic "alert").

Exported: a new alert (raised); a repeated detection only when it raises the alert's severity
(updated; a mere repeat bumps the count, and exporting each would flood the SIEM); an analyst's
change of status or classification (updated, or resolved); and every resolution (resolved, by
the device, a remediation, an analyst or the device's retirement). The snapshot holds the alert
row as stored (its evidence already without privacy-excluded details) and the device's
identity: nothing from the device's raw signals or check-ins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openmtd.domain.enums import AlertClassification, AlertStatus, Severity
from openmtd.engines.export.event import AlertChange, AlertDevice, AlertEvent
from openmtd.server.export.outbox import enqueue, sinks_of
from openmtd.store.models import Alert, Device

TOPIC = "alert"


def alert_key(alert_id: int, change: AlertChange, at: datetime) -> str:
    """`alert:<id>:<change>:<UTC time to the microsecond>`: one key per change."""
    return f"alert:{alert_id}:{change.value}:{at.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"


def alert_device(device: Device | None, device_id: str) -> AlertDevice:
    if device is None:  # cannot happen with the foreign key; keep the event anyway
        return AlertDevice(id=device_id, name="", platform="", scenario="", device_group="")
    return AlertDevice(
        id=device.id,
        name=device.name,
        platform=device.platform,
        scenario=device.scenario,
        device_group=device.device_group,
        model=device.model,
        os_version=device.os_version,
    )


def alert_event(
    alert: Alert, device: AlertDevice, *, change: AlertChange, now: datetime
) -> AlertEvent:
    return AlertEvent(
        key=alert_key(alert.id, change, now),
        change=change,
        occurred_at=now,
        alert_id=alert.id,
        title=alert.title,
        category=alert.category,
        severity=Severity(alert.severity),
        status=AlertStatus(alert.status),
        classification=AlertClassification(alert.classification),
        assigned_to=alert.assigned_to,
        evidence=dict(alert.evidence or {}),
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        count=alert.count,
        resolved_at=alert.resolved_at,
        device=device,
    )


def exporting(db: Session) -> bool:
    """Whether any configured sink takes alerts (when none does, nothing is read or written)."""
    return any(sink.subscribes(TOPIC) for sink in sinks_of(db))


def export_alert(db: Session, alert: Alert, *, change: AlertChange | str, now: datetime) -> None:
    """Queue one alert change for the sinks that take alerts (the caller's transaction).
    The alert must have its id (flushed)."""
    if not exporting(db):
        return
    kind = AlertChange(change)
    device = alert_device(db.get(Device, alert.device_id), alert.device_id)
    event = alert_event(alert, device, change=kind, now=now)
    enqueue(db, topic=TOPIC, key=event.key, payload=event.to_payload(), now=now)


def export_alerts(
    db: Session, alert_ids: Sequence[int], *, change: AlertChange | str, now: datetime
) -> None:
    """Queue the same change of several alerts (bulk resolution), after it was written."""
    if not alert_ids or not exporting(db):
        return
    query = select(Alert).where(Alert.id.in_(list(alert_ids))).order_by(Alert.id)
    alerts = db.scalars(query.execution_options(populate_existing=True))
    for alert in alerts:
        export_alert(db, alert, change=change, now=now)
