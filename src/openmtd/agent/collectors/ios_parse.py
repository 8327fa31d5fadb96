"""Pure parsers of what an iPhone or iPad answers over USB, and the mapping to device facts.

The driver (`ios.py`) talks to three services of the device through pymobiledevice3 and hands
their answers, plain dicts as plistlib decodes them, to this module:

- lockdownd ``GetValue`` without domain nor key (pymobiledevice3 ``LockdownClient.all_values``):
  ``ProductVersion`` "17.5.1", ``BuildVersion`` "21F90", ``ProductType`` "iPhone15,2",
  ``DeviceClass`` "iPhone", ``DeviceName``, ``SerialNumber``, ``UniqueDeviceID`` … The driver
  adds ``DeveloperModeStatus`` from the ``com.apple.security.mac.amfi`` domain when the device
  has it (iOS 16 and later).
- installation_proxy ``Browse`` (one dict per app): ``CFBundleIdentifier``,
  ``CFBundleShortVersionString``, ``CFBundleVersion``, ``CFBundleDisplayName``/``CFBundleName``,
  ``ApplicationType`` (User / System / Hidden), ``Path``, ``SignerIdentity``,
  ``ProfileValidated``, ``Entitlements``, and for store installs ``iTunesMetadata`` (bytes: a
  plist naming the store that installed the app) and ``ApplicationSINF``.
- MCInstall ``GetProfileList``: ``OrderedIdentifiers``, ``ProfileManifest`` (per identifier:
  ``Description``, ``IsActive``) and ``ProfileMetadata`` (per identifier: ``PayloadDisplayName``,
  ``PayloadDescription``, ``PayloadOrganization``, ``PayloadUUID``, ``PayloadVersion``,
  ``PayloadRemovalDisallowed``, ``IsEncrypted`` and, when the device includes them, the
  payload summaries in ``PayloadContent``; a certificate payload carries its certificate as
  bytes in its own ``PayloadContent``).

Nothing here raises on unexpected input: a field of the wrong type is treated as missing, an
entry that cannot be used is skipped and counted, certificate data that does not parse is kept
as an unparseable certificate with the reason. Sizes are bounded (`MAX_APPS`, `MAX_TEXT`,
`MAX_CERTIFICATE_BYTES` …). This module never touches a device, a file or the clock.
"""

from __future__ import annotations

import hashlib
import plistlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from openmtd.domain.device import AppInfo, DeviceFacts, IntegritySignal
from openmtd.domain.enums import EnrollmentScenario, InstallSource, Platform

__all__ = [
    "CERTIFICATE_PAYLOAD_TYPES",
    "MAX_APPS",
    "MAX_CERTIFICATE_BYTES",
    "MAX_PROFILES",
    "MAX_TEXT",
    "PRODUCT_TYPES",
    "AppInventory",
    "Distribution",
    "InstalledProfile",
    "IosApp",
    "ProfileCertificate",
    "ProfileList",
    "app_inventory",
    "classify_app",
    "device_class",
    "device_facts",
    "device_name",
    "hardware_id",
    "install_source",
    "integrity_signals",
    "marketing_name",
    "parse_certificate",
    "parse_profiles",
    "product_type",
]

#: At most this many apps are read (the check-in schema's limit too).
MAX_APPS = 5000
#: Strings are cut to this many characters.
MAX_TEXT = 512
#: Certificate data larger than this is not parsed.
MAX_CERTIFICATE_BYTES = 64 * 1024
#: At most this many profiles, and this many payloads per profile, are read.
MAX_PROFILES = 500
MAX_PAYLOADS = 200
#: An iTunesMetadata blob larger than this is not decoded (typical ones are 2–10 KiB).
MAX_METADATA_BYTES = 256 * 1024

_VERSION_MAX = 64  # the check-in schema's limit on versions
_SHORT_MAX = 128  # … on model, manufacturer, build, names
_IDENTIFIER_MAX = 255  # … on an app identifier

