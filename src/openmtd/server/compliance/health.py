"""Announcing a device's partner health state to the MDM: through the export outbox.

A webhook sink subscribed to the topic ``device.health`` receives each change (at least once,
signed, retried; see docs/alert-export.md). The payload says what the MDM needs to act and
nothing private: no URL, app, network or certificate detail.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openmtd.server.export.outbox import enqueue
from openmtd.store.models import Device

HEALTH_TOPIC = "device.health"


def health_payload(device: Device, *, previous: str | None, now: datetime) -> dict[str, Any]:
    return {
        "type": HEALTH_TOPIC,
        "device_id": device.id,
        "hardware_id": device.hardware_id,
        "name": device.name,
        "platform": device.platform,
        "scenario": device.scenario,
        "device_group": device.device_group,
        "health_state": device.health_state,
        "previous_health_state": previous,
        "risk_level": device.risk_level,
        "compliance_policy": device.compliance_policy,
        "changed_at": now.isoformat(),
    }


def announce_health(db: Session, *, device: Device, previous: str | None, now: datetime) -> None:
    enqueue(
        db,
        topic=HEALTH_TOPIC,
        # One key per change (each row keeps it through its retries): receivers de-duplicate.
        key=f"{HEALTH_TOPIC}:{device.id}:{uuid.uuid4().hex}",
        payload=health_payload(device, previous=previous, now=now),
        now=now,
    )
