"""Console page of compliance: the policies per device group (admins add, edit and delete
them), the fleet by MDM partner health state, and how conditional access is wired.

The console's counterpart of server/compliance/views.py, through the same service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import func, select

from openmtd.domain.enums import RiskLevel
from openmtd.domain.errors import OpenMTDError
from openmtd.engines.compliance import PartnerState, UnresponsiveAction
from openmtd.server.compliance import service
from openmtd.server.compliance.views import PolicyIn, policy_out
from openmtd.server.console.charts import bar_chart
from openmtd.server.console.web import FLASH, AdminPost, ConsoleRoute, Viewer, invalid, render
from openmtd.server.deps import Db, Now
from openmtd.server.security import Principal
from openmtd.store.models import Device

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

PAGE = "/console/compliance"
PolicyId = Annotated[int, Path(ge=1, le=2**31 - 1)]

COMPLIANCE_FLASH = {
    "policy-saved": "Compliance policy saved; its devices were judged again.",
    "policy-deleted": "Compliance policy deleted; its devices follow the all-groups policy.",
}
_LABELS = {
    "name": "Name",
    "device_group": "Device group",
    "max_risk": "Maximum allowed threat level",
    "unresponsive_days": "Days until unresponsive",
    "unresponsive_action": "Unresponsive devices are",
    "min_os_android": "Minimum Android version",
    "min_os_ios": "Minimum iOS version",
}
_FIELDS = (*_LABELS, "require_onboarding")
_NEW: dict[str, str] = {
    "name": "",
    "device_group": "",
    "max_risk": RiskLevel.LOW.value,
    "require_onboarding": "on",
    "unresponsive_days": "7",
    "unresponsive_action": UnresponsiveAction.NONCOMPLIANT.value,
    "min_os_android": "",
    "min_os_ios": "",
}


def _health_counts(db: Db, now: datetime) -> dict[str, int]:
    """Live devices per partner state now (unresponsive computed, not stored)."""
    live = Device.retired_at.is_(None)
    quiet = Device.unresponsive_after < now
    counts = {
        str(state): int(n)
        for state, n in db.execute(
            select(Device.health_base, func.count())
            .where(live, ~quiet)
            .group_by(Device.health_base)
        ).all()
    }
    counts[PartnerState.UNRESPONSIVE.value] = (
        db.scalar(select(func.count(Device.id)).where(live, quiet)) or 0
    )
    return counts


def _page(
    request: Request,
    p: Principal,
    db: Db,
    now: datetime,
    *,
    form: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    counts = _health_counts(db, now)
    per_policy = dict(
        db.execute(
            select(Device.compliance_policy, func.count())
            .where(Device.retired_at.is_(None))
            .group_by(Device.compliance_policy)
        ).all()
    )
    key = request.query_params.get("msg", "")
    health_chart = bar_chart(
        [
            (
                state.value,
                counts.get(state.value, 0),
                f"health-{state.value.lower()}",
                f"/api/partner/devices?state={state.value}",
            )
            for state in PartnerState
            if state not in (PartnerState.UNKNOWN, PartnerState.DEACTIVATED)
        ]
    )
    return render(
        request,
        "compliance.html",
        p,
        status=status,
        section="compliance",
        flash=COMPLIANCE_FLASH.get(key) or FLASH.get(key, ""),
        policies=[policy_out(r, int(per_policy.get(r.name, 0))) for r in service.list_policies(db)],
        health_chart=health_chart,
        levels=list(RiskLevel),
        actions=list(UnresponsiveAction),
        form=form or dict(_NEW),
        error=error,
    )


@router.get(PAGE)
def compliance_page(request: Request, p: Viewer, db: Db, now: Now) -> Response:
    return _page(request, p, db, now)


@router.post(PAGE)
def save_policy(request: Request, posted: AdminPost, db: Db, now: Now) -> Response:
    """Add a policy, or change the one with this name (the all-groups one included)."""
    form = {key: posted.text(key, max_length=256) for key in _FIELDS}
    form["require_onboarding"] = "on" if posted.flag("require_onboarding") else ""
    fields: dict[str, Any] = {
        "name": form["name"],
        "device_group": form["device_group"] or None,
        "max_risk": form["max_risk"],
        "require_onboarding": bool(form["require_onboarding"]),
        "unresponsive_days": form["unresponsive_days"] or "7",
        "unresponsive_action": form["unresponsive_action"],
        "min_os_android": form["min_os_android"] or None,
        "min_os_ios": form["min_os_ios"] or None,
    }
    actor = posted.principal.username
    try:
        data = PolicyIn(**fields).to_input()
        existing = service.policy_named(db, data.name)
        if existing is None:
            service.create_policy(db, data=data, actor=actor, now=now)
        else:
            service.update_policy(db, policy_id=existing.id, data=data, actor=actor, now=now)
    except (ValidationError, OpenMTDError) as e:
        db.rollback()
        problem = invalid(e, _LABELS) if isinstance(e, ValidationError) else e
        return _page(
            request,
            posted.principal,
            db,
            now,
            form=form,
            error=problem.message,
            status=problem.status,
        )
    return RedirectResponse(f"{PAGE}?msg=policy-saved", status_code=303)


@router.post(f"{PAGE}/policies/{{policy_id}}/delete")
def delete_policy(policy_id: PolicyId, posted: AdminPost, db: Db, now: Now) -> Response:
    service.delete_policy(db, policy_id=policy_id, actor=posted.principal.username, now=now)
    return RedirectResponse(f"{PAGE}?msg=policy-deleted", status_code=303)
