"""`openmtd pilot`: the seed's pilot evaluation passes end to end on its own server."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from openmtd.cli.main import app
from openmtd.enrollment.scenarios import SCENARIOS


def test_pilot_json_passes_end_to_end() -> None:
    result = CliRunner().invoke(app, ["pilot", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    checks = {c["name"]: c for c in doc["checks"]}
    assert doc["passed"] is True
    assert doc["console_url"].startswith("http://127.0.0.1:")
    assert doc["console_url"].endswith("/console")
    assert doc["admin"]["username"] and len(doc["admin"]["password"]) >= 12

    for spec in SCENARIOS.values():
        if spec.supported:
            check = checks[f"{spec.scenario.value}: enrolled and checked in"]
        else:
            check = checks[f"{spec.scenario.value}: refused (not supported)"]
            assert f"'{spec.scenario.value}'" in check["detail"]
        assert check["passed"] is True, check

    devices = {d["scenario"]: d for d in doc["devices"]}
    assert len(devices) == sum(s.supported for s in SCENARIOS.values())
    work, personal = devices["android-work-profile"], devices["android-personal-profile"]
    assert personal["hardware_id"] == work["hardware_id"]
    assert [d["scenario"] for d in doc["devices"]].index("android-personal-profile") > [
        d["scenario"] for d in doc["devices"]
    ].index("android-work-profile")

    inventory = checks["criterion 1: Onboarded devices show up in the device inventory"]
    assert inventory["passed"] is True
    assert inventory["detail"].startswith(f"{len(devices)} of {len(devices)} ")
    blocked = checks["criterion 2: The phishing test URL is blocked on the device"]
    assert blocked["passed"] is True
    assert "http://smartscreentestratings2.net/ → HTTP 403 block page" in blocked["detail"]
    assert "tunnel refused" in blocked["detail"]
    assert work["device_id"] in blocked["detail"]
    alert = checks["criterion 3: The alert for that detection appears in the console"]
    assert alert["passed"] is True
    assert "Phishing warning" in alert["detail"] and "/console/alerts" in alert["detail"]
    assert [c for c in doc["checks"] if c["passed"] is not True] == []


def test_pilot_text_shows_the_checklist_console_and_admin() -> None:
    result = CliRunner().invoke(app, ["pilot"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "✔" in out and "✘" not in out
    assert "/console" in out and "pilot-admin" in out and "PASSED" in out
