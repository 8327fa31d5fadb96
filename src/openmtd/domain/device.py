"""What a device tells about itself: facts, apps, signals, observations, detections."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from openmtd.domain.enums import EnrollmentScenario, InstallSource, Platform, Severity


@dataclass(frozen=True, slots=True)
class AppInfo:
    """One installed app as the device reports it."""

    identifier: str  # Android package name or iOS bundle id
    version: str
    name: str = ""
    install_source: InstallSource = InstallSource.UNKNOWN
    sha256: str | None = None  # of the APK file (Android)
    signer_sha256: str | None = None  # of the signing certificate's DER encoding
    signer_sha1: str | None = None  # the same certificate's SHA-1 (what many feeds list)


@dataclass(frozen=True, slots=True)
class IntegritySignal:
    """One raw root/jailbreak indicator the collector observed (evaluated by engines)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class NetworkObservation:
    """A network the device joined or a TLS endpoint it checked (evaluated by engines)."""

    kind: str  # "wifi" | "tls"
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Detection:
    """Something the agent or an engine found, before it becomes an alert or an event."""

    category: str  # e.g. "Phishing", "Malware", "Jailbreak", "RogueWifi"
    title: str
    severity: Severity
    key: str  # what makes two detections "the same thing" on one device
    evidence: tuple[tuple[str, str], ...] = ()
    timeline_only: bool = False  # an event on the timeline, never an alert
    resolved: bool = False  # the condition is gone (automatic remediation)


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """The device's description of itself at one check-in."""

    platform: Platform
    scenario: EnrollmentScenario
    os_version: str
    model: str
    manufacturer: str = ""
    security_patch_level: date | None = None
    build: str = ""
    tags: tuple[str, ...] = ()
    apps: tuple[AppInfo, ...] = field(default=())
