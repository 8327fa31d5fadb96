"""Apps in one process share their routes (built once per process) but nothing else: each
serves its own database, settings and clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from conftest import Api, FakeClock
from openmtd.config import Settings
from openmtd.server.app import create_app
from openmtd.store.db import make_engine, migrate


def test_two_apps_in_one_process_each_answer_from_their_own_store(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other_url = f"sqlite:///{other_dir / 'other.db'}"
    engine = make_engine(other_url)
    migrate(engine)
    engine.dispose()
    later = FakeClock()
    later.advance(days=30)
    other: Any = create_app(
        settings.model_copy(
            update={
                "data_dir": other_dir,
                "database_url": other_url,
                "checkin_interval_seconds": 60,
            }
        ),
        clock=later,
    )
    try:
        with TestClient(other) as client:
            second = Api(other, client, later)
            device = api.enroll()
            mine = second.enroll()
            # The same routes answer, each from its own database.
            listed = api.client.get("/api/devices", headers=api.headers()).json()["items"]
            theirs = client.get("/api/devices", headers=second.headers()).json()["items"]
            assert [d["id"] for d in listed] == [device["device_id"]]
            assert [d["id"] for d in theirs] == [mine["device_id"]]
            # Each app's token opens only its own app; each answers with its own settings.
            assert client.get("/api/devices", headers=api.headers()).status_code == 401
            assert mine["checkin_interval_seconds"] == 60
            assert device["checkin_interval_seconds"] == settings.checkin_interval_seconds
            assert theirs[0]["enrolled_at"].startswith(later().date().isoformat())
            assert listed[0]["enrolled_at"].startswith(api.clock().date().isoformat())
    finally:
        other.state.ctx.close()
