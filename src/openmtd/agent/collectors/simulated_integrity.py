"""Compromised and doubtful integrity signal sets for simulated devices.

`simulate()` devices report clean signals; demos, tests and benchmarks also need devices that
were rooted, jailbroken or merely look odd. Each set here is complete (it replaces the device's
signals rather than adding to them) and is what the agent would report on such a device, in
the vocabulary of `openmtd.engines.integrity.signals`:

* `rooted_android_signals`: a Pixel 8 Pro rooted with Magisk - bootloader unlocked, verified
  boot orange, su and Magisk files, props left at their release values (Magisk keeps them),
  USB debugging on;
* `jailbroken_ios_signals`: a rootless Dopamine jailbreak (iOS 15/16) - everything lives under
  /var/jb, Sileo is the package manager, ElleKit injects tweaks through TweakInject; the
  classic sandbox probes stay clean, as they do on rootless jailbreaks;
* `suspicious_android_signals`: an OEM userdebug test build on a locked, verified phone -
  debuggable, with adb on: nothing proves compromise, but it is no production phone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from openmtd.agent.collectors.simulated import SimulatedDevice
from openmtd.domain.device import IntegritySignal

__all__ = [
    "apply",
    "jailbroken_ios_signals",
    "rooted_android_signals",
    "suspicious_android_signals",
]

_S = IntegritySignal
_PIXEL_8_PRO = "google/husky/husky:14/AP2A.240805.005/12025142"


def _listed(*items: str) -> str:
    return ",".join(items)


def rooted_android_signals() -> tuple[IntegritySignal, ...]:
    """A Pixel 8 Pro rooted with Magisk (Android 14)."""
    return (
        _S("ro.debuggable", "0"),
        _S("ro.secure", "1"),
        _S("ro.build.tags", "release-keys"),
        _S("ro.build.type", "user"),
        _S("ro.build.fingerprint", f"{_PIXEL_8_PRO}:user/release-keys"),
        _S("verified_boot_state", "orange"),
        _S("bootloader_locked", "false"),
        _S("selinux", "enforcing"),
        _S("su_paths", "/system/bin/su,/debug_ramdisk/su"),
        _S(
            "root_files",
            _listed(
                "/data/adb/magisk",
                "/data/adb/magisk.db",
                "/data/adb/modules",
                "/debug_ramdisk/magisk",
            ),
        ),
        _S("system_mount", "ro"),
        _S("package_verifier", "true"),
        _S("unknown_sources", "false"),
        _S("adb_enabled", "true"),
        _S("developer_options", "true"),
    )


def jailbroken_ios_signals() -> tuple[IntegritySignal, ...]:
    """An iPhone with the rootless Dopamine jailbreak, Sileo and ElleKit."""
    return (
        _S("fork_allowed", "false"),
        _S("sandbox_writable", "false"),
        _S("suspicious_files", "0"),
        _S("cydia_url_scheme", "false"),
        _S(
            "jailbreak_files",
            _listed(
                "/var/jb",
                "/var/jb/.installed_dopamine",
                "/var/jb/Applications/Sileo.app",
                "/var/jb/usr/lib/TweakInject",
            ),
        ),
        _S("url_schemes", "sileo,filza"),
        _S(
            "dylibs",
            _listed("/var/jb/usr/lib/libellekit.dylib", "/var/jb/usr/lib/TweakInject.dylib"),
        ),
        _S("symlinks", ""),
        _S("writable_paths", ""),
    )


def suspicious_android_signals() -> tuple[IntegritySignal, ...]:
    """A maker's userdebug test build on a locked, verified phone, USB debugging on."""
    return (
        _S("ro.debuggable", "1"),
        _S("ro.secure", "1"),
        _S("ro.build.tags", "release-keys"),
        _S("ro.build.type", "userdebug"),
        _S("ro.build.fingerprint", f"{_PIXEL_8_PRO}:userdebug/release-keys"),
        _S("verified_boot_state", "green"),
        _S("bootloader_locked", "true"),
        _S("selinux", "enforcing"),
        _S("system_mount", "ro"),
        _S("adb_enabled", "true"),
    )


def apply(device: SimulatedDevice, signals: Iterable[IntegritySignal]) -> SimulatedDevice:
    """`device` reporting `signals` instead of its own."""
    return replace(device, integrity_signals=tuple(signals))
