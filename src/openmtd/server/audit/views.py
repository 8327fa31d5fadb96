"""Audit log API (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openmtd.server import presenters
from openmtd.server.audit import service
from openmtd.server.deps import Admin, Db
from openmtd.server.errors import API_ERRORS, responses
from openmtd.server.schemas import AuditOut, Page

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=API_ERRORS)


@router.get("", response_model=Page[AuditOut], responses=responses(401, 403))
def audit_log(
    _p: Admin,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[AuditOut]:
    rows, total = service.entries(db, limit=limit, offset=offset)
    return Page(
        items=[presenters.audit_out(e) for e in rows], total=total, limit=limit, offset=offset
    )
