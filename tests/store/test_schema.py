"""The store: migrations match the models, migrate is idempotent, UTC datetimes round-trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import StatementError

from openmtd.store.db import alembic_config, make_engine, make_session_factory, migrate, transaction
from openmtd.store.models import AuditEntry, Base, SyncGeneration


def _head(engine: object) -> str:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()  # type: ignore[arg-type]
    assert head is not None
    return head


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_migrate_is_idempotent_and_stamps_head(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)  # already migrated by the fixture: nothing to do, no error
        migrate(engine)
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            tables = set(inspect(conn).get_table_names())
        assert version == [_head(engine)]
        assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_migrate_creates_a_fresh_sqlite_database_twice_without_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'fresh.db'}")  # the folder is created
    try:
        migrate(engine)
        migrate(engine)
        with engine.connect() as conn:
            assert set(Base.metadata.tables) <= set(inspect(conn).get_table_names())
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_utc_datetimes_round_trip_with_tzinfo(database_url: str) -> None:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    at = datetime(2026, 11, 26, 12, 30, 15, 123456, tzinfo=UTC)
    paris = datetime(2026, 11, 26, 13, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))
    try:
        with transaction(factory) as db:
            db.add(AuditEntry(at=at, actor="a", action="x", target="utc", details={}))
            db.add(AuditEntry(at=paris, actor="a", action="x", target="paris", details={}))
            db.add(SyncGeneration(name="g", generation=1, updated_at=at))
        engine.dispose()  # nothing cached: read from the database
        with transaction(factory) as db:
            rows = {e.target: e.at for e in db.scalars(select(AuditEntry))}
            updated = db.scalar(select(SyncGeneration.updated_at))
        assert rows["utc"] == at and rows["utc"].tzinfo is not None
        assert rows["utc"].utcoffset() == timedelta(0)
        assert rows["paris"] == at  # the same instant, stored and returned in UTC
        assert rows["paris"].utcoffset() == timedelta(0)
        assert updated == at and updated is not None and updated.tzinfo is not None
        # Comparisons in SQL work on the UTC value on both backends.
        with transaction(factory) as db:
            found = db.scalars(
                select(AuditEntry.target).where(AuditEntry.at >= paris - timedelta(seconds=1))
            ).all()
        assert sorted(found) == ["paris", "utc"]
    finally:
        engine.dispose()


def test_naive_datetimes_are_refused(database_url: str) -> None:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:
        with (
            pytest.raises(StatementError, match="naive datetime given to a UTC column"),
            transaction(factory) as db,
        ):
            db.add(
                AuditEntry(at=datetime(2026, 1, 1), actor="a", action="x", target="t", details={})
            )
        with transaction(factory) as db:
            assert db.scalar(select(AuditEntry.id)) is None  # rolled back
    finally:
        engine.dispose()
