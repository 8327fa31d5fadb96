"""The heuristic root/jailbreak rules: clean devices stay clean, each indicator is judged as its
weight says, and nothing a device sends can make the engine raise."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmtd.agent.collectors.simulated import (
    _ANDROID_CLEAN_SIGNALS,
    _IOS_CLEAN_SIGNALS,
    PROFILES,
    simulate,
)
from openmtd.domain.device import AppInfo, IntegritySignal
from openmtd.domain.enums import Platform
from openmtd.domain.integrity import EvidenceSource, IntegrityFinding, IntegrityState
from openmtd.engines.integrity import signals as signals_module
from openmtd.engines.integrity.signals import (
    MAX_EVIDENCE_CHARS,
    MAX_EVIDENCE_ITEMS,
    MAX_VALUE_CHARS,
    RULES,
    RULES_BY_ID,
    evaluate_signals,
    rules_for,
)
from openmtd.engines.integrity.verdict import combine

A = Platform.ANDROID
I = Platform.IOS  # noqa: E741
S = IntegritySignal
PIXEL_8_PRO = "google/husky/husky:14/AP2A.240805.005/12025142"
SUBSTRATE = "/Library/MobileSubstrate/MobileSubstrate.dylib"


def judge(
    platform: Platform, signals: list[IntegritySignal], apps: tuple[AppInfo, ...] = ()
) -> tuple[IntegrityState, dict[str, IntegrityFinding]]:
    findings = evaluate_signals(platform, signals, apps)
    return combine(findings).state, {f.rule_id: f for f in findings}


def app(identifier: str) -> AppInfo:
    return AppInfo(identifier=identifier, version="1.0")


# --------------------------------------------------------------------------------------------
# The rule table
# --------------------------------------------------------------------------------------------


def test_rule_table_is_well_formed() -> None:
    assert len({r.id for r in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.id.startswith(f"{rule.platform.value}.")
        assert 0 <= rule.weight <= 100
        assert rule.title and rule.explanation.endswith(".")
        if rule.conclusive:
            assert rule.weight >= 90
        else:
            assert rule.weight < 70, "a non-conclusive rule alone must not be compromising"
    assert RULES_BY_ID["android.su_binary"].conclusive


def test_rules_for_platform() -> None:
    android, ios = rules_for(A), rules_for(I)
    assert {r.platform for r in android} == {A}
    assert {r.platform for r in ios} == {I}
    assert len(android) + len(ios) == len(RULES)


def test_every_signal_name_is_documented() -> None:
    doc = signals_module.__doc__ or ""
    names = [*signals_module._ANDROID_CHECKS, *signals_module._IOS_CHECKS]
    for name in names:
        assert f"``{name}``" in doc, name


# --------------------------------------------------------------------------------------------
# Clean devices
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "clean"), [(A, _ANDROID_CLEAN_SIGNALS), (I, _IOS_CLEAN_SIGNALS)]
)
def test_simulator_clean_sets_are_clean(
    platform: Platform, clean: tuple[IntegritySignal, ...]
) -> None:
    findings = evaluate_signals(platform, clean)
    assert findings == ()
    verdict = combine(findings)
    assert verdict.state is IntegrityState.CLEAN
    assert verdict.score == 0


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_simulated_devices_evaluate_clean(profile: str, seed: int) -> None:
    device = simulate(profile, seed=seed, today=date(2026, 11, 26))
    findings = evaluate_signals(device.facts.platform, device.integrity_signals, device.facts.apps)
    assert not any(f.conclusive for f in findings)
    assert combine(findings).state is IntegrityState.CLEAN


def test_a_release_pixel_fingerprint_and_hygienic_settings_say_nothing() -> None:
    state, found = judge(
        A,
        [
            S("ro.build.fingerprint", f"{PIXEL_8_PRO}:user/release-keys"),
            S("ro.build.type", "user"),
            S("ro.boot.warranty_bit", "0"),
            S("system_mount", "ro"),
            S("package_verifier", "true"),
            S("unknown_sources", "false"),
            S("adb_enabled", "unset"),
            S("developer_options", "unset"),
            S("su_paths", ""),
            S("root_files", ""),
        ],
    )  # fmt: skip
    assert found == {}
    assert state is IntegrityState.CLEAN


def test_stock_ios_symlinks_and_container_writes_say_nothing() -> None:
    _, found = judge(
        I,
        [
            S("symlinks", "/var,/etc,/tmp,/private/var/mobile"),
            S("writable_paths", "/private/var/mobile/Containers/Data/Application/ABC/tmp"),
            S("writable_paths", "/var/containers/Bundle/Application/X"),
        ],
    )
    assert found == {}


# --------------------------------------------------------------------------------------------
# Conclusive indicators: each alone is enough
# --------------------------------------------------------------------------------------------

CONCLUSIVE_CASES: list[tuple[str, Platform, list[IntegritySignal], tuple[AppInfo, ...]]] = [
    ("android.su_binary", A, [S("su_paths", "/system/xbin/su")], ()),
    ("android.su_binary", A, [S("su_paths", "/sbin/su")], ()),
    ("android.su_binary", A, [S("su_paths", "/su/bin/su")], ()),
    ("android.su_binary", A, [S("root_files", "/data/local/xbin/su")], ()),
    ("android.magisk", A, [S("root_files", "/sbin/.magisk")], ()),
    ("android.magisk", A, [S("root_files", "/data/adb/magisk")], ()),
    ("android.magisk", A, [S("root_files", "/cache/.disable_magisk")], ()),
    ("android.magisk", A, [], (app("com.topjohnwu.magisk"),)),
    ("android.kernel_root", A, [S("root_files", "/data/adb/ksu")], ()),
    ("android.kernel_root", A, [], (app("me.weishu.kernelsu"),)),
    ("android.root_manager", A, [S("root_files", "/data/adb/modules/zygisk_lsposed")], ()),
    ("android.root_manager", A, [S("root_files", "/system/xbin/daemonsu")], ()),
    ("android.root_manager", A, [], (app("eu.chainfire.supersu"),)),
    ("android.root_manager", A, [], (app("com.kingroot.kinguser"),)),
    ("android.root_manager", A, [], (app("com.kingo.root"),)),
    ("android.root_manager", A, [], (app("com.noshufou.android.su"),)),
    ("android.root_manager", A, [], (app("com.koushikdutta.superuser"),)),
    ("android.root_manager", A, [], (app("com.thirdparty.superuser"),)),
    ("android.hooking_app", A, [], (app("de.robv.android.xposed.installer"),)),
    ("android.hooking_app", A, [], (app("org.lsposed.manager"),)),
    ("android.hooking_app", A, [], (app("com.saurik.substrate"),)),
    ("android.root_cloak_app", A, [], (app("com.devadvance.rootcloak"),)),
    ("android.root_cloak_app", A, [], (app("com.amphoras.hidemyroot"),)),
    ("android.root_cloak_app", A, [], (app("com.zachspong.temprootremovejb"),)),
    ("android.hooking_framework", A, [S("hooking_frameworks", "frida-server:27042")], ()),
    ("android.hooking_framework", A, [S("hooking_frameworks", "XposedBridge in stack")], ()),
    ("android.hooking_framework", A, [S("root_files", "/data/adb/lspd")], ()),
    ("android.boot_unlocked", A, [S("verified_boot_state", "orange")], ()),
    ("android.boot_failed", A, [S("verified_boot_state", "red")], ()),
    ("android.bootloader_unlocked", A, [S("bootloader_locked", "false")], ()),
    ("ios.fork_allowed", I, [S("fork_allowed", "true")], ()),
    ("ios.jailbreak_store", I, [S("cydia_url_scheme", "true")], ()),
    ("ios.jailbreak_store", I, [S("url_schemes", "sileo")], ()),
    ("ios.jailbreak_store", I, [S("url_schemes", "cydia://")], ()),
    ("ios.jailbreak_store", I, [S("url_schemes", "zbra")], ()),
    ("ios.jailbreak_store", I, [S("jailbreak_files", "/Applications/Cydia.app")], ()),
    ("ios.jailbreak_store", I, [], (app("com.saurik.Cydia"),)),
    ("ios.jailbreak_store", I, [], (app("org.coolstar.SileoStore"),)),
    ("ios.jailbreak_store", I, [], (app("xyz.willy.Zebra"),)),
    ("ios.jailbreak_app", I, [S("url_schemes", "undecimus")], ()),
    ("ios.jailbreak_app", I, [S("url_schemes", "filza")], ()),
    ("ios.jailbreak_app", I, [], (app("com.opa334.Dopamine"),)),
    ("ios.jailbreak_app", I, [], (app("com.opa334.TrollStore"),)),
    ("ios.jailbreak_app", I, [], (app("science.xnu.undecimus"),)),
    ("ios.jailbreak_app", I, [], (app("com.tigisoftware.Filza"),)),
    ("ios.jailbreak_app", I, [], (app("kr.xsf1re.vnodebypass"),)),
    ("ios.jailbreak_file", I, [S("jailbreak_files", SUBSTRATE)], ()),
    ("ios.jailbreak_file", I, [S("jailbreak_files", "/bin/bash")], ()),
    ("ios.jailbreak_file", I, [S("jailbreak_files", "/usr/sbin/sshd")], ()),
    ("ios.jailbreak_file", I, [S("jailbreak_files", "/etc/apt")], ()),
    ("ios.jailbreak_file", I, [S("jailbreak_files", "/private/var/lib/apt/")], ()),
    ("ios.jailbreak_file", I, [S("jailbreak_files", "/var/jb")], ()),
    ("ios.jailbreak_file", I, [S("jailbreak_files", "/var/binpack")], ()),
    ("ios.jailbreak_file", I, [S("jailbreak_files", "/.installed_dopamine")], ()),
    ("ios.jailbreak_file", I, [S("jailbreak_files", "/usr/libexec/sftp-server")], ()),
    ("ios.tweak_injection", I, [S("dylibs", SUBSTRATE)], ()),
    ("ios.tweak_injection", I, [S("dylibs", "/usr/lib/substrate/SubstrateLoader.dylib")], ()),
    ("ios.tweak_injection", I, [S("dylibs", "/usr/lib/libhooker.dylib")], ()),
    ("ios.tweak_injection", I, [S("dylibs", "/usr/lib/libsubstitute.dylib")], ()),
    ("ios.tweak_injection", I, [S("dylibs", "/usr/lib/TweakInject.dylib")], ()),
    ("ios.tweak_injection", I, [S("dylibs", "SSLKillSwitch2.dylib")], ()),
    ("ios.hooking_framework", I, [S("dylibs", "FridaGadget")], ()),
    ("ios.hooking_framework", I, [S("dylibs", "frida-agent-64.dylib")], ()),
    ("ios.hooking_framework", I, [S("dylibs", "/usr/lib/cynject.dylib")], ()),
]  # fmt: skip


@pytest.mark.parametrize(("rule_id", "platform", "signals", "apps"), CONCLUSIVE_CASES)
def test_each_conclusive_indicator_alone_compromises(
    rule_id: str, platform: Platform, signals: list[IntegritySignal], apps: tuple[AppInfo, ...]
) -> None:
    state, found = judge(platform, signals, apps)
    assert set(found) == {rule_id}
    finding = found[rule_id]
    assert finding.conclusive
    assert finding.source is EvidenceSource.SIGNALS
    assert finding.platform is platform
    assert state is IntegrityState.COMPROMISED
    observed = [*((s.name, s.value) for s in signals), *((a.identifier) for a in apps)]
    assert finding.evidence, observed


def test_every_conclusive_rule_has_a_case() -> None:
    covered = {case[0] for case in CONCLUSIVE_CASES}
    assert covered == {r.id for r in RULES if r.conclusive}


def test_evidence_names_what_was_observed() -> None:
    found = {
        f.rule_id: f
        for f in evaluate_signals(
            A,
            [S("su_paths", "/system/xbin/su, /sbin/su"), S("verified_boot_state", " Orange ")],
            (app("com.topjohnwu.magisk"),),
        )
    }
    assert found["android.su_binary"].evidence == (
        ("su_paths", "/system/xbin/su"),
        ("su_paths", "/sbin/su"),
    )
    assert found["android.boot_unlocked"].evidence == (("verified_boot_state", "orange"),)
    assert found["android.magisk"].evidence == (("package", "com.topjohnwu.magisk"),)


def test_a_rooted_device_is_one_finding_per_rule() -> None:
    findings = evaluate_signals(
        A,
        [
            S("su_paths", "/system/xbin/su,/sbin/su,/system/bin/su"),
            S("su_paths", "/system/xbin/su"),
            S("root_files", "/sbin/.magisk,/data/adb/magisk"),
        ],
        (app("com.topjohnwu.magisk"),),
    )
    assert [f.rule_id for f in findings] == ["android.magisk", "android.su_binary"]
    assert len(findings[1].evidence) == 3
    assert len(findings[0].evidence) == 3


# --------------------------------------------------------------------------------------------
# Suspicious indicators
# --------------------------------------------------------------------------------------------

SUSPICIOUS_CASES: list[tuple[str, Platform, list[IntegritySignal]]] = [
    ("android.test_keys", A, [S("ro.build.tags", "test-keys")]),
    ("android.test_keys", A, [S("ro.build.tags", "dev-keys")]),
    ("android.debuggable", A, [S("ro.debuggable", "1")]),
    ("android.adb_root", A, [S("ro.secure", "0")]),
    ("android.debug_build", A, [S("ro.build.type", "userdebug")]),
    ("android.debug_build", A, [S("ro.build.type", "eng")]),
    ("android.selinux_not_enforcing", A, [S("selinux", "permissive")]),
    ("android.selinux_not_enforcing", A, [S("selinux", "disabled")]),
    ("android.boot_custom_key", A, [S("verified_boot_state", "yellow")]),
    ("android.knox_warranty_void", A, [S("ro.boot.warranty_bit", "1")]),
    ("android.system_rw", A, [S("system_mount", "rw")]),
    ("android.busybox", A, [S("root_files", "/system/xbin/busybox")]),
    ("android.emulator", A, [S("emulator_traits", "ro.kernel.qemu=1")]),
    ("android.emulator", A, [S("emulator_traits", "ro.hardware=ranchu")]),
    ("android.emulator", A, [S("emulator_traits", "ro.product.model=sdk_gphone64_arm64")]),
    ("ios.sandbox_writable", I, [S("sandbox_writable", "true")]),
    ("ios.suspicious_files", I, [S("suspicious_files", "1")]),
    ("ios.system_symlink", I, [S("symlinks", "/Applications")]),
    ("ios.writable_system_path", I, [S("writable_paths", "/private")]),
]


@pytest.mark.parametrize(("rule_id", "platform", "signals"), SUSPICIOUS_CASES)
def test_each_suspicious_indicator_alone_is_suspicious(
    rule_id: str, platform: Platform, signals: list[IntegritySignal]
) -> None:
    state, found = judge(platform, signals)
    assert set(found) == {rule_id}
    assert not found[rule_id].conclusive
    assert 30 <= found[rule_id].weight < 70
    assert state is IntegrityState.SUSPICIOUS


def test_two_suspicious_indicators_stay_suspicious_three_compromise() -> None:
    two = [S("ro.build.tags", "test-keys"), S("ro.debuggable", "1")]
    state, _ = judge(A, two)
    assert state is IntegrityState.SUSPICIOUS
    state, found = judge(A, [*two, S("selinux", "permissive")])
    assert state is IntegrityState.COMPROMISED
    assert not any(f.conclusive for f in found.values())


def test_an_emulator_fingerprint_feeds_build_and_emulator_rules() -> None:
    fingerprint = (
        "google/sdk_gphone64_x86_64/emu64xa:14/UE1A.230829.036/10977327:userdebug/dev-keys"
    )
    _, found = judge(A, [S("ro.build.fingerprint", fingerprint)])
    assert set(found) == {"android.emulator", "android.debug_build", "android.test_keys"}
    assert found["android.emulator"].evidence == (("ro.build.fingerprint", fingerprint),)


def test_the_same_rule_from_two_signals_counts_once() -> None:
    fingerprint = "google/husky/husky:14/AP2A.240805.005/12025142:userdebug/release-keys"
    _, found = judge(A, [S("ro.build.type", "userdebug"), S("ro.build.fingerprint", fingerprint)])
    assert set(found) == {"android.debug_build"}
    assert found["android.debug_build"].weight == 35
    assert len(found["android.debug_build"].evidence) == 2


def test_repeated_observations_add_up() -> None:
    one = judge(I, [S("symlinks", "/Applications")])[1]["ios.system_symlink"]
    three = judge(I, [S("symlinks", "/Applications,/Library/Ringtones,/usr/include")])[1]
    assert one.weight == 40
    assert three["ios.system_symlink"].weight == 78
    assert combine(tuple(three.values())).state is IntegrityState.COMPROMISED
    two_writable = judge(I, [S("writable_paths", "/private,/")])
    assert two_writable[1]["ios.writable_system_path"].weight == 75
    assert two_writable[0] is IntegrityState.COMPROMISED


@pytest.mark.parametrize(
    ("count", "weight"), [("1", 60), ("2", 84), (" 3 ", 94), ("999999999", 100)]
)
def test_suspicious_file_count_weighs_by_number(count: str, weight: int) -> None:
    found = judge(I, [S("suspicious_files", count)])[1]
    assert found["ios.suspicious_files"].weight == weight


@pytest.mark.parametrize("count", ["0", "", "-1", "abc", "1e3", "9" * 5000, "١٢"])
def test_suspicious_file_count_ignores_non_counts(count: str) -> None:
    assert evaluate_signals(I, [S("suspicious_files", count)]) == ()


def test_private_prefixes_are_the_same_place() -> None:
    _, found = judge(I, [S("jailbreak_files", "/private/var/lib/cydia,/private/etc/apt")])
    assert found["ios.jailbreak_file"].evidence == (
        ("jailbreak_files", "/var/lib/cydia"),
        ("jailbreak_files", "/etc/apt"),
    )


# --------------------------------------------------------------------------------------------
# Security-setting hygiene
# --------------------------------------------------------------------------------------------


def test_hygiene_settings_are_low_and_never_conclusive() -> None:
    """Careless is not rooted: every hygiene setting weakened at once is still CLEAN."""
    hygiene = [
        S("package_verifier", "false"),
        S("unknown_sources", "true"),
        S("adb_enabled", "true"),
        S("developer_options", "true"),
    ]
    findings = evaluate_signals(A, hygiene)
    assert len(findings) == 4
    for finding in findings:
        assert 5 <= finding.weight <= 15
        assert not finding.conclusive
    verdict = combine(findings)
    assert verdict.state is IntegrityState.CLEAN
    assert len(verdict.findings) == 4


@pytest.mark.parametrize("name", ["package_verifier", "unknown_sources", "adb_enabled"])
def test_unset_settings_say_nothing(name: str) -> None:
    assert evaluate_signals(A, [S(name, "unset")]) == ()


# --------------------------------------------------------------------------------------------
# Apps
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "rule_id", "state"),
    [
        ("com.chelpus.lackypatch", "android.patcher_app", IntegrityState.SUSPICIOUS),
        ("com.dimonvideo.luckypatcher", "android.patcher_app", IntegrityState.SUSPICIOUS),
        ("catch.me.if.you.can", "android.patcher_app", IntegrityState.SUSPICIOUS),
        (
            "com.android.vending.billing.InAppBillingService.COIN",
            "android.patcher_app",
            IntegrityState.SUSPICIOUS,
        ),
    ],
)
def test_android_patcher_apps(identifier: str, rule_id: str, state: IntegrityState) -> None:
    got_state, found = judge(A, [], (app(identifier),))
    assert set(found) == {rule_id}
    assert found[rule_id].evidence == (("package", identifier),)
    assert got_state is state


def test_apps_count_only_on_their_platform() -> None:
    assert evaluate_signals(A, [], (app("com.saurik.Cydia"),)) == ()
    assert evaluate_signals(I, [], (app("com.topjohnwu.magisk"),)) == ()


def test_ordinary_apps_say_nothing() -> None:
    apps = (app("com.microsoft.teams"), app("com.google.android.gm"), app(""), app("x" * 5000))
    assert evaluate_signals(A, [], apps) == ()


# --------------------------------------------------------------------------------------------
# Hostile and odd input
# --------------------------------------------------------------------------------------------

JUNK = [
    "",
    " ",
    ",,,",
    "x" * 1_000_000,
    "\x00\xff\ufffd" * 1000,
    "/\x00/su",
    "/" + "a/" * 10_000 + "su",
    "../../su",
    "su",
    "\u202e/sbin/su",
    "true\x00",
    "1 1",
]


@pytest.mark.parametrize("platform", [A, I])
@pytest.mark.parametrize("value", JUNK)
def test_junk_values_never_raise_and_say_nothing(platform: Platform, value: str) -> None:
    names = [*signals_module._ANDROID_CHECKS, *signals_module._IOS_CHECKS, "unknown", ""]
    signals = [S(name, value) for name in names]
    assert evaluate_signals(platform, signals) == ()


def test_unknown_and_other_platform_names_are_ignored() -> None:
    assert evaluate_signals(A, [S("fork_allowed", "true"), S("cydia", "true")]) == ()
    assert evaluate_signals(I, [S("ro.debuggable", "1"), S("su_paths", "/sbin/su")]) == ()


def test_huge_lists_are_read_up_to_their_bound() -> None:
    padding = ",".join(["/nothing"] * 10)
    found = evaluate_signals(A, [S("su_paths", f"/sbin/su,{padding}")])
    assert [f.rule_id for f in found] == ["android.su_binary"]
    beyond = evaluate_signals(A, [S("su_paths", "x" * MAX_VALUE_CHARS + ",/sbin/su")])
    assert beyond == ()


def test_evidence_is_bounded() -> None:
    paths = ",".join(f"/data/adb/modules/m{i}" for i in range(100))
    long_trait = "goldfish-" + "y" * 5000
    found = {
        f.rule_id: f
        for f in evaluate_signals(A, [S("root_files", paths), S("emulator_traits", long_trait)])
    }
    evidence = found["android.root_manager"].evidence
    assert len(evidence) == MAX_EVIDENCE_ITEMS + 1
    assert evidence[-1] == ("more", f"{100 - MAX_EVIDENCE_ITEMS} more")
    (trait,) = found["android.emulator"].evidence
    assert len(trait[1]) == MAX_EVIDENCE_CHARS


class _NotASignal:
    name = 5
    value = None


def test_objects_that_are_not_signals_are_skipped() -> None:
    odd: list[IntegritySignal] = [_NotASignal(), S("ro.debuggable", "1")]  # type: ignore[list-item]
    assert [f.rule_id for f in evaluate_signals(A, odd)] == ["android.debuggable"]


VOCABULARY = [
    *signals_module._ANDROID_CHECKS,
    *signals_module._IOS_CHECKS,
    "nonsense",
]
VALUES = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        ["0", "1", "true", "false", "orange", "red", "yellow", "rw", "permissive", "test-keys"]
    ),
    st.lists(
        st.sampled_from(["/sbin/su", "/var/jb", "/Applications", "/private", "frida", "sileo"])
        | st.text(max_size=40),
        max_size=8,
    ).map(",".join),
)
SIGNALS = st.lists(st.builds(S, st.sampled_from(VOCABULARY) | st.text(max_size=20), VALUES))


@given(
    platform=st.sampled_from([A, I]),
    signals=SIGNALS,
    apps=st.lists(st.builds(app, st.text(max_size=60)), max_size=5),
)
def test_random_signal_lists_never_raise(
    platform: Platform, signals: list[IntegritySignal], apps: list[AppInfo]
) -> None:
    findings = evaluate_signals(platform, signals, apps)
    assert len({f.rule_id for f in findings}) == len(findings)
    for finding in findings:
        rule = RULES_BY_ID[finding.rule_id]
        assert rule.platform is platform is finding.platform
        assert 0 <= finding.weight <= 100
        assert finding.conclusive is rule.conclusive
        assert finding.evidence
        for name, value in finding.evidence:
            assert name.isprintable() and value.isprintable()
            assert len(value) <= MAX_EVIDENCE_CHARS
    assert [f.weight for f in findings] == sorted((f.weight for f in findings), reverse=True)


@given(platform=st.sampled_from([A, I]), first=SIGNALS, more=SIGNALS)
def test_more_signals_never_lower_the_score(
    platform: Platform, first: list[IntegritySignal], more: list[IntegritySignal]
) -> None:
    before = combine(evaluate_signals(platform, first))
    after = combine(evaluate_signals(platform, [*first, *more]))
    assert after.score >= before.score
    assert after.state.rank >= before.state.rank
