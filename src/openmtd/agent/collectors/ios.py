"""The iOS collector: device facts, apps and configuration profiles of an iPhone or iPad on USB.

A collection goes through a *session opener* (`SessionOpener`): it lists the devices usbmuxd
sees and opens a paired session with one of them; the session answers three questions, each
the answer of one device service, which the pure parsers of `ios_parse` read:

=====================================================  ======================================
lockdownd ``GetValue`` (all values) and                 release, build, model identifier,
``com.apple.security.mac.amfi`` ``DeveloperModeStatus`` name, UDID, Developer Mode
installation_proxy ``Browse``                          the inventory: bundle id, versions,
                                                       type, signer, store metadata
MCInstall ``GetProfileList`` (unless ``pull_profiles``  configuration profiles, their payload
is off)                                                types and certificates
=====================================================  ======================================

`Pmd3Opener`, the default, does this with pymobiledevice3 through the usbmuxd daemon (Debian
package ``usbmuxd``); pymobiledevice3 is imported only when it is used, so the rest of openmtd
works without it. Tests pass their own opener. Every step runs with a time limit; every
failure becomes one `IosCollectError` whose message says what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
from collections import Counter
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from openmtd.agent.collectors import ios_parse as parse
from openmtd.agent.collectors.ios_parse import (
    InstalledProfile,
    IosApp,
    ProfileCertificate,
)
from openmtd.agent.reports import app_json
from openmtd.domain.device import AppInfo, DeviceFacts, IntegritySignal
from openmtd.domain.enums import EnrollmentScenario, InstallSource

__all__ = [
    "DEFAULT_SCENARIO",
    "DEFAULT_TIMEOUT",
    "INSTALL_HINT",
    "IosCollectError",
    "IosCollection",
    "IosProblem",
    "IosSession",
    "Pmd3Opener",
    "Problem",
    "SessionOpener",
    "UsbDevice",
    "collect_ios",
    "open_usb",
]

#: What the facts are labelled with until the device is enrolled: USB sees the whole device.
DEFAULT_SCENARIO = EnrollmentScenario.IOS_DEVICE_ENROLLMENT
#: Seconds each step may take (listing, opening, each service); pairing may wait as long again.
DEFAULT_TIMEOUT = 30.0
INSTALL_HINT = "pymobiledevice3 is not installed: pip install 'openmtd[ios]'"
#: The installation_proxy attributes a collection asks for (no icons, no DRM blobs).
APP_ATTRIBUTES = (
    "CFBundleIdentifier",
    "CFBundleShortVersionString",
    "CFBundleVersion",
    "CFBundleDisplayName",
    "CFBundleName",
    "ApplicationType",
    "Path",
    "SignerIdentity",
    "ProfileValidated",
    "Entitlements",
    "iTunesMetadata",
)


class IosCollectError(Exception):
    """The device could not be collected; the message is one line saying why and what to do."""


class Problem(StrEnum):
    """Why an opener or a session could not answer (the driver words the message)."""

    PACKAGE_MISSING = "package-missing"
    USBMUXD_DOWN = "usbmuxd-down"
    NO_DEVICE = "no-device"
    LOCKED = "locked"
    PAIRING_PENDING = "pairing-pending"
    PAIRING_DENIED = "pairing-denied"
    PAIRING_INVALID = "pairing-invalid"
    WRONG_MODE = "wrong-mode"
    CONNECTION_LOST = "connection-lost"
    REFUSED = "refused"
    OTHER = "other"


class IosProblem(Exception):
    """Raised by openers and sessions; `detail` is the underlying reason, if any."""

    def __init__(self, problem: Problem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True, slots=True)
class UsbDevice:
    udid: str
    connection: str = "USB"  # usbmuxd also lists devices paired for Wi-Fi ("Network")

    @property
    def key(self) -> str:
        """The UDID without dashes, upper case: usbmuxd may drop the dash of new UDIDs."""
        return self.udid.replace("-", "").upper()


class IosSession(Protocol):
    """An open, paired session with one device."""

    def lockdown_values(self) -> Mapping[str, Any]: ...

    def apps(self) -> object: ...  # installation_proxy Browse: a list of dicts

    def profiles(self) -> object: ...  # MCInstall GetProfileList answer: a dict

    def close(self) -> None: ...


class SessionOpener(Protocol):
    def devices(self) -> Sequence[UsbDevice]: ...

    def open(self, udid: str, *, timeout: float) -> IosSession: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------

_MESSAGES: Mapping[Problem, str] = {
    Problem.PACKAGE_MISSING: INSTALL_HINT,
    Problem.USBMUXD_DOWN: (
        "usbmuxd is not running: install and start it (Debian: `sudo apt-get install usbmuxd`; "
        "it starts when an iPhone is plugged in), then reconnect the device"
    ),
    Problem.NO_DEVICE: (
        "no iPhone or iPad found on USB: connect it with a cable, unlock it and tap 'Trust' "
        "when it asks whether to trust this computer"
    ),
    Problem.LOCKED: (
        "the device is locked with its passcode: unlock it (and keep it unlocked) and try again"
    ),
    Problem.PAIRING_PENDING: (
        "the device has not answered 'Trust This Computer?': unlock it, tap 'Trust', enter "
        "the passcode and try again"
    ),
    Problem.PAIRING_DENIED: (
        "the device refused to trust this computer: unplug and reconnect it, then tap 'Trust' "
        "(or reset Settings › General › Transfer or Reset › Reset Location & Privacy)"
    ),
    Problem.PAIRING_INVALID: (
        "the device no longer trusts this computer's pairing record: unplug and reconnect it, "
        "then tap 'Trust' again"
    ),
    Problem.WRONG_MODE: (
        "the device is not running iOS normally (recovery or DFU mode?): restart it and try again"
    ),
    Problem.CONNECTION_LOST: "the connection to the device was lost: check the cable and retry",
    Problem.REFUSED: "the device refused the request",
    Problem.OTHER: "talking to the device failed",
}


def _message(problem: IosProblem, step: str) -> str:
    text = _MESSAGES[problem.problem]
    detail = problem.detail.splitlines()[0][:200] if problem.detail else ""
    if problem.problem in (Problem.REFUSED, Problem.OTHER, Problem.CONNECTION_LOST):
        text = f"{text} ({step})"
        if detail:
            text = f"{text}: {detail}"
    return text


def _several(devices: Sequence[UsbDevice]) -> str:
    listed = ", ".join(d.udid for d in devices)
    return f"several iOS devices are connected ({listed}): choose one with --udid"


# --------------------------------------------------------------------------------------------
# Time limits
# --------------------------------------------------------------------------------------------

T = TypeVar("T")


def _bounded(call: Callable[[], T], limit: float, step: str) -> T:
    """Run `call` in a daemon thread and wait at most `limit` seconds for it.

    A device that stops answering leaves its thread blocked on a socket; being a daemon thread,
    it does not keep the process alive."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(call())
        except BaseException as e:  # handed to the caller's thread
            failure.append(e)

    worker = threading.Thread(target=work, name=f"openmtd-ios-{step}", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise IosCollectError(
            f"the device did not answer within {limit:g} s ({step}); is it still connected "
            "and unlocked?"
        )
    if failure:
        raise failure[0]
    return outcome[0]


# --------------------------------------------------------------------------------------------
# One collection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IosCollection:
    """What one collection saw: the agent's device facts plus what only USB tells."""

    udid: str
    hardware_id: str  # hashed UDID
    name: str
    product_type: str
    device_class: str
    facts: DeviceFacts
    inventory: tuple[IosApp, ...]
    integrity_signals: tuple[IntegritySignal, ...]
    profiles: tuple[InstalledProfile, ...] = ()
    profiles_read: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def apps(self) -> tuple[AppInfo, ...]:
        return self.facts.apps

    @property
    def root_certificates(self) -> tuple[ProfileCertificate, ...]:
        return tuple(c for p in self.profiles for c in p.certificates if c.is_root)

    def sources(self) -> dict[str, int]:
        """App counts by install source, every source present (zeros included)."""
        counts = Counter(app.install_source for app in self.apps)
        return {source.value: counts.get(source, 0) for source in InstallSource}

    def to_json(self) -> dict[str, Any]:
        f = self.facts
        return {
            "device": {
                "udid": self.udid,
                "hardware_id": self.hardware_id,
                "name": self.name,
                "product_type": self.product_type,
                "device_class": self.device_class,
            },
            "facts": {
                "platform": f.platform.value,
                "scenario": f.scenario.value,
                "os_version": f.os_version,
                "security_patch_level": None,
                "model": f.model,
                "manufacturer": f.manufacturer,
                "build": f.build,
            },
            "apps": [
                {
                    **app_json(a.info),
                    "distribution": a.distribution.value,
                    "application_type": a.application_type,
                    "signer_identity": a.signer_identity,
                }
                for a in self.inventory
            ],
            "app_counts": self.sources(),
            "signals": [{"name": s.name, "value": s.value} for s in self.integrity_signals],
            "profiles": [_profile_json(p) for p in self.profiles] if self.profiles_read else None,
            "root_certificates": [_certificate_json(c) for c in self.root_certificates],
            "warnings": list(self.warnings),
        }


def _certificate_json(c: ProfileCertificate) -> dict[str, Any]:
    return {
        "profile": c.profile_identifier,
        "payload_type": c.payload_type,
        "payload_identifier": c.payload_identifier,
        "payload_display_name": c.payload_display_name,
        "sha1": c.sha1 or None,
        "sha256": c.sha256 or None,
        "subject": c.subject,
        "issuer": c.issuer,
        "not_before": c.not_before.isoformat() if c.not_before else None,
        "not_after": c.not_after.isoformat() if c.not_after else None,
        "self_signed": c.self_signed,
        "certificate_authority": c.certificate_authority,
        "problem": c.problem or None,
    }


def _profile_json(p: InstalledProfile) -> dict[str, Any]:
    return {
        "identifier": p.identifier,
        "display_name": p.display_name,
        "description": p.description,
        "organization": p.organization,
        "uuid": p.uuid,
        "version": p.version,
        "active": p.active,
        "removal_disallowed": p.removal_disallowed,
        "encrypted": p.encrypted,
        "mdm": p.mdm,
        "payload_types": list(p.payload_types),
        "certificates": [_certificate_json(c) for c in p.certificates],
    }


def _select(devices: Sequence[UsbDevice], udid: str | None) -> str:
    usb: dict[str, UsbDevice] = {}
    for device in devices:
        if device.connection == "USB":
            usb.setdefault(device.key, device)
    if udid:
        wanted = UsbDevice(udid).key
        if wanted not in usb:
            listed = ", ".join(d.udid for d in usb.values()) or "none"
            raise IosCollectError(
                f"no iOS device with UDID {udid} is connected by USB (connected: {listed})"
            )
        return usb[wanted].udid
    if not usb:
        raise IosCollectError(_MESSAGES[Problem.NO_DEVICE])
    if len(usb) > 1:
        raise IosCollectError(_several(list(usb.values())))
    return next(iter(usb.values())).udid


def collect_ios(
    *,
    udid: str | None = None,
    pull_profiles: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    opener: SessionOpener | None = None,
    scenario: EnrollmentScenario = DEFAULT_SCENARIO,
    managed: Collection[str] = (),
) -> IosCollection:
    """Collect one device. Raises IosCollectError when it cannot be reached or listed.

    `opener` defaults to `open_usb()` (pymobiledevice3). A profile list the device refuses only
    adds a warning: the collection goes on with what it has. `managed` names bundle ids known
    to be MDM-managed (installation_proxy does not tell).
    """
    if opener is None:
        opener = open_usb()
    try:
        return _collect(opener, udid, pull_profiles, timeout, scenario, managed)
    finally:
        _quietly(opener.close)


def _collect(
    opener: SessionOpener,
    udid: str | None,
    pull_profiles: bool,
    timeout: float,
    scenario: EnrollmentScenario,
    managed: Collection[str],
) -> IosCollection:
    chosen = _select(_step(opener.devices, timeout, "listing devices"), udid)
    session = _step(lambda: opener.open(chosen, timeout=timeout), 2 * timeout, "opening a session")
    try:
        warnings: list[str] = []
        values = _step(session.lockdown_values, timeout, "reading lockdown values")
        if not isinstance(values, Mapping) or not values:
            raise IosCollectError("the device answered no lockdown values; is it fully booted?")
        inventory = parse.app_inventory(
            _step(session.apps, timeout, "listing apps"), managed=managed
        )
        if inventory.skipped:
            warnings.append(f"installation_proxy: {inventory.skipped} app entry(ies) skipped")
        if inventory.truncated:
            warnings.append(
                f"only the first {parse.MAX_APPS} apps were read ({inventory.truncated} more)"
            )
        if not inventory.apps:
            warnings.append("installation_proxy listed no app")
        profiles: tuple[InstalledProfile, ...] | None = None
        if pull_profiles:
            profiles = _read_profiles(session, timeout, warnings)
    finally:
        _quietly(session.close)
    return IosCollection(
        udid=chosen,
        hardware_id=parse.hardware_id(values, chosen),
        name=parse.device_name(values),
        product_type=parse.product_type(values),
        device_class=parse.device_class(values),
        facts=parse.device_facts(values, scenario=scenario, apps=inventory.infos),
        inventory=inventory.apps,
        integrity_signals=tuple(parse.integrity_signals(values)),
        profiles=profiles or (),
        profiles_read=profiles is not None,
        warnings=tuple(warnings),
    )


def _read_profiles(
    session: IosSession, timeout: float, warnings: list[str]
) -> tuple[InstalledProfile, ...] | None:
    """The profile list, or None (and a warning) when the device does not give it."""
    try:
        answer = _step(session.profiles, timeout, "listing configuration profiles")
    except IosCollectError as e:
        warnings.append(f"configuration profiles not read: {e}")
        return None
    listing = parse.parse_profiles(answer)
    if listing.skipped:
        warnings.append(f"profile list: {listing.skipped} entry(ies) skipped")
    if listing.truncated:
        warnings.append(
            f"only the first {parse.MAX_PROFILES} profiles were read ({listing.truncated} more)"
        )
    warnings.extend(
        f"profile {c.profile_identifier}: a {c.payload_type} certificate could not be read "
        f"({c.problem})"
        for c in listing.certificates
        if c.problem
    )
    return listing.profiles


def _step(call: Callable[[], T], limit: float, step: str) -> T:
    """One bounded step; an IosProblem becomes the IosCollectError the user reads."""
    try:
        return _bounded(call, limit, step)
    except IosProblem as e:
        raise IosCollectError(_message(e, step)) from e


def _quietly(call: Callable[[], object]) -> None:
    """Closing is best effort, bounded, and never hides the real outcome."""
    with contextlib.suppress(Exception):
        _bounded(call, 5.0, "closing")


# --------------------------------------------------------------------------------------------
# The default opener: pymobiledevice3 over usbmuxd
# --------------------------------------------------------------------------------------------


def open_usb() -> SessionOpener:
    """The pymobiledevice3 opener; raises IosCollectError when the package is missing."""
    try:
        return Pmd3Opener()
    except IosProblem as e:
        raise IosCollectError(_message(e, "starting")) from e


def _pmd3(module: str) -> Any:
    """A pymobiledevice3 module, imported on first use (an optional dependency)."""
    return importlib.import_module(f"pymobiledevice3.{module}")


def _problem(error: BaseException) -> IosProblem:
    """pymobiledevice3's (and the socket layer's) exceptions in this module's vocabulary."""
    x = _pmd3("exceptions")
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    kinds: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Problem], ...] = (
        (x.ConnectionFailedToUsbmuxdError, Problem.USBMUXD_DOWN),
        ((x.NoDeviceConnectedError, x.DeviceNotFoundError), Problem.NO_DEVICE),
        ((x.PasswordRequiredError, x.PasscodeRequiredError), Problem.LOCKED),
        (x.PairingDialogResponsePendingError, Problem.PAIRING_PENDING),
        (x.UserDeniedPairingError, Problem.PAIRING_DENIED),
        (
            (x.InvalidHostIDError, x.FatalPairingError, x.NotPairedError, x.NotTrustedError),
            Problem.PAIRING_INVALID,
        ),
        (x.IncorrectModeError, Problem.WRONG_MODE),
        (
            (
                x.ConnectionTerminatedError,
                x.ConnectionFailedError,
                x.BadDevError,
                ConnectionError,
                asyncio.IncompleteReadError,
            ),
            Problem.CONNECTION_LOST,
        ),
        ((x.StartServiceError, x.MCProtectedError, x.ProfileError), Problem.REFUSED),
    )
    for kind, problem in kinds:
        if isinstance(error, kind):
            return IosProblem(problem, detail)
    return IosProblem(Problem.OTHER, f"{type(error).__name__}: {detail}")