# --------------------------------------------------------------------------------------------
# ProductType -> marketing name
# --------------------------------------------------------------------------------------------


def _family(names: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(names))


#: Apple's model identifiers (``ProductType``) of recent iPhones and iPads. An identifier that is
#: not listed is shown as it is.
PRODUCT_TYPES: Mapping[str, str] = _family(
    {
        "iPhone12,1": "iPhone 11",
        "iPhone12,3": "iPhone 11 Pro",
        "iPhone12,5": "iPhone 11 Pro Max",
        "iPhone12,8": "iPhone SE (2nd generation)",
        "iPhone13,1": "iPhone 12 mini",
        "iPhone13,2": "iPhone 12",
        "iPhone13,3": "iPhone 12 Pro",
        "iPhone13,4": "iPhone 12 Pro Max",
        "iPhone14,2": "iPhone 13 Pro",
        "iPhone14,3": "iPhone 13 Pro Max",
        "iPhone14,4": "iPhone 13 mini",
        "iPhone14,5": "iPhone 13",
        "iPhone14,6": "iPhone SE (3rd generation)",
        "iPhone14,7": "iPhone 14",
        "iPhone14,8": "iPhone 14 Plus",
        "iPhone15,2": "iPhone 14 Pro",
        "iPhone15,3": "iPhone 14 Pro Max",
        "iPhone15,4": "iPhone 15",
        "iPhone15,5": "iPhone 15 Plus",
        "iPhone16,1": "iPhone 15 Pro",
        "iPhone16,2": "iPhone 15 Pro Max",
        "iPhone17,1": "iPhone 16 Pro",
        "iPhone17,2": "iPhone 16 Pro Max",
        "iPhone17,3": "iPhone 16",
        "iPhone17,4": "iPhone 16 Plus",
        "iPhone17,5": "iPhone 16e",
        "iPad12,1": "iPad (9th generation)",
        "iPad12,2": "iPad (9th generation)",
        "iPad13,1": "iPad Air (4th generation)",
        "iPad13,2": "iPad Air (4th generation)",
        "iPad13,4": "iPad Pro 11-inch (3rd generation)",
        "iPad13,5": "iPad Pro 11-inch (3rd generation)",
        "iPad13,6": "iPad Pro 11-inch (3rd generation)",
        "iPad13,7": "iPad Pro 11-inch (3rd generation)",
        "iPad13,8": "iPad Pro 12.9-inch (5th generation)",
        "iPad13,9": "iPad Pro 12.9-inch (5th generation)",
        "iPad13,10": "iPad Pro 12.9-inch (5th generation)",
        "iPad13,11": "iPad Pro 12.9-inch (5th generation)",
        "iPad13,16": "iPad Air (5th generation)",
        "iPad13,17": "iPad Air (5th generation)",
        "iPad13,18": "iPad (10th generation)",
        "iPad13,19": "iPad (10th generation)",
        "iPad14,1": "iPad mini (6th generation)",
        "iPad14,2": "iPad mini (6th generation)",
        "iPad14,3": "iPad Pro 11-inch (4th generation)",
        "iPad14,4": "iPad Pro 11-inch (4th generation)",
        "iPad14,5": "iPad Pro 12.9-inch (6th generation)",
        "iPad14,6": "iPad Pro 12.9-inch (6th generation)",
        "iPad14,8": "iPad Air 11-inch (M2)",
        "iPad14,9": "iPad Air 11-inch (M2)",
        "iPad14,10": "iPad Air 13-inch (M2)",
        "iPad14,11": "iPad Air 13-inch (M2)",
        "iPad15,3": "iPad Air 11-inch (M3)",
        "iPad15,4": "iPad Air 11-inch (M3)",
        "iPad15,5": "iPad Air 13-inch (M3)",
        "iPad15,6": "iPad Air 13-inch (M3)",
        "iPad15,7": "iPad (A16)",
        "iPad15,8": "iPad (A16)",
        "iPad16,1": "iPad mini (A17 Pro)",
        "iPad16,2": "iPad mini (A17 Pro)",
        "iPad16,3": "iPad Pro 11-inch (M4)",
        "iPad16,4": "iPad Pro 11-inch (M4)",
        "iPad16,5": "iPad Pro 13-inch (M4)",
        "iPad16,6": "iPad Pro 13-inch (M4)",
    }
)


