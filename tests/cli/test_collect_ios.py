"""`openmtd collect ios` with the fixtures' fake opener, alone and enrolled/reported to a real
server."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import Api
from openmtd.agent import state as agent_state
from openmtd.agent.collectors import ios as ios_collector
from openmtd.agent.collectors.ios import IosProblem, Problem
from openmtd.cli.main import app
from openmtd.cli.serve import ServerThread

runner = CliRunner()
FIXTURES = Path(__file__).parents[1] / "agent" / "fixtures" / "ios"
CLEAN_UDID, JB_UDID = "00008120-001A2B3C4D5E6F01", "00008101-000C3D5E7F901234"
CLEAN_HW = "ca654372eb66962adbdb02af30966b18"


def _load_fake() -> Any:
    spec = importlib.util.spec_from_file_location("fake_ios", FIXTURES / "fake_ios.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fake_ios", module)
    spec.loader.exec_module(module)
    return module


fake = _load_fake()
DEVICES = {
    "clean": fake.FakeDevice(CLEAN_UDID, FIXTURES / "iphone14pro-ios17"),
    "jailbroken": fake.FakeDevice(JB_UDID, FIXTURES / "iphone12-ios16-jailbroken"),
}


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


@pytest.fixture
def attach(monkeypatch: pytest.MonkeyPatch) -> Any:
    """attach("clean", fail=…) makes the command see these devices instead of usbmuxd's."""

    def plug(*names: str, **options: Any) -> None:
        devices = [DEVICES[n] for n in names]
        monkeypatch.setattr(ios_collector, "open_usb", lambda: fake.FakeOpener(devices, **options))

    return plug


def collect(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, ["collect", "ios", *args], input=input)


def one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_json_document(tmp_path: Path, attach: Any) -> None:
    attach("clean")
    result = collect("--json", "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert set(doc) == {
        "device",
        "facts",
        "apps",
        "app_counts",
        "signals",
        "profiles",
        "root_certificates",
        "warnings",
        "enrollment",
        "report",
    }
    assert doc["device"] == {
        "udid": CLEAN_UDID,
        "hardware_id": CLEAN_HW,
        "name": "Anna's iPhone",
        "product_type": "iPhone15,2",
        "device_class": "iPhone",
    }
    assert doc["facts"] == {
        "platform": "ios",
        "scenario": "ios-device-enrollment",
        "os_version": "17.5.1",
        "security_patch_level": None,
        "model": "iPhone 14 Pro",
        "manufacturer": "Apple",
        "build": "21F90",
    }
    assert doc["app_counts"] == {
        "store": 9,
        "managed": 0,
        "sideloaded": 2,
        "system": 5,
        "unknown": 0,
    }
    field = next(a for a in doc["apps"] if a["identifier"] == "com.contoso.fieldservice")
    assert (field["install_source"], field["distribution"]) == ("sideloaded", "in-house")
    assert field["signer_identity"] == "iPhone Distribution: Contoso Ltd"
    assert doc["signals"] == [{"name": "developer_mode", "value": "false"}]
    assert [p["identifier"] for p in doc["profiles"]] == [
        "com.contoso.mdm.enrollment",
        "com.contoso.swg.trust",
        "com.contoso.wifi.corp",
    ]
    (root,) = doc["root_certificates"]
    assert root["not_after"] == "2034-01-12T00:00:00+00:00" and len(root["sha1"]) == 40
    assert doc["warnings"] == [] and doc["enrollment"] is None and doc["report"] is None
    assert not (tmp_path / "state").exists()


def test_table(attach: Any) -> None:
    attach("clean")
    result = collect()
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        f"Anna's iPhone ({CLEAN_UDID})",
        "Apple iPhone 14 Pro (iPhone15,2)",
        "21F90",
        "Apps from outside the App Store",
        "testflight",
        "in-house",
        "Contoso MDM",
        "not removable",
        "Root certificates installed by profiles",
        "2034-01-12",
    ):
        assert expected in out, expected
    assert result.stderr == ""


def test_table_of_the_jailbroken_phone(attach: Any) -> None:
    attach("jailbroken")
    result = collect("--no-profiles")
    assert result.exit_code == 0, result.output
    for expected in ("registered-as-system", "Sileo.app", "iPhone 12"):
        assert expected in result.stdout, expected
    assert "Configuration profiles" not in result.stdout


