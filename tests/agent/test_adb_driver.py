"""The adb driver against a fake adb binary that replays the fixtures (a real subprocess)."""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from openmtd.agent.collectors.adb import HASH_BATCH, Adb, AdbError, collect
from openmtd.domain.device import IntegritySignal
from openmtd.domain.enums import EnrollmentScenario, InstallSource

FIXTURES = Path(__file__).parent / "fixtures" / "adb"
PIXEL_SERIAL, SAMSUNG_SERIAL = "37281FDJH00B1X", "R5CW30ABCDE"


def pixel(state: str = "device") -> dict[str, Any]:
    return {
        "serial": PIXEL_SERIAL,
        "state": state,
        "extra": "usb:1-1.2 product:husky model:Pixel_8_Pro device:husky transport_id:3",
        "fixtures": str(FIXTURES / "pixel8pro-android14"),
    }


def samsung(state: str = "device") -> dict[str, Any]:
    return {
        "serial": SAMSUNG_SERIAL,
        "state": state,
        "extra": "usb:1-1.4 product:dm3qxxx model:SM_S918B device:dm3q transport_id:4",
        "fixtures": str(FIXTURES / "galaxy-s23ultra-android13"),
    }


def install_fake_adb(
    folder: Path,
    devices: list[dict[str, Any]],
    *,
    sleep: dict[str, float] | None = None,
    apks: dict[str, str] | None = None,
) -> Path:
    """Write the fake adb (with this interpreter in its shebang) and its config into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "adb"
    body = (FIXTURES / "fake_adb.py").read_text().split("\n", 1)[1]
    exe.write_text(f"#!{sys.executable}\n{body}")
    exe.chmod(0o755)
    config = {
        "devices": devices,
        "log": str(folder / "calls.jsonl"),
        "sleep": sleep or {},
        "apks": apks or {},
    }
    (folder / "adb.json").write_text(json.dumps(config))
    return exe


def calls(exe: Path) -> list[list[str]]:
    log = exe.with_name("calls.jsonl")
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_collect_a_pixel(tmp_path: Path) -> None:
    exe = install_fake_adb(tmp_path, [pixel()])
    c = collect(Adb(str(exe)))
    assert c.serial == PIXEL_SERIAL
    assert c.hardware_id == "589285a1d008a1836576c0738b8bd4ed"
    assert c.name == "Pixel 8 Pro"
    f = c.facts
    assert (f.manufacturer, f.model, f.os_version, f.build) == (
        "Google",
        "Pixel 8 Pro",
        "14",
        "AP2A.240805.005",
    )
    assert f.security_patch_level == date(2024, 8, 5)
    assert f.scenario is EnrollmentScenario.ANDROID_COBO
    assert len(f.apps) == 12
    assert c.sources() == {
        "store": 3,
        "managed": 1,
        "sideloaded": 3,
        "system": 5,
        "unknown": 0,
    }
    whatsapp = next(a for a in f.apps if a.identifier == "com.whatsapp")
    assert (
        whatsapp.sha256
        == hashlib.sha256(
            b"openmtd fake apk: /data/app/~~pLr8ZQ0aWm3cVb6Nf2TjKg==/"
            b"com.whatsapp-5HkYc0oQ9rXw1LmD3sBv8A==/base.apk"
        ).hexdigest()
    )
    assert sum(a.sha256 is not None for a in f.apps) == 11
    assert IntegritySignal("selinux", "enforcing") in c.integrity_signals
    assert IntegritySignal("package_verifier", "unset") in c.integrity_signals
    assert c.warnings == ("1 APK(s) could not be hashed on the phone (removed meanwhile?)",)
    assert c.pulled == {}

    made = calls(exe)
    assert made[0] == ["devices", "-l"]
    assert all(call[:3] == ["-s", PIXEL_SERIAL, "shell"] for call in made[1:])
    commands = [call[3:] for call in made[1:]]
    assert commands[:2] == [["getprop"], ["getenforce"]]
    assert ["settings", "get", "global", "package_verifier_enable"] in commands
    assert ["settings", "get", "secure", "install_non_market_apps"] in commands
    assert ["pm", "list", "packages", "-f", "-U", "-i", "--show-versioncode"] in commands
    assert ["dumpsys", "package", "packages"] in commands
    (hashing,) = [c for c in commands if c[0] == "sha256sum"]
    assert len(hashing) == 1 + 12 <= 1 + HASH_BATCH
    # Paths go quoted: the phone's shell splits the joined words again.
    assert (
        "'/data/app/~~pLr8ZQ0aWm3cVb6Nf2TjKg==/com.whatsapp-5HkYc0oQ9rXw1LmD3sBv8A==/base.apk'"
        in (hashing)
    )


def test_no_hash_and_pull(tmp_path: Path) -> None:
    exe = install_fake_adb(tmp_path / "bin", [pixel(), samsung()])
    folder = tmp_path / "apks"
    seen: list[tuple[str, int, int]] = []
    c = collect(
        Adb(str(exe), serial=SAMSUNG_SERIAL),
        pull_apks_to=folder,
        hash_apks=False,
        progress=lambda task, done, total: seen.append((task, done, total)),
    )
    assert c.facts.model == "SM-S918B"
    assert not any(call[3:4] == ["sha256sum"] for call in calls(exe))
    # Only what the user installed is pulled: not the system apps, nor their updates.
    assert sorted(c.pulled) == [
        "com.amazon.mShop.android.shopping",
        "com.example.moddedgame",
        "com.samsung.android.app.notes",
        "com.spotify.music",
        "com.topjohnwu.magisk",
    ]
    magisk = c.pulled["com.topjohnwu.magisk"]
    assert magisk == folder / "com.topjohnwu.magisk-27000.apk"
    by_id = {a.identifier: a for a in c.apps}
    assert by_id["com.topjohnwu.magisk"].sha256 == hashlib.sha256(magisk.read_bytes()).hexdigest()
    assert by_id["com.sec.android.app.launcher"].sha256 is None  # not hashed, not pulled
    assert c.apk_files() == {by_id[name].sha256: path for name, path in c.pulled.items()}
    pulls = [call for call in calls(exe) if call[2:3] == ["pull"]]
    assert pulls[0][:2] == ["-s", SAMSUNG_SERIAL] and len(pulls) == 5
    assert seen == [("pull", n, 5) for n in range(1, 6)]
    # The fake APKs are no ZIP files: each one says so, and the collection goes on.
    assert all(by_id[name].signer_sha256 is None for name in c.pulled)
    assert sum("no signer read from the pulled APK" in w for w in c.warnings) == 5


def test_hash_and_pull_agree(tmp_path: Path) -> None:
    exe = install_fake_adb(tmp_path / "bin", [pixel()])
    seen: list[str] = []
    c = collect(
        Adb(str(exe)),
        pull_apks_to=tmp_path / "apks",
        progress=lambda task, done, total: seen.append(task),
    )
    assert seen == ["hash"] + ["pull"] * 7
    assert not any("differs" in w for w in c.warnings)
    # The app that was gone for sha256sum still comes with the hash of its pulled copy.
    debug = next(a for a in c.apps if a.identifier == "com.example.debugtool")
    assert debug.install_source is InstallSource.SIDELOADED and debug.sha256 is not None


def test_signer_of_a_pulled_apk(tmp_path: Path) -> None:
    from apkbuild import build_apk, make_signer, require_apk_tools

    require_apk_tools()
    signer = make_signer("Telegram FZ-LLC")
    apk = build_apk(
        tmp_path, package="org.telegram.messenger.web", version_code=48501, signer=signer
    )
    remote = (
        "/data/app/~~0Tn5bXz1QcW8vRm2LpY4kA==/"
        "org.telegram.messenger.web-Jd7sPq3Fw9Kx0nVb6hZm2Q==/base.apk"
    )
    exe = install_fake_adb(tmp_path / "bin", [pixel()], apks={remote: str(apk)})
    c = collect(Adb(str(exe)), pull_apks_to=tmp_path / "apks")
    telegram = next(a for a in c.apps if a.identifier == "org.telegram.messenger.web")
    assert telegram.signer_sha256 == signer.sha256
    assert telegram.signer_sha1 == hashlib.sha1(signer.cert_der).hexdigest()
    assert telegram.sha256 == hashlib.sha256(apk.read_bytes()).hexdigest()
    assert not any("differs" in w or "org.telegram" in w for w in c.warnings)
    assert c.apk_files()[telegram.sha256] == tmp_path / "apks" / (
        "org.telegram.messenger.web-48501.apk"
    )


@pytest.mark.parametrize(
    ("devices", "serial", "reason"),
    [
        ([], None, "no Android phone found: connect it by USB, enable USB debugging"),
        (
            [pixel("unauthorized")],
            None,
            "the phone has not authorized this computer: unlock it and accept the "
            "'Allow USB debugging?' prompt",
        ),
        ([pixel("offline")], None, "the phone is offline to adb"),
        (
            [pixel(), samsung()],
            None,
            "several phones are connected (37281FDJH00B1X (Pixel 8 Pro), R5CW30ABCDE (SM S918B))"
            ": choose one with --serial",
        ),
        (
            [pixel()],
            "NOPE",
            "no phone with serial NOPE is connected (connected: 37281FDJH00B1X)",
        ),
        ([pixel(), samsung("unauthorized")], SAMSUNG_SERIAL, "has not authorized this computer"),
    ],
    ids=["none", "unauthorized", "offline", "several", "unknown-serial", "chosen-unauthorized"],
)
def test_device_problems_are_one_line(
    tmp_path: Path, devices: list[dict[str, Any]], serial: str | None, reason: str
) -> None:
    exe = install_fake_adb(tmp_path, devices)
    with pytest.raises(AdbError) as e:
        collect(Adb(str(exe), serial=serial))
    message = str(e.value)
    assert reason in message and "\n" not in message
    assert calls(exe) == [["devices", "-l"]]  # nothing runs on a phone that is not ready


def test_adb_answers_are_translated(tmp_path: Path) -> None:
    exe = install_fake_adb(tmp_path, [pixel(), samsung("unauthorized")])
    with pytest.raises(AdbError, match="^several phones are connected: choose one with --serial$"):
        Adb(str(exe)).shell("getprop")
    with pytest.raises(AdbError, match="^no phone with serial NOPE is connected"):
        Adb(str(exe), serial="NOPE").shell("getprop")
    with pytest.raises(AdbError, match="^the phone has not authorized this computer"):
        Adb(str(exe), serial=SAMSUNG_SERIAL).shell("getprop")
    with pytest.raises(AdbError) as e:
        Adb(str(exe), serial=PIXEL_SERIAL).shell("frobnicate", "--now")
    assert str(e.value) == (
        f"`adb -s {PIXEL_SERIAL} shell frobnicate --now` failed (exit 127): "
        "/system/bin/sh: frobnicate: inaccessible or not found"
    )
    empty = install_fake_adb(tmp_path / "empty", [])
    with pytest.raises(AdbError, match="^no Android phone found"):
        Adb(str(empty)).shell("getprop")


def test_adb_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AdbError) as e:
        collect(Adb(str(tmp_path / "nowhere" / "adb")))
    assert str(e.value) == (
        f"adb not found at {tmp_path}/nowhere/adb: install it with `sudo apt-get install adb` "
        "or give its path with --adb"
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AdbError, match=r"^`adb` is not on PATH: install it with `sudo apt-get"):
        collect(Adb("adb"))
    not_executable = tmp_path / "adb"
    not_executable.write_text("#!/bin/sh\n")
    with pytest.raises(AdbError, match="permission denied"):
        collect(Adb(str(not_executable)))


def test_found_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_adb(tmp_path, [pixel()])
    monkeypatch.setenv("PATH", str(tmp_path))
    assert Adb().select() == PIXEL_SERIAL


def test_timeout(tmp_path: Path) -> None:
    exe = install_fake_adb(tmp_path, [pixel()], sleep={"getprop": 5})
    with pytest.raises(AdbError) as e:
        collect(Adb(str(exe), timeout=0.5))
    assert str(e.value) == (
        f"`adb -s {PIXEL_SERIAL} shell getprop` did not finish within 0.5 s; is the phone "
        "still connected and unlocked?"
    )


def test_a_failing_dumpsys_only_warns(tmp_path: Path) -> None:
    folder = tmp_path / "phone"
    source = FIXTURES / "pixel8pro-android14"
    folder.mkdir()
    for item in source.iterdir():
        if item.name != "dumpsys_package.txt":
            (folder / item.name).write_bytes(item.read_bytes())
    device = {**pixel(), "fixtures": str(folder)}
    exe = install_fake_adb(tmp_path / "bin", [device])
    c = collect(Adb(str(exe)), hash_apks=False)
    assert any(w.startswith("`dumpsys package packages` failed:") for w in c.warnings)
    # Without dumpsys: versionCodes instead of names, system apps by their path only.
    by_id = {a.identifier: a for a in c.apps}
    assert by_id["com.whatsapp"].version == "242118006"
    assert by_id["com.android.shell"].install_source is InstallSource.SYSTEM
    assert by_id["com.google.android.youtube"].install_source is InstallSource.STORE