def marketing_name(product_type: str) -> str:
    """``iPhone15,2`` -> ``iPhone 14 Pro``; an unknown identifier stays as it is."""
    return PRODUCT_TYPES.get(product_type, product_type)


# --------------------------------------------------------------------------------------------
# Small readers: a field of the wrong type counts as missing
# --------------------------------------------------------------------------------------------


def _text(value: object, limit: int = MAX_TEXT) -> str:
    """A string field, stripped and cut; anything that is not a string is ""."""
    if not isinstance(value, str):
        return ""
    return value.strip()[:limit]


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: object) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


# --------------------------------------------------------------------------------------------
# lockdown values -> facts, name, hardware id, signals
# --------------------------------------------------------------------------------------------


def _os_version(values: Mapping[str, Any]) -> str:
    version = _text(values.get("ProductVersion"), _VERSION_MAX) or "unknown"
    # A Rapid Security Response adds a letter: "16.5.1" + "(c)".
    extra = _text(values.get("ProductVersionExtra"), 16)
    if extra and version != "unknown":
        version = f"{version} {extra}"
    return version[:_VERSION_MAX]


def device_facts(
    values: Mapping[str, Any],
    *,
    scenario: EnrollmentScenario,
    apps: Sequence[AppInfo] = (),
) -> DeviceFacts:
    """Release, marketing model name, maker and build, as the agent reports them."""
    product_type = _text(values.get("ProductType"), _SHORT_MAX)
    model = marketing_name(product_type) if product_type else ""
    if not model:
        model = _text(values.get("DeviceClass"), _SHORT_MAX) or "unknown"
    return DeviceFacts(
        platform=Platform.IOS,
        scenario=scenario,
        os_version=_os_version(values),
        model=model[:_SHORT_MAX],
        manufacturer="Apple",
        build=_text(values.get("BuildVersion"), _SHORT_MAX),
        apps=tuple(apps),
    )


def product_type(values: Mapping[str, Any]) -> str:
    """The model identifier as the device reports it ("iPhone15,2"), or ""."""
    return _text(values.get("ProductType"), _SHORT_MAX)


def device_class(values: Mapping[str, Any]) -> str:
    """ "iPhone", "iPad" …, or ""."""
    return _text(values.get("DeviceClass"), 64)


def device_name(values: Mapping[str, Any]) -> str:
    """The name the owner gave the device, else its marketing name, else "iOS device"."""
    product_type = _text(values.get("ProductType"), _SHORT_MAX)
    name = (
        _text(values.get("DeviceName"), _SHORT_MAX)
        or (marketing_name(product_type) if product_type else "")
        or "iOS device"
    )
    return name[:_SHORT_MAX]


def hardware_id(values: Mapping[str, Any], fallback_udid: str = "") -> str:
    """A stable, hashed identifier of the device (32 hex digits of a SHA-256): the UDID and the
    serial number themselves never leave this computer."""
    identity = (
        _text(values.get("UniqueDeviceID"), 128)
        or _text(values.get("SerialNumber"), 128)
        or fallback_udid[:128]
    )
    return hashlib.sha256(f"openmtd-ios:{identity}".encode()).hexdigest()[:32]


def integrity_signals(values: Mapping[str, Any]) -> list[IntegritySignal]:
    """What the lockdown values say about integrity: ``developer_mode`` "true"/"false" when the
    device reports ``DeveloperModeStatus``. Over USB nothing else is visible; jailbreak apps
    show up in the app list, which the integrity engine checks by bundle id."""
    signals: list[IntegritySignal] = []
    developer = _flag(values.get("DeveloperModeStatus"))
    if developer is not None:
        signals.append(IntegritySignal("developer_mode", "true" if developer else "false"))
    return signals


