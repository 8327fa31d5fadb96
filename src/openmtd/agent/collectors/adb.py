"""The adb collector: device facts, apps and security signals of an Android phone on USB.

`Adb` runs the adb binary (Debian package ``adb``) with argument lists, ``-s SERIAL`` and a
timeout per command, and turns adb's failures into one-line reasons (`AdbError`). `collect`
runs the handful of commands a collection needs and hands their output to the pure parsers
of `adb_parse`:

=====================================================  ======================================
``getprop``                                            model, maker, release, patch, build,
                                                       boot and build integrity properties
``getenforce``                                         SELinux mode
``settings get global|secure KEY`` (5 keys)            verifier, unknown sources, adb,
                                                       developer options, device name
``pm list packages -f -U -i --show-versioncode``      the inventory: APK path, versionCode,
                                                       installer, uid
``dumpsys package packages``                           versionName, flags, install times,
                                                       signing scheme per package
``sha256sum PATH…`` (batches of 40, toybox)            APK hashes without pulling anything
``adb pull PATH DIR`` (only with ``pull_apks_to``)     copies of the installed APKs
=====================================================  ======================================

One ``dumpsys package packages`` call covers every package in one or two seconds; a
``dumpsys package NAME`` per package would cost a process start on the phone each, about
40 s for a typical 400-package phone. Hashes and pulls cover the base APK of each package.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openmtd.agent.collectors import adb_parse as parse
from openmtd.agent.collectors.adb_parse import AdbDevice, DeviceSettings, DumpsysPackage, PmPackage
from openmtd.agent.reports import app_json
from openmtd.domain.device import AppInfo, DeviceFacts, IntegritySignal
from openmtd.domain.enums import EnrollmentScenario, InstallSource
from openmtd.engines.apps.apk import ApkUnparseable, read_apk

__all__ = [
    "DEFAULT_SCENARIO",
    "HASH_BATCH",
    "Adb",
    "AdbCollection",
    "AdbError",
    "CommandResult",
    "Progress",
    "collect",
]

#: What the facts are labelled with until the phone is enrolled: adb sees the whole device.
DEFAULT_SCENARIO = EnrollmentScenario.ANDROID_COBO
#: APK paths per `sha256sum` call: well under the shell's command-line limit.
HASH_BATCH = 40
INSTALL_ADB = "install it with `sudo apt-get install adb` or give its path with --adb"

#: Called as progress(task, done, total) while hashing ("hash") and pulling ("pull").
Progress = Callable[[str, int, int], None]


class AdbError(Exception):
    """adb could not do what the collection needs; the message is one line saying why."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    stdout: str
    stderr: str
    returncode: int


