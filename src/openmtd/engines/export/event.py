"""The alert event that every export format is made from: a snapshot of one alert change.

The server takes the snapshot when the change happens (server/export/alerts.py) and stores it
as JSON in the outbox (`to_payload`); the delivery worker reads it back (`from_payload`) and
formats it for each sink. A snapshot holds only what the alert row and the device record
already store: the alert's evidence is stripped of privacy-excluded details before it is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from openmtd.domain.enums import AlertClassification, AlertStatus, Severity


class AlertChange(StrEnum):
    RAISED = "raised"  # a new alert
    UPDATED = "updated"  # severity rose, or an analyst changed status or classification
    RESOLVED = "resolved"  # resolved by the device, a remediation, an analyst or retirement
    TEST = "test"  # a test event an admin asked for


@dataclass(frozen=True, slots=True)
class AlertDevice:
    id: str
    name: str
    platform: str  # "android" | "ios"
    scenario: str
    device_group: str
    model: str = ""
    os_version: str = ""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    key: str  # the idempotency key: one per change, the same on every delivery attempt
    change: AlertChange
    occurred_at: datetime  # when the change happened
    alert_id: int
    title: str
    category: str
    severity: Severity
    status: AlertStatus
    classification: AlertClassification
    first_seen: datetime
    last_seen: datetime
    count: int
    device: AlertDevice
    evidence: Mapping[str, Any] = field(default_factory=dict)
    assigned_to: str | None = None
    resolved_at: datetime | None = None

    def to_payload(self) -> dict[str, Any]:
        """The JSON document stored in the outbox (and the `data` of a webhook body)."""
        return {
            "change": self.change.value,
            "occurred_at": iso(self.occurred_at),
            "alert": {
                "id": self.alert_id,
                "title": self.title,
                "category": self.category,
                "severity": self.severity.value,
                "status": self.status.value,
                "classification": self.classification.value,
                "assigned_to": self.assigned_to,
                "evidence": dict(self.evidence),
                "first_seen": iso(self.first_seen),
                "last_seen": iso(self.last_seen),
                "count": self.count,
                "resolved_at": iso(self.resolved_at) if self.resolved_at else None,
            },
            "device": {
                "id": self.device.id,
                "name": self.device.name,
                "platform": self.device.platform,
                "scenario": self.device.scenario,
                "device_group": self.device.device_group,
                "model": self.device.model,
                "os_version": self.device.os_version,
            },
        }

    @classmethod
    def from_payload(cls, key: str, payload: Mapping[str, Any]) -> AlertEvent:
        """Read a stored snapshot back; ValueError names what is wrong with it."""
        try:
            alert = payload["alert"]
            device = payload["device"]
            resolved = alert.get("resolved_at")
            evidence = alert.get("evidence") or {}
            if not isinstance(evidence, Mapping):
                raise ValueError("alert.evidence is not an object")
            return cls(
                key=key,
                change=AlertChange(payload["change"]),
                occurred_at=parse_time(payload["occurred_at"]),
                alert_id=int(alert["id"]),
                title=str(alert["title"]),
                category=str(alert["category"]),
                severity=Severity(alert["severity"]),
                status=AlertStatus(alert["status"]),
                classification=AlertClassification(alert["classification"]),
                assigned_to=alert.get("assigned_to"),
                evidence=evidence,
                first_seen=parse_time(alert["first_seen"]),
                last_seen=parse_time(alert["last_seen"]),
                count=int(alert["count"]),
                resolved_at=parse_time(resolved) if resolved else None,
                device=AlertDevice(
                    id=str(device["id"]),
                    name=str(device["name"]),
                    platform=str(device["platform"]),
                    scenario=str(device["scenario"]),
                    device_group=str(device["device_group"]),
                    model=str(device.get("model") or ""),
                    os_version=str(device.get("os_version") or ""),
                ),
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"not an alert event: {type(e).__name__} {e}") from e


def iso(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds and 'Z' (what every format here uses)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the Unix epoch (exact: no float rounding)."""
    return (value - _EPOCH) // timedelta(milliseconds=1)