# --------------------------------------------------------------------------------------------
# installation_proxy apps -> AppInfo
# --------------------------------------------------------------------------------------------


class Distribution(StrEnum):
    """How an app reached the device, as far as its installation record tells."""

    APP_STORE = "app-store"
    TESTFLIGHT = "testflight"
    MARKETPLACE = "marketplace"  # an alternative marketplace (EU, iOS 17.4 and later)
    IN_HOUSE = "in-house"  # signed with an enterprise or ad-hoc distribution identity
    DEVELOPMENT = "development"  # signed with a development identity (Xcode, AltStore …)
    REGISTERED_AS_SYSTEM = "registered-as-system"  # a non-Apple "system" app: jailbreak, TrollStore
    SYSTEM = "system"
    UNKNOWN = "unknown"


_SOURCES: Mapping[Distribution, InstallSource] = MappingProxyType(
    {
        Distribution.APP_STORE: InstallSource.STORE,
        Distribution.TESTFLIGHT: InstallSource.STORE,
        Distribution.MARKETPLACE: InstallSource.STORE,
        Distribution.IN_HOUSE: InstallSource.SIDELOADED,
        Distribution.DEVELOPMENT: InstallSource.SIDELOADED,
        Distribution.REGISTERED_AS_SYSTEM: InstallSource.SIDELOADED,
        Distribution.SYSTEM: InstallSource.SYSTEM,
        Distribution.UNKNOWN: InstallSource.UNKNOWN,
    }
)

#: The identity Apple re-signs App Store and TestFlight apps with.
APP_STORE_SIGNER = "Apple iPhone OS Application Signing"
_DEVELOPMENT_SIGNERS = ("iPhone Developer:", "Apple Development:")
_DISTRIBUTION_SIGNERS = ("iPhone Distribution:", "Apple Distribution:")
_APP_STORE_IDS = frozenset({"com.apple.AppStore", "com.apple.appstored"})
_TESTFLIGHT_ID = "com.apple.TestFlight"
_SYSTEM_TYPES = frozenset({"System", "Hidden", "Internal", "SystemAppPlaceholder"})
_BUNDLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True, slots=True)
class StoreMetadata:
    """The two fields of an app's iTunesMetadata this collector reads (the blob also holds the
    buyer's Apple ID, which is never read)."""

    source_app: str = ""  # "com.apple.AppStore", "com.apple.TestFlight" …
    distributor: str = ""  # distributorInfo's distributor id (iOS 17.4 and later)


def _store_metadata(value: object) -> StoreMetadata | None:
    """None when the app has no iTunesMetadata; empty fields when it is there but unreadable."""
    if value is None:
        return None
    data: Mapping[str, Any] = {}
    if isinstance(value, Mapping):
        data = value
    elif isinstance(value, bytes | bytearray) and 0 < len(value) <= MAX_METADATA_BYTES:
        try:
            decoded = plistlib.loads(bytes(value))
        except Exception:  # any malformed plist: present, but says nothing
            decoded = {}
        data = _mapping(decoded)
    distributor = _mapping(data.get("distributorInfo"))
    return StoreMetadata(
        source_app=_text(data.get("sourceApp"), _SHORT_MAX),
        distributor=_text(
            distributor.get("DistributorID") or distributor.get("distributorID"), _SHORT_MAX
        ),
    )