class Adb:
    """The adb binary, optionally bound to one phone (``-s SERIAL``)."""

    def __init__(
        self,
        executable: str = "adb",
        *,
        serial: str | None = None,
        timeout: float = 60.0,
        pull_timeout: float = 600.0,
    ) -> None:
        self.executable = executable
        self.serial = serial or None
        self.timeout = timeout
        self.pull_timeout = pull_timeout
        self._path: str | None = None

    # -- plumbing --------------------------------------------------------------------------

    def _binary(self) -> str:
        if self._path is None:
            if "/" in self.executable:
                path = Path(self.executable)
                if not path.is_file():
                    raise AdbError(f"adb not found at {self.executable}: {INSTALL_ADB}")
                self._path = str(path)
            else:
                found = shutil.which(self.executable)
                if found is None:
                    raise AdbError(f"`{self.executable}` is not on PATH: {INSTALL_ADB}")
                self._path = found
        return self._path

    def run(self, *args: str, timeout: float | None = None, check: bool = True) -> CommandResult:
        """Run ``adb ARGS…`` (no shell on this side); with `check`, a failure raises AdbError."""
        argv = [self._binary(), *args]
        limit = timeout or self.timeout
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=limit,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise AdbError(
                f"`adb {_shown(args)}` did not finish within {limit:g} s; is the phone still "
                "connected and unlocked?"
            ) from e
        except PermissionError as e:
            raise AdbError(f"cannot run {argv[0]}: permission denied") from e
        except OSError as e:
            raise AdbError(f"cannot run {argv[0]}: {e.strerror or e}; {INSTALL_ADB}") from e
        result = CommandResult(done.stdout, done.stderr, done.returncode)
        if check and done.returncode != 0:
            raise AdbError(self._reason(args, result))
        return result

    def _reason(self, args: Sequence[str], result: CommandResult) -> str:
        text = result.stderr.strip() or result.stdout.strip()
        lowered = text.lower()
        if "unauthorized" in lowered:
            return _UNAUTHORIZED
        if "no devices/emulators found" in lowered:
            return _NO_DEVICE
        if "more than one device" in lowered:
            return _several([])
        if "device offline" in lowered:
            return _OFFLINE
        if "not found" in lowered and "device '" in lowered:
            return f"no phone with serial {self.serial} is connected (see `adb devices`)"
        first = text.splitlines()[0] if text else "no message"
        return f"`adb {_shown(args)}` failed (exit {result.returncode}): {first}"

    # -- commands --------------------------------------------------------------------------

    def devices(self) -> list[AdbDevice]:
        return parse.parse_devices(self.run("devices", "-l").stdout)

    def select(self) -> str:
        """Check the phone is there and has authorized this computer; fix `serial`."""
        devices = self.devices()
        if self.serial is not None:
            chosen = [d for d in devices if d.serial == self.serial]
            if not chosen:
                listed = ", ".join(d.serial for d in devices) or "none"
                raise AdbError(
                    f"no phone with serial {self.serial} is connected (connected: {listed})"
                )
            device = chosen[0]
        else:
            if not devices:
                raise AdbError(_NO_DEVICE)
            if len(devices) > 1:
                raise AdbError(_several(devices))
            device = devices[0]
        if device.state == "unauthorized":
            raise AdbError(_UNAUTHORIZED)
        if device.state == "offline":
            raise AdbError(_OFFLINE)
        if device.state == "no permissions":
            raise AdbError(
                f"no permission to open the USB device {device.serial}: add a udev rule for "
                "the phone (Debian: `sudo apt-get install android-sdk-platform-tools-common`) "
                "and reconnect"
            )
        if device.state != "device":
            raise AdbError(
                f"the phone {device.serial} is in state {device.state!r}; boot it normally"
            )
        self.serial = device.serial
        return device.serial

    def shell(
        self, *command: str, timeout: float | None = None, check: bool = True
    ) -> CommandResult:
        """``adb -s SERIAL shell COMMAND…``: adb joins the words and the phone's shell splits
        them again, so callers quote anything that is not a plain word (`shlex.quote`)."""
        return self.run(*self._target(), "shell", *command, timeout=timeout, check=check)

    def pull(self, remote: str, local: Path) -> None:
        self.run(*self._target(), "pull", remote, str(local), timeout=self.pull_timeout)

    def _target(self) -> tuple[str, ...]:
        return ("-s", self.serial) if self.serial else ()


_NO_DEVICE = (
    "no Android phone found: connect it by USB, enable USB debugging (Settings › Developer "
    "options) and check `adb devices`"
)
_UNAUTHORIZED = (
    "the phone has not authorized this computer: unlock it and accept the "
    "'Allow USB debugging?' prompt, then try again"
)
_OFFLINE = "the phone is offline to adb: reconnect the cable, or run `adb kill-server`"


def _several(devices: Sequence[AdbDevice]) -> str:
    listed = ", ".join(
        f"{d.serial} ({d.model})" if d.model else d.serial for d in devices if d.serial
    )
    which = f" ({listed})" if listed else ""
    return f"several phones are connected{which}: choose one with --serial"


def _shown(args: Sequence[str]) -> str:
    shown = list(args)
    if len(shown) > 8:
        shown = [*shown[:8], "…"]
    return " ".join(shown)


