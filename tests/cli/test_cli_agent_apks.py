"""The agent with a real APK in its inventory: the server asks for it, the agent uploads it,
the verdict raises a Malware alert, and removing the app resolves it (through the CLI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from apkbuild import trojan_like_apk
from conftest import Api
from openmtd.cli.main import app
from openmtd.cli.serve import ServerThread

runner = CliRunner()


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def test_install_apk_upload_alert_and_remediation(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    trojan = trojan_like_apk(tmp_path)
    state_dir = str(tmp_path / "phone")
    common = ["--simulate", "android-cobo", "--seed", "7"]
    enrolled = runner.invoke(
        app,
        [
            "agent",
            "enroll",
            "--server",
            server.url,
            "--scenario",
            "android-cobo",
            *common,
            "--state-dir",
            state_dir,
            "--yes",
            "--json",
        ],
        env={"OPENMTD_ONBOARDING_TOKEN": api.onboarding_token()},
    )
    assert enrolled.exit_code == 0, enrolled.output
    device_id = json.loads(enrolled.stdout)["device_id"]
    env = {"OPENMTD_AGENT_STATE_DIR": state_dir}

    ran = runner.invoke(
        app, ["agent", "run", "--once", *common, "--install-apk", str(trojan), "--json"], env=env
    )
    assert ran.exit_code == 0, ran.output
    doc = json.loads(ran.stdout)
    assert [(u["verdict"], u["error"]) for u in doc["apk_uploads"]] == [("malicious", None)]

    alerts = api.client.get(
        "/api/alerts", params={"device_id": device_id}, headers=api.headers("read-only")
    ).json()["items"]
    assert [(a["category"], a["severity"], a["status"]) for a in alerts] == [
        ("Malware", "Medium", "New")
    ]
    assert "Bright Flashlight" in alerts[0]["title"]

    # Text output names the upload; then the app is gone and the alert resolves itself.
    ran = runner.invoke(app, ["agent", "run", "--once", *common], env=env)
    assert ran.exit_code == 0, ran.output
    alerts = api.client.get(
        "/api/alerts", params={"device_id": device_id}, headers=api.headers("read-only")
    ).json()["items"]
    assert [a["status"] for a in alerts] == ["Resolved"]

    bogus = tmp_path / "notes.apk"
    bogus.write_bytes(b"not a zip at all")
    refused = runner.invoke(
        app, ["agent", "run", "--once", *common, "--install-apk", str(bogus)], env=env
    )
    assert refused.exit_code == 2
    assert "is not an APK the agent can read" in refused.stderr
