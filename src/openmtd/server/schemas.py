"""Response and request bodies of the admin API (devices, alerts, tokens, users, audit)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from openmtd.domain.enums import (
    AlertClassification,
    AlertStatus,
    EnrollmentScenario,
    Platform,
    ProtectionScope,
    RiskLevel,
    Role,
    Severity,
)
from openmtd.domain.integrity import IntegrityState
from openmtd.engines.compliance import PartnerState
from openmtd.engines.privacy import PrivacySettings, privacy_settings
from openmtd.server.schemas_common import OptionalTag, ShortText, Tags

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class DeviceSummary(BaseModel):
    id: str
    name: str
    platform: Platform
    scenario: EnrollmentScenario
    protection_scope: str
    device_group: str
    tags: list[str]
    model: str
    manufacturer: str
    os_version: str
    security_patch_level: date | None
    risk_level: RiskLevel
    integrity_state: IntegrityState = Field(
        description="Root/jailbreak verdict from signals and attestation (see /integrity)."
    )
    compliant: bool
    compliance_policy: str = Field(description="The compliance policy the device is judged by.")
    health_state: PartnerState = Field(
        description="MDM partner health state: unknown, activated, deactivated, secured, "
        "lowSeverity, mediumSeverity, highSeverity, unresponsive, compromised, misconfigured."
    )
    unresponsive: bool
    last_seen_at: datetime
    enrolled_at: datetime
    app_count: int
    retired_at: datetime | None = Field(
        description="When the device was retired (lost, wiped, replaced or enrolled again); "
        "a retired device's credential no longer works."
    )


class AppOut(BaseModel):
    identifier: str
    version: str
    name: str
    install_source: str
    sha256: str | None
    signer_sha256: str | None


class AlertOut(BaseModel):
    id: int
    device_id: str
    category: str
    title: str
    severity: Severity
    status: AlertStatus
    classification: AlertClassification
    assigned_to: str | None
    evidence: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    count: int
    dedup_key: str
    resolved_at: datetime | None


class EventOut(BaseModel):
    occurred_at: datetime
    kind: str
    summary: str
    details: dict[str, Any]


class DeviceDetail(DeviceSummary):
    hardware_id: str
    build: str
    risk_reason: str
    compliance_reasons: list[str]
    enrollment_warnings: list[str]
    privacy: dict[str, bool]
    signals: dict[str, Any] = Field(
        description="The latest integrity signals and network observations the device sent."
    )
    apps: list[AppOut]
    alerts: list[AlertOut]
    timeline: list[EventOut]


class DeviceRetire(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[
        str, StringConstraints(min_length=1, max_length=256, strip_whitespace=True)
    ] = Field(
        description="Why the device leaves the inventory (lost, wiped, replaced …); recorded "
        "on its timeline and in the audit log."
    )


class AlertUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: AlertStatus | None = None
    classification: AlertClassification | None = None
    assigned_to: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    unassign: bool = False


class OnboardingTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
    platform: Platform | None = None
    scenarios: Annotated[list[EnrollmentScenario], Field(max_length=32)] = Field(
        default_factory=list, description="Empty: every supported scenario of the platform."
    )
    device_group: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._ -]{1,128}$")] = "default"
    tags: Tags = Field(default_factory=list)
    expires_in_hours: int = Field(default=24 * 7, ge=1, le=24 * 365)
    max_uses: int | None = Field(default=None, ge=1, le=10_000_000)


class OnboardingTokenOut(BaseModel):
    id: int
    name: str
    platform: Platform | None
    scenarios: list[EnrollmentScenario]
    device_group: str
    tags: list[str]
    created_at: datetime
    created_by: str
    expires_at: datetime
    max_uses: int | None
    uses: int
    revoked_at: datetime | None
    state: str


class OnboardingTokenCreated(OnboardingTokenOut):
    token: str = Field(description="Shown once; only its SHA-256 digest is stored.")


class ManagedConfigRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The alphabet of the tokens this server issues; it also keeps the plist renderable.
    onboarding_token: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,128}$")]
    scenario: EnrollmentScenario
    device_tag: OptionalTag = ""
    # Privacy keys; one left out (null) takes the scenario's default (docs/privacy.md).
    exclude_url_in_report: bool | None = None
    exclude_app_in_report: bool | None = None
    vulnerability_privacy_mode: bool | None = None
    network_protection_privacy: bool | None = None

    def privacy_settings(self, scope: ProtectionScope | None = None) -> PrivacySettings:
        chosen = {
            "exclude_url_in_report": self.exclude_url_in_report,
            "exclude_app_in_report": self.exclude_app_in_report,
            "vulnerability_privacy_mode": self.vulnerability_privacy_mode,
            "network_protection_privacy": self.network_protection_privacy,
        }
        values = {k: v for k, v in chosen.items() if v is not None}
        if scope is None:
            return PrivacySettings(**values)
        return privacy_settings(values, scope=scope)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{2,64}$")]
    password: Annotated[str, StringConstraints(min_length=12, max_length=256)]
    role: Role


class UserOut(BaseModel):
    id: int
    username: str
    role: Role
    created_at: datetime
    disabled: bool


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ShortText = Field(min_length=1)
    role: Role | None = Field(default=None, description="Defaults to the caller's role.")
    expires_in_days: int | None = Field(default=90, ge=1, le=3650)


class ApiTokenCreated(BaseModel):
    id: int
    name: str
    role: Role
    expires_at: datetime | None
    token: str = Field(description="Shown once; only its SHA-256 digest is stored.")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class FleetSummaryOut(BaseModel):
    total: int
    by_platform: dict[str, int]
    by_risk: dict[str, int]
    by_scenario: dict[str, int]
    unresponsive: int
    active_alerts_by_severity: dict[str, int]


class ScenarioOut(BaseModel):
    scenario: EnrollmentScenario
    platform: Platform
    title: str
    supported: bool
    company_portal: str
    protection_scope: str | None
    onboarding: str
    notes: str
    refusal: str
    deprecated_after: date | None
