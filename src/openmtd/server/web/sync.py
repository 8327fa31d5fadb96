"""Revision counters: a web change bumps its own counter and the agents' policy generation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openmtd.store.models import SyncGeneration

POLICY_GENERATION = "policy"


def bump(db: Session, name: str, *, now: datetime) -> int:
    """Increment counter `name` and the policy generation (every agent's sync ETag changes)."""
    for counter in dict.fromkeys((name, POLICY_GENERATION)):
        done = db.execute(
            update(SyncGeneration)
            .where(SyncGeneration.name == counter)
            .values(generation=SyncGeneration.generation + 1, updated_at=now)
        )
        if not getattr(done, "rowcount", 0):
            db.add(SyncGeneration(name=counter, generation=1, updated_at=now))
            db.flush()
    return db.scalar(select(SyncGeneration.generation).where(SyncGeneration.name == name)) or 0
