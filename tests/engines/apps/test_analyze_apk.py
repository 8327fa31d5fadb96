"""analyze_apk on real APKs built with aapt and signed with apksigner (tests/apkbuild.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apkbuild import Component, build_apk, debug_signer, make_signer, minimal_dex, pad_bytes
from openmtd.domain.apps import AppVerdictKind, ScanLimits
from openmtd.engines.apps.analyze import analyze_apk
from openmtd.engines.apps.yara_scan import Rules, builtin_rule_sources, compile_rules

P = "android.permission."
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)
BANKER_DEX = [
    "Lcom/flash/light/Svc;",
    "getRootInActiveWindow",
    "performGlobalAction",
    "Landroid/view/accessibility/AccessibilityNodeInfo;",
    "android.settings.action.MANAGE_OVERLAY_PERMISSION",
    "inject_list",
    "android.provider.Telephony.SMS_RECEIVED",
    "getMessageBody",
    "http://panel.invalid/gate.php",
]
ORDINARY_DEX = [
    "Lcom/example/notes/MainActivity;",
    "Landroid/app/Activity;",
    "Landroid/hardware/camera2/CameraManager;",
    "https://notes.example.com/api",
]


@pytest.fixture(scope="module")
def rules() -> Rules:
    return compile_rules(builtin_rule_sources())


def banker(tmp: Path) -> Path:
    return build_apk(
        tmp,
        package="com.flash.light",
        permissions=[
            P + "INTERNET",
            P + "SYSTEM_ALERT_WINDOW",
            P + "RECEIVE_SMS",
            P + "READ_SMS",
            P + "RECEIVE_BOOT_COMPLETED",
        ],
        services=[
            Component(
                ".Svc",
                exported=True,
                permission=P + "BIND_ACCESSIBILITY_SERVICE",
                actions=("android.accessibilityservice.AccessibilityService",),
            )
        ],
        receivers=[
            Component(".Boot", exported=True, actions=("android.intent.action.BOOT_COMPLETED",)),
            Component(
                ".Admin",
                exported=True,
                permission=P + "BIND_DEVICE_ADMIN",
                actions=("android.app.action.DEVICE_ADMIN_ENABLED",),
            ),
        ],
        launcher=False,
        dex=minimal_dex(BANKER_DEX),
        native_libs={
            "lib/arm64-v8a/libhelper.so": ELF + b"towelroot\0/system/xbin/su\0" + pad_bytes(4096)
        },
    )


def test_ordinary_app_is_clean_with_its_facts(tmp_path: Path, rules: Rules) -> None:
    apk = build_apk(
        tmp_path,
        package="com.example.notes",
        permissions=[P + "INTERNET", P + "CAMERA"],
        dex=minimal_dex(ORDINARY_DEX),
        native_libs={"lib/arm64-v8a/libnotes.so": ELF + pad_bytes(10_000)},
        signer=make_signer("Example Notes"),
    )
    notes: list[str] = []
    v = analyze_apk(apk.read_bytes(), rules=rules, notes=notes)
    assert v.verdict is AppVerdictKind.CLEAN, v.reasons
    assert v.score == 0 and v.factors == () and notes == []
    assert v.facts is not None
    assert v.facts.package == "com.example.notes"
    assert v.facts.dex_files == ("classes.dex",)
    assert v.facts.native_libraries == ("lib/arm64-v8a/libnotes.so",)
    assert "CN=Example Notes" in v.facts.signers[0].subject


def test_banking_trojan_is_malicious_and_says_why(tmp_path: Path, rules: Rules) -> None:
    v = analyze_apk(banker(tmp_path).read_bytes(), rules=rules)
    assert v.verdict is AppVerdictKind.MALICIOUS
    assert v.score == 100 and v.confidence == "high"
    by_id = {f.id: f.explanation for f in v.factors}
    assert list(by_id) == [
        "perm.accessibility-overlay-sms",
        "component.device-admin",
        "manifest.hidden-launcher",
        "yara.builtin.banker.android_accessibility_overlay_injects",
        "yara.builtin.banker.android_sms_intercept_exfil",
        "yara.builtin.native.android_native_root_exploit",
    ]
    triad = by_id["perm.accessibility-overlay-sms"]
    assert "com.flash.light.Svc" in triad and "SYSTEM_ALERT_WINDOW" in triad
    assert "RECEIVE_SMS, READ_SMS" in triad
    assert "com.flash.light.Admin" in by_id["component.device-admin"]
    hidden = by_id["manifest.hidden-launcher"]
    assert "com.flash.light.Boot" in hidden and "started at boot" in hidden
    assert "in classes.dex)" in by_id["yara.builtin.banker.android_sms_intercept_exfil"]
    assert (
        "in lib/arm64-v8a/libhelper.so)"
        in (by_id["yara.builtin.native.android_native_root_exploit"])
    )


def test_banking_trojan_manifest_alone_is_malicious_with_medium_confidence(
    tmp_path: Path,
) -> None:
    v = analyze_apk(banker(tmp_path).read_bytes(), rules=None)
    assert v.verdict is AppVerdictKind.MALICIOUS and v.confidence == "medium"
    assert not any(f.id.startswith("yara.") for f in v.factors)


def test_stalkerware_is_potentially_unwanted(tmp_path: Path, rules: Rules) -> None:
    apk = build_apk(
        tmp_path,
        package="com.system.syncservice",
        permissions=[
            P + "ACCESS_FINE_LOCATION",
            P + "ACCESS_BACKGROUND_LOCATION",
            P + "RECORD_AUDIO",
            P + "READ_CALL_LOG",
            P + "READ_CONTACTS",
            P + "READ_SMS",
            P + "RECEIVE_BOOT_COMPLETED",
        ],
        services=[Component(".Sync", exported=False)],
        receivers=[
            Component(".OnBoot", exported=True, actions=("android.intent.action.BOOT_COMPLETED",))
        ],
        launcher=False,
        dex=minimal_dex(["Lcom/system/syncservice/Sync;", "getLastKnownLocation"]),
    )
    v = analyze_apk(apk.read_bytes(), rules=rules)
    assert v.verdict is AppVerdictKind.POTENTIALLY_UNWANTED and v.confidence == "medium"
    assert [f.id for f in v.factors] == ["perm.stalkerware-set", "manifest.hidden-launcher"]
    assert "microphone, call log, SMS, contacts" in v.factors[0].explanation
    assert "RECEIVE_BOOT_COMPLETED" in v.factors[0].explanation


def test_stalkerware_vendor_code_makes_it_malicious(tmp_path: Path, rules: Rules) -> None:
    apk = build_apk(
        tmp_path,
        package="com.wifi.settings",
        permissions=[P + "ACCESS_FINE_LOCATION", P + "RECEIVE_BOOT_COMPLETED"],
        dex=minimal_dex(["Lcom/thetruth/spy/Uploader;", "Lcom/wifi/settings/Main;"]),
    )
    v = analyze_apk(apk.read_bytes(), rules=rules)
    [factor] = v.factors
    assert factor.id == "yara.builtin.stalkerware.android_stalkerware_vendor_code"
    assert "known stalkerware product" in factor.explanation
    assert v.verdict is AppVerdictKind.POTENTIALLY_UNWANTED and v.confidence == "high"


def test_debug_signed_debuggable_build(tmp_path: Path, rules: Rules) -> None:
    apk = build_apk(tmp_path, package="com.example.dev", signer=debug_signer(), debuggable=True)
    v = analyze_apk(apk.read_bytes(), rules=rules)
    by_id = {f.id: f.explanation for f in v.factors}
    assert list(by_id) == ["manifest.debuggable", "signer.debug"]
    assert "CN=Android Debug,O=Android,C=US" in by_id["signer.debug"]
    assert v.verdict is AppVerdictKind.CLEAN and v.score == 25


def test_unsigned_v1_only_and_old_target(tmp_path: Path, rules: Rules) -> None:
    unsigned = build_apk(tmp_path, package="com.example.u", signer=None)
    v = analyze_apk(unsigned.read_bytes(), rules=rules)
    assert [f.id for f in v.factors] == ["signer.none"]
    v1 = build_apk(tmp_path, package="com.example.v1", schemes=("v1",), target_sdk=33)
    assert [f.id for f in analyze_apk(v1.read_bytes(), rules=rules).factors] == ["signer.v1-only"]
    old = build_apk(tmp_path, package="com.example.old", target_sdk=22, cleartext=True)
    got = [f.id for f in analyze_apk(old.read_bytes(), rules=rules).factors]
    assert got == ["manifest.cleartext", "sdk.old-target"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"MZ\x90\x00 this is a Windows program", "ZIP"),
        (b"PK\x03\x04" + bytes(100), "ZIP"),
    ],
)
def test_hostile_bytes_are_unparseable(data: bytes, problem: str, rules: Rules) -> None:
    v = analyze_apk(data, rules=rules)
    assert v.verdict is AppVerdictKind.UNPARSEABLE and v.score == 0 and v.confidence == "high"
    assert problem in v.problem and v.reasons == (v.problem,)


def test_zip_without_manifest(tmp_path: Path, rules: Rules) -> None:
    path = tmp_path / "plain.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    v = analyze_apk(path.read_bytes(), rules=rules)
    assert v.verdict is AppVerdictKind.UNPARSEABLE and "AndroidManifest.xml" in v.problem


def test_corrupt_dex_keeps_the_facts(tmp_path: Path, rules: Rules) -> None:
    apk = build_apk(tmp_path, package="com.example.corrupt", dex=minimal_dex(["x"] * 1) * 50)
    data = bytearray(apk.read_bytes())
    with zipfile.ZipFile(apk) as z:
        info = z.getinfo("classes.dex")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start : start + 16] = b"\xff" * 16  # garbage where the deflated dex starts
    v = analyze_apk(bytes(data), rules=rules)
    assert v.verdict is AppVerdictKind.UNPARSEABLE, v
    assert "classes.dex" in v.problem
    assert v.facts is not None and v.facts.package == "com.example.corrupt"


def test_members_over_the_yara_budget_are_skipped(tmp_path: Path, rules: Rules) -> None:
    apk = build_apk(tmp_path, package="com.flash.big", dex=minimal_dex(BANKER_DEX) + bytes(5000))
    limits = ScanLimits(max_yara_bytes=1000)
    v = analyze_apk(apk.read_bytes(), rules=rules, limits=limits)
    assert v.verdict is AppVerdictKind.CLEAN and v.factors == ()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_never_raises_on_damaged_apks(tmp_path: Path, rules: Rules, data: st.DataObject) -> None:
    apk = banker(tmp_path).read_bytes()
    damaged = bytearray(apk)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(damaged) - 1))
        damaged[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(damaged)))
    blob = bytes(damaged[:cut]) if data.draw(st.booleans()) else bytes(damaged)
    v = analyze_apk(blob, rules=rules)
    assert v.verdict in AppVerdictKind
    if v.verdict is AppVerdictKind.UNPARSEABLE:
        assert v.problem
