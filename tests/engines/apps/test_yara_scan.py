"""YARA over dex files and native libraries: our built-in rules, admin rules, errors."""

from __future__ import annotations

import pytest

from apkbuild import minimal_dex, pad_bytes
from openmtd.engines.apps.risk import YaraFactor
from openmtd.engines.apps.yara_scan import (
    Rules,
    builtin_rule_sources,
    compile_rules,
    scan,
)

ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)


def elf(*strings: str) -> bytes:
    return ELF + b"\0".join(s.encode() for s in strings) + b"\0" + pad_bytes(2048, seed=7)


# Evidence for each built-in rule; the tests also drop one group at a time (near misses).
INJECTS = {
    "a11y": ["getRootInActiveWindow", "Landroid/view/accessibility/AccessibilityNodeInfo;"],
    "overlay": ["android.settings.action.MANAGE_OVERLAY_PERMISSION"],
    "inject": ["/api/getInjects"],
}
SMS = {
    "sms": ["android.provider.Telephony.SMS_RECEIVED"],
    "body": ["getMessageBody"],
    "exfil": ["https://api.telegram.org/bot123:AAE/sendMessage"],
}
VNC = {
    "capture": ["createVirtualDisplay", "Landroid/media/projection/MediaProjection;"],
    "gesture": ["dispatchGesture"],
    "cmd": ["start_hvnc"],
}
HIDE = {
    "api": ["setComponentEnabledSetting"],
    "launcher": ["android.intent.category.LAUNCHER"],
    "hide": ["hideAppIcon"],
}
STALKER = {"vendor": ["Lcom/mspy/lite/services/LocationService;"]}

DEX_RULES = [
    ("android_accessibility_overlay_injects", "banker", INJECTS),
    ("android_sms_intercept_exfil", "banker", SMS),
    ("android_remote_screen_control", "banker", VNC),
    ("android_hide_launcher_icon", "banker", HIDE),
    ("android_stalkerware_vendor_code", "stalkerware", STALKER),
]

# What an ordinary app's dex says: each API the rules look at, but never their combinations.
ORDINARY = [
    "Landroid/app/Activity;",
    "Landroid/view/accessibility/AccessibilityEvent;",
    "Landroid/view/accessibility/AccessibilityNodeInfo;",
    "getRootInActiveWindow",
    "canDrawOverlays",
    "android.settings.action.MANAGE_OVERLAY_PERMISSION",
    "setComponentEnabledSetting",
    "android.intent.category.LAUNCHER",
    "createVirtualDisplay",
    "Landroid/media/projection/MediaProjection;",
    "getMessageBody",
    "https://api.example.com/v1/upload",
    "/system/xbin/su",
    "com.mspy.lite",  # an anti-stalkerware list names the package, not its classes
    "Lcom/spotify/music/MainActivity;",
]


@pytest.fixture(scope="module")
def rules() -> Rules:
    return compile_rules(builtin_rule_sources())


def flatten(groups: dict[str, list[str]], *, without: str = "") -> list[str]:
    return [s for name, items in groups.items() if name != without for s in items]


def test_builtin_sources_compile_with_namespaces(rules: Rules) -> None:
    assert set(builtin_rule_sources()) == {
        "builtin.banker",
        "builtin.native",
        "builtin.stalkerware",
    }
    assert rules.namespaces == ("builtin.banker", "builtin.native", "builtin.stalkerware")


@pytest.mark.parametrize(("rule", "ns", "groups"), DEX_RULES)
def test_each_dex_rule_hits_its_behaviour(
    rules: Rules, rule: str, ns: str, groups: dict[str, list[str]]
) -> None:
    [factor] = scan(rules, [("classes2.dex", minimal_dex(flatten(groups)))])
    assert isinstance(factor, YaraFactor)
    assert factor.id == f"yara.builtin.{ns}.{rule}"
    assert f"(YARA rule builtin.{ns}.{rule}, in classes2.dex)." in factor.explanation
    assert factor.weight > 0 and factor.severity in ("medium", "high")


@pytest.mark.parametrize(("rule", "ns", "groups"), [r for r in DEX_RULES if len(r[2]) > 1])
def test_dex_rules_need_every_piece_of_evidence(
    rules: Rules, rule: str, ns: str, groups: dict[str, list[str]]
) -> None:
    for missing_group in groups:
        dex = minimal_dex(flatten(groups, without=missing_group))
        assert scan(rules, [("classes.dex", dex)]) == [], (rule, missing_group)


def test_ordinary_app_code_hits_nothing(rules: Rules) -> None:
    members = [
        ("classes.dex", minimal_dex(ORDINARY)),
        ("classes2.dex", minimal_dex(ORDINARY[:5]) + pad_bytes(200_000)),
        ("lib/arm64-v8a/libapp.so", elf("/system/xbin/su", "/system/bin/su", "which su")),
    ]
    assert scan(rules, members) == []