def test_failures_are_one_line(tmp_path: Path, attach: Any) -> None:
    attach()
    assert "no iPhone or iPad found on USB" in one_line_error(collect(), 1)
    attach("clean", "jailbroken")
    assert "choose one with --udid" in one_line_error(collect("--json"), 1)
    attach("clean", fail={"open": IosProblem(Problem.LOCKED)})
    assert "locked with its passcode" in one_line_error(collect(), 1)
    attach("clean", fail={"open": IosProblem(Problem.PAIRING_DENIED)})
    assert "refused to trust this computer" in one_line_error(collect(), 1)
    attach("clean", sleep={"values": 5.0})
    assert "did not answer within 1 s" in one_line_error(collect("--timeout", "1"), 1)
    usage = collect("--enroll", "--server", "http://x")
    assert "--enroll needs --token, --scenario" in one_line_error(usage, 2)
    assert "go with --enroll" in one_line_error(collect("--server", "http://x"), 2)
    attach("clean", "jailbroken")
    not_enrolled = collect("--udid", CLEAN_UDID, "--report", "--state-dir", str(tmp_path / "s"))
    assert "this device is not enrolled" in one_line_error(not_enrolled, 1)


def test_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymobiledevice3", None)
    monkeypatch.setitem(sys.modules, "pymobiledevice3.lockdown", None)
    line = one_line_error(collect(), 1)
    assert line == "error: pymobiledevice3 is not installed: pip install 'openmtd[ios]'"


def test_enroll_then_report_reaches_the_server(
    server: ServerThread, api: Api, tmp_path: Path, attach: Any
) -> None:
    attach("clean", "jailbroken")
    state_dir = tmp_path / "state"
    enrolled = collect(
        "--udid",
        CLEAN_UDID,
        "--enroll",
        "--server",
        server.url,
        "--token",
        api.onboarding_token(),
        "--scenario",
        "ios-device-enrollment",
        "--report",
        "--state-dir",
        str(state_dir),
        "--json",
        "--yes",
    )
    assert enrolled.exit_code == 0, enrolled.output
    doc = json.loads(enrolled.stdout)
    device_id = doc["enrollment"]["device_id"]
    assert doc["enrollment"]["scenario"] == "ios-device-enrollment"
    assert doc["report"]["delivered"] and doc["report"]["risk_level"]
    state = agent_state.load(state_dir)
    assert (state.hardware_id, state.collector.kind) == (CLEAN_HW, "ios")
    assert state.device_credential not in enrolled.output

    d = api.client.get(f"/api/devices/{device_id}", headers=api.headers()).json()
    assert (d["hardware_id"], d["name"], d["platform"], d["scenario"]) == (
        CLEAN_HW,
        "Anna's iPhone",
        "ios",
        "ios-device-enrollment",
    )
    assert (d["manufacturer"], d["model"], d["os_version"], d["build"]) == (
        "Apple",
        "iPhone 14 Pro",
        "17.5.1",
        "21F90",
    )
    assert d["app_count"] == 16
    apps = {a["identifier"]: a for a in d["apps"]}
    assert apps["com.contoso.fieldservice"]["install_source"] == "sideloaded"
    assert apps["com.apple.mobilesafari"]["install_source"] == "system"
    integrity = {s["name"]: s["value"] for s in d["signals"]["integrity"]}
    assert integrity == {"developer_mode": "false"}

    # Later: report again without enrolling.
    again = collect("--udid", CLEAN_UDID, "--report", "--state-dir", str(state_dir))
    assert again.exit_code == 0, again.output
    assert "✔ reported" in again.stdout

    # Another device cannot report into this device's enrollment.
    other = collect("--udid", JB_UDID, "--report", "--state-dir", str(state_dir))
    assert "is not the device enrolled" in one_line_error(other, 1)

    # Enrolling again into the same folder needs --force.
    twice = collect(
        "--udid",
        CLEAN_UDID,
        "--enroll",
        "--server",
        server.url,
        "--token",
        "omt_onb_whatever",
        "--scenario",
        "ios-device-enrollment",
        "--yes",
        "--state-dir",
        str(state_dir),
    )
    assert "--force" in one_line_error(twice, 1)


def test_a_jailbroken_phone_reports_its_jailbreak_apps(
    server: ServerThread, api: Api, tmp_path: Path, attach: Any
) -> None:
    attach("jailbroken")
    result = collect(
        "--enroll",
        "--server",
        server.url,
        "--token",
        api.onboarding_token(),
        "--scenario",
        "ios-supervised",
        "--report",
        "--yes",
        "--state-dir",
        str(tmp_path / "state"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["facts"]["scenario"] == "ios-supervised"
    device_id = doc["enrollment"]["device_id"]
    d = api.client.get(f"/api/devices/{device_id}", headers=api.headers()).json()
    apps = {a["identifier"]: a["install_source"] for a in d["apps"]}
    assert apps["org.coolstar.SileoStore"] == "sideloaded"
    assert doc["report"]["risk_level"] != "Secured"
