"""`openmtd collect android` with a fake adb, alone and enrolled/reported to a real server."""

from __future__ import annotations

import json
import sys
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
FIXTURES = Path(__file__).parents[1] / "agent" / "fixtures" / "adb"
PIXEL_SERIAL, SAMSUNG_SERIAL = "37281FDJH00B1X", "R5CW30ABCDE"
PIXEL_HW = "589285a1d008a1836576c0738b8bd4ed"


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def fake_adb(folder: Path, *phones: str, state: str = "device") -> Path:
    """The fixtures' fake adb in `folder`, with these phones (folder names) attached."""
    folder.mkdir(parents=True, exist_ok=True)
    serials = {"pixel8pro-android14": PIXEL_SERIAL, "galaxy-s23ultra-android13": SAMSUNG_SERIAL}
    devices = [
        {"serial": serials[name], "state": state, "fixtures": str(FIXTURES / name)}
        for name in phones
    ]
    exe = folder / "adb"
    body = (FIXTURES / "fake_adb.py").read_text().split("\n", 1)[1]
    exe.write_text(f"#!{sys.executable}\n{body}")
    exe.chmod(0o755)
    (folder / "adb.json").write_text(json.dumps({"devices": devices}))
    return exe


def collect(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, ["collect", "android", *args], input=input)


def one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_json_document(tmp_path: Path) -> None:
    exe = fake_adb(tmp_path, "pixel8pro-android14")
    result = collect("--adb", str(exe), "--json", "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert set(doc) == {
        "device",
        "facts",
        "apps",
        "app_counts",
        "signals",
        "pulled",
        "warnings",
        "enrollment",
        "report",
    }
    assert doc["device"] == {"serial": PIXEL_SERIAL, "hardware_id": PIXEL_HW, "name": "Pixel 8 Pro"}
    assert doc["facts"] == {
        "platform": "android",
        "scenario": "android-cobo",
        "os_version": "14",
        "security_patch_level": "2024-08-05",
        "model": "Pixel 8 Pro",
        "manufacturer": "Google",
        "build": "AP2A.240805.005",
    }
    assert doc["app_counts"] == {
        "store": 3,
        "managed": 1,
        "sideloaded": 3,
        "system": 5,
        "unknown": 0,
    }
    telegram = next(a for a in doc["apps"] if a["identifier"] == "org.telegram.messenger.web")
    assert (telegram["version"], telegram["install_source"]) == ("10.14.5", "sideloaded")
    assert len(telegram["sha256"]) == 64
    assert {"name": "bootloader_locked", "value": "true"} in doc["signals"]
    assert doc["warnings"] == ["1 APK(s) could not be hashed on the phone (removed meanwhile?)"]
    assert doc["enrollment"] is None and doc["report"] is None
    assert not (tmp_path / "state").exists()  # nothing enrolled, nothing written


def test_table(tmp_path: Path) -> None:
    exe = fake_adb(tmp_path, "galaxy-s23ultra-android13")
    result = collect("--adb", str(exe), "--no-hash")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        "Galaxy S23 Ultra (R5CW30ABCDE)",
        "samsung SM-S918B",
        "2023-02-01",
        "TP1A.220624.014.S918BXXU1AWBD",
        "sideloaded",
        "unknown sources (legacy setting)",
        "orange",
    ):
        assert expected in out, expected
    assert result.stderr == ""


def test_failures_are_one_line(tmp_path: Path) -> None:
    none = fake_adb(tmp_path / "none")
    assert "no Android phone found" in one_line_error(collect("--adb", str(none)), 1)
    two = fake_adb(tmp_path / "two", "pixel8pro-android14", "galaxy-s23ultra-android13")
    assert "choose one with --serial" in one_line_error(collect("--adb", str(two), "--json"), 1)
    locked = fake_adb(tmp_path / "locked", "pixel8pro-android14", state="unauthorized")
    assert "has not authorized" in one_line_error(collect("--adb", str(locked)), 1)
    missing = collect("--adb", str(tmp_path / "no-adb"))
    assert "sudo apt-get install adb" in one_line_error(missing, 1)
    usage = collect("--adb", str(none), "--enroll", "--server", "http://x")
    assert "--enroll needs --token, --scenario" in one_line_error(usage, 2)
    assert "go with --enroll" in one_line_error(collect("--server", "http://x"), 2)
    not_enrolled = collect(
        "--adb", str(two), "--serial", PIXEL_SERIAL, "--report", "--state-dir", str(tmp_path / "s")
    )
    assert "this phone is not enrolled" in one_line_error(not_enrolled, 1)


