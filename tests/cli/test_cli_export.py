"""`openmtd export status` reads the sinks' delivery status from the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from openmtd.cli.main import app
from openmtd.store.db import make_engine, make_session_factory
from openmtd.store.models import ExportOutbox

runner = CliRunner()
SINKS = json.dumps(
    [
        {"name": "siem", "kind": "syslog", "host": "siem.example.com", "transport": "tls"},
        {
            "name": "soar",
            "kind": "webhook",
            "url": "https://soar.example.com/hook/T0K3N",
            "secret": "correct-horse-battery-staple-42",
        },
    ]
)


def test_status(database_url: str, tmp_path: Path) -> None:
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine).begin() as db:
            for i, state in enumerate(["pending", "delivered", "dead"]):
                db.add(
                    ExportOutbox(
                        sink="siem",
                        topic="alert",
                        key=f"k{i}",
                        payload={},
                        created_at=at,
                        state=state,
                        attempts=1,
                        next_attempt_at=at,
                        last_attempt_at=at,
                        delivered_at=at if state == "delivered" else None,
                        last_error="ConnectionRefusedError: [Errno 111]"
                        if state == "dead"
                        else None,
                    )
                )
    finally:
        engine.dispose()
    env = {
        "OPENMTD_DATABASE_URL": database_url,
        "OPENMTD_DATA_DIR": str(tmp_path),
        "OPENMTD_EXPORT_SINKS": SINKS,
    }
    result = runner.invoke(app, ["export", "status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    siem, soar = json.loads(result.stdout)
    assert (siem["name"], siem["target"]) == ("siem", "syslog+tls://siem.example.com:6514")
    assert (siem["pending"], siem["delivered"], siem["dead"]) == (1, 1, 1)
    assert siem["last_error"] == "ConnectionRefusedError: [Errno 111]"
    assert siem["last_delivered_at"].startswith("2026-11-26 12:00:00")
    assert soar["target"] == "https://soar.example.com/…" and soar["pending"] == 0
    assert "T0K3N" not in result.stdout and "correct-horse" not in result.stdout

    text = runner.invoke(app, ["export", "status"], env=env)
    assert text.exit_code == 0, text.output
    assert "siem" in text.stdout and "soar" in text.stdout

    bad = runner.invoke(
        app, ["export", "status"], env=env | {"OPENMTD_EXPORT_SINKS": '[{"name": "x"}]'}
    )
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: invalid export_sinks")