class Pmd3Opener:
    """Devices and sessions through pymobiledevice3; its coroutines run on one event loop of
    this opener (the connections it makes belong to that loop)."""

    def __init__(self, usbmux_address: str | None = None) -> None:
        try:
            _pmd3("lockdown")
        except ImportError as e:
            raise IosProblem(Problem.PACKAGE_MISSING) from e
        self.usbmux_address = usbmux_address
        self._loop = asyncio.new_event_loop()

    def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        if self._loop.is_closed():
            raise IosProblem(Problem.OTHER, "the opener is closed")
        try:
            return self._loop.run_until_complete(make())
        except IosProblem:
            raise
        except Exception as e:
            raise _problem(e) from e

    def devices(self) -> list[UsbDevice]:
        usbmux = _pmd3("usbmux")
        found = self.run(lambda: usbmux.list_devices(usbmux_address=self.usbmux_address))
        return [UsbDevice(str(d.serial), str(d.connection_type)) for d in found]

    def open(self, udid: str, *, timeout: float) -> IosSession:
        lockdown = self.run(
            lambda: _pmd3("lockdown").create_using_usbmux(
                serial=udid,
                connection_type="USB",
                autopair=True,
                pair_timeout=timeout,
                usbmux_address=self.usbmux_address,
            )
        )
        return _Pmd3Session(self, lockdown)

    def close(self) -> None:
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()


