"""Alert queue API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from openmtd.domain.enums import AlertStatus, Platform, Severity
from openmtd.server import presenters
from openmtd.server.alerts import service
from openmtd.server.alerts.service import AlertFilters
from openmtd.server.deps import Analyst, Db, Now, ReadOnly
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.schemas import AlertOut, AlertUpdate, Page
from openmtd.server.schemas_common import DeviceIdStr

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=API_ERRORS)
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_AUTH = responses(401, 403)


@router.get("", response_model=Page[AlertOut], responses=_AUTH)
def list_alerts(
    _p: ReadOnly,
    db: Db,
    severity: Severity | None = None,
    status: AlertStatus | None = None,
    active: bool = False,
    category: Annotated[str | None, Query(max_length=64)] = None,
    device_id: DeviceIdStr | None = None,
    platform: Platform | None = None,
    assigned_to: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[AlertOut]:
    """The unified alert queue for both platforms, newest activity first."""
    filters = AlertFilters(
        severity=severity,
        status=status,
        category=category,
        device_id=device_id,
        platform=platform.value if platform else None,
        assigned_to=assigned_to,
        active_only=active,
    )
    rows, total = service.list_alerts(db, filters=filters, limit=limit, offset=offset)
    return Page(
        items=[presenters.alert_out(a) for a in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{alert_id}", response_model=AlertOut, responses=responses(401, 403, 404))
def get_alert(alert_id: AlertId, _p: ReadOnly, db: Db) -> AlertOut:
    return presenters.alert_out(service.get_alert(db, alert_id))


@router.patch("/{alert_id}", response_model=AlertOut, responses=responses(401, 403, 404))
def update_alert(alert_id: AlertId, body: AlertUpdate, p: Analyst, db: Db, now: Now) -> AlertOut:
    """Change status, classification or assignment (analyst or admin); risk follows at once."""
    alert = service.update_alert(
        db,
        alert_id=alert_id,
        actor=p.username,
        now=now,
        status=body.status,
        classification=body.classification,
        assigned_to=body.assigned_to,
        unassign=body.unassign,
    )
    return presenters.alert_out(alert)
