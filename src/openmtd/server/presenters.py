"""ORM rows -> API schemas, shared by the JSON API and the console pages."""

from __future__ import annotations

from datetime import datetime

from openmtd.domain.enums import (
    AlertClassification,
    AlertStatus,
    EnrollmentScenario,
    Platform,
    RiskLevel,
    Role,
    Severity,
)
from openmtd.domain.integrity import IntegrityState
from openmtd.server.agent_api.service import parse_tags
from openmtd.server.compliance import service as compliance
from openmtd.server.devices.service import DeviceStateRules
from openmtd.server.onboarding.service import token_state
from openmtd.server.schemas import (
    AlertOut,
    AppOut,
    AuditOut,
    DeviceSummary,
    EventOut,
    OnboardingTokenOut,
    UserOut,
)
from openmtd.store.models import (
    Alert,
    AuditEntry,
    Device,
    DeviceApp,
    DeviceEvent,
    OnboardingToken,
    User,
)


def compliance_reasons(device: Device, rules: DeviceStateRules) -> list[str]:
    """Why a device is noncompliant under its policy; empty when it is compliant."""
    return compliance.view(device, rules.now).reasons


def device_summary(device: Device, rules: DeviceStateRules) -> DeviceSummary:
    state = compliance.view(device, rules.now)
    return DeviceSummary(
        id=device.id,
        name=device.name,
        platform=Platform(device.platform),
        scenario=EnrollmentScenario(device.scenario),
        protection_scope=device.protection_scope,
        device_group=device.device_group,
        tags=parse_tags(device.tags),
        model=device.model,
        manufacturer=device.manufacturer,
        os_version=device.os_version,
        security_patch_level=device.security_patch_level,
        risk_level=RiskLevel(device.risk_level),
        integrity_state=IntegrityState(device.integrity_state),
        compliant=state.compliant,
        compliance_policy=state.policy,
        health_state=state.partner_state,
        unresponsive=state.unresponsive,
        last_seen_at=device.last_seen_at,
        enrolled_at=device.enrolled_at,
        app_count=device.app_count,
        retired_at=device.retired_at,
    )


def alert_out(a: Alert) -> AlertOut:
    return AlertOut(
        id=a.id,
        device_id=a.device_id,
        category=a.category,
        title=a.title,
        severity=Severity(a.severity),
        status=AlertStatus(a.status),
        classification=AlertClassification(a.classification),
        assigned_to=a.assigned_to,
        evidence=a.evidence,
        first_seen=a.first_seen,
        last_seen=a.last_seen,
        count=a.count,
        dedup_key=a.dedup_key,
        resolved_at=a.resolved_at,
    )


def app_out(a: DeviceApp) -> AppOut:
    return AppOut(
        identifier=a.identifier,
        version=a.version,
        name=a.name,
        install_source=a.install_source,
        sha256=a.sha256,
        signer_sha256=a.signer_sha256,
    )


def event_out(e: DeviceEvent) -> EventOut:
    return EventOut(occurred_at=e.occurred_at, kind=e.kind, summary=e.summary, details=e.details)


def token_out(t: OnboardingToken, now: datetime) -> OnboardingTokenOut:
    return OnboardingTokenOut(
        id=t.id,
        name=t.name,
        platform=Platform(t.platform) if t.platform else None,
        scenarios=[EnrollmentScenario(s) for s in t.scenarios],
        device_group=t.device_group,
        tags=list(t.tags),
        created_at=t.created_at,
        created_by=t.created_by,
        expires_at=t.expires_at,
        max_uses=t.max_uses,
        uses=t.uses,
        revoked_at=t.revoked_at,
        state=token_state(t, now),
    )


def user_out(u: User) -> UserOut:
    return UserOut(
        id=u.id,
        username=u.username,
        role=Role(u.role),
        created_at=u.created_at,
        disabled=u.disabled_at is not None,
    )


def audit_out(e: AuditEntry) -> AuditOut:
    return AuditOut(
        id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target, details=e.details
    )