def classify_app(entry: Mapping[str, Any]) -> Distribution:
    """How the app got onto the device, decided in this order.

    1. ``ApplicationType`` System (or Hidden/Internal): SYSTEM when the bundle id is Apple's
       (``com.apple.``), else REGISTERED_AS_SYSTEM — stock iOS ships only Apple's apps as system
       apps, so a third-party one was registered by a jailbreak or a CoreTrust-bypass installer.
    2. The ``beta-reports-active`` entitlement, or store metadata naming TestFlight: TESTFLIGHT.
    3. Store metadata (``iTunesMetadata``): MARKETPLACE when it names a distributor other than
       the App Store, else APP_STORE.
    4. Apple's store signing identity without metadata: APP_STORE.
    5. A development identity or the ``get-task-allow`` entitlement: DEVELOPMENT.
    6. A distribution identity, or ``ProfileValidated`` (the user trusted the developer in
       Settings): IN_HOUSE.
    7. Otherwise UNKNOWN.
    """
    identifier = _text(entry.get("CFBundleIdentifier"), _IDENTIFIER_MAX)
    app_type = _text(entry.get("ApplicationType"), 64)
    if app_type in _SYSTEM_TYPES:
        apple = identifier.lower().startswith("com.apple.")
        return Distribution.SYSTEM if apple else Distribution.REGISTERED_AS_SYSTEM
    entitlements = _mapping(entry.get("Entitlements"))
    metadata = _store_metadata(entry.get("iTunesMetadata"))
    if _flag(entitlements.get("beta-reports-active")) or (
        metadata is not None and metadata.source_app == _TESTFLIGHT_ID
    ):
        return Distribution.TESTFLIGHT
    if metadata is not None:
        if metadata.distributor and metadata.distributor not in _APP_STORE_IDS:
            return Distribution.MARKETPLACE
        return Distribution.APP_STORE
    signer = _text(entry.get("SignerIdentity"), MAX_TEXT)
    if signer == APP_STORE_SIGNER:
        return Distribution.APP_STORE
    if signer.startswith(_DEVELOPMENT_SIGNERS) or _flag(entitlements.get("get-task-allow")):
        return Distribution.DEVELOPMENT
    if signer.startswith(_DISTRIBUTION_SIGNERS) or _flag(entry.get("ProfileValidated")):
        return Distribution.IN_HOUSE
    return Distribution.UNKNOWN


def install_source(distribution: Distribution, *, managed: bool = False) -> InstallSource:
    """The install source of the shared vocabulary: an app the caller knows the MDM manages is
    MANAGED (unless it is a system app); otherwise by distribution (stores -> STORE; in-house,
    development and registered-as-system -> SIDELOADED; system -> SYSTEM)."""
    if managed and distribution is not Distribution.SYSTEM:
        return InstallSource.MANAGED
    return _SOURCES[distribution]


@dataclass(frozen=True, slots=True)
class IosApp:
    """One app: what the agent reports (`info`) and what only the installation record tells."""

    info: AppInfo
    distribution: Distribution
    application_type: str = ""
    signer_identity: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class AppInventory:
    apps: tuple[IosApp, ...]
    skipped: int = 0  # entries without a usable bundle id, or duplicates
    truncated: int = 0  # entries beyond MAX_APPS

    @property
    def infos(self) -> tuple[AppInfo, ...]:
        return tuple(app.info for app in self.apps)


def app_inventory(entries: object, *, managed: Collection[str] = ()) -> AppInventory:
    """The installation_proxy entries (a list of dicts, or the ``get_apps`` dict keyed by bundle
    id) as apps sorted by bundle id.

    `managed` names bundle ids the caller knows the MDM manages; installation_proxy itself does
    not say it. The version is ``CFBundleShortVersionString`` (else ``CFBundleVersion``), the
    name ``CFBundleDisplayName`` (else ``CFBundleName``).
    """
    if isinstance(entries, Mapping):
        entries = list(entries.values())
    rows = _sequence(entries)
    truncated = max(0, len(rows) - MAX_APPS)
    apps: dict[str, IosApp] = {}
    skipped = 0
    for row in rows[:MAX_APPS]:
        entry = _mapping(row)
        identifier = entry.get("CFBundleIdentifier")
        if (
            not isinstance(identifier, str)
            or len(identifier) > _IDENTIFIER_MAX
            or not _BUNDLE_ID.match(identifier)
            or identifier in apps
        ):
            skipped += 1
            continue
        distribution = classify_app(entry)
        version = _text(entry.get("CFBundleShortVersionString"), _VERSION_MAX) or _text(
            entry.get("CFBundleVersion"), _VERSION_MAX
        )
        name = _text(entry.get("CFBundleDisplayName"), _SHORT_MAX) or _text(
            entry.get("CFBundleName"), _SHORT_MAX
        )
        info = AppInfo(
            identifier=identifier,
            version=version,
            name=name,
            install_source=install_source(distribution, managed=identifier in managed),
        )
        apps[identifier] = IosApp(
            info=info,
            distribution=distribution,
            application_type=_text(entry.get("ApplicationType"), 64),
            signer_identity=_text(entry.get("SignerIdentity")),
            path=_text(entry.get("Path")),
        )
    ordered = tuple(apps[key] for key in sorted(apps))
    return AppInventory(ordered, skipped, truncated)


