"""Transactions behave the same on both backends: savepoints nest inside the request's unit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from openmtd.store.db import make_engine, make_session_factory, transaction
from openmtd.store.models import SyncGeneration

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def rows(factory: object) -> list[str]:
    with transaction(factory) as db:  # type: ignore[arg-type]
        return list(db.scalars(select(SyncGeneration.name).order_by(SyncGeneration.name)))


def test_a_savepoint_as_the_first_write_is_undone_by_the_outer_rollback(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:
        with pytest.raises(RuntimeError), transaction(factory) as db:
            db.scalar(select(func.count()).select_from(SyncGeneration))  # a read first
            with db.begin_nested():
                db.add(SyncGeneration(name="in-savepoint", generation=1, updated_at=NOW))
            db.add(SyncGeneration(name="after", generation=1, updated_at=NOW))
            db.flush()
            raise RuntimeError("the request fails after the savepoint was released")
        assert rows(factory) == []
    finally:
        engine.dispose()


def test_a_failed_savepoint_leaves_the_outer_transaction_usable(database_url: str) -> None:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as db:
            db.add(SyncGeneration(name="taken", generation=1, updated_at=NOW))
        with transaction(factory) as db:
            with pytest.raises(IntegrityError), db.begin_nested():
                db.add(SyncGeneration(name="taken", generation=2, updated_at=NOW))
            db.add(SyncGeneration(name="kept", generation=1, updated_at=NOW))
        assert rows(factory) == ["kept", "taken"]
        with transaction(factory) as db:
            assert db.get(SyncGeneration, "taken").generation == 1  # type: ignore[union-attr]
    finally:
        engine.dispose()