def test_dex_rules_ignore_the_same_strings_outside_a_dex(rules: Rules) -> None:
    blob = b"\0".join(s.encode() for s in flatten(INJECTS) + flatten(STALKER))
    assert scan(rules, [("lib/x86/libfoo.so", ELF + blob)]) == []


def test_native_rules(rules: Rules) -> None:
    exploit = elf("dirtycow: writing /proc/self/mem", "/system/xbin/su", "madvise")
    remount = elf("su -c", "mount -o remount,rw /system", "cp /data/local/tmp/x /system/xbin")
    got = scan(
        rules,
        [
            ("lib/arm64-v8a/libexp.so", exploit),
            ("lib/armeabi-v7a/libexp.so", exploit),
            ("lib/arm64-v8a/libinst.so", remount),
        ],
    )
    by_id = {f.id: f for f in got}
    assert list(by_id) == [
        "yara.builtin.native.android_native_root_exploit",
        "yara.builtin.native.android_native_su_remount",
    ]
    root = by_id["yara.builtin.native.android_native_root_exploit"]
    assert "in lib/arm64-v8a/libexp.so, lib/armeabi-v7a/libexp.so)" in root.explanation
    assert isinstance(root, YaraFactor) and root.severity == "high" and root.weight == 50
    # Exploit name or su alone: root detection code and write-ups, no hit.
    assert scan(rules, [("lib/x/a.so", elf("dirtycow"))]) == []
    assert scan(rules, [("lib/x/a.so", elf("su -c id"))]) == []


ADMIN = """
rule wide_marker {
    meta:
        description = "Our red-team marker string."
        weight = 70
        severity = "HIGH"
    strings:
        $a = "openmtd-redteam-marker"
    condition:
        $a
}
rule plain {
    strings:
        $a = "plain-marker"
    condition:
        $a
}
rule odd_meta {
    meta:
        weight = "lots"
        severity = "catastrophic"
    strings:
        $a = "odd-marker"
    condition:
        $a
}
"""


def test_admin_rules_meta_defaults_and_member_names() -> None:
    rules = compile_rules({"admin.team": ADMIN})
    members = [
        ("classes.dex", b"dex\n035\0 openmtd-redteam-marker plain-marker odd-marker"),
        ("classes2.dex", b"openmtd-redteam-marker"),
        ("classes3.dex", b"nothing here"),
    ]
    got = scan(rules, members)
    assert [(f.id, f.weight) for f in got] == [
        ("yara.admin.team.wide_marker", 70),
        ("yara.admin.team.plain", 40),
        ("yara.admin.team.odd_meta", 40),
    ]
    assert got[0].explanation == (
        "Our red-team marker string (YARA rule admin.team.wide_marker, in classes.dex, "
        "classes2.dex)."
    )
    assert got[1].explanation == "YARA rule plain (YARA rule admin.team.plain, in classes.dex)."
    assert [f.severity for f in got if isinstance(f, YaraFactor)] == ["high", "medium", "medium"]


def test_syntax_error_names_namespace_and_line() -> None:
    broken = (
        'rule ok { condition: true }\n\nrule bad {\n  strings: $a = "x"\n  condition: $a and\n}\n'
    )
    with pytest.raises(ValueError, match=r"'admin\.broken'.*line 6"):
        compile_rules({**builtin_rule_sources(), "admin.broken": broken})


def test_includes_are_refused() -> None:
    with pytest.raises(ValueError, match="admin.inc"):
        compile_rules({"admin.inc": 'include "/etc/passwd"\nrule r { condition: true }'})


def test_no_rules_scan_nothing_but_consume_members() -> None:
    seen: list[str] = []

    def members() -> object:
        for name in ("a", "b"):
            seen.append(name)
            yield name, b"x"

    assert scan(compile_rules({}), members()) == []  # type: ignore[arg-type]
    assert seen == ["a", "b"]


def test_errors_are_notes_not_exceptions() -> None:
    # Two nested loops over every byte: far more than a second of work on 100 kB of zeros.
    slow = compile_rules(
        {
            "admin.slow": "rule slow { condition: for any i in (0..filesize): "
            "(for any j in (0..filesize): (uint8(i) == 0xFF)) }"
        }
    )
    notes: list[str] = []
    members = [("classes.dex", bytes(100_000)), ("lib/x86/libtiny.so", b"zz")]
    got = scan(slow, members, timeout_s=1, notes=notes)
    assert got == []
    assert notes == ["classes.dex: YARA gave up after 1 s; member not scanned"]


def test_oversized_members_are_cut_and_noted() -> None:
    rules = compile_rules({"admin.t": 'rule tail { strings: $a = "TAIL" condition: $a }'})
    notes: list[str] = []
    data = bytes(1000) + b"TAIL"
    assert scan(rules, [("classes.dex", data)], max_bytes=1000, notes=notes) == []
    assert notes == ["classes.dex: only the first 1,000 of 1,004 bytes scanned"]
    assert len(scan(rules, [("classes.dex", data)], max_bytes=2000)) == 1
