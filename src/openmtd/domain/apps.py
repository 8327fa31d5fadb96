"""App protection's vocabulary: what an APK is made of, what made it risky, and the verdict.

Produced by engines.apps (static analysis of APK bytes and app reputation); consumed by the
server (alerts, the analysis cache), the agent, the adb collector and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from openmtd.domain.web import IndicatorAction, IndicatorMeta, IndicatorType


class AppVerdictKind(StrEnum):
    """The outcome of judging one app or APK, ordered from harmless to harmful."""

    CLEAN = "clean"
    POTENTIALLY_UNWANTED = "potentially unwanted"
    MALICIOUS = "malicious"
    UNPARSEABLE = "unparseable"  # the bytes could not be analysed; `problem` says why


class ComponentKind(StrEnum):
    ACTIVITY = "activity"
    ACTIVITY_ALIAS = "activity-alias"
    SERVICE = "service"
    RECEIVER = "receiver"
    PROVIDER = "provider"


@dataclass(frozen=True, slots=True)
class Component:
    """One component declared in the manifest."""

    kind: ComponentKind
    name: str  # fully qualified (a leading "." is resolved against the package)
    exported: bool | None  # None: not declared (Android then infers it from intent filters)
    permission: str = ""  # android:permission guarding it (e.g. BIND_ACCESSIBILITY_SERVICE)
    actions: tuple[str, ...] = ()  # intent-filter actions
    categories: tuple[str, ...] = ()  # intent-filter categories
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class SigningCertificate:
    """A signer's certificate; thumbprints are lower-case hex of the DER encoding."""

    sha256: str
    sha1: str
    md5: str
    subject: str
    issuer: str
    not_before: str  # ISO 8601
    not_after: str
    schemes: tuple[str, ...]  # the schemes that carry it: "v1", "v2", "v3"
    debug: bool  # the Android SDK's debug certificate ("CN=Android Debug,O=Android,C=US")


@dataclass(frozen=True, slots=True)
class ApkFacts:
    """What static analysis reads from one APK (no verdict)."""

    sha256: str
    sha1: str
    md5: str
    size: int
    package: str
    version_code: int | None
    version_name: str
    min_sdk: int | None
    target_sdk: int | None
    label: str  # the literal android:label, or "" when it is a resource reference
    permissions: tuple[str, ...]  # uses-permission names, in manifest order, de-duplicated
    components: tuple[Component, ...]
    debuggable: bool
    allow_backup: bool | None  # None: not declared (the platform default is true)
    uses_cleartext_traffic: bool | None
    network_security_config: str  # the resource reference as an id, e.g. "@0x7f020000", or ""
    has_launcher: bool  # some enabled activity (or alias) has MAIN + LAUNCHER
    signers: tuple[SigningCertificate, ...]
    signature_schemes: tuple[str, ...]  # schemes present: "v1", "v2", "v3"
    dex_files: tuple[str, ...]  # classes.dex, classes2.dex …
    native_libraries: tuple[str, ...]  # lib/<abi>/<name>.so entries
    entry_count: int


@dataclass(frozen=True, slots=True)
class RiskFactor:
    """One reason an app looks risky, with its weight in the score."""

    id: str  # stable, e.g. "perm.accessibility-overlay-sms", "signer.debug", "yara.<rule>"
    weight: int  # points added to the score (0–100 scale, capped)
    explanation: str  # one sentence a person can read


@dataclass(frozen=True, slots=True)
class AppFingerprint:
    """What identifies an installed app for reputation: any field may be unknown."""

    package: str = ""
    sha256: str | None = None  # of the APK file
    sha1: str | None = None
    md5: str | None = None
    signer_sha256: str | None = None  # of the signing certificate
    signer_sha1: str | None = None
    signer_md5: str | None = None


@dataclass(frozen=True, slots=True)
class ApkVerdict:
    """The verdict on one APK or app, with every factor that led to it."""

    verdict: AppVerdictKind
    score: int  # 0–100
    confidence: str  # "low" | "medium" | "high"
    factors: tuple[RiskFactor, ...] = ()
    problem: str = ""  # why the APK is unparseable
    facts: ApkFacts | None = None

    @property
    def reasons(self) -> tuple[str, ...]:
        if self.problem:
            return (self.problem,)
        return tuple(f.explanation for f in self.factors)


@dataclass(frozen=True, slots=True)
class ScanLimits:
    """Bounds that keep hostile files from costing unbounded time or memory."""

    max_apk_bytes: int = 512 * 1024 * 1024
    max_entries: int = 65_536
    max_manifest_bytes: int = 4 * 1024 * 1024  # uncompressed AndroidManifest.xml
    max_entry_bytes: int = 256 * 1024 * 1024  # any one entry, uncompressed
    max_total_inflated_bytes: int = 1024 * 1024 * 1024  # all inflated entries together
    max_ratio: int = 200  # uncompressed / compressed, per entry (zip bombs)
    max_yara_bytes: int = 64 * 1024 * 1024  # per dex or native library scanned


@dataclass(frozen=True, slots=True)
class AppMatch:
    """One app indicator (custom or from a feed) that matched an app, and why."""

    meta: IndicatorMeta
    indicator_type: IndicatorType  # one of the app types (file_*, cert_*, package)
    value: str  # the canonical indicator value that matched
    reason: str  # one sentence, e.g. "signing certificate SHA-1 ab12… is on feed 'stalkerware'"

    @property
    def action(self) -> IndicatorAction:
        return self.meta.action


@dataclass(frozen=True, slots=True)
class AppReputation:
    """Every app indicator that matched one app, and the one that decides.

    The most specific kind of match decides (file hash, then signing certificate, then package
    name); among matches of the same kind the action precedence applies (Allow > Audit > Warn >
    Block), as for web indicators.
    """

    decision: AppMatch | None
    matches: tuple[AppMatch, ...] = ()

    @property
    def action(self) -> IndicatorAction | None:
        return self.decision.action if self.decision else None

    @property
    def explanation(self) -> str:
        if self.decision is None:
            return "no app indicator matches"
        return self.decision.reason
