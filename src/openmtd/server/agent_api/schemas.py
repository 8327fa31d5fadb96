"""Bodies of the agent protocol, v1. Limits here keep one report from costing the server much."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from openmtd.domain.enums import EnrollmentScenario, InstallSource, Platform, RiskLevel, Severity
from openmtd.domain.integrity import IntegrityState
from openmtd.server.schemas_common import Hex40, Hex64, OptionalTag, ReportId, ShortText, Tags, Text

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Version = Annotated[str, StringConstraints(max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PrivacyChoices(Strict):
    """The privacy keys of the reference product; omitted keys take the scenario's default."""

    exclude_url_in_report: bool | None = None
    exclude_app_in_report: bool | None = None
    vulnerability_privacy_mode: bool | None = None
    network_protection_privacy: bool | None = None


class DeviceDescription(Strict):
    model: ShortText
    manufacturer: ShortText = ""
    os_version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    security_patch_level: date | None = None
    build: ShortText = ""
    name: ShortText = ""


class EnrollRequest(Strict):
    onboarding_token: Annotated[str, StringConstraints(min_length=8, max_length=128)]
    platform: Platform
    scenario: EnrollmentScenario
    hardware_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{8,128}$")] = Field(
        description="A stable identifier of the physical device (e.g. a hash of its serial); "
        "links a personal-profile agent to the work-profile agent on the same phone."
    )
    device: DeviceDescription
    device_tag: OptionalTag = ""
    privacy: PrivacyChoices = Field(default_factory=PrivacyChoices)


class EnrollResponse(BaseModel):
    device_id: str
    device_credential: str = Field(
        description="Shown once; send as 'Authorization: Bearer <credential>'."
    )
    protection_scope: str
    device_group: str
    warnings: list[str]
    checkin_interval_seconds: int


class AppReport(Strict):
    identifier: Identifier
    version: Version = ""
    name: ShortText = ""
    install_source: InstallSource = InstallSource.UNKNOWN
    sha256: Hex64 | None = Field(default=None, description="SHA-256 of the app's APK file")
    signer_sha256: Hex64 | None = Field(
        default=None, description="SHA-256 of the signing certificate (DER)"
    )
    signer_sha1: Hex40 | None = Field(
        default=None, description="SHA-1 of the signing certificate (what many feeds list)"
    )


class Signal(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    value: Annotated[str, StringConstraints(max_length=512)]


class NetworkReport(Strict):
    kind: Annotated[str, StringConstraints(pattern=r"^(wifi|tls)$")]
    attributes: Annotated[
        dict[Annotated[str, StringConstraints(max_length=64)], Text], Field(max_length=32)
    ] = Field(default_factory=dict)


class DetectionReport(Strict):
    category: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9]{1,47}$")]
    title: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    severity: Severity
    key: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    evidence: Annotated[
        dict[Annotated[str, StringConstraints(max_length=64)], Text], Field(max_length=32)
    ] = Field(default_factory=dict)
    timeline_only: bool = False
    resolved: bool = False
    observed_at: datetime | None = None


class CheckInFacts(Strict):
    platform: Platform
    scenario: EnrollmentScenario
    os_version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    security_patch_level: date | None = None
    model: ShortText
    manufacturer: ShortText = ""
    build: ShortText = ""
    tags: Tags = Field(default_factory=list)
    protection_issues: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=64)]], Field(max_length=16)
    ] = Field(
        default_factory=list,
        description="What the agent could not set up (e.g. vpn_permission_missing, "
        "notifications_off); any makes the device's partner health state 'misconfigured'.",
    )


class CheckInRequest(Strict):
    report_id: ReportId = Field(
        description="Client-chosen id; resending the same report is answered as a duplicate."
    )
    collected_at: datetime
    facts: CheckInFacts
    apps: Annotated[list[AppReport], Field(max_length=5000)] | None = Field(
        default=None,
        description="The full app inventory; null when unchanged or withheld by privacy.",
    )
    integrity_signals: Annotated[list[Signal], Field(max_length=256)] = Field(default_factory=list)
    network_observations: Annotated[list[NetworkReport], Field(max_length=256)] = Field(
        default_factory=list
    )
    detections: Annotated[list[DetectionReport], Field(max_length=500)] = Field(
        default_factory=list
    )


