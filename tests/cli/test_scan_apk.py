"""`openmtd scan-apk` on real APKs (tests/apkbuild.py): table, --json, rules, exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from apkbuild import Component, build_apk, debug_signer, make_signer, minimal_dex
from openmtd.cli.main import app

runner = CliRunner()
P = "android.permission."


def run(*args: str, code: int = 0) -> Any:
    # A wide terminal, so that table cells are not folded mid-word.
    result = runner.invoke(app, ["scan-apk", *args], env={"COLUMNS": "400"})
    assert result.exit_code == code, result.output
    return result


def benign(folder: Path) -> Path:
    return build_apk(
        folder,
        package="com.example.notes",
        version_name="2.1",
        version_code=21,
        permissions=[P + "INTERNET", P + "CAMERA"],
        dex=minimal_dex(["Lcom/example/notes/Main;"]),
        signer=make_signer("Example Notes"),
    )


def trojan(folder: Path) -> Path:
    return build_apk(
        folder,
        package="com.flash.light",
        permissions=[P + "SYSTEM_ALERT_WINDOW", P + "RECEIVE_SMS", P + "RECEIVE_BOOT_COMPLETED"],
        services=[Component(".Svc", exported=True, permission=P + "BIND_ACCESSIBILITY_SERVICE")],
        receivers=[
            Component(".Boot", exported=True, actions=("android.intent.action.BOOT_COMPLETED",))
        ],
        launcher=False,
        dex=minimal_dex(
            [
                "android.provider.Telephony.SMS_RECEIVED",
                "getMessageBody",
                "https://api.telegram.org/bot42:XYZ/sendMessage",
            ]
        ),
    )


def stalker(folder: Path) -> Path:
    return build_apk(
        folder,
        package="com.system.syncservice",
        permissions=[
            P + "ACCESS_FINE_LOCATION",
            P + "RECORD_AUDIO",
            P + "READ_CALL_LOG",
            P + "READ_CONTACTS",
            P + "RECEIVE_BOOT_COMPLETED",
        ],
        receivers=[
            Component(".OnBoot", exported=True, actions=("android.intent.action.BOOT_COMPLETED",))
        ],
        launcher=False,
    )


def test_benign_app_table_and_exit_0(tmp_path: Path) -> None:
    apk = benign(tmp_path)
    out = run(str(apk)).stdout
    for text in ("com.example.notes", "2.1 (21)", "Example Notes", "clean"):
        assert text in out
    assert "1 clean" in out


def test_trojan_is_malicious_exit_3_and_explains(tmp_path: Path) -> None:
    result = run(str(trojan(tmp_path)), "--json", code=3)
    [doc] = json.loads(result.stdout)
    assert doc["verdict"] == "malicious" and doc["error"] is None
    ids = [f["id"] for f in doc["factors"]]
    assert ids == [
        "perm.accessibility-overlay-sms",
        "manifest.hidden-launcher",
        "yara.builtin.banker.android_sms_intercept_exfil",
    ]
    sms_rule = doc["factors"][2]
    assert "Telegram bot" in sms_rule["explanation"] and "in classes.dex" in sms_rule["explanation"]
    assert doc["facts"]["package"] == "com.flash.light"
    assert doc["facts"]["has_launcher"] is False
    # Without the built-in rules only the manifest speaks: still malicious (55 + 20).
    plain = json.loads(run(str(trojan(tmp_path)), "--json", "--no-builtin-rules", code=3).stdout)
    assert [f["id"] for f in plain[0]["factors"]] == ids[:2]
    table = run(str(trojan(tmp_path)), code=3).stdout
    assert "malicious" in table and "Banking-trojan pattern" in table


def test_stalkerware_is_unwanted_exit_4(tmp_path: Path) -> None:
    [doc] = json.loads(run(str(stalker(tmp_path)), "--json", code=4).stdout)
    assert doc["verdict"] == "potentially unwanted"
    assert [f["id"] for f in doc["factors"]] == [
        "perm.stalkerware-set",
        "manifest.hidden-launcher",
    ]
    assert "microphone, call log, contacts" in doc["factors"][0]["explanation"]


def test_debug_signed_app(tmp_path: Path) -> None:
    apk = build_apk(tmp_path, package="com.example.dev", signer=debug_signer())
    [doc] = json.loads(run(str(apk), "--json").stdout)
    assert doc["verdict"] == "clean"
    [factor] = doc["factors"]
    assert factor["id"] == "signer.debug" and "CN=Android Debug" in factor["explanation"]
    assert doc["facts"]["signers"][0]["debug"] is True
    assert "Android Debug" in run(str(apk)).stdout


def test_hostile_file_is_unparseable_exit_5(tmp_path: Path) -> None:
    bad = tmp_path / "invoice.apk"
    bad.write_bytes(b"PK\x03\x04" + b"\xff" * 300)
    [doc] = json.loads(run(str(bad), "--json", code=5).stdout)
    assert doc["verdict"] == "unparseable" and "ZIP" in doc["problem"]
    assert doc["facts"] is None
    assert "unparseable" in run(str(bad), code=5).stdout


def test_folder_scan_covers_every_apk_and_worst_verdict_wins(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    (folder / "nested").mkdir(parents=True)
    benign(folder)
    stalker(folder / "nested")
    (folder / "broken.APK").write_bytes(b"not a zip at all")
    (folder / "readme.txt").write_text("not scanned")
    result = run(str(folder), "--json", code=4)
    docs = json.loads(result.stdout)
    names = sorted(Path(d["path"]).name.split("-")[0] for d in docs)
    assert names == ["broken.APK", "com.example.notes", "com.system.syncservice"]
    assert sorted(d["verdict"] for d in docs) == ["clean", "potentially unwanted", "unparseable"]
    # Adding a malicious APK makes the worst verdict, and the exit status, malicious.
    trojan(folder)
    assert len(json.loads(run(str(folder), "--json", code=3).stdout)) == 4


def test_missing_file_is_an_error_row_and_the_rest_is_scanned(tmp_path: Path) -> None:
    apk = benign(tmp_path)
    result = run(str(tmp_path / "gone.apk"), str(apk), "--json", code=1)
    docs = json.loads(result.stdout)
    assert docs[0]["error"] == "no such file or folder" and docs[0]["verdict"] is None
    assert docs[1]["verdict"] == "clean"
    table = run(str(tmp_path / "gone.apk"), str(apk), code=1).stdout
    assert "unreadable" in table and "no such file or folder" in table


def test_empty_folder_fails(tmp_path: Path) -> None:
    result = run(str(tmp_path), code=1)
    assert "no .apk files" in result.stderr


ADMIN_RULE = """
rule notes_marker {
    meta:
        description = "Our marker in the notes app"
        weight = 45
        severity = "high"
    strings:
        $a = "Lcom/example/notes/Main;"
    condition:
        $a
}
"""


def test_admin_rules_folder(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "ours.yar").write_text(ADMIN_RULE)
    (rules / "ignored.txt").write_text("rule x {")
    apk = benign(tmp_path)
    [doc] = json.loads(run(str(apk), "--rules", str(rules), "--json", code=4).stdout)
    [factor] = doc["factors"]
    assert factor["id"] == "yara.admin.ours.notes_marker"
    assert factor["explanation"] == (
        "Our marker in the notes app (YARA rule admin.ours.notes_marker, in classes.dex)."
    )
    assert factor["severity"] == "high" and doc["confidence"] == "high"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("rule broken {\n condition:\n}\n", "'admin.bad'"),
        ("rule r { condition: true }\xff", "not UTF-8"),
    ],
)
def test_bad_admin_rules_fail_with_the_file(tmp_path: Path, content: str, message: str) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yara").write_bytes(content.encode("latin-1"))
    result = run(str(benign(tmp_path)), "--rules", str(rules), code=1)
    assert message in result.stderr and result.stdout == ""


def test_rules_option_needs_a_folder(tmp_path: Path) -> None:
    result = run(str(benign(tmp_path)), "--rules", str(tmp_path / "nope"), code=1)
    assert "not a folder" in result.stderr


def test_help_documents_the_exit_status() -> None:
    text = " ".join(run("--help").stdout.split())
    for line in ("0: every APK is clean", "3: an APK is malicious", "5: an APK could not"):
        assert line in text
