"""Pure parsers of what an Android phone prints over adb, and the mapping to device facts.

Every parser takes the text a command printed and returns typed values; none of them raises on
unexpected input. A line that cannot be understood is skipped and counted (``skipped``), so one
odd vendor line never loses the rest of the output. The driver (`adb.py`) runs the commands;
this module never touches a process, a file or the clock.

The commands and the formats parsed here:

- ``getprop``: ``[ro.build.version.release]: [14]``, one property per line, sorted; a value
  may run over several lines (``persist.sys.boot.reason.history`` does).
- ``pm list packages -f -U -i --show-versioncode``, one package per line::

      package:/data/app/~~R4nd==/com.x-Q2==/base.apk=com.x versionCode:123  installer=X uid:10234

  (the installer is a package name, or the literal ``null`` when none is recorded).
- ``dumpsys package packages``: one ``Package [name] (hash):`` block per package under
  ``Packages:``, and the factory copies of updated system apps under
  ``Hidden system packages:``.
- ``settings get NAMESPACE KEY``: the value on one line, ``null`` when the key is unset.
- ``getenforce``: ``Enforcing`` / ``Permissive`` / ``Disabled``.
- ``sha256sum PATH…`` (toybox): ``<64 hex>  <path>`` per file.
- ``adb devices -l``: ``SERIAL<tab or spaces>STATE key:value…`` under a header line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from openmtd.domain.device import AppInfo, DeviceFacts, IntegritySignal
from openmtd.domain.enums import EnrollmentScenario, InstallSource, Platform

__all__ = [
    "MANAGED_INSTALLERS",
    "SETTINGS",
    "SIDELOAD_INSTALLERS",
    "STORE_INSTALLERS",
    "SYSTEM_PATH_PREFIXES",
    "AdbDevice",
    "DeviceSettings",
    "DumpsysPackage",
    "DumpsysPackages",
    "GetProp",
    "PmPackage",
    "PmPackages",
    "Sha256Sums",
    "Signer",
    "app_inventory",
    "device_facts",
    "device_name",
    "hardware_id",
    "install_source",
    "integrity_signals",
    "parse_devices",
    "parse_dumpsys_package",
    "parse_getenforce",
    "parse_getprop",
    "parse_pm_packages",
    "parse_setting",
    "parse_settings",
    "parse_sha256sum",
]

# --------------------------------------------------------------------------------------------
# Install sources: who installed an app decides where it came from
# --------------------------------------------------------------------------------------------

#: App stores whose installs count as STORE: each reviews what it distributes.
STORE_INSTALLERS: Mapping[str, str] = {
    "com.android.vending": "Google Play",
    "com.sec.android.app.samsungapps": "Samsung Galaxy Store",
    "com.amazon.venezia": "Amazon Appstore",
    "com.huawei.appmarket": "Huawei AppGallery",
    "com.xiaomi.market": "Xiaomi GetApps",
    "com.xiaomi.mipicks": "Xiaomi GetApps",
    "com.heytap.market": "OPPO App Market",
    "com.oppo.market": "OPPO App Market",
    "com.bbk.appstore": "vivo App Store",
    "org.fdroid.fdroid": "F-Droid",
}
#: Device-policy and MDM agents: what they install was pushed by the organisation (MANAGED).
MANAGED_INSTALLERS: Mapping[str, str] = {
    "com.google.android.apps.work.clouddpc": "Android Device Policy",
    "com.airwatch.androidagent": "Workspace ONE Intelligent Hub",
    "com.microsoft.windowsintune.companyportal": "Microsoft Intune Company Portal",
    "com.mobileiron": "Ivanti Mobile@Work",
    "com.fiberlink.maas360.android.control": "IBM MaaS360",
    "com.manageengine.mdm.android": "ManageEngine MDM",
}
#: The platform's own installers: an app they installed came from a file the user opened
#: (browser download, file manager, messenger attachment) or from `adb install`.
SIDELOAD_INSTALLERS: Mapping[str, str] = {
    "com.google.android.packageinstaller": "Package installer",
    "com.android.packageinstaller": "Package installer",
    "com.android.shell": "adb install",
}
#: Read-only partitions preinstalled apps live on (Samsung adds /prism and /optics).
SYSTEM_PATH_PREFIXES: tuple[str, ...] = (
    "/system/",
    "/system_ext/",
    "/product/",
    "/vendor/",
    "/odm/",
    "/oem/",
    "/apex/",
    "/prism/",
    "/optics/",
)


def install_source(installer: str | None, *, system: bool, listed: bool = True) -> InstallSource:
    """Where an app came from, decided in this order.

    1. A preinstalled app (``SYSTEM`` flag, or its APK on a system partition) is SYSTEM, even
       when a store has updated it since.
    2. No installer information at all (the listing had no ``installer=``): UNKNOWN.
    3. An MDM / device-policy installer: MANAGED.
    4. A known app store: STORE.
    5. Everything else is SIDELOADED: the platform package installer, ``adb install``, no
       recorded installer (``null``) and any other app acting as an installer (a browser, a
       file manager, an unlisted store) — all of them need "install unknown apps".
    """
    if system:
        return InstallSource.SYSTEM
    if not listed:
        return InstallSource.UNKNOWN
    if installer in MANAGED_INSTALLERS:
        return InstallSource.MANAGED
    if installer in STORE_INSTALLERS:
        return InstallSource.STORE
    return InstallSource.SIDELOADED


def _on_system_partition(path: str) -> bool:
    return path.startswith(SYSTEM_PATH_PREFIXES)


# --------------------------------------------------------------------------------------------
# getprop
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetProp:
    props: dict[str, str]
    skipped: int = 0

    def get(self, name: str, default: str = "") -> str:
        return self.props.get(name, default)


_PROP_START = re.compile(r"^\[([A-Za-z0-9_.:@\-]+)\]: \[(.*)$")
_PROP_WHOLE = re.compile(r"^\[[A-Za-z0-9_.:@\-]+\]: \[.*\]$")


def parse_getprop(text: str) -> GetProp:
    """``[name]: [value]`` lines; a value without its closing ``]`` continues on the next lines."""
    props: dict[str, str] = {}
    skipped = 0
    pending: tuple[str, list[str]] | None = None
    for line in text.splitlines():
        if pending is not None:
            if _PROP_WHOLE.match(line):  # the open value never closed: drop it
                skipped += 1
                pending = None
            else:
                name, parts = pending
                if line.endswith("]"):
                    parts.append(line[:-1])
                    props[name] = "\n".join(parts)
                    pending = None
                else:
                    parts.append(line)
                continue
        if not line.strip():
            continue
        match = _PROP_START.match(line)
        if match is None:
            skipped += 1
            continue
        name, rest = match.groups()
        if rest.endswith("]"):
            props[name] = rest[:-1]
        else:
            pending = (name, [rest])
    if pending is not None:
        skipped += 1
    return GetProp(props, skipped)


# --------------------------------------------------------------------------------------------
# pm list packages -f -U -i --show-versioncode
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PmPackage:
    name: str
    path: str  # the base APK ("" when the listing had no -f)
    version_code: int | None = None
    installer: str | None = None  # None: "installer=null" or not listed
    installer_listed: bool = False  # the line had an installer= field at all
    uid: int | None = None
    apex: bool = False


@dataclass(frozen=True, slots=True)
class PmPackages:
    packages: tuple[PmPackage, ...]
    skipped: int = 0


_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")


def parse_pm_packages(text: str) -> PmPackages:
    """``package:PATH=NAME versionCode:N  installer=X uid:N`` lines, fields in any order.

    The path is split from the name at the last ``=``: install folders such as
    ``/data/app/~~R4nd0m==/com.x-Q2==/base.apk`` contain ``=`` themselves.
    """
    packages: list[PmPackage] = []
    seen: set[str] = set()
    skipped = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        head, _, tail = line.strip().partition(" ")
        kind, sep, target = head.partition(":")
        if not sep or kind not in ("package", "apex"):
            skipped += 1
            continue
        path, eq, name = target.rpartition("=")
        if not eq:
            path, name = "", target
        if not _PACKAGE_NAME.match(name) or name in seen:
            skipped += 1
            continue
        version_code: int | None = None
        installer: str | None = None
        listed = False
        uid: int | None = None
        for token in tail.split():  # fields a newer release adds are ignored
            if token.startswith("installer="):
                listed = True
                value = token.removeprefix("installer=")
                installer = None if value in ("", "null") else value
            elif token.startswith("versionCode:") and token[12:].isdigit():
                version_code = int(token[12:])
            elif token.startswith("uid:") and token[4:].split(",")[0].isdigit():
                uid = int(token[4:].split(",")[0])
        seen.add(name)
        packages.append(
            PmPackage(name, path, version_code, installer, listed, uid, apex=kind == "apex")
        )
    return PmPackages(tuple(packages), skipped)


# --------------------------------------------------------------------------------------------
# dumpsys package packages
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DumpsysPackage:
    name: str
    code_path: str = ""
    version_code: int | None = None
    version_name: str = ""
    installer: str | None = None  # installerPackageName
    initiating_installer: str | None = None  # initiatingPackageName (Android 11+)
    first_install_time: datetime | None = None  # the phone's local time, as it prints it
    last_update_time: datetime | None = None
    flags: frozenset[str] = frozenset()  # pkgFlags (or flags) without the brackets
    splits: tuple[str, ...] = ()
    signing_version: int | None = None  # APK signature scheme (1..4)
    #: Signature hash codes as PackageSignatures prints them: 32-bit Java hashCodes of each
    #: signing certificate, stable per certificate but not a SHA-256 of it.
    signatures: tuple[str, ...] = ()
    past_signatures: tuple[str, ...] = ()

    @property
    def system(self) -> bool:
        return "SYSTEM" in self.flags or _on_system_partition(self.code_path + "/")

    @property
    def updated_system_app(self) -> bool:
        return "UPDATED_SYSTEM_APP" in self.flags


@dataclass(frozen=True, slots=True)
class DumpsysPackages:
    packages: dict[str, DumpsysPackage]
    #: Factory copies of system apps that were updated ("Hidden system packages:").
    hidden_system: frozenset[str] = frozenset()
    skipped: int = 0


_SECTION = re.compile(r"^\S.*:$")
_PACKAGE_HEADER = re.compile(r"^  Package \[([^\]\s]+)\] \([0-9a-fA-F]+\):$")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_SIGNATURES = re.compile(
    r"^signatures=PackageSignatures\{\S+ version:(\d+), signatures:\[([^\]]*)\]"
    r"(?:, past signatures:\[([^\]]*)\])?\}$"
)
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def _hex_tokens(text: str) -> tuple[str, ...]:
    """``a1b2c3, d4e5f6`` or ``a1b2c3 flags: 17``: the hex words, in order."""
    words = (w.strip(",") for w in text.split())
    return tuple(w.lower() for w in words if _HEX.match(w) and not w.isdigit())


class _DumpsysBuilder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.values: dict[str, object] = {}
        self.skipped = 0

    def line(self, stripped: str) -> None:
        key, eq, value = stripped.partition("=")
        if not eq:
            return
        if key == "versionCode":
            code = value.split()[0] if value.split() else ""
            self._int("version_code", code)
        elif key == "versionName":
            self.values.setdefault("version_name", "" if value.strip() == "null" else value.strip())
        elif key == "codePath":
            self.values.setdefault("code_path", value.strip())
        elif key == "installerPackageName":
            self.values.setdefault("installer", None if value in ("", "null") else value)
        elif key == "initiatingPackageName":
            self.values.setdefault("initiating_installer", None if value in ("", "null") else value)
        elif key in ("firstInstallTime", "lastUpdateTime"):
            attr = "first_install_time" if key == "firstInstallTime" else "last_update_time"
            if attr not in self.values:
                try:
                    self.values[attr] = datetime.strptime(value.strip(), _TIME_FORMAT)
                except ValueError:
                    self.skipped += 1
        elif key in ("pkgFlags", "flags"):
            if value.startswith("[") and value.endswith("]"):
                flags = frozenset(value[1:-1].split())
                # pkgFlags (the install's own flags) wins over the parsed APK's flags.
                if key == "pkgFlags" or "flags" not in self.values:
                    self.values["flags"] = flags
            else:
                self.skipped += 1
        elif key == "splits":
            if value.startswith("[") and value.endswith("]"):
                self.values["splits"] = tuple(s.strip() for s in value[1:-1].split(",") if s)
        elif key == "apkSigningVersion":
            self._int("signing_version", value.strip())
        elif key == "signatures":
            match = _SIGNATURES.match(stripped)
            if match is None:
                self.skipped += 1
                return
            version, current, past = match.groups()
            self.values.setdefault("signing_version", int(version))
            self.values["signatures"] = _hex_tokens(current)
            self.values["past_signatures"] = _hex_tokens(past or "")

    def _int(self, attr: str, text: str) -> None:
        if text.isdigit():
            self.values.setdefault(attr, int(text))
        else:
            self.skipped += 1

    def build(self) -> DumpsysPackage:
        return DumpsysPackage(self.name, **self.values)  # type: ignore[arg-type]


def parse_dumpsys_package(text: str) -> DumpsysPackages:
    """The ``Package [name]`` blocks of ``dumpsys package packages`` (or ``dumpsys package X``).

    Per package: codePath, versionCode, versionName, installerPackageName,
    initiatingPackageName, firstInstallTime (a package line before Android 13, a per-user line
    since; the first one seen wins), lastUpdateTime, pkgFlags, splits, and the signing scheme
    and certificate hash codes. Blocks under ``Hidden system packages:`` only mark the package
    as an updated system app.
    """
    packages: dict[str, DumpsysPackage] = {}
    hidden: set[str] = set()
    skipped = 0
    section = ""
    current: _DumpsysBuilder | None = None

    def finish() -> None:
        nonlocal current, skipped
        if current is not None:
            skipped += current.skipped
            if section == "Packages:":
                packages.setdefault(current.name, current.build())
            elif section == "Hidden system packages:":
                hidden.add(current.name)
        current = None

    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            finish()
            if _SECTION.match(line):
                section = line.strip()
            else:
                skipped += 1
            continue
        header = _PACKAGE_HEADER.match(line)
        if header is not None:
            finish()
            current = _DumpsysBuilder(header.group(1))
            continue
        if current is not None and line.startswith("    "):
            try:
                current.line(line.strip())
            except (ValueError, TypeError):  # defensive: a value the rules above did not foresee
                skipped += 1
    finish()
    return DumpsysPackages(packages, frozenset(hidden), skipped)


# --------------------------------------------------------------------------------------------
# settings, getenforce, sha256sum, adb devices
# --------------------------------------------------------------------------------------------

#: The settings the collector reads: (signal name, namespace, key).
SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("package_verifier", "global", "package_verifier_enable"),
    ("unknown_sources", "secure", "install_non_market_apps"),
    ("adb_enabled", "global", "adb_enabled"),
    ("developer_options", "global", "development_settings_enabled"),
    ("device_name", "global", "device_name"),
)


def parse_setting(text: str) -> str | None:
    """The output of ``settings get NS KEY``: the value, or None for ``null`` or garbage."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != 1 or lines[0] == "null":
        return None
    value = lines[0]
    if value.startswith(("Error:", "Exception", "java.", "Failure")):
        return None
    return value


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """The security-relevant settings, as read (None: the key is unset on the phone)."""

    package_verifier: str | None = None  # global package_verifier_enable
    unknown_sources: str | None = None  # secure install_non_market_apps (legacy since Android 8)
    adb_enabled: str | None = None  # global adb_enabled
    developer_options: str | None = None  # global development_settings_enabled
    device_name: str | None = None  # global device_name, the name the owner sees