class CheckInResponse(BaseModel):
    report_id: str
    duplicate: bool
    risk_level: RiskLevel
    alerts_raised: int
    sync_etag: str
    next_checkin_seconds: int
    apk_requests: list[str] = Field(
        default_factory=list,
        description="SHA-256 of APKs the server asks this device to upload for analysis "
        "(PUT /api/agent/v1/devices/{id}/apks/{sha256}); empty when none are wanted.",
    )
    integrity_state: IntegrityState = Field(
        default=IntegrityState.UNKNOWN,
        description="The device's integrity verdict (signals and attestation).",
    )
    compromise_response: list[str] = Field(
        default_factory=list,
        description="What the agent must do now on a compromised device, per policy: "
        "stop_web_protection, clear_local_data (then report that it did).",
    )
    attestation_requests: list[str] = Field(
        default_factory=list,
        description="Attestation evidence the server asks for now (android_key, "
        "play_integrity, app_attest, app_attest_assertion): ask for a challenge at "
        "POST /api/agent/v1/devices/{id}/integrity/challenges.",
    )


class IndicatorSetRef(BaseModel):
    """One set of web indicators the agent should hold; fetch it when the revision moved."""

    name: str
    revision: int
    count: int


class WebSettings(BaseModel):
    """Web protection as it applies to this device's platform."""

    anti_phishing: bool
    local_proxy: bool
    dns_block_mode: str
    dns_block_ipv4: str
    dns_block_ipv6: str
    dns_blocked_ttl: int
    heuristics: dict[str, object]


class SyncResponse(BaseModel):
    etag: str
    device_id: str
    device_group: str
    device_groups: list[str] = Field(
        description="The groups and tags device-scoped indicators are matched against."
    )
    checkin_interval_seconds: int
    privacy: dict[str, bool]
    privacy_user_toggles: list[str] = Field(
        default_factory=list,
        description="The privacy keys the person holding the device may change "
        "(PUT /api/agent/v1/devices/{id}/privacy); the organisation keeps the others.",
    )
    policy: dict[str, object]
    web: WebSettings
    indicator_sets: list[IndicatorSetRef]


class IndicatorSetOut(BaseModel):
    """A whole indicator set: metadata once, then compact [type, value, meta index] entries."""

    name: str
    revision: int
    metas: list[dict[str, object]]
    entries: list[list[str | int]] = Field(
        description="[type, canonical value, index into metas] for each indicator"
    )


class PrivacyOut(BaseModel):
    """This device's privacy settings, and which of them its user may change."""

    privacy: dict[str, bool]
    user_toggles: list[str] = Field(
        description="The keys the person holding the device may change; the others are the "
        "organisation's."
    )
    changed: list[str] = Field(
        default_factory=list, description="The keys this request changed (empty: none)."
    )


class OwnAlert(BaseModel):
    id: int
    category: str
    title: str
    severity: Severity
    status: str
    first_seen: datetime
    last_seen: datetime


class OwnDevice(BaseModel):
    device_id: str
    platform: Platform
    scenario: EnrollmentScenario
    protection_scope: str
    risk_level: RiskLevel
    risk_reason: str
    last_seen_at: datetime
    alerts: list[OwnAlert]


class ApkRequests(BaseModel):
    """APKs of this device the server has not analysed yet and would like to."""

    apk_requests: list[str]
    max_upload_bytes: int


class ApkAnalysisOut(BaseModel):
    """The server's verdict on one uploaded APK (shared by every device that has it)."""

    sha256: str
    verdict: str
    score: int
    confidence: str
    reasons: list[str]
    already_known: bool
