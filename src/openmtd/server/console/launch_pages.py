"""Console page of conditional launch: the app protection policies (admins add and delete them)
and the recent launch decisions with the reference log encoding.

The console's counterpart of the JSON API in server/launch/views.py, through the same service.
Analysts and admins may look; only admins change policies, and every form carries the
session's CSRF token (see web.py).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from openmtd.domain.enums import Platform, RiskLevel
from openmtd.domain.errors import OpenMTDError
from openmtd.engines.launch import LaunchAction
from openmtd.server.console.web import (
    FLASH,
    AdminPost,
    AnalystViewer,
    ConsoleRoute,
    invalid,
    render,
)
from openmtd.server.deps import Db, Now
from openmtd.server.launch import service
from openmtd.server.launch.schemas import PolicyBody
from openmtd.server.launch.views import log_out, policy_out
from openmtd.server.security import Principal

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

PAGE = "/console/launch"
LOG_ROWS = 100
PolicyId = Annotated[int, Path(ge=1, le=2**31 - 1)]

LAUNCH_FLASH = {
    "launch-policy-created": "App protection policy added; it applies from the next launch.",
    "launch-policy-deleted": "App protection policy deleted.",
}
_LABELS = {
    "name": "Name",
    "app_ids": "App ids",
    "device_group": "Device group",
    "platform": "Platform",
    "max_risk": "Maximum allowed threat level",
    "action": "Action",
}
_NEW: dict[str, str] = {
    "name": "",
    "app_ids": "",
    "device_group": "",
    "platform": "",
    "max_risk": RiskLevel.MEDIUM.value,
    "action": LaunchAction.BLOCK.value,
}


def _page(
    request: Request,
    p: Principal,
    db: Db,
    *,
    form: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    rows, total = service.launch_log(db, limit=LOG_ROWS)
    key = request.query_params.get("msg", "")
    return render(
        request,
        "launch.html",
        p,
        status=status,
        section="launch",
        flash=LAUNCH_FLASH.get(key) or FLASH.get(key, ""),
        policies=[policy_out(r) for r in service.list_policies(db)],
        log=[log_out(r) for r in rows],
        log_total=total,
        levels=list(RiskLevel),
        actions=list(LaunchAction),
        platforms=list(Platform),
        form=form or dict(_NEW),
        error=error,
    )


@router.get(PAGE)
def launch_page(request: Request, p: AnalystViewer, db: Db) -> Response:
    return _page(request, p, db)


@router.post(PAGE)
def create_policy(request: Request, posted: AdminPost, db: Db, now: Now) -> Response:
    form = {key: posted.text(key, max_length=32768) for key in _NEW}
    fields: dict[str, Any] = {
        "name": form["name"],
        "app_ids": [a for a in re.split(r"[\s,;]+", form["app_ids"]) if a],
        "device_group": form["device_group"] or None,
        "platform": form["platform"] or None,
        "max_risk": form["max_risk"],
        "action": form["action"],
    }
    try:
        service.create_policy(
            db, body=PolicyBody(**fields), actor=posted.principal.username, now=now
        )
    except (ValidationError, OpenMTDError) as e:
        db.rollback()
        problem = invalid(e, _LABELS) if isinstance(e, ValidationError) else e
        return _page(
            request, posted.principal, db, form=form, error=problem.message, status=problem.status
        )
    return RedirectResponse(f"{PAGE}?msg=launch-policy-created", status_code=303)


@router.post(f"{PAGE}/policies/{{policy_id}}/delete")
def delete_policy(policy_id: PolicyId, posted: AdminPost, db: Db, now: Now) -> Response:
    service.delete_policy(db, policy_id=policy_id, actor=posted.principal.username, now=now)
    return RedirectResponse(f"{PAGE}?msg=launch-policy-deleted", status_code=303)
