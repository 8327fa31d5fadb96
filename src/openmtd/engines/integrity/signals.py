"""Heuristic root and jailbreak signals: what the agent saw on the device, judged by rules.

The rules follow public checklists: the OWASP MASTG resilience tests for MASVS-RESILIENCE-1
("testing root detection", "testing jailbreak detection") and the root/jailbreak indicator lists
that detection libraries and MTD products have published for years. Heuristics are what a
device says about itself, so a rooted device that hides well says nothing: hardware-backed
attestation (key attestation, Play Integrity, App Attest) is the stronger evidence, and these
rules are the floor under it.

Signal vocabulary (``IntegritySignal(name, value)``; every value is a string, plural values are
comma-separated lists; unknown names and values that fit no rule are ignored):

Android, properties and state the agent reads
    ``ro.debuggable``        "1" (debuggable build, bad) or "0"
    ``ro.secure``            "0" (adbd runs as root, bad) or "1"
    ``ro.build.tags``        e.g. "release-keys"; "test-keys" or "dev-keys" is bad
    ``ro.build.type``        "user"; "userdebug" or "eng" is suspicious
    ``ro.build.fingerprint`` brand/product/device:release/id/incremental:type/tags; its type,
                             tags and product feed the build and emulator rules
    ``verified_boot_state``  "green"; "yellow" (custom key), "orange" (unlocked), "red" (failed)
    ``bootloader_locked``    "true" / "false"
    ``selinux``              "enforcing" / "permissive" / "disabled"
    ``ro.boot.warranty_bit`` "1": Samsung Knox warranty fuse tripped
    ``package_verifier``     "true" / "false" / "unset" (Play Protect app verification on)
    ``unknown_sources``      "true" / "false" / "unset" (installs from unknown sources allowed)
    ``adb_enabled``          "true" / "false" / "unset"
    ``developer_options``    "true" / "false" / "unset"
    ``su_paths``             paths where an su binary was found: "/system/xbin/su,/sbin/su"
    ``root_files``           root artefacts found: busybox, Magisk (/sbin/.magisk,
                             /data/adb/magisk, /cache/.disable_magisk ...), KernelSU/APatch
                             (/data/adb/ksu, /data/adb/ap), SuperSU, Xposed/LSPosed files
    ``system_mount``         "ro" / "rw": how /system is mounted
    ``emulator_traits``      what looked like an emulator: "ro.kernel.qemu=1",
                             "ro.hardware=ranchu", "ro.product.model=sdk_gphone64_x86_64" ...
    ``hooking_frameworks``   instrumentation seen: "frida-server:27042", "xposed-bridge-in-stack",
                             "lsposed", "substrate", "zygisk", "riru" ...

iOS
    ``fork_allowed``         "true": fork() succeeded, the sandbox is broken (bad)
    ``sandbox_writable``     "true": a write outside the app's container succeeded (bad)
    ``suspicious_files``     a count of jailbreak files found, "0" is clean
    ``cydia_url_scheme``     "true": cydia:// can be opened (bad)
    ``jailbreak_files``      paths found: "/Applications/Cydia.app,/var/jb,/usr/sbin/sshd" ...
    ``url_schemes``          schemes that can be opened: "cydia,sileo,zbra,filza,undecimus" ...
    ``dylibs``               loaded images that are tweak loaders or instrumentation:
                             "/usr/lib/TweakInject.dylib,FridaGadget" ...
    ``symlinks``             system paths that are symlinks: "/Applications,/var/stash" ...
    ``writable_paths``       system paths the app could write: "/private" ...
    ``developer_mode``       "true" / "false": Developer Mode (lockdown DeveloperModeStatus)

Path lists only count entries this engine recognises (paths are normalised, /private/var and
/var are the same place); stock iOS has symlinks of its own (/var, /etc, /tmp), so only the
paths jailbreaks are known to relink count. A writable path counts when it lies outside the app
containers. The installed-app list is checked against known root managers, hooking frameworks,
root hiders, patchers and jailbreak tools; note that Magisk can hide itself behind a stub app
whose package name is random, so a clean app list proves nothing on its own.

Weights: a conclusive rule proves compromise alone (weight 90-100); the others stay under 70,
so only several of them together compromise (see engines.integrity.verdict); the four
security-setting hygiene rules are so light (5-10) that all of them together stay CLEAN, since
a phone with USB debugging on is careless, not rooted.

Each finding carries its rule's weight, except for rules marked ``cumulative`` (several
independent observations of the same kind, such as three relinked system folders): there the
weight is ``100 * (1 - (1 - w/100) ** n)`` for ``n`` distinct observations, so one symlink is
suspicious while several add up.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from openmtd.domain.device import AppInfo, IntegritySignal
from openmtd.domain.enums import Platform
from openmtd.domain.integrity import EvidenceSource, IntegrityFinding

__all__ = ["RULES", "RULES_BY_ID", "SignalRule", "evaluate_signals", "rules_for"]

#: Longer values are read up to this many characters (the rest is ignored).
MAX_VALUE_CHARS = 16 * 1024
#: At most this many entries of one list value are read.
MAX_LIST_ITEMS = 256
#: A path entry longer than this is not a path.
MAX_PATH_CHARS = 1024
#: Evidence values are cut to this length.
MAX_EVIDENCE_CHARS = 200
#: At most this many evidence pairs per finding; a last ("more", "N more") pair says the rest.
MAX_EVIDENCE_ITEMS = 16
#: Observations beyond this add nothing to a cumulative rule's weight.
MAX_CUMULATIVE = 10


@dataclass(frozen=True, slots=True)
class SignalRule:
    """One heuristic: what it is called, what it weighs and why it matters."""

    id: str  # dotted, "android." or "ios." prefix
    platform: Platform
    weight: int  # 0..100
    conclusive: bool  # proves compromise on its own
    title: str
    explanation: str
    cumulative: bool = False  # distinct observations add up (see the module docstring)


_A = Platform.ANDROID
_I = Platform.IOS

RULES: tuple[SignalRule, ...] = (
    # --- Android: root itself -----------------------------------------------------------
    SignalRule(
        "android.su_binary", _A, 100, True, "su binary present",
        "An su binary lets any app run commands as root; stock builds never ship one "
        "(MASTG root detection: su binaries).",
    ),
    SignalRule(
        "android.magisk", _A, 100, True, "Magisk installed",
        "Magisk files or its manager app are present: the device is rooted systemlessly and "
        "can hide root from apps.",
    ),
    SignalRule(
        "android.kernel_root", _A, 100, True, "Kernel-level root installed",
        "KernelSU or APatch files or apps are present: root is granted from a patched kernel.",
    ),
    SignalRule(
        "android.root_manager", _A, 100, True, "Root manager installed",
        "A root manager (SuperSU, Superuser, KingRoot, KingoRoot ...) or the module directories "
        "of systemless root are present.",
    ),
    SignalRule(
        "android.hooking_framework", _A, 90, True, "Hooking framework active",
        "Frida, Xposed/LSPosed, Substrate or Zygisk code runs on the device: other apps' code "
        "can be rewritten at run time (MASTG: detection of reverse-engineering tools).",
    ),
    # --- Android: boot chain ------------------------------------------------------------
    SignalRule(
        "android.boot_unlocked", _A, 100, True, "Verified boot state orange (unlocked)",
        "The bootloader is unlocked, so the OS image is not verified and can be anything.",
    ),
    SignalRule(
        "android.boot_failed", _A, 100, True, "Verified boot state red (failed)",
        "Verified boot found a corrupted or foreign OS image and the device booted anyway.",
    ),
    SignalRule(
        "android.bootloader_unlocked", _A, 100, True, "Bootloader unlocked",
        "An unlocked bootloader boots unsigned images: the OS can no longer be trusted.",
    ),
    SignalRule(
        "android.boot_custom_key", _A, 50, False, "Verified boot state yellow (custom key)",
        "The OS is verified against a user-installed key, not the maker's: a custom OS that "
        "may be legitimate (GrapheneOS) but is not the maker's build.",
    ),
    SignalRule(
        "android.knox_warranty_void", _A, 60, False, "Knox warranty bit tripped",
        "The Samsung Knox e-fuse proves the device once booted an unofficial image; Knox "
        "features stay disabled even after a return to stock.",
    ),
    # --- Android: build and system --------------------------------------------------------
    SignalRule(
        "android.test_keys", _A, 40, False, "Build signed with test keys",
        "The OS build carries test-keys or dev-keys tags: a custom or engineering ROM, not a "
        "maker's release build.",
    ),
    SignalRule(
        "android.debuggable", _A, 40, False, "ro.debuggable=1",
        "Every app on a debuggable build can be attached to by a debugger.",
    ),
    SignalRule(
        "android.adb_root", _A, 50, False, "ro.secure=0",
        "adbd runs as root on this build: anyone with USB access gets a root shell.",
    ),
    SignalRule(
        "android.debug_build", _A, 35, False, "userdebug or eng build",
        "The OS is a userdebug or eng build, made for development, with root over adb.",
    ),
    SignalRule(
        "android.selinux_not_enforcing", _A, 50, False, "SELinux not enforcing",
        "SELinux is permissive or disabled: the mandatory access control that confines every "
        "process is off, which rooting tools often do.",
    ),
    SignalRule(
        "android.system_rw", _A, 60, False, "/system mounted read-write",
        "The system partition is writable, so system files can be replaced (MASTG: "
        "read-write system partitions).",
    ),
    SignalRule(
        "android.busybox", _A, 30, False, "BusyBox present",
        "BusyBox is a toolbox that root tools install; rarely present on stock builds.",
    ),
    SignalRule(
        "android.emulator", _A, 40, False, "Running on an emulator",
        "The device shows emulator traits (qemu, goldfish/ranchu, generic or sdk_gphone "
        "builds): fine for development, not a managed phone.",
    ),
    # --- Android: apps -----------------------------------------------------------------------
    SignalRule(
        "android.hooking_app", _A, 90, True, "Hooking framework app installed",
        "An Xposed, LSPosed, EdXposed or Substrate manager is installed; they only work on "
        "rooted devices and rewrite other apps.",
    ),
    SignalRule(
        "android.root_cloak_app", _A, 90, True, "Root-hiding app installed",
        "An app that hides root from other apps (RootCloak, Hide My Root ...) is installed: "
        "only useful on a rooted device.",
    ),
    SignalRule(
        "android.patcher_app", _A, 50, False, "App patcher or purchase cracker installed",
        "Lucky Patcher, Freedom or an in-app-billing cracker is installed: they patch other "
        "apps and usually come with root.",
    ),
    # --- Android: security-setting hygiene -----------------------------------------------------
    SignalRule(
        "android.package_verifier_off", _A, 10, False, "App verification turned off",
        "Play Protect no longer verifies installed apps.",
    ),
    SignalRule(
        "android.unknown_sources", _A, 8, False, "Installs from unknown sources allowed",
        "Apps can be installed from outside the stores.",
    ),
    SignalRule(
        "android.adb_enabled", _A, 8, False, "USB debugging enabled",
        "adb is on: a connected computer can install apps and read data once trusted.",
    ),
    SignalRule(
        "android.developer_options", _A, 5, False, "Developer options enabled",
        "Developer options are on; harmless alone, often the first step to rooting.",
    ),
    # --- iOS -----------------------------------------------------------------------------
    SignalRule(
        "ios.fork_allowed", _I, 100, True, "Sandbox allows fork()",
        "fork() succeeded in an App Store app: the sandbox is patched, only a jailbreak does "
        "that (MASTG jailbreak detection: sandbox integrity).",
    ),
    SignalRule(
        "ios.jailbreak_store", _I, 100, True, "Jailbreak package manager installed",
        "Cydia, Sileo, Zebra or Installer is installed or its URL scheme opens: these only "
        "exist on jailbroken devices.",
    ),
    SignalRule(
        "ios.jailbreak_app", _I, 90, True, "Jailbreak tool installed",
        "A jailbreak or CoreTrust-bypass tool (unc0ver, Dopamine, TrollStore, Filza ...) is "
        "installed or its URL scheme opens.",
    ),
    SignalRule(
        "ios.jailbreak_file", _I, 100, True, "Jailbreak file present",
        "A file that only jailbreaks create exists (Cydia, MobileSubstrate, apt, sshd, /var/jb "
        "of rootless jailbreaks ...).",
    ),
    SignalRule(
        "ios.tweak_injection", _I, 100, True, "Tweak injection library loaded",
        "A tweak loader (Substrate, libhooker, Substitute, ElleKit, TweakInject) is loaded into "
        "the app: code from outside the App Store runs inside it.",
    ),
    SignalRule(
        "ios.hooking_framework", _I, 90, True, "Instrumentation library loaded",
        "Frida or Cycript is loaded into the app: its code can be rewritten at run time.",
    ),
    SignalRule(
        "ios.sandbox_writable", _I, 60, False, "Write outside the sandbox succeeded",
        "The app could write outside its container, which the iOS sandbox forbids.",
    ),
    SignalRule(
        "ios.suspicious_files", _I, 60, False, "Jailbreak files reported",
        "The agent counted files that jailbreaks leave behind.",
        cumulative=True,
    ),
    SignalRule(
        "ios.system_symlink", _I, 40, False, "System folder relinked",
        "A system folder that jailbreaks move to the data partition is a symlink.",
        cumulative=True,
    ),
    SignalRule(
        "ios.writable_system_path", _I, 50, False, "System path writable by the app",
        "The app could write a system path outside its containers.",
        cumulative=True,
    ),
    SignalRule(
        "ios.developer_mode", _I, 5, False, "Developer Mode enabled",
        "Developer Mode is on (iOS 16+): apps can be installed from a Mac without review; "
        "harmless alone, needed by several jailbreak and sideloading tools.",
    ),
)  # fmt: skip

RULES_BY_ID: Mapping[str, SignalRule] = MappingProxyType({rule.id: rule for rule in RULES})
assert len(RULES_BY_ID) == len(RULES), "rule ids are unique"


def rules_for(platform: Platform) -> tuple[SignalRule, ...]:
    """The rules that apply to `platform`, in table order."""
    return tuple(rule for rule in RULES if rule.platform is platform)


# --------------------------------------------------------------------------------------------
# Indicator tables
# --------------------------------------------------------------------------------------------

#: Android file basenames and what they reveal.
_ANDROID_BASENAMES: Mapping[str, str] = MappingProxyType(
    {
        "su": "android.su_binary",
        "busybox": "android.busybox",
        "magisk": "android.magisk",
        "magisk32": "android.magisk",
        "magisk64": "android.magisk",
        "magiskinit": "android.magisk",
        "magiskpolicy": "android.magisk",
        "magiskboot": "android.magisk",
        "ksud": "android.kernel_root",
        "apd": "android.kernel_root",
        "daemonsu": "android.root_manager",
        "superuser.apk": "android.root_manager",
        "supersu.apk": "android.root_manager",
        "xposedbridge.jar": "android.hooking_framework",
        "libxposed_art.so": "android.hooking_framework",
        "frida-server": "android.hooking_framework",
    }
)
#: Android paths (and everything under them) and what they reveal.
_ANDROID_PATHS: Mapping[str, str] = MappingProxyType(
    {
        "/sbin/.magisk": "android.magisk",
        "/sbin/.core": "android.magisk",
        "/data/adb/magisk": "android.magisk",
        "/data/adb/magisk.db": "android.magisk",
        "/data/adb/magisk.img": "android.magisk",
        "/cache/.disable_magisk": "android.magisk",
        "/cache/magisk.log": "android.magisk",
        "/debug_ramdisk/.magisk": "android.magisk",
        "/init.magisk.rc": "android.magisk",
        "/data/adb/ksu": "android.kernel_root",
        "/data/adb/ap": "android.kernel_root",
        "/data/adb/modules": "android.root_manager",
        "/data/adb/modules_update": "android.root_manager",
        "/data/adb/post-fs-data.d": "android.root_manager",
        "/data/adb/service.d": "android.root_manager",
        "/su": "android.root_manager",
        "/system/app/Superuser": "android.root_manager",
        "/system/app/SuperSU": "android.root_manager",
        "/system/etc/init.d/99SuperSUDaemon": "android.root_manager",
        "/system/etc/.installed_su_daemon": "android.root_manager",
        "/system/etc/.has_su_daemon": "android.root_manager",
        "/data/adb/lspd": "android.hooking_framework",
        "/data/adb/riru": "android.hooking_framework",
        "/system/framework/XposedBridge.jar": "android.hooking_framework",
    }
)
_ANDROID_APPS: Mapping[str, str] = MappingProxyType(
    {
        "com.topjohnwu.magisk": "android.magisk",
        "io.github.vvb2060.magisk": "android.magisk",  # Magisk Alpha
        "me.weishu.kernelsu": "android.kernel_root",
        "me.bmax.apatch": "android.kernel_root",
        "eu.chainfire.supersu": "android.root_manager",
        "eu.chainfire.supersu.pro": "android.root_manager",
        "com.noshufou.android.su": "android.root_manager",
        "com.noshufou.android.su.elite": "android.root_manager",
        "com.koushikdutta.superuser": "android.root_manager",
        "com.thirdparty.superuser": "android.root_manager",
        "com.yellowes.su": "android.root_manager",
        "com.kingroot.kinguser": "android.root_manager",
        "com.kingo.root": "android.root_manager",
        "com.smedialink.oneclickroot": "android.root_manager",
        "com.zhiqupk.root.global": "android.root_manager",
        "com.alephzain.framaroot": "android.root_manager",
        "de.robv.android.xposed.installer": "android.hooking_app",
        "org.lsposed.manager": "android.hooking_app",
        "org.meowcat.edxposed.manager": "android.hooking_app",
        "com.solohsu.android.edxp.manager": "android.hooking_app",
        "com.saurik.substrate": "android.hooking_app",
        "com.devadvance.rootcloak": "android.root_cloak_app",
        "com.devadvance.rootcloakplus": "android.root_cloak_app",
        "com.zachspong.temprootremovejb": "android.root_cloak_app",
        "com.amphoras.hidemyroot": "android.root_cloak_app",
        "com.amphoras.hidemyrootadfree": "android.root_cloak_app",
        "com.formyhm.hideroot": "android.root_cloak_app",
        "com.formyhm.hiderootpremium": "android.root_cloak_app",
        "com.chelpus.lackypatch": "android.patcher_app",
        "com.chelpus.luckypatcher": "android.patcher_app",
        "com.dimonvideo.luckypatcher": "android.patcher_app",
        "com.android.vending.billing.inappbillingservice.coin": "android.patcher_app",
        "com.android.vending.billing.inappbillingservice.luck": "android.patcher_app",
        "catch.me.if.you.can": "android.patcher_app",
        "catch_.me_.if_.you_.can_": "android.patcher_app",  # Lucky Patcher's own package
        "cc.madkite.freedom": "android.patcher_app",
    }
)
#: Substrings of a hooking_frameworks entry and the framework they name.
_ANDROID_HOOKS: tuple[str, ...] = (
    "frida", "27042", "xposed", "lsposed", "edxposed", "substrate", "zygisk", "riru",
)  # fmt: skip
#: Substrings of an emulator_traits entry that name an emulator.
_EMULATOR_TOKENS: tuple[str, ...] = (
    "goldfish", "ranchu", "sdk_gphone", "generic", "emulator", "vbox86", "genymotion",
    "bluestacks", "nox", "qemu", "ttvm",
)  # fmt: skip

_IOS_STORES: frozenset[str] = frozenset(
    {
        "/Applications/Cydia.app",
        "/Applications/Sileo.app",
        "/Applications/Zebra.app",
        "/Applications/Installer.app",
    }
)
#: iOS paths (and everything under them) that only jailbreaks create.
_IOS_FILES: frozenset[str] = frozenset(
    {
        *_IOS_STORES,
        "/Applications/blackra1n.app",
        "/Applications/FakeCarrier.app",
        "/Applications/Icy.app",
        "/Applications/IntelliScreen.app",
        "/Applications/MxTube.app",
        "/Applications/RockApp.app",
        "/Applications/SBSettings.app",
        "/Applications/WinterBoard.app",
        "/Library/MobileSubstrate",
        "/Library/PreferenceLoader",
        "/Library/Frameworks/CydiaSubstrate.framework",
        "/System/Library/LaunchDaemons/com.saurik.Cydia.Startup.plist",
        "/System/Library/LaunchDaemons/com.ikey.bbot.plist",
        "/bin/bash",
        "/bin/sh",
        "/usr/bin/ssh",
        "/usr/bin/sshd",
        "/usr/sbin/sshd",
        "/usr/libexec/ssh-keysign",
        "/usr/libexec/sftp-server",
        "/usr/libexec/cydia",
        "/usr/bin/cycript",
        "/usr/local/bin/cycript",
        "/usr/lib/libcycript.dylib",
        "/usr/sbin/frida-server",
        "/usr/lib/frida",
        "/usr/lib/libsubstitute.dylib",
        "/usr/lib/substrate",
        "/usr/lib/TweakInject",
        "/usr/lib/libhooker.dylib",
        "/usr/lib/libjailbreak.dylib",
        "/usr/share/jailbreak",
        "/etc/apt",
        "/etc/ssh/sshd_config",
        "/etc/alternatives",
        "/var/lib/apt",
        "/var/lib/cydia",
        "/var/lib/dpkg",
        "/var/lib/undecimus",
        "/var/cache/apt",
        "/var/stash",
        "/var/tmp/cydia.log",
        "/var/mobile/Library/SBSettings",
        "/var/jb",
        "/var/binpack",
        "/var/checkra1n.dmg",
        "/.installed_dopamine",
        "/.installed_unc0ver",
        "/.bootstrapped_electra",
        "/.cydia_no_stash",
        "/jb",
    }
)
_IOS_SCHEMES: Mapping[str, str] = MappingProxyType(
    {
        "cydia": "ios.jailbreak_store",
        "sileo": "ios.jailbreak_store",
        "zbra": "ios.jailbreak_store",
        "installer": "ios.jailbreak_store",
        "filza": "ios.jailbreak_app",
        "undecimus": "ios.jailbreak_app",
        "activator": "ios.jailbreak_app",
        "apple-magnifier": "ios.jailbreak_app",  # TrollStore's scheme
    }
)
_IOS_APPS: Mapping[str, str] = MappingProxyType(
    {
        "com.saurik.cydia": "ios.jailbreak_store",
        "org.coolstar.sileostore": "ios.jailbreak_store",
        "org.coolstar.sileo": "ios.jailbreak_store",
        "xyz.willy.zebra": "ios.jailbreak_store",
        "com.tigisoftware.filza": "ios.jailbreak_app",
        "science.xnu.undecimus": "ios.jailbreak_app",
        "com.opa334.dopamine": "ios.jailbreak_app",
        "com.opa334.trollstore": "ios.jailbreak_app",
        "kr.xsf1re.vnodebypass": "ios.jailbreak_app",
        "org.coolstar.odyssey": "ios.jailbreak_app",
        "com.electrateam.chimera": "ios.jailbreak_app",
    }
)
#: Substrings of a loaded image's file name and what they reveal.
_IOS_DYLIBS: tuple[tuple[str, str], ...] = (
    ("mobilesubstrate", "ios.tweak_injection"),
    ("substrateloader", "ios.tweak_injection"),
    ("substrateinserter", "ios.tweak_injection"),
    ("substratebootstrap", "ios.tweak_injection"),
    ("cydiasubstrate", "ios.tweak_injection"),
    ("libhooker", "ios.tweak_injection"),
    ("substitute", "ios.tweak_injection"),
    ("ellekit", "ios.tweak_injection"),
    ("tweakinject", "ios.tweak_injection"),
    ("tweakloader", "ios.tweak_injection"),
    ("sslkillswitch", "ios.tweak_injection"),
    ("preferenceloader", "ios.tweak_injection"),
    ("rocketbootstrap", "ios.tweak_injection"),
    ("frida", "ios.hooking_framework"),
    ("cynject", "ios.hooking_framework"),
    ("cycript", "ios.hooking_framework"),
)
#: System folders that Cydia-era jailbreaks move to the data partition ("stashing").
_IOS_STASHED: frozenset[str] = frozenset(
    {
        "/Applications",
        "/Library/Ringtones",
        "/Library/Wallpaper",
        "/usr/arm-apple-darwin9",
        "/usr/include",
        "/usr/libexec",
        "/usr/share",
        "/var/stash",
        "/var/lib/undecimus/apt",
    }
)
#: Where an app may write: its own containers.
_IOS_CONTAINERS: tuple[str, ...] = ("/var/mobile/Containers", "/var/containers")

# --------------------------------------------------------------------------------------------
# Reading values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Hit:
    rule_id: str
    evidence: tuple[str, str]
    count: int = 1


def _text(value: str) -> str:
    """The value as a bounded, trimmed, lower-case word."""
    return value[:MAX_VALUE_CHARS].strip().lower()


def _items(value: str) -> list[str]:
    """The entries of a comma-separated list value, bounded in size and count."""
    items = value[: MAX_VALUE_CHARS + 1].split(",")
    if len(value) > MAX_VALUE_CHARS:
        items.pop()  # cut in the middle
    return [item.strip() for item in items[:MAX_LIST_ITEMS] if item.strip()]


def _paths(value: str) -> list[str]:
    """The absolute, printable paths of a list value, normalised (/private/var is /var)."""
    paths = []
    for item in _items(value):
        if not item.startswith("/") or len(item) > MAX_PATH_CHARS or not item.isprintable():
            continue
        path = "/" + posixpath.normpath(item).lstrip("/")
        for alias in ("/var", "/etc", "/tmp"):
            if path == "/private" + alias or path.startswith(f"/private{alias}/"):
                path = path.removeprefix("/private")
        paths.append(path)
    return paths


def _under(path: str, roots: Iterable[str]) -> str | None:
    """The root that `path` is or lies under, if any."""
    for root in roots:
        if path == root or path.startswith(root + "/"):
            return root
    return None


def _bounded(text: str) -> str:
    """Evidence text: printable and short."""
    clean = "".join(c if c.isprintable() else "?" for c in text[: MAX_EVIDENCE_CHARS + 1])
    return clean if len(clean) <= MAX_EVIDENCE_CHARS else clean[: MAX_EVIDENCE_CHARS - 1] + "…"


# --------------------------------------------------------------------------------------------
# Android checks
# --------------------------------------------------------------------------------------------

_Check = Callable[[str, str], Iterator[_Hit]]


def _equals(rule_id: str, *bad: str) -> _Check:
    """A check that hits `rule_id` when the value is one of `bad`."""

    def check(name: str, value: str) -> Iterator[_Hit]:
        word = _text(value)
        if word in bad:
            yield _Hit(rule_id, (name, word))

    return check


def _build_tags(name: str, value: str) -> Iterator[_Hit]:
    tags = {tag.strip() for tag in _text(value).split(",")}
    if tags & {"test-keys", "dev-keys"}:
        yield _Hit("android.test_keys", (name, _bounded(value[:MAX_VALUE_CHARS].strip())))


def _build_type(name: str, value: str) -> Iterator[_Hit]:
    word = _text(value)
    if word in ("userdebug", "eng"):
        yield _Hit("android.debug_build", (name, word))


def _boot_state(name: str, value: str) -> Iterator[_Hit]:
    rule = {
        "orange": "android.boot_unlocked",
        "red": "android.boot_failed",
        "yellow": "android.boot_custom_key",
    }.get(_text(value))
    if rule is not None:
        yield _Hit(rule, (name, _text(value)))


_FINGERPRINT = re.compile(
    r"(?P<brand>[^/]*)/(?P<product>[^/]*)/(?P<device>[^:/]*):[^/]*/[^/]*/[^:/]*"
    r":(?P<type>[^/]*)/(?P<tags>.*)"
)


def _fingerprint(name: str, value: str) -> Iterator[_Hit]:
    match = _FINGERPRINT.fullmatch(_text(value))
    if match is None:
        return
    evidence = (name, _bounded(value[:MAX_VALUE_CHARS].strip()))
    if {"test-keys", "dev-keys"} & set(match["tags"].split(",")):
        yield _Hit("android.test_keys", evidence)
    if match["type"] in ("userdebug", "eng"):
        yield _Hit("android.debug_build", evidence)
    naming = (match["brand"], match["product"], match["device"])
    if any(part.startswith(("generic", "sdk", "emu", "vbox86")) for part in naming):
        yield _Hit("android.emulator", evidence)


def _android_paths(name: str, value: str) -> Iterator[_Hit]:
    for path in _paths(value):
        rule = _ANDROID_BASENAMES.get(posixpath.basename(path).lower())
        if rule is None:
            root = _under(path, _ANDROID_PATHS)
            rule = None if root is None else _ANDROID_PATHS[root]
        if rule is not None:
            yield _Hit(rule, (name, path))


def _system_mount(name: str, value: str) -> Iterator[_Hit]:
    word = _text(value)
    if word == "rw" or word.startswith("rw,"):
        yield _Hit("android.system_rw", (name, "rw"))


def _emulator_traits(name: str, value: str) -> Iterator[_Hit]:
    for item in _items(value):
        entry = item.lower()
        key, _, setting = entry.partition("=")
        if key.strip() == "ro.kernel.qemu":
            if setting.strip() == "1":
                yield _Hit("android.emulator", (name, _bounded(item)))
        elif any(token in entry for token in _EMULATOR_TOKENS):
            yield _Hit("android.emulator", (name, _bounded(item)))


def _hooking_frameworks(name: str, value: str) -> Iterator[_Hit]:
    for item in _items(value):
        if any(token in item.lower() for token in _ANDROID_HOOKS):
            yield _Hit("android.hooking_framework", (name, _bounded(item)))


_ANDROID_CHECKS: Mapping[str, _Check] = MappingProxyType(
    {
        "ro.debuggable": _equals("android.debuggable", "1"),
        "ro.secure": _equals("android.adb_root", "0"),
        "ro.build.tags": _build_tags,
        "ro.build.type": _build_type,
        "ro.build.fingerprint": _fingerprint,
        "verified_boot_state": _boot_state,
        "bootloader_locked": _equals("android.bootloader_unlocked", "false"),
        "selinux": _equals("android.selinux_not_enforcing", "permissive", "disabled"),
        "ro.boot.warranty_bit": _equals("android.knox_warranty_void", "1"),
        "package_verifier": _equals("android.package_verifier_off", "false"),
        "unknown_sources": _equals("android.unknown_sources", "true"),
        "adb_enabled": _equals("android.adb_enabled", "true"),
        "developer_options": _equals("android.developer_options", "true"),
        "su_paths": _android_paths,
        "root_files": _android_paths,
        "system_mount": _system_mount,
        "emulator_traits": _emulator_traits,
        "hooking_frameworks": _hooking_frameworks,
    }
)

# --------------------------------------------------------------------------------------------
# iOS checks
# --------------------------------------------------------------------------------------------


def _suspicious_files(name: str, value: str) -> Iterator[_Hit]:
    word = _text(value)
    if re.fullmatch(r"[0-9]{1,9}", word) and int(word) > 0:
        yield _Hit("ios.suspicious_files", (name, str(int(word))), count=int(word))


def _jailbreak_files(name: str, value: str) -> Iterator[_Hit]:
    for path in _paths(value):
        store = _under(path, _IOS_STORES)
        if store is not None:
            yield _Hit("ios.jailbreak_store", (name, path))
        elif _under(path, _IOS_FILES) is not None:
            yield _Hit("ios.jailbreak_file", (name, path))


def _url_schemes(name: str, value: str) -> Iterator[_Hit]:
    for item in _items(value):
        scheme = item.lower().removesuffix("//").removesuffix(":")
        rule = _IOS_SCHEMES.get(scheme)
        if rule is not None:
            yield _Hit(rule, (name, scheme))


def _dylibs(name: str, value: str) -> Iterator[_Hit]:
    for item in _items(value):
        image = posixpath.basename(item).lower()
        for token, rule in _IOS_DYLIBS:
            if token in image:
                yield _Hit(rule, (name, _bounded(item)))
                break


def _symlinks(name: str, value: str) -> Iterator[_Hit]:
    for path in _paths(value):
        if path in _IOS_STASHED:
            yield _Hit("ios.system_symlink", (name, path))


def _writable_paths(name: str, value: str) -> Iterator[_Hit]:
    for path in _paths(value):
        if _under(path, _IOS_CONTAINERS) is None:
            yield _Hit("ios.writable_system_path", (name, _bounded(path)))


_IOS_CHECKS: Mapping[str, _Check] = MappingProxyType(
    {
        "fork_allowed": _equals("ios.fork_allowed", "true"),
        "sandbox_writable": _equals("ios.sandbox_writable", "true"),
        "suspicious_files": _suspicious_files,
        "cydia_url_scheme": _equals("ios.jailbreak_store", "true"),
        "jailbreak_files": _jailbreak_files,
        "url_schemes": _url_schemes,
        "dylibs": _dylibs,
        "symlinks": _symlinks,
        "writable_paths": _writable_paths,
        "developer_mode": _equals("ios.developer_mode", "true"),
    }
)

# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def evaluate_signals(
    platform: Platform, signals: Sequence[IntegritySignal], apps: Sequence[AppInfo] = ()
) -> tuple[IntegrityFinding, ...]:
    """The findings that `signals` and the installed `apps` support, heaviest first.

    One finding per rule, its evidence naming every observation (signal name and value, or
    the app's identifier). Unknown names, other platforms' names and values that fit no rule
    add nothing.
    """
    hits = [*_signal_hits(platform, signals), *_app_hits(platform, apps)]
    findings = [_finding(RULES_BY_ID[rule_id], group) for rule_id, group in _grouped(hits)]
    return tuple(sorted(findings, key=lambda f: (-f.weight, f.rule_id)))


def _signal_hits(platform: Platform, signals: Sequence[IntegritySignal]) -> Iterator[_Hit]:
    checks = _ANDROID_CHECKS if platform is Platform.ANDROID else _IOS_CHECKS
    for signal in signals:
        name, value = getattr(signal, "name", None), getattr(signal, "value", None)
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        check = checks.get(name)
        if check is not None:
            yield from check(name, value)


def _app_hits(platform: Platform, apps: Sequence[AppInfo]) -> Iterator[_Hit]:
    known, label = (
        (_ANDROID_APPS, "package") if platform is Platform.ANDROID else (_IOS_APPS, "bundle_id")
    )
    for app in apps:
        identifier = getattr(app, "identifier", None)
        if not isinstance(identifier, str) or len(identifier) > MAX_PATH_CHARS:
            continue
        rule = known.get(identifier.strip().lower())
        if rule is not None:
            yield _Hit(rule, (label, _bounded(identifier.strip())))


def _grouped(hits: Iterable[_Hit]) -> Iterator[tuple[str, list[_Hit]]]:
    """Hits by rule, each observation once, in first-seen order."""
    groups: dict[str, dict[tuple[str, str], _Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.rule_id, {}).setdefault(hit.evidence, hit)
    for rule_id, by_evidence in groups.items():
        yield rule_id, list(by_evidence.values())


def _finding(rule: SignalRule, hits: list[_Hit]) -> IntegrityFinding:
    evidence = tuple(hit.evidence for hit in hits[:MAX_EVIDENCE_ITEMS])
    if len(hits) > MAX_EVIDENCE_ITEMS:
        evidence += (("more", f"{len(hits) - MAX_EVIDENCE_ITEMS} more"),)
    weight = rule.weight
    if rule.cumulative:
        observations = min(MAX_CUMULATIVE, sum(hit.count for hit in hits))
        weight = min(100, round(100 * (1 - (1 - rule.weight / 100) ** observations)))
    return IntegrityFinding(
        rule_id=rule.id,
        source=EvidenceSource.SIGNALS,
        weight=weight,
        title=rule.title,
        explanation=rule.explanation,
        evidence=evidence,
        platform=rule.platform,
        conclusive=rule.conclusive,
    )