def parse_settings(outputs: Mapping[str, str]) -> DeviceSettings:
    """Outputs of ``settings get`` keyed by ``"namespace/key"`` (missing keys count as unset)."""
    values: dict[str, str | None] = {}
    for attr, namespace, key in SETTINGS:
        raw = outputs.get(f"{namespace}/{key}")
        values[attr] = parse_setting(raw) if raw is not None else None
    return DeviceSettings(**values)


def parse_getenforce(text: str) -> str | None:
    """``Enforcing`` -> ``"enforcing"``; anything else unexpected -> None."""
    value = text.strip().lower()
    return value if value in ("enforcing", "permissive", "disabled") else None


@dataclass(frozen=True, slots=True)
class Sha256Sums:
    by_path: dict[str, str]
    skipped: int = 0


_SHA256_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *]?(\S.*)$")


def parse_sha256sum(text: str) -> Sha256Sums:
    """``<hex>  <path>`` lines (toybox and coreutils); error lines are skipped and counted."""
    sums: dict[str, str] = {}
    skipped = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _SHA256_LINE.match(line.rstrip())
        if match is None:
            skipped += 1
            continue
        sums[match.group(2)] = match.group(1).lower()
    return Sha256Sums(sums, skipped)


@dataclass(frozen=True, slots=True)
class AdbDevice:
    serial: str
    state: str  # "device", "unauthorized", "offline", "no permissions", "recovery" …
    attributes: tuple[tuple[str, str], ...] = ()

    @property
    def model(self) -> str:
        return dict(self.attributes).get("model", "").replace("_", " ")


