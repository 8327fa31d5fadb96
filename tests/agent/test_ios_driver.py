"""The iOS driver with a fake opener replaying the fixtures, and pymobiledevice3 for real
where it can run without a device (no usbmuxd on this machine)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conftest import missing
from openmtd.agent.collectors import ios, ios_parse
from openmtd.agent.collectors.ios import (
    INSTALL_HINT,
    IosCollectError,
    IosProblem,
    Problem,
    collect_ios,
)
from openmtd.domain.device import IntegritySignal
from openmtd.domain.enums import EnrollmentScenario

FIXTURES = Path(__file__).parent / "fixtures" / "ios"
CLEAN_UDID, JB_UDID = "00008120-001A2B3C4D5E6F01", "00008101-000C3D5E7F901234"


def load_fake_ios() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fake_ios", FIXTURES / "fake_ios.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fake_ios", module)
    spec.loader.exec_module(module)
    return module


fake = load_fake_ios()


def clean(connection: str = "USB") -> Any:
    return fake.FakeDevice(CLEAN_UDID, FIXTURES / "iphone14pro-ios17", connection)


def jailbroken() -> Any:
    return fake.FakeDevice(JB_UDID, FIXTURES / "iphone12-ios16-jailbroken")


def test_collect_the_clean_phone() -> None:
    opener = fake.FakeOpener([clean()])
    c = collect_ios(opener=opener)
    assert c.udid == CLEAN_UDID and c.name == "Anna's iPhone"
    assert (c.product_type, c.device_class) == ("iPhone15,2", "iPhone")
    assert c.hardware_id == "ca654372eb66962adbdb02af30966b18"
    assert c.facts.scenario is EnrollmentScenario.IOS_DEVICE_ENROLLMENT
    assert (c.facts.model, c.facts.os_version) == ("iPhone 14 Pro", "17.5.1")
    assert c.sources() == {"store": 9, "managed": 0, "sideloaded": 2, "system": 5, "unknown": 0}
    assert c.integrity_signals == (IntegritySignal("developer_mode", "false"),)
    assert c.profiles_read and len(c.profiles) == 3
    (root,) = c.root_certificates
    assert "Contoso TLS Inspection Root CA" in root.subject
    assert c.warnings == ()
    assert opener.calls == [
        "devices", "open", "values", "apps", "profiles", "close-session", "close-opener"
    ]  # fmt: skip
    doc = c.to_json()
    assert doc["device"]["udid"] == CLEAN_UDID
    assert doc["root_certificates"][0]["sha256"] == root.sha256
    assert doc["profiles"][0]["mdm"] is True


def test_the_hardware_id_never_shows_the_udid() -> None:
    c = collect_ios(opener=fake.FakeOpener([clean()]))
    assert CLEAN_UDID.replace("-", "").lower() not in c.hardware_id
    assert c.hardware_id == ios_parse.hardware_id({"UniqueDeviceID": CLEAN_UDID})


def test_choose_by_udid_and_skip_profiles() -> None:
    opener = fake.FakeOpener([clean(), jailbroken()])
    # usbmuxd may list the UDID without its dash: the choice still matches.
    c = collect_ios(opener=opener, udid=JB_UDID.replace("-", ""), pull_profiles=False)
    assert c.udid == JB_UDID and c.facts.model == "iPhone 12"
    assert "profiles" not in opener.calls
    assert not c.profiles_read and c.to_json()["profiles"] is None
    assert c.integrity_signals == (IntegritySignal("developer_mode", "true"),)
    assert c.sources()["sideloaded"] == 3


def test_network_entries_of_the_same_device_do_not_count_twice() -> None:
    c = collect_ios(opener=fake.FakeOpener([clean("Network"), clean()]))
    assert c.udid == CLEAN_UDID


@pytest.mark.parametrize(
    ("devices", "udid", "fail", "reason"),
    [
        ([], None, {}, "no iPhone or iPad found on USB"),
        ([clean("Network")], None, {}, "no iPhone or iPad found on USB"),
        (
            [clean(), jailbroken()],
            None,
            {},
            f"several iOS devices are connected ({CLEAN_UDID}, {JB_UDID}): choose one with --udid",
        ),
        ([clean()], "0000-NOPE", {}, f"no iOS device with UDID 0000-NOPE is connected by USB "
                                      f"(connected: {CLEAN_UDID})"),
        ([clean()], None, {"devices": IosProblem(Problem.USBMUXD_DOWN)}, "usbmuxd is not running"),
        ([clean()], None, {"open": IosProblem(Problem.LOCKED)}, "the device is locked"),
        ([clean()], None, {"open": IosProblem(Problem.PAIRING_PENDING)}, "tap 'Trust'"),
        ([clean()], None, {"open": IosProblem(Problem.PAIRING_DENIED)}, "refused to trust"),
        ([clean()], None, {"open": IosProblem(Problem.PAIRING_INVALID)}, "pairing record"),
        ([clean()], None, {"values": IosProblem(Problem.WRONG_MODE)}, "recovery or DFU"),
        (
            [clean()],
            None,
            {"apps": IosProblem(Problem.CONNECTION_LOST, "Broken pipe\nmore")},
            "the connection to the device was lost: check the cable and retry (listing apps): "
            "Broken pipe",
        ),
    ],
    ids=[
        "none", "network-only", "several", "unknown-udid", "usbmuxd", "locked", "pending",
        "denied", "invalid", "wrong-mode", "lost",
    ],
)  # fmt: skip
def test_problems_are_one_line(
    devices: list[Any], udid: str | None, fail: dict[str, BaseException], reason: str
) -> None:
    opener = fake.FakeOpener(devices, fail=fail)
    with pytest.raises(IosCollectError) as e:
        collect_ios(opener=opener, udid=udid)
    message = str(e.value)
    assert reason in message and "\n" not in message
    assert opener.closed  # the opener is closed whatever happened
    if "open" in opener.calls and "open" not in fail:
        assert "close-session" in opener.calls


def test_timeout_of_a_step() -> None:
    opener = fake.FakeOpener([clean()], sleep={"apps": 10.0})
    started = time.monotonic()
    with pytest.raises(IosCollectError) as e:
        collect_ios(opener=opener, timeout=0.3)
    assert time.monotonic() - started < 5
    assert str(e.value) == (
        "the device did not answer within 0.3 s (listing apps); is it still connected and unlocked?"
    )


def test_pairing_may_wait_twice_the_timeout() -> None:
    opener = fake.FakeOpener([clean()], sleep={"open": 0.5})
    assert collect_ios(opener=opener, timeout=0.4).udid == CLEAN_UDID
    slow = fake.FakeOpener([clean()], sleep={"open": 10.0})
    with pytest.raises(IosCollectError, match=r"within 0\.8 s \(opening a session\)"):
        collect_ios(opener=slow, timeout=0.4)


def test_profiles_refused_or_slow_only_warn() -> None:
    refused = fake.FakeOpener(
        [clean()], fail={"profiles": IosProblem(Problem.REFUSED, "MCProtected")}
    )
    c = collect_ios(opener=refused)
    assert not c.profiles_read and len(c.apps) == 16
    assert c.warnings == (
        "configuration profiles not read: the device refused the request (listing "
        "configuration profiles): MCProtected",
    )
    slow = fake.FakeOpener([clean()], sleep={"profiles": 10.0})
    c = collect_ios(opener=slow, timeout=0.3)
    assert c.warnings[0].startswith("configuration profiles not read: the device did not answer")


def test_odd_answers_warn_or_fail() -> None:
    answers = {
        "apps": [{"CFBundleIdentifier": "com.example.a"}, {"nope": 1}],
        "profiles": {
            "ProfileMetadata": {
                "p": {"PayloadContent": [
                    {"PayloadType": "com.apple.security.root", "PayloadContent": b"junk"}
                ]},
                3: {},
            }
        },
    }  # fmt: skip
    c = collect_ios(opener=fake.FakeOpener([clean()], answers=answers))
    assert c.warnings[0] == "installation_proxy: 1 app entry(ies) skipped"
    assert c.warnings[1] == "profile list: 1 entry(ies) skipped"
    assert c.warnings[2].startswith(
        "profile p: a com.apple.security.root certificate could not be read (unparseable"
    )
    assert c.to_json()["root_certificates"][0]["problem"].startswith("unparseable certificate")
    empty = fake.FakeOpener([clean()], answers={"values": {}})
    with pytest.raises(IosCollectError, match="no lockdown values"):
        collect_ios(opener=empty)
    assert "close-session" in empty.calls


def test_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymobiledevice3", None)  # import fails
    monkeypatch.setitem(sys.modules, "pymobiledevice3.lockdown", None)
    with pytest.raises(IosCollectError) as e:
        collect_ios()
    assert (
        str(e.value)
        == INSTALL_HINT
        == ("pymobiledevice3 is not installed: pip install 'openmtd[ios]'")
    )


# --- pymobiledevice3 itself ------------------------------------------------------------------


@pytest.fixture
def pmd3() -> None:
    if importlib.util.find_spec("pymobiledevice3") is None:
        missing("pymobiledevice3", "install it with: pip install 'openmtd[ios]'")


@pytest.mark.usefixtures("pmd3")
def test_the_real_opener_without_usbmuxd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No usbmuxd listens on this socket: pymobiledevice3 really tries, and says so.
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", str(tmp_path / "usbmuxd"))
    with pytest.raises(IosCollectError) as e:
        collect_ios(timeout=10)
    assert str(e.value).startswith("usbmuxd is not running")


@pytest.mark.usefixtures("pmd3")
def test_the_real_opener_with_a_usbmuxd_that_lists_nothing(tmp_path: Path) -> None:
    """A minimal plist-protocol usbmuxd on a Unix socket that knows no device: the real
    pymobiledevice3 client lists it as empty, and the driver says no device is connected."""
    import plistlib
    import socket
    import struct
    import threading

    path = tmp_path / "usbmuxd"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            while True:
                header = conn.recv(16, socket.MSG_WAITALL)
                if len(header) < 16:
                    return
                length, version, _message, tag = struct.unpack("<IIII", header)
                body = plistlib.loads(conn.recv(length - 16, socket.MSG_WAITALL))
                kind = body.get("MessageType")
                if kind == "ReadBUID":
                    reply: dict[str, Any] = {"BUID": "00000000-0000-0000-0000-000000000000"}
                elif kind == "ListDevices":
                    reply = {"DeviceList": []}
                else:
                    reply = {"MessageType": "Result", "Number": 0}
                data = plistlib.dumps(reply)
                conn.sendall(struct.pack("<IIII", 16 + len(data), 1, 8, tag) + data)

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        opener = ios.Pmd3Opener(usbmux_address=str(path))
        with pytest.raises(IosCollectError) as e:
            collect_ios(opener=opener, timeout=10)
        assert str(e.value).startswith("no iPhone or iPad found on USB")
    finally:
        stop.set()
        thread.join(2)
        server.close()


@pytest.mark.usefixtures("pmd3")
def test_pymobiledevice3_errors_are_translated() -> None:
    x = importlib.import_module("pymobiledevice3.exceptions")
    cases = {
        x.ConnectionFailedToUsbmuxdError(): Problem.USBMUXD_DOWN,
        x.NoDeviceConnectedError(): Problem.NO_DEVICE,
        x.DeviceNotFoundError("abc"): Problem.NO_DEVICE,
        x.PasswordRequiredError(): Problem.LOCKED,
        x.PairingDialogResponsePendingError(): Problem.PAIRING_PENDING,
        x.UserDeniedPairingError(): Problem.PAIRING_DENIED,
        x.FatalPairingError(): Problem.PAIRING_INVALID,
        x.NotPairedError(): Problem.PAIRING_INVALID,
        x.IncorrectModeError(): Problem.WRONG_MODE,
        x.ConnectionTerminatedError(): Problem.CONNECTION_LOST,
        ConnectionResetError(104, "Connection reset by peer"): Problem.CONNECTION_LOST,
        x.StartServiceError("com.apple.mobile.MCInstall", "ServiceProhibited"): Problem.REFUSED,
        ValueError("odd"): Problem.OTHER,
    }
    for error, problem in cases.items():
        assert ios._problem(error).problem is problem, error
    assert ios._problem(ValueError("odd")).detail == "ValueError: odd"