# --------------------------------------------------------------------------------------------
# One collection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdbCollection:
    """What one collection saw: the agent's device facts plus what only adb tells."""

    serial: str
    hardware_id: str  # hashed serial number
    name: str
    facts: DeviceFacts
    integrity_signals: tuple[IntegritySignal, ...]
    settings: DeviceSettings
    pulled: dict[str, Path] = field(default_factory=dict)  # package -> local base.apk copy
    warnings: tuple[str, ...] = ()

    @property
    def apps(self) -> tuple[AppInfo, ...]:
        return self.facts.apps

    def apk_files(self) -> dict[str, Path]:
        """The pulled APKs by SHA-256, as the agent offers them for upload."""
        by_name = {app.identifier: app.sha256 for app in self.apps}
        return {
            digest: path
            for package, path in self.pulled.items()
            if (digest := by_name.get(package)) is not None
        }

    def sources(self) -> dict[str, int]:
        """App counts by install source, every source present (zeros included)."""
        counts = Counter(app.install_source for app in self.apps)
        return {source.value: counts.get(source, 0) for source in InstallSource}

    def to_json(self) -> dict[str, Any]:
        f = self.facts
        return {
            "device": {"serial": self.serial, "hardware_id": self.hardware_id, "name": self.name},
            "facts": {
                "platform": f.platform.value,
                "scenario": f.scenario.value,
                "os_version": f.os_version,
                "security_patch_level": (
                    f.security_patch_level.isoformat() if f.security_patch_level else None
                ),
                "model": f.model,
                "manufacturer": f.manufacturer,
                "build": f.build,
            },
            "apps": [app_json(a) for a in self.apps],
            "app_counts": self.sources(),
            "signals": [{"name": s.name, "value": s.value} for s in self.integrity_signals],
            "pulled": {package: str(path) for package, path in sorted(self.pulled.items())},
            "warnings": list(self.warnings),
        }


def collect(
    adb: Adb,
    *,
    pull_apks_to: Path | None = None,
    hash_apks: bool = True,
    scenario: EnrollmentScenario = DEFAULT_SCENARIO,
    progress: Progress | None = None,
) -> AdbCollection:
    """Collect one phone. Raises AdbError when the phone cannot be reached or listed.

    A command that fails after the inventory was read (dumpsys, a settings key, a hash batch,
    a pull) only adds a warning: the collection goes on with what it has.
    """
    serial = adb.select()
    warnings: list[str] = []

    props = parse.parse_getprop(adb.shell("getprop").stdout)
    if not props.props:
        raise AdbError("`getprop` printed no properties; is the phone fully booted?")
    _count(warnings, "getprop", props.skipped)

    enforce = adb.shell("getenforce", check=False)
    selinux = parse.parse_getenforce(enforce.stdout) if enforce.returncode == 0 else None

    outputs: dict[str, str] = {}
    for _signal, namespace, key in parse.SETTINGS:
        result = adb.shell("settings", "get", namespace, key, check=False)
        if result.returncode == 0:
            outputs[f"{namespace}/{key}"] = result.stdout
        else:
            warnings.append(f"`settings get {namespace} {key}` failed: {_first(result)}")
    settings = parse.parse_settings(outputs)

    listing = adb.shell("pm", "list", "packages", "-f", "-U", "-i", "--show-versioncode")
    pm = parse.parse_pm_packages(listing.stdout)
    if not pm.packages:
        raise AdbError("`pm list packages` listed no package; is the phone fully booted?")
    _count(warnings, "pm list packages", pm.skipped)

    dumped = adb.shell("dumpsys", "package", "packages", timeout=max(adb.timeout, 180), check=False)
    if dumped.returncode != 0:
        warnings.append(f"`dumpsys package packages` failed: {_first(dumped)}")
    dumpsys = parse.parse_dumpsys_package(dumped.stdout)
    _count(warnings, "dumpsys package", dumpsys.skipped)
    missing = [p.name for p in pm.packages if p.name not in dumpsys.packages]
    if missing and dumpsys.packages:
        warnings.append(
            f"{len(missing)} package(s) missing from dumpsys (installed meanwhile?): "
            + ", ".join(missing[:5])
            + (" …" if len(missing) > 5 else "")
        )

    hashes: dict[str, str] = {}
    if hash_apks:
        hashes = _hash(adb, pm.packages, warnings, progress)

    pulled: dict[str, Path] = {}
    signers: dict[str, parse.Signer] = {}
    if pull_apks_to is not None:
        wanted = [p for p in pm.packages if p.path and not _preinstalled(p, dumpsys.packages)]
        pulled = _pull(adb, wanted, pull_apks_to, hashes, signers, warnings, progress)

    apps = parse.app_inventory(pm.packages, dumpsys.packages, hashes=hashes, signers=signers)
    facts = parse.device_facts(props.props, scenario=scenario, apps=apps)
    return AdbCollection(
        serial=serial,
        hardware_id=parse.hardware_id(props.props, serial),
        name=parse.device_name(props.props, settings),
        facts=facts,
        integrity_signals=tuple(parse.integrity_signals(props.props, settings, selinux)),
        settings=settings,
        pulled=pulled,
        warnings=tuple(warnings),
    )