class _Pmd3Session:
    def __init__(self, opener: Pmd3Opener, lockdown: Any) -> None:
        self._opener = opener
        self._lockdown = lockdown

    def lockdown_values(self) -> Mapping[str, Any]:
        values = dict(self._lockdown.all_values or {})
        try:
            developer = self._opener.run(
                lambda: self._lockdown.get_value(
                    domain="com.apple.security.mac.amfi", key="DeveloperModeStatus"
                )
            )
        except IosProblem:
            developer = None  # before iOS 16, or not readable: no signal
        if isinstance(developer, bool):
            values["DeveloperModeStatus"] = developer
        return values

    def apps(self) -> object:
        proxy_service = _pmd3("services.installation_proxy").InstallationProxyService

        async def browse() -> object:
            async with proxy_service(lockdown=self._lockdown) as proxy:
                return await proxy.browse(
                    options={"ApplicationType": "Any"}, attributes=list(APP_ATTRIBUTES)
                )

        return self._opener.run(browse)

    def profiles(self) -> object:
        config_service = _pmd3("services.mobile_config").MobileConfigService

        async def listing() -> object:
            async with config_service(lockdown=self._lockdown) as service:
                return await service.get_profile_list()

        return self._opener.run(listing)

    def close(self) -> None:
        if not self._opener._loop.is_running():
            self._opener.run(self._lockdown.close)
