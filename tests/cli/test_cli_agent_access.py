"""`openmtd agent access-token`: the token an app sends through the reverse proxy, which the
forward-auth check then knows as this device."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import Api
from openmtd.cli.main import app
from openmtd.cli.serve import ServerThread

runner = CliRunner()


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def test_the_token_identifies_the_device_to_the_check(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    state_dir = str(tmp_path / "phone")
    enrolled = runner.invoke(
        app,
        [
            "agent",
            "enroll",
            "--server",
            server.url,
            "--scenario",
            "android-work-profile",
            "--simulate",
            "android-work-profile",
            "--state-dir",
            state_dir,
            "--yes",
            "--json",
        ],
        env={"OPENMTD_ONBOARDING_TOKEN": api.onboarding_token()},
    )
    assert enrolled.exit_code == 0, enrolled.output
    device_id = json.loads(enrolled.stdout)["device_id"]
    issued = runner.invoke(app, ["agent", "access-token", "--state-dir", state_dir, "--json"])
    assert issued.exit_code == 0, issued.output
    doc = json.loads(issued.stdout)
    assert doc["header"] == "X-OpenMTD-Device-Token" and doc["token"].startswith("omt_acc_")
    r = api.client.get("/api/access/v1/check", headers={doc["header"]: doc["token"]})
    assert r.status_code == 200 and r.headers["X-OpenMTD-Device-Id"] == device_id
    plain = runner.invoke(app, ["agent", "access-token", "--state-dir", state_dir])
    assert plain.exit_code == 0 and plain.stdout.startswith("X-OpenMTD-Device-Token: omt_acc_")