def test_enroll_then_report_reaches_the_server(
    server: ServerThread, api: Api, tmp_path: Path
) -> None:
    adb = str(fake_adb(tmp_path / "bin", "pixel8pro-android14", "galaxy-s23ultra-android13"))
    state_dir = tmp_path / "state"
    enrolled = collect(
        "--adb",
        adb,
        "--serial",
        PIXEL_SERIAL,
        "--enroll",
        "--server",
        server.url,
        "--token",
        api.onboarding_token(),
        "--scenario",
        "android-cobo",
        "--report",
        "--state-dir",
        str(state_dir),
        "--json",
        input="y\n",  # low-touch: one confirmation
    )
    assert enrolled.exit_code == 0, enrolled.output
    assert "Onboard this device" in enrolled.stderr
    doc = json.loads(enrolled.stdout)
    device_id = doc["enrollment"]["device_id"]
    assert doc["enrollment"]["scenario"] == "android-cobo"
    assert doc["report"]["delivered"] and doc["report"]["risk_level"]
    state = agent_state.load(state_dir)
    assert (state.hardware_id, state.collector.kind) == (PIXEL_HW, "adb")
    assert state.device_credential not in enrolled.output

    d = api.client.get(f"/api/devices/{device_id}", headers=api.headers()).json()
    assert (d["hardware_id"], d["name"], d["platform"], d["scenario"]) == (
        PIXEL_HW,
        "Pixel 8 Pro",
        "android",
        "android-cobo",
    )
    assert (d["manufacturer"], d["model"], d["os_version"], d["build"]) == (
        "Google",
        "Pixel 8 Pro",
        "14",
        "AP2A.240805.005",
    )
    assert d["security_patch_level"] == "2024-08-05"
    assert d["app_count"] == 12
    apps = {a["identifier"]: a for a in d["apps"]}
    assert {k: (a["version"], a["install_source"]) for k, a in apps.items()} == {
        a["identifier"]: (a["version"], a["install_source"]) for a in doc["apps"]
    }
    assert apps["com.contoso.fieldservice"]["install_source"] == "managed"
    assert apps["com.whatsapp"]["sha256"] == next(
        a["sha256"] for a in doc["apps"] if a["identifier"] == "com.whatsapp"
    )
    integrity = {s["name"]: s["value"] for s in d["signals"]["integrity"]}
    assert integrity["verified_boot_state"] == "green"
    assert integrity["unknown_sources"] == "unset"

    # Later: report again without enrolling; the facts carry the enrolled scenario.
    again = collect(
        "--adb", adb, "--serial", PIXEL_SERIAL, "--report", "--state-dir", str(state_dir)
    )
    assert again.exit_code == 0, again.output
    assert "✔ reported" in again.stdout
    d = api.client.get(f"/api/devices/{device_id}", headers=api.headers()).json()
    assert d["app_count"] == 12

    # Another phone cannot report into this phone's enrollment.
    other = collect(
        "--adb", adb, "--serial", SAMSUNG_SERIAL, "--report", "--state-dir", str(state_dir)
    )
    assert "is not the device enrolled" in one_line_error(other, 1)

    # Enrolling again into the same folder needs --force.
    twice = collect(
        "--adb",
        adb,
        "--serial",
        PIXEL_SERIAL,
        "--enroll",
        "--server",
        server.url,
        "--token",
        "omt_onb_whatever",
        "--scenario",
        "android-cobo",
        "--yes",
        "--state-dir",
        str(state_dir),
    )
    assert "--force" in one_line_error(twice, 1)


def test_report_not_delivered_is_a_failure(server: ServerThread, api: Api, tmp_path: Path) -> None:
    adb = str(fake_adb(tmp_path / "bin", "galaxy-s23ultra-android13"))
    state_dir = tmp_path / "state"
    enrolled = collect(
        "--adb",
        adb,
        "--enroll",
        "--server",
        server.url,
        "--token",
        api.onboarding_token(),
        "--scenario",
        "android-device-admin",
        "--yes",
        "--state-dir",
        str(state_dir),
    )
    assert enrolled.exit_code == 0, enrolled.output
    assert "✔ enrolled as device" in enrolled.stdout
    server.stop()
    offline = collect("--adb", adb, "--report", "--state-dir", str(state_dir), "--json")
    assert "the report was not delivered" in one_line_error(offline, 1)
    assert json.loads(offline.stdout)["report"]["spool_size"] == 1