def _preinstalled(package: PmPackage, details: Mapping[str, DumpsysPackage]) -> bool:
    """Preinstalled apps (and their updates) are not pulled: only what the user added."""
    detail = details.get(package.name)
    return (
        package.apex
        or package.path.startswith(parse.SYSTEM_PATH_PREFIXES)
        or (detail is not None and detail.system)
    )


def _count(warnings: list[str], what: str, skipped: int) -> None:
    if skipped:
        warnings.append(f"{what}: {skipped} line(s) not understood, skipped")


def _first(result: CommandResult) -> str:
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return f"{text[0]} (exit {result.returncode})" if text else f"exit {result.returncode}"


def _hash(
    adb: Adb,
    packages: Sequence[PmPackage],
    warnings: list[str],
    progress: Progress | None,
) -> dict[str, str]:
    paths = list(dict.fromkeys(p.path for p in packages if p.path))
    hashes: dict[str, str] = {}
    skipped = 0
    for start in range(0, len(paths), HASH_BATCH):
        batch = paths[start : start + HASH_BATCH]
        result = adb.shell("sha256sum", *(shlex.quote(p) for p in batch), check=False)
        sums = parse.parse_sha256sum(result.stdout)
        skipped += sums.skipped
        hashes.update((p, sums.by_path[p]) for p in batch if p in sums.by_path)
        if result.returncode not in (0, 1):  # 1: some file could not be read
            warnings.append(f"`sha256sum` failed: {_first(result)}")
        if progress is not None:
            progress("hash", min(start + HASH_BATCH, len(paths)), len(paths))
    _count(warnings, "sha256sum", skipped)
    unhashed = len(paths) - len(hashes)
    if unhashed:
        warnings.append(f"{unhashed} APK(s) could not be hashed on the phone (removed meanwhile?)")
    return hashes


def _pull(
    adb: Adb,
    packages: Sequence[PmPackage],
    folder: Path,
    hashes: dict[str, str],
    signers: dict[str, parse.Signer],
    warnings: list[str],
    progress: Progress | None,
) -> dict[str, Path]:
    """Pull each base APK; its SHA-256 and its first signer's certificate SHA-256 come from
    the pulled bytes (the APK reader of engines.apps)."""
    folder.mkdir(parents=True, exist_ok=True)
    pulled: dict[str, Path] = {}
    for done, package in enumerate(packages, start=1):
        version = package.version_code if package.version_code is not None else "unknown"
        target = folder / f"{package.name}-{version}.apk"
        try:
            adb.pull(package.path, target)
            data = target.read_bytes()
        except (AdbError, OSError) as e:
            warnings.append(f"could not pull {package.name}: {e}")
        else:
            digest = hashlib.sha256(data).hexdigest()
            pulled[package.name] = target
            signer, problem = _signer(data)
            if signer is not None:
                signers[package.name] = signer
            elif problem:
                warnings.append(f"{package.name}: no signer read from the pulled APK: {problem}")
            known = hashes.get(package.path)
            if known is not None and known != digest:
                warnings.append(
                    f"{package.name}: the pulled APK differs from the one hashed on the phone "
                    "(updated meanwhile?); reporting the pulled copy's hash"
                )
            hashes[package.path] = digest
        if progress is not None:
            progress("pull", done, len(packages))
    return pulled


def _signer(data: bytes) -> tuple[parse.Signer | None, str]:
    """The thumbprints of the APK's first signing certificate, or None and why not."""
    try:
        signers = read_apk(data).facts.signers
    except ApkUnparseable as e:
        return None, str(e)
    except Exception as e:  # a reader bug must not stop the collection
        return None, f"{type(e).__name__}: {e}"
    if not signers:
        return None, "the APK is not signed"
    return parse.Signer(signers[0].sha256, signers[0].sha1), ""