# --------------------------------------------------------------------------------------------
# MCInstall GetProfileList -> profiles and their certificates
# --------------------------------------------------------------------------------------------

#: Payload types whose PayloadContent is a certificate.
CERTIFICATE_PAYLOAD_TYPES = frozenset(
    {"com.apple.security.root", "com.apple.security.pem", "com.apple.security.pkcs1"}
)
ROOT_PAYLOAD_TYPE = "com.apple.security.root"
MDM_PAYLOAD_TYPE = "com.apple.mdm"


@dataclass(frozen=True, slots=True)
class ProfileCertificate:
    """A certificate from a profile's payload; `problem` says why it could not be read."""

    profile_identifier: str
    payload_type: str
    payload_identifier: str = ""
    payload_display_name: str = ""
    sha1: str = ""  # lower-case hex of the DER encoding
    sha256: str = ""
    subject: str = ""  # RFC 4514
    issuer: str = ""
    not_before: datetime | None = None
    not_after: datetime | None = None
    self_signed: bool = False
    certificate_authority: bool = False
    problem: str = ""
    der: bytes = field(default=b"", repr=False)  # what network protection judges

    @property
    def parsed(self) -> bool:
        return not self.problem

    @property
    def is_root(self) -> bool:
        """Installed as a root (``com.apple.security.root``), or a self-signed CA."""
        return self.payload_type == ROOT_PAYLOAD_TYPE or (
            self.parsed and self.self_signed and self.certificate_authority
        )


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    identifier: str
    display_name: str = ""
    description: str = ""
    organization: str = ""
    uuid: str = ""
    version: int | None = None
    active: bool | None = None
    removal_disallowed: bool = False
    encrypted: bool = False
    payload_types: tuple[str, ...] = ()
    certificates: tuple[ProfileCertificate, ...] = ()

    @property
    def mdm(self) -> bool:
        """The profile enrolls the device in an MDM (it holds a ``com.apple.mdm`` payload)."""
        return MDM_PAYLOAD_TYPE in self.payload_types


@dataclass(frozen=True, slots=True)
class ProfileList:
    profiles: tuple[InstalledProfile, ...] = ()
    skipped: int = 0
    truncated: int = 0

    @property
    def certificates(self) -> tuple[ProfileCertificate, ...]:
        return tuple(c for p in self.profiles for c in p.certificates)

    @property
    def root_certificates(self) -> tuple[ProfileCertificate, ...]:
        return tuple(c for c in self.certificates if c.is_root)


