"""Recording and reading the audit log of administrative changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openmtd.store.models import AuditEntry


def record(
    db: Session, *, actor: str, action: str, target: str, now: datetime, **details: Any
) -> None:
    """Add an entry in the caller's transaction: the change and its record commit together."""
    db.add(AuditEntry(at=now, actor=actor, action=action, target=target, details=details))


def entries(db: Session, *, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
    total = db.scalar(select(func.count()).select_from(AuditEntry)) or 0
    rows = db.scalars(
        select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total
