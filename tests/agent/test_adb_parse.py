"""The adb output parsers on hand-written fixtures in the real formats (see fixtures/adb)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from openmtd.agent.collectors import adb_parse as p
from openmtd.domain.device import AppInfo, IntegritySignal
from openmtd.domain.enums import EnrollmentScenario, InstallSource, Platform

FIXTURES = Path(__file__).parent / "fixtures" / "adb"
PIXEL = FIXTURES / "pixel8pro-android14"
SAMSUNG = FIXTURES / "galaxy-s23ultra-android13"
S, T, M, U, X = (
    InstallSource.STORE,
    InstallSource.SYSTEM,
    InstallSource.MANAGED,
    InstallSource.SIDELOADED,
    InstallSource.UNKNOWN,
)


def read(folder: Path, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


def settings_of(folder: Path) -> p.DeviceSettings:
    return p.parse_settings(
        {f"{ns}/{key}": read(folder, f"settings_{ns}_{key}.txt") for _, ns, key in p.SETTINGS}
    )


def inventory(folder: Path) -> list[AppInfo]:
    pm = p.parse_pm_packages(read(folder, "pm_list_packages.txt"))
    dumpsys = p.parse_dumpsys_package(read(folder, "dumpsys_package.txt"))
    sums = p.parse_sha256sum(read(folder, "sha256sum.txt"))
    return p.app_inventory(pm.packages, dumpsys.packages, hashes=sums.by_path)


# -- getprop -----------------------------------------------------------------------------------


def test_getprop_pixel() -> None:
    props = p.parse_getprop(read(PIXEL, "getprop.txt"))
    assert props.skipped == 0
    assert len(props.props) == 64  # 66 lines, one value spans three
    assert props.get("ro.build.version.release") == "14"
    assert props.get("ro.build.fingerprint") == (
        "google/husky/husky:14/AP2A.240805.005/12025142:user/release-keys"
    )
    assert props.get("ro.build.date") == "Tue Jul  2 19:58:12 UTC 2024"  # inner spaces kept
    assert props.get("ro.boot.warranty_bit") == ""  # an empty value is a value
    # A value over several lines, as persist.sys.boot.reason.history prints.
    assert props.get("persist.sys.boot.reason.history") == (
        "reboot,ota,1722327114\nreboot,userrequested,1720184921\nshutdown,battery,1718001245"
    )
    assert props.get("persist.sys.locale") == "en-GB"  # the line after the multi-line value


def test_getprop_survives_crlf_garbage_and_unclosed_values() -> None:
    text = (
        "WARNING: linker: libdvm.so has text relocations\r\n"
        "[ro.product.model]: [SM-S918B]\r\n"
        "\r\n"
        "[broken]: [no end\n"
        "[ro.secure]: [1]\n"
        "[odd]: [[nested]]\n"
        "not a property\n"
        "[last]: [never closed"
    )
    props = p.parse_getprop(text)
    assert props.props == {"ro.product.model": "SM-S918B", "ro.secure": "1", "odd": "[nested]"}
    assert props.skipped == 4  # the warning, the unclosed "broken", the prose, the unclosed last


# -- pm list packages --------------------------------------------------------------------------


def test_pm_packages_pixel() -> None:
    pm = p.parse_pm_packages(read(PIXEL, "pm_list_packages.txt"))
    assert pm.skipped == 0
    assert len(pm.packages) == 12
    youtube = next(x for x in pm.packages if x.name == "com.google.android.youtube")
    assert youtube == p.PmPackage(
        name="com.google.android.youtube",
        path="/data/app/~~Xq3bR0m9xU2vYt5nKp1LhA==/"
        "com.google.android.youtube-Gm1Jq8yT2sVx0bWk4dPz7g==/base.apk",
        version_code=1545350080,
        installer="com.android.vending",
        installer_listed=True,
        uid=10163,
    )
    settings_app = pm.packages[0]
    assert (settings_app.name, settings_app.installer, settings_app.installer_listed) == (
        "com.android.settings",
        None,  # installer=null
        True,
    )
    assert settings_app.path == "/system_ext/priv-app/SettingsGoogle/SettingsGoogle.apk"
    assert settings_app.uid == 1000


def test_pm_packages_variants_and_garbage() -> None:
    text = "\n".join(
        [
            "package:com.plain",  # no -f, no fields
            "package:/data/app/~~a==/com.x-b==/base.apk=com.x uid:10234 versionCode:7",
            "apex:/system/apex/com.android.tzdata.apex=com.android.tzdata versionCode:340818022",
            "package:/data/app/x/base.apk=com.new versionCode:3  installer=null uid:10001 "
            "isolated:false",  # a field a newer release might add
            "package:/data/app/y/base.apk=not-a-package! versionCode:1",
            "package:/data/app/z/base.apk=com.x versionCode:8",  # listed twice
            "garbage",
            "",
        ]
    )
    pm = p.parse_pm_packages(text)
    assert [x.name for x in pm.packages] == ["com.plain", "com.x", "com.android.tzdata", "com.new"]
    assert pm.packages[0] == p.PmPackage("com.plain", "")
    assert (pm.packages[1].version_code, pm.packages[1].uid) == (7, 10234)
    assert not pm.packages[1].installer_listed
    assert pm.packages[2].apex
    assert (pm.packages[3].installer, pm.packages[3].installer_listed) == (None, True)
    assert pm.skipped == 3


# -- dumpsys package ---------------------------------------------------------------------------


def test_dumpsys_pixel() -> None:
    d = p.parse_dumpsys_package(read(PIXEL, "dumpsys_package.txt"))
    assert d.skipped == 0
    assert len(d.packages) == 12
    assert d.hidden_system == {"com.google.android.youtube", "com.google.android.gms"}
    yt = d.packages["com.google.android.youtube"]
    assert yt.version_name == "19.20.34"  # the update, not the factory copy's 19.09.37
    assert yt.version_code == 1545350080
    assert yt.installer == "com.android.vending"
    assert yt.first_install_time == datetime(2009, 1, 1, 9, 0)  # per user on Android 13+
    assert yt.last_update_time == datetime(2024, 7, 30, 8, 13, 2)
    assert yt.flags == {
        "SYSTEM",
        "HAS_CODE",
        "ALLOW_CLEAR_USER_DATA",
        "UPDATED_SYSTEM_APP",
        "ALLOW_BACKUP",
        "LARGE_HEAP",
    }
    assert yt.system and yt.updated_system_app
    assert yt.splits == ("base", "config.arm64_v8a", "config.en", "config.xxhdpi")
    assert (yt.signing_version, yt.signatures, yt.past_signatures) == (3, ("3cf3d9e4",), ())

    tg = d.packages["org.telegram.messenger.web"]
    assert (tg.installer, tg.initiating_installer) == (
        "com.google.android.packageinstaller",
        "com.google.android.packageinstaller",
    )
    assert tg.first_install_time == datetime(2024, 7, 11, 19, 27, 48)
    assert not tg.system

    gms = d.packages["com.google.android.gms"]
    assert gms.version_name == "24.26.32 (190400-650348851)"  # spaces and brackets kept
    settings_app = d.packages["com.android.settings"]
    assert settings_app.installer is None and settings_app.system
    assert settings_app.code_path == "/system_ext/priv-app/SettingsGoogle"
    debug = d.packages["com.example.debugtool"]
    assert {"DEBUGGABLE", "TEST_ONLY"} <= debug.flags and debug.installer == "com.android.shell"


def test_dumpsys_samsung() -> None:
    d = p.parse_dumpsys_package(read(SAMSUNG, "dumpsys_package.txt"))
    assert d.skipped == 0
    assert len(d.packages) == 9
    assert d.hidden_system == {"com.sec.android.app.sbrowser"}
    assert d.packages["com.sec.android.app.servicemodeapp"].version_name == ""  # "null"
    game = d.packages["com.example.moddedgame"]
    assert (game.signing_version, game.signatures) == (1, ("0f9e8d7c", "11aa22bb"))
    assert game.installer == "com.android.chrome"
    spotify = d.packages["com.spotify.music"]  # installed in user 0 and Secure Folder (150)
    assert spotify.first_install_time == datetime(2023, 3, 4, 18, 9, 33)
    assert d.packages["com.microsoft.skydrive"].system  # /prism: Samsung's carrier partition


def test_dumpsys_single_package_and_garbage() -> None:
    text = "\n".join(
        [
            "Activity Resolver Table:",
            "  Non-Data Actions:",
            "Packages:",
            "  Package [com.x] (1a2b3c):",
            "    versionCode=abc minSdk=21 targetSdk=33",
            "    versionName=1.0",
            "    firstInstallTime=yesterday",
            "    pkgFlags=[ HAS_CODE",
            "    signatures=PackageSignatures{garbled}",
            "    installerPackageName=org.fdroid.fdroid",
            "stray text at column 0",
            "  Package [com.y] (4d5e6f):",
            "    codePath=/system/app/Y",
            "    versionCode=12 minSdk=21 targetSdk=33",
        ]
    )
    d = p.parse_dumpsys_package(text)
    x = d.packages["com.x"]
    assert (x.version_code, x.version_name, x.first_install_time) == (None, "1.0", None)
    assert x.installer == "org.fdroid.fdroid" and x.flags == frozenset()
    y = d.packages["com.y"]
    assert (y.version_code, y.system) == (12, True)  # /system: preinstalled without flags
    assert d.skipped == 5  # versionCode, time, flags, signatures, the stray line


# -- settings, getenforce, sha256sum, devices --------------------------------------------------


def test_settings() -> None:
    assert settings_of(PIXEL) == p.DeviceSettings(
        package_verifier=None,
        unknown_sources=None,
        adb_enabled="1",
        developer_options="1",
        device_name="Pixel 8 Pro",
    )
    assert settings_of(SAMSUNG) == p.DeviceSettings("0", "1", "1", "1", "Galaxy S23 Ultra")
    assert p.parse_setting("null\n") is None
    assert p.parse_setting("1\r\n") == "1"
    assert p.parse_setting("") is None
    assert p.parse_setting("Error: Invalid namespace 'x'") is None
    assert p.parse_setting("a\nb\n") is None
    assert p.parse_settings({}) == p.DeviceSettings()


def test_getenforce() -> None:
    assert p.parse_getenforce(read(PIXEL, "getenforce.txt")) == "enforcing"
    assert p.parse_getenforce("Permissive\r\n") == "permissive"
    assert p.parse_getenforce("/system/bin/sh: getenforce: not found") is None


def test_sha256sum() -> None:
    sums = p.parse_sha256sum(read(PIXEL, "sha256sum.txt"))
    assert sums.skipped == 0 and len(sums.by_path) == 11  # debugtool was gone
    assert sums.by_path["/system/app/Shell/Shell.apk"] == (
        "22f3074da8bd1485967b29fcdc6bbbf7707bcacc9e7ffd474c0b7c158b761e7b"
    )
    odd = p.parse_sha256sum(
        "sha256sum: /data/app/x/base.apk: No such file or directory\n"
        + "AB" * 32
        + " */binary/mode.apk\n"
    )
    assert odd.by_path == {"/binary/mode.apk": "ab" * 32} and odd.skipped == 1


def test_devices() -> None:
    devices = p.parse_devices(read(FIXTURES, "adb_devices_l.txt"))
    assert [(d.serial, d.state) for d in devices] == [
        ("37281FDJH00B1X", "device"),
        ("R5CW30ABCDE", "unauthorized"),
        ("emulator-5554", "offline"),
        ("0123456789ABCDEF", "no permissions"),
    ]
    assert devices[0].model == "Pixel 8 Pro"
    assert dict(devices[3].attributes) == {"usb": "1-2"}
    assert p.parse_devices("List of devices attached\n\n") == []
    assert p.parse_devices("37281FDJH00B1X\tdevice\n") == [p.AdbDevice("37281FDJH00B1X", "device")]


# -- mapping to the agent's facts --------------------------------------------------------------


def test_device_facts_pixel_and_samsung() -> None:
    pixel = p.parse_getprop(read(PIXEL, "getprop.txt")).props
    facts = p.device_facts(pixel, scenario=EnrollmentScenario.ANDROID_COBO)
    assert (facts.platform, facts.scenario) == (Platform.ANDROID, EnrollmentScenario.ANDROID_COBO)
    assert (facts.manufacturer, facts.model, facts.os_version) == ("Google", "Pixel 8 Pro", "14")
    assert facts.security_patch_level == date(2024, 8, 5)
    assert facts.build == "AP2A.240805.005"
    assert facts.apps == ()

    samsung = p.parse_getprop(read(SAMSUNG, "getprop.txt")).props
    facts = p.device_facts(samsung, scenario=EnrollmentScenario.ANDROID_DEVICE_ADMIN)
    assert (facts.manufacturer, facts.model, facts.os_version) == ("samsung", "SM-S918B", "13")
    assert facts.security_patch_level == date(2023, 2, 1)
    assert facts.build == "TP1A.220624.014.S918BXXU1AWBD"
    assert p.device_name(samsung, settings_of(SAMSUNG)) == "Galaxy S23 Ultra"

    bare = p.device_facts(
        {"ro.build.version.security_patch": "2024-13-45", "ro.build.id": "UQ1A.240105.004"},
        scenario=EnrollmentScenario.ANDROID_COBO,
    )
    assert (bare.os_version, bare.model, bare.security_patch_level, bare.build) == (
        "unknown",
        "unknown",
        None,
        "UQ1A.240105.004",
    )
    assert p.device_name({}, p.DeviceSettings()) == "Android device"


def test_hardware_id_is_a_stable_hash_of_the_serial() -> None:
    pixel = p.parse_getprop(read(PIXEL, "getprop.txt")).props
    hw = p.hardware_id(pixel)
    assert hw == "589285a1d008a1836576c0738b8bd4ed"
    assert "37281FDJH00B1X" not in hw
    assert p.hardware_id({}, "37281FDJH00B1X") == hw  # the adb serial when getprop hides it


def test_inventory_pixel() -> None:
    apps = {a.identifier: (a.version, a.install_source) for a in inventory(PIXEL)}
    assert apps == {
        "com.android.settings": ("14", T),
        "com.android.shell": ("14", T),
        "com.contoso.fieldservice": ("4.1.7 (release)", M),  # Android Device Policy
        "com.example.debugtool": ("1.0-debug", U),  # adb install
        "com.google.android.apps.wellbeing": ("1.0.640012157", T),  # /product
        "com.google.android.gms": ("24.26.32 (190400-650348851)", T),  # updated by Play
        "com.google.android.youtube": ("19.20.34", T),  # updated by Play
        "com.microsoft.windowsintune.companyportal": ("5.0.6011.0", S),
        "com.termux": ("0.118.1", S),  # F-Droid
        "com.whatsapp": ("2.24.11.80", S),
        "org.fdroid.fdroid": ("1.20.0", U),  # installer=null, not a system app
        "org.telegram.messenger.web": ("10.14.5", U),  # the package installer
    }
    by_id = {a.identifier: a for a in inventory(PIXEL)}
    assert by_id["com.whatsapp"] == AppInfo(
        identifier="com.whatsapp",
        version="2.24.11.80",
        name="",
        install_source=S,
        sha256="c71913ddabbbfda6ffdb407fdcb96a4496c073d2a57473802d5a3b3bfc0a7ec4",
        signer_sha256=None,
    )
    assert by_id["com.example.debugtool"].sha256 is None  # gone before sha256sum ran


def test_inventory_samsung() -> None:
    apps = {a.identifier: (a.version, a.install_source) for a in inventory(SAMSUNG)}
    assert apps == {
        "com.amazon.mShop.android.shopping": ("28.3.0.100", S),  # Amazon Appstore
        "com.example.moddedgame": ("2.3.10-mod", U),  # installed by Chrome
        "com.microsoft.skydrive": ("6.78", T),  # /prism
        "com.samsung.android.app.notes": ("4.5.03.18", S),  # Galaxy Store
        "com.sec.android.app.launcher": ("13.5.01.16", T),
        "com.sec.android.app.sbrowser": ("24.0.3.57", T),  # updated by the Galaxy Store
        "com.sec.android.app.servicemodeapp": ("33", T),  # versionName=null: the versionCode
        "com.spotify.music": ("8.9.14.587", S),
        "com.topjohnwu.magisk": ("27.0", U),
    }


def test_inventory_without_dumpsys_and_without_installer_field() -> None:
    pm = p.parse_pm_packages(
        "package:/data/app/a/base.apk=com.a versionCode:41  installer=com.android.vending\n"
        "package:/data/app/b/base.apk=com.b versionCode:9\n"
        "package:/product/app/C/C.apk=com.c versionCode:1  installer=null\n"
    )
    apps = p.app_inventory(pm.packages, {}, signers={"com.a": p.Signer("ff" * 32, "ee" * 20)})
    assert [
        (a.identifier, a.version, a.install_source, a.signer_sha256, a.signer_sha1) for a in apps
    ] == [
        ("com.a", "41", S, "ff" * 32, "ee" * 20),
        ("com.b", "9", X, None, None),  # no installer= field at all: unknown
        ("com.c", "1", T, None, None),
    ]


def test_install_source_rules() -> None:
    rule = p.install_source
    assert rule("com.android.vending", system=True) is T
    assert rule(None, system=False, listed=False) is X
    assert rule(None, system=False) is U
    assert rule("com.google.android.packageinstaller", system=False) is U
    assert rule("com.android.packageinstaller", system=False) is U
    assert rule("com.android.shell", system=False) is U
    assert rule("com.google.android.apps.work.clouddpc", system=False) is M
    assert rule("com.airwatch.androidagent", system=False) is M
    for store in ("com.sec.android.app.samsungapps", "com.amazon.venezia", "org.fdroid.fdroid"):
        assert rule(store, system=False) is S
    assert rule("com.aurora.store", system=False) is U  # not a listed store


def test_integrity_signals() -> None:
    pixel = p.parse_getprop(read(PIXEL, "getprop.txt")).props
    signals = p.integrity_signals(pixel, settings_of(PIXEL), "enforcing")
    assert signals == [
        IntegritySignal("ro.debuggable", "0"),
        IntegritySignal("ro.secure", "1"),
        IntegritySignal("ro.build.tags", "release-keys"),
        IntegritySignal("verified_boot_state", "green"),
        IntegritySignal("bootloader_locked", "true"),
        IntegritySignal("selinux", "enforcing"),
        IntegritySignal("ro.build.type", "user"),
        IntegritySignal("ro.boot.flash.locked", "1"),
        IntegritySignal("ro.boot.vbmeta.device_state", "locked"),
        IntegritySignal(
            "ro.build.fingerprint",
            "google/husky/husky:14/AP2A.240805.005/12025142:user/release-keys",
        ),
        IntegritySignal("package_verifier", "unset"),
        IntegritySignal("unknown_sources", "unset"),
        IntegritySignal("adb_enabled", "true"),
        IntegritySignal("developer_options", "true"),
    ]  # the empty ro.boot.warranty_bit gives no signal

    samsung = p.parse_getprop(read(SAMSUNG, "getprop.txt")).props
    values = {s.name: s.value for s in p.integrity_signals(samsung, settings_of(SAMSUNG), None)}
    assert values["verified_boot_state"] == "orange"
    assert values["bootloader_locked"] == "false"
    assert values["ro.boot.warranty_bit"] == "1"
    assert "selinux" not in values  # getenforce failed and ro.boot.selinux is not set
    assert (values["package_verifier"], values["unknown_sources"]) == ("false", "true")

    vbmeta_only = p.integrity_signals(
        {"ro.boot.vbmeta.device_state": "unlocked", "ro.boot.selinux": "permissive"},
        p.DeviceSettings(),
    )
    values = {s.name: s.value for s in vbmeta_only}
    assert (values["bootloader_locked"], values["selinux"]) == ("false", "permissive")


def test_simulated_signal_names_are_reused() -> None:
    from openmtd.agent.collectors.simulated import simulate

    device = simulate("android-cobo", seed=1, today=date(2025, 6, 1))
    simulated = {s.name for s in device.integrity_signals}
    pixel = p.parse_getprop(read(PIXEL, "getprop.txt")).props
    ours = {s.name for s in p.integrity_signals(pixel, settings_of(PIXEL), "enforcing")}
    assert simulated <= ours


# -- never raise -------------------------------------------------------------------------------

fragments = st.sampled_from(
    [
        "[",
        "]",
        "]: [",
        "package:",
        "apex:",
        "=",
        "==/",
        " versionCode:",
        "  installer=",
        " uid:",
        "null",
        "\n",
        "\r\n",
        "Packages:",
        "Hidden system packages:",
        "  Package [",
        "] (1a2b):",
        "    ",
        "versionCode=",
        "firstInstallTime=",
        "pkgFlags=[ SYSTEM ]",
        "signatures=PackageSignatures{a version:3, signatures:[",
        "device",
        "unauthorized",
        "no permissions (",
        "\t",
        "a" * 64,
        " ",
    ]
)
texts = st.one_of(st.text(), st.lists(st.one_of(fragments, st.text(max_size=8))).map("".join))


@settings(max_examples=300, deadline=None)
@given(texts)
def test_parsers_never_raise(text: str) -> None:
    props = p.parse_getprop(text)
    pm = p.parse_pm_packages(text)
    dumpsys = p.parse_dumpsys_package(text)
    p.parse_sha256sum(text)
    p.parse_devices(text)
    p.parse_getenforce(text)
    settings_ = p.parse_settings({f"{ns}/{key}": text for _, ns, key in p.SETTINGS})
    assert props.skipped >= 0 and pm.skipped >= 0 and dumpsys.skipped >= 0
    facts = p.device_facts(
        props.props,
        scenario=EnrollmentScenario.ANDROID_COBO,
        apps=p.app_inventory(pm.packages, dumpsys.packages),
    )
    assert len(facts.os_version) <= 64 and len(facts.model) <= 128
    assert all(len(a.version) <= 64 for a in facts.apps)
    p.integrity_signals(props.props, settings_, p.parse_getenforce(text))