def _name(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()[:MAX_TEXT]
    except Exception:  # an attribute cryptography cannot render
        return "(unreadable name)"


def parse_certificate(
    data: object,
    *,
    profile_identifier: str = "",
    payload_type: str = ROOT_PAYLOAD_TYPE,
    payload_identifier: str = "",
    payload_display_name: str = "",
) -> ProfileCertificate:
    """One certificate payload's data (DER, or PEM text as bytes or str); never raises."""
    base = ProfileCertificate(
        profile_identifier=profile_identifier,
        payload_type=payload_type,
        payload_identifier=payload_identifier,
        payload_display_name=payload_display_name,
    )
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    if isinstance(data, bytearray):
        data = bytes(data)
    if not isinstance(data, bytes):
        return replace(base, problem=f"no certificate data ({type(data).__name__})")
    if not data:
        return replace(base, problem="empty certificate data")
    if len(data) > MAX_CERTIFICATE_BYTES:
        return replace(
            base,
            problem=f"certificate data of {len(data)} bytes exceeds {MAX_CERTIFICATE_BYTES}",
        )
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            cert = x509.load_pem_x509_certificate(data.lstrip())
        else:
            cert = x509.load_der_x509_certificate(data)
        der = cert.public_bytes(Encoding.DER)
        subject, issuer = _name(cert.subject), _name(cert.issuer)
        try:
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
        return replace(
            base,
            der=der,
            sha1=hashlib.sha1(der).hexdigest(),  # noqa: S324 - a thumbprint, not a signature
            sha256=hashlib.sha256(der).hexdigest(),
            subject=subject,
            issuer=issuer,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            self_signed=cert.subject == cert.issuer,
            certificate_authority=ca,
        )
    except Exception as e:  # any malformed certificate: recorded, never raised
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return replace(base, problem=f"unparseable certificate: {reason[:200]}")


def _payloads(
    identifier: str, metadata: Mapping[str, Any]
) -> tuple[tuple[str, ...], tuple[ProfileCertificate, ...]]:
    types: list[str] = []
    certificates: list[ProfileCertificate] = []
    for raw in _sequence(metadata.get("PayloadContent"))[:MAX_PAYLOADS]:
        payload = _mapping(raw)
        payload_type = _text(payload.get("PayloadType"), _SHORT_MAX)
        if not payload_type:
            continue
        types.append(payload_type)
        if payload_type in CERTIFICATE_PAYLOAD_TYPES:
            certificates.append(
                parse_certificate(
                    payload.get("PayloadContent"),
                    profile_identifier=identifier,
                    payload_type=payload_type,
                    payload_identifier=_text(payload.get("PayloadIdentifier")),
                    payload_display_name=_text(payload.get("PayloadDisplayName")),
                )
            )
    return tuple(types), tuple(certificates)


def _version(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_profiles(answer: object) -> ProfileList:
    """The ``GetProfileList`` answer as profiles in the device's order (``OrderedIdentifiers``,
    then any other identifier of ``ProfileMetadata`` in sorted order)."""
    data = _mapping(answer)
    metadata_by_id = _mapping(data.get("ProfileMetadata"))
    manifest_by_id = _mapping(data.get("ProfileManifest"))
    order = [i for i in _sequence(data.get("OrderedIdentifiers")) if isinstance(i, str)]
    order += sorted(k for k in metadata_by_id if isinstance(k, str) and k not in order)
    skipped = sum(1 for k in metadata_by_id if not isinstance(k, str))
    unique = list(dict.fromkeys(order))
    truncated = max(0, len(unique) - MAX_PROFILES)
    profiles: list[InstalledProfile] = []
    for identifier in unique[:MAX_PROFILES]:
        metadata = metadata_by_id.get(identifier)
        manifest = _mapping(manifest_by_id.get(identifier))
        if not isinstance(metadata, Mapping) and not manifest:
            skipped += 1
            continue
        metadata = _mapping(metadata)
        types, certificates = _payloads(identifier[:MAX_TEXT], metadata)
        profiles.append(
            InstalledProfile(
                identifier=identifier[:MAX_TEXT],
                display_name=_text(metadata.get("PayloadDisplayName")),
                description=_text(metadata.get("PayloadDescription"))
                or _text(manifest.get("Description")),
                organization=_text(metadata.get("PayloadOrganization")),
                uuid=_text(metadata.get("PayloadUUID"), 64),
                version=_version(metadata.get("PayloadVersion")),
                active=_flag(manifest.get("IsActive")),
                removal_disallowed=bool(_flag(metadata.get("PayloadRemovalDisallowed"))),
                encrypted=bool(_flag(metadata.get("IsEncrypted"))),
                payload_types=types,
                certificates=certificates,
            )
        )
    return ProfileList(tuple(profiles), skipped, truncated)
