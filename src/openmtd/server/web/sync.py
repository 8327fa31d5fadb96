"""Revision counters: a web change bumps its own counter and the agents' policy generation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openmtd.store.models import SyncGeneration

POLICY_GENERATION = "policy"


def bump(db: Session, name: str, *, now: datetime) -> int:
    """Increment counter `name` and the policy generation (every agent's sync ETag changes)."""
    if name != POLICY_GENERATION:
        bump_counter(db, POLICY_GENERATION, now=now)
    return bump_counter(db, name, now=now)


def bump_counter(db: Session, name: str, *, now: datetime) -> int:
    """Increment counter `name` alone (created at 1); returns its new value."""
    done = db.execute(
        update(SyncGeneration)
        .where(SyncGeneration.name == name)
        .values(generation=SyncGeneration.generation + 1, updated_at=now)
    )
    if not getattr(done, "rowcount", 0):
        db.add(SyncGeneration(name=name, generation=1, updated_at=now))
        db.flush()
    return db.scalar(select(SyncGeneration.generation).where(SyncGeneration.name == name)) or 0


def counter(db: Session, name: str) -> int:
    """The current value of counter `name` (0 before its first bump)."""
    return db.scalar(select(SyncGeneration.generation).where(SyncGeneration.name == name)) or 0
