"""OCSF Detection Finding (class 2004, category 2 Findings) for alert events.

One alert change becomes one finding event: activity Create (raised), Update (updated, test)
or Close (resolved); `type_uid` = class_uid * 100 + activity_id; times in epoch milliseconds.
`metadata.uid` carries the idempotency key; what OCSF has no attribute for (the evidence,
the enrollment scenario, the alert's count) goes under `unmapped`.
"""

from __future__ import annotations

from typing import Any

from openmtd.domain.enums import AlertClassification, AlertStatus, Severity
from openmtd.engines.export.event import AlertChange, AlertEvent, epoch_ms

OCSF_VERSION = "1.3.0"
CLASS_UID = 2004
CLASS_NAME = "Detection Finding"
CATEGORY_UID = 2
CATEGORY_NAME = "Findings"

ACTIVITY: dict[AlertChange, tuple[int, str]] = {
    AlertChange.RAISED: (1, "Create"),
    AlertChange.UPDATED: (2, "Update"),
    AlertChange.TEST: (2, "Update"),
    AlertChange.RESOLVED: (3, "Close"),
}
SEVERITY: dict[Severity, int] = {
    Severity.INFORMATIONAL: 1,
    Severity.LOW: 2,
    Severity.MEDIUM: 3,
    Severity.HIGH: 4,
}
STATUS: dict[AlertStatus, tuple[int, str]] = {
    AlertStatus.NEW: (1, "New"),
    AlertStatus.IN_PROGRESS: (2, "In Progress"),
    AlertStatus.RESOLVED: (4, "Resolved"),
}
VERDICT: dict[AlertClassification, tuple[int, str]] = {
    AlertClassification.UNKNOWN: (0, "Unknown"),
    AlertClassification.FALSE_POSITIVE: (1, "False Positive"),
    AlertClassification.TRUE_POSITIVE: (2, "True Positive"),
    AlertClassification.INFORMATIONAL_EXPECTED: (5, "Benign"),
}
#: OCSF operating system type ids.
OS_TYPE: dict[str, tuple[int, str]] = {"android": (201, "Android"), "ios": (301, "iOS")}
DEVICE_TYPE_MOBILE = (5, "Mobile")


def detection_finding(event: AlertEvent, *, version: str) -> dict[str, Any]:
    """The OCSF Detection Finding document of one alert event."""
    activity_id, activity = ACTIVITY[event.change]
    status_id, status = STATUS[event.status]
    verdict_id, verdict = VERDICT[event.classification]
    os_type_id, os_name = OS_TYPE.get(event.device.platform, (0, "Unknown"))
    device = event.device
    finding: dict[str, Any] = {
        "activity_id": activity_id,
        "activity_name": activity,
        "category_uid": CATEGORY_UID,
        "category_name": CATEGORY_NAME,
        "class_uid": CLASS_UID,
        "class_name": CLASS_NAME,
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": f"{CLASS_NAME}: {activity}",
        "severity_id": SEVERITY[event.severity],
        "severity": event.severity.value,
        "status_id": status_id,
        "status": status,
        "time": epoch_ms(event.occurred_at),
        "message": event.title,
        "is_alert": True,
        "count": event.count,
        "verdict_id": verdict_id,
        "verdict": verdict,
        "finding_info": {
            "uid": str(event.alert_id),
            "title": event.title,
            "types": [event.category],
            "created_time": epoch_ms(event.first_seen),
            "modified_time": epoch_ms(event.occurred_at),
            "first_seen_time": epoch_ms(event.first_seen),
            "last_seen_time": epoch_ms(event.last_seen),
        },
        "device": {
            "uid": device.id,
            "name": device.name,
            "type_id": DEVICE_TYPE_MOBILE[0],
            "type": DEVICE_TYPE_MOBILE[1],
            "os": {"type_id": os_type_id, "type": os_name, "name": os_name},
            "groups": [{"name": device.device_group}],
        },
        "metadata": {
            "version": OCSF_VERSION,
            "uid": event.key,
            "product": {"name": "openmtd", "vendor_name": "openmtd", "version": version},
            "event_code": event.change.value,
        },
        "unmapped": {
            "evidence": dict(event.evidence),
            "scenario": device.scenario,
            "classification": event.classification.value,
        },
    }
    if device.os_version:
        finding["device"]["os"]["version"] = device.os_version
    if device.model:
        finding["device"]["model"] = device.model
    if event.resolved_at is not None:
        finding["end_time"] = epoch_ms(event.resolved_at)
    if event.assigned_to:
        finding["unmapped"]["assigned_to"] = event.assigned_to
    if event.change is AlertChange.TEST:
        finding["unmapped"]["test"] = True
    return finding
