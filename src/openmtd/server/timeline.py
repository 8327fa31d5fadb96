"""The device timeline: one place that writes its events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openmtd.store.models import DeviceEvent


def add_event(
    db: Session, *, device_id: str, kind: str, summary: str, now: datetime, **details: Any
) -> None:
    db.add(
        DeviceEvent(
            device_id=device_id, occurred_at=now, kind=kind, summary=summary, details=details
        )
    )
