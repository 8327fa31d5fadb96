"""Judging the fleet's apps again when what they are judged by changes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from openmtd.server.apps import service
from openmtd.server.context import AppContext


def rejudge_apps_matching(
    db: Session, *, ctx: AppContext, values: Iterable[str], now: datetime
) -> service.EvaluationSummary:
    """After app indicators changed (in this uncommitted transaction): judge again the devices
    with an app those values name, and those with an active app alert (it may clear)."""
    db.flush()
    index = ctx.apps.index(db)
    devices = service.devices_matching(db, values=values)
    return service.evaluate_devices(db, device_ids=devices, index=index, now=now)


def rejudge_all(db: Session, *, ctx: AppContext, now: datetime) -> service.EvaluationSummary:
    """After a feed with app indicators changed: every device's apps are judged again."""
    index = ctx.apps.index(db)
    return service.evaluate_devices(db, device_ids=service.all_devices(db), index=index, now=now)
