"""Helpers shared by the server API tests (imported by name; not a test module)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from openmtd.store.models import Base


def error(response: Any, status: int, code: str) -> str:
    """Assert the JSON error envelope with this status and code; return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return str(body["error"]["message"])


def enroll_body(token: str, scenario: str = "android-work-profile", **extra: Any) -> dict[str, Any]:
    platform = scenario.split("-")[0]
    return {
        "onboarding_token": token,
        "platform": platform,
        "scenario": scenario,
        "hardware_id": extra.pop("hardware_id", uuid.uuid4().hex),
        "device": {"model": "Pixel 8", "os_version": "14"},
        **extra,
    }


def checkin_body(scenario: str = "android-work-profile", **extra: Any) -> dict[str, Any]:
    platform = scenario.split("-")[0]
    return {
        "report_id": extra.pop("report_id", uuid.uuid4().hex),
        "collected_at": "2026-11-26T12:00:00+00:00",
        "facts": {
            "platform": platform,
            "scenario": scenario,
            "os_version": "14",
            "model": "Pixel 8",
        },
        **extra,
    }


def device_auth(device: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {device['device_credential']}"}


def dump_database(app: Any) -> str:
    """Every row of every table, as text: for "this secret is stored nowhere" assertions."""
    lines = []
    with app.state.ctx.sessions() as db:
        for table in Base.metadata.sorted_tables:
            lines.extend(f"{table.name}: {tuple(row)!r}" for row in db.execute(select(table)))
    return "\n".join(lines)


def count(app: Any, model: Any, *where: Any) -> int:
    with app.state.ctx.sessions() as db:
        return len(db.scalars(select(model).where(*where)).all())