_ATTRIBUTE_KEY = re.compile(r"^[a-z_]+$")


def parse_devices(text: str) -> list[AdbDevice]:
    """``adb devices -l``: skips the header and the daemon's ``* daemon …`` lines."""
    devices: list[AdbDevice] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("List of devices", "*", "adb ")):
            continue
        serial, _, rest = stripped.replace("\t", " ").partition(" ")
        rest = rest.strip()
        if not rest:
            continue
        if rest.startswith("no permissions"):
            state, rest = "no permissions", rest.partition(")")[2] if ")" in rest else ""
        else:
            state, _, rest = rest.partition(" ")
        attributes = tuple(
            (key, value)
            for key, sep, value in (word.partition(":") for word in rest.split())
            if sep and _ATTRIBUTE_KEY.match(key)
        )
        devices.append(AdbDevice(serial, state, attributes))
    return devices


# --------------------------------------------------------------------------------------------
# Mapping to the domain: the same facts the agent reports
# --------------------------------------------------------------------------------------------

_VERSION_MAX = 64  # the check-in schema's limit on an app version
_TEXT_MAX = 128  # … on model, manufacturer, build and name


def _patch_level(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def device_facts(
    props: Mapping[str, str],
    *,
    scenario: EnrollmentScenario,
    apps: Iterable[AppInfo] = (),
) -> DeviceFacts:
    """Model, maker, Android release, patch level and build number, as the agent reports them.

    ``build`` is the build number Settings › About shows (``ro.build.display.id``), falling back
    to ``ro.build.id`` and then the fingerprint.
    """
    build = (
        props.get("ro.build.display.id")
        or props.get("ro.build.id")
        or props.get("ro.build.fingerprint")
        or ""
    )
    return DeviceFacts(
        platform=Platform.ANDROID,
        scenario=scenario,
        os_version=(
            props.get("ro.build.version.release")
            or props.get("ro.build.version.release_or_codename")
            or "unknown"
        )[:_VERSION_MAX],
        model=(props.get("ro.product.model") or props.get("ro.product.device") or "unknown")[
            :_TEXT_MAX
        ],
        manufacturer=(props.get("ro.product.manufacturer") or props.get("ro.product.brand") or "")[
            :_TEXT_MAX
        ],
        security_patch_level=_patch_level(props.get("ro.build.version.security_patch", "")),
        build=build[:_TEXT_MAX],
        apps=tuple(apps),
    )


def device_name(props: Mapping[str, str], settings: DeviceSettings) -> str:
    """The name the owner gave the phone, else its marketing name, else its model."""
    name = (
        settings.device_name
        or props.get("ro.product.marketname")
        or props.get("ro.product.model")
        or "Android device"
    )
    return name[:_TEXT_MAX]


def hardware_id(props: Mapping[str, str], fallback_serial: str = "") -> str:
    """A stable, hashed identifier of the phone: the serial number itself never leaves it."""
    serial = props.get("ro.serialno") or props.get("ro.boot.serialno") or fallback_serial
    return hashlib.blake2b(f"openmtd-android:{serial}".encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Signer:
    """Thumbprints (lower-case hex) of an app's signing certificate."""

    sha256: str
    sha1: str | None = None


def app_inventory(
    pm: Sequence[PmPackage],
    dumpsys: Mapping[str, DumpsysPackage],
    *,
    hashes: Mapping[str, str] | None = None,
    signers: Mapping[str, Signer] | None = None,
) -> list[AppInfo]:
    """One AppInfo per listed package, sorted by identifier.

    ``hashes`` maps an APK path to its SHA-256, ``signers`` a package name to the thumbprints
    of its signing certificate. The version is the versionName (the versionCode when the app has
    none); the installer comes from ``pm list`` and, when missing there, from dumpsys.
    """
    hashes = hashes or {}
    signers = signers or {}
    apps: list[AppInfo] = []
    for package in pm:
        detail = dumpsys.get(package.name)
        system = package.apex or _on_system_partition(package.path)
        if detail is not None:
            system = system or detail.system
        installer = package.installer
        listed = package.installer_listed
        if not listed and detail is not None:
            installer, listed = detail.installer, True
        version = detail.version_name if detail is not None else ""
        if not version:
            code = package.version_code
            if code is None and detail is not None:
                code = detail.version_code
            version = str(code) if code is not None else ""
        apps.append(
            AppInfo(
                identifier=package.name,
                version=version[:_VERSION_MAX],
                name="",  # labels live in the APK's resources; adb offers no cheap way to them
                install_source=install_source(installer, system=system, listed=listed),
                sha256=hashes.get(package.path),
                signer_sha256=signer.sha256 if (signer := signers.get(package.name)) else None,
                signer_sha1=signer.sha1 if signer else None,
            )
        )
    return sorted(apps, key=lambda a: a.identifier)


# --------------------------------------------------------------------------------------------
# Integrity and security-setting signals (raw: the integrity engine evaluates them)
# --------------------------------------------------------------------------------------------

_RAW_PROPS = (
    "ro.debuggable",
    "ro.secure",
    "ro.build.tags",
    "ro.build.type",
    "ro.boot.flash.locked",
    "ro.boot.vbmeta.device_state",
    "ro.boot.warranty_bit",  # Samsung Knox warranty fuse: 1 once an unofficial image booted
    "ro.build.fingerprint",
)
_SIGNAL_VALUE_MAX = 512


def _flag(value: str | None) -> str:
    """A 0/1 setting as ``"true"``/``"false"``; ``"unset"`` when the phone has no value."""
    if value is None:
        return "unset"
    return {"1": "true", "0": "false"}.get(value, value)


def integrity_signals(
    props: Mapping[str, str], settings: DeviceSettings, selinux: str | None = None
) -> list[IntegritySignal]:
    """The raw signals, named as the simulated collector names them where it has them.

    ``verified_boot_state`` (green/yellow/orange/red), ``bootloader_locked`` (true/false, from
    ``ro.boot.flash.locked`` or else ``ro.boot.vbmeta.device_state``) and ``selinux``
    (``getenforce``, else ``ro.boot.selinux``) are normalised; the build properties go as they
    are; the settings become ``package_verifier``, ``unknown_sources``, ``adb_enabled`` and
    ``developer_options`` with ``true``/``false``/``unset``. A property the phone does not
    have (or has empty) gives no signal.
    """
    signals: list[IntegritySignal] = []

    def add(name: str, value: str) -> None:
        signals.append(IntegritySignal(name, value[:_SIGNAL_VALUE_MAX]))

    for name in _RAW_PROPS[:3]:
        if props.get(name):
            add(name, props[name])
    if props.get("ro.boot.verifiedbootstate"):
        add("verified_boot_state", props["ro.boot.verifiedbootstate"].lower())
    locked = props.get("ro.boot.flash.locked")
    state = props.get("ro.boot.vbmeta.device_state")
    if locked in ("0", "1"):
        add("bootloader_locked", "true" if locked == "1" else "false")
    elif state in ("locked", "unlocked"):
        add("bootloader_locked", "true" if state == "locked" else "false")
    mode = selinux or (props.get("ro.boot.selinux") or "").lower() or None
    if mode:
        add("selinux", mode)
    for name in _RAW_PROPS[3:]:
        if props.get(name):
            add(name, props[name])
    add("package_verifier", _flag(settings.package_verifier))
    add("unknown_sources", _flag(settings.unknown_sources))
    add("adb_enabled", _flag(settings.adb_enabled))
    add("developer_options", _flag(settings.developer_options))
    return signals
