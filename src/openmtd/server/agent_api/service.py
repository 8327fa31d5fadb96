"""Enrollment, check-in and sync for devices. Runs on every check-in, so it stays lean."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmtd.config import Settings
from openmtd.domain.device import AppInfo, Detection
from openmtd.domain.enums import (
    EnrollmentScenario,
    Platform,
    RiskLevel,
)
from openmtd.domain.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from openmtd.domain.integrity import IntegrityState
from openmtd.engines.apps.redact import without_app
from openmtd.engines.network.redact import without_network_details
from openmtd.engines.privacy import PrivacyRule, enrollment_privacy, policy_for
from openmtd.engines.web.detections import without_url
from openmtd.enrollment.scenarios import check_enrollment, check_scenario
from openmtd.enrollment.tokens import (
    DEVICE_PREFIX,
    OnboardingScope,
    OnboardingTokenState,
    TokenRejected,
    check_onboarding_token,
    digest,
    new_secret,
)
from openmtd.server.agent_api.schemas import (
    AppReport,
    CheckInFacts,
    CheckInRequest,
    DetectionReport,
    EnrollRequest,
    OwnAlert,
    OwnDevice,
)
from openmtd.server.alerts.service import (
    ACTIVE,
    apply_detections,
    resolve_device_alerts,
)
from openmtd.server.apps import service as app_service
from openmtd.server.apps.protection import AppProtection
from openmtd.server.compliance import service as compliance
from openmtd.server.integrity import service as integrity_service
from openmtd.server.integrity.verifiers import IntegrityVerifiers
from openmtd.server.network_policy import network_policy
from openmtd.server.timeline import add_event
from openmtd.server.vulns.assess import DeviceInput, stored_apps
from openmtd.server.vulns.assess import assess as vuln_assess
from openmtd.server.vulns.assess import failed as vuln_failed
from openmtd.server.vulns.assess import input_digest as vuln_input_digest
from openmtd.server.vulns.assess import store as vuln_store
from openmtd.server.vulns.protection import VulnProtection
from openmtd.server.vulns.state import VULN_GENERATION
from openmtd.server.web.sync import POLICY_GENERATION, bump
from openmtd.store.models import Alert, CheckIn, Device, DeviceApp, OnboardingToken, SyncGeneration

MAX_DEVICE_TAGS = 16  # what Device.tags holds: 16 tags of up to 64 characters, space-delimited


def format_tags(tags: list[str]) -> str:
    unique = sorted(dict.fromkeys(t for t in tags if t))
    if len(unique) > MAX_DEVICE_TAGS:
        raise InvalidInput(
            f"a device carries at most {MAX_DEVICE_TAGS} tags (its onboarding token's and its "
            f"own together); this one would carry {len(unique)}",
            code="too_many_tags",
        )
    return f" {' '.join(unique)} " if unique else " "


def parse_tags(stored: str) -> list[str]:
    return stored.split()


@dataclass(frozen=True, slots=True)
class Enrolled:
    device: Device
    credential: str
    warnings: tuple[str, ...]


def enroll(
    db: Session,
    *,
    req: EnrollRequest,
    now: datetime,
    unresponsive_days: int,
    privacy_rules: Sequence[PrivacyRule] = (),
) -> Enrolled:
    """`privacy_rules`: the admin's privacy policy (Settings.privacy_rules()); the device's
    settings are the scope's defaults, the policy's values, the enrollment's choices (the
    managed configuration), then the policy's locked values (engines.privacy)."""
    spec = check_scenario(req.scenario, req.platform)  # an unsupported scenario: refused by name
    token = db.scalar(
        select(OnboardingToken).where(OnboardingToken.token_digest == digest(req.onboarding_token))
    )
    if token is None:
        raise TokenRejected("unknown onboarding token")
    state = OnboardingTokenState(
        name=token.name,
        scope=OnboardingScope(
            platform=Platform(token.platform) if token.platform else None,
            scenarios=frozenset(EnrollmentScenario(s) for s in token.scenarios),
            device_group=token.device_group,
            tags=tuple(token.tags),
        ),
        expires_at=token.expires_at,
        max_uses=token.max_uses,
        uses=token.uses,
        revoked_at=token.revoked_at,
    )
    check_onboarding_token(state, platform=req.platform, scenario=req.scenario, now=now)
    work_profile_active = spec.requires_work_profile and (
        db.scalar(
            select(Device.id)
            .where(
                Device.hardware_id == req.hardware_id,
                Device.scenario == EnrollmentScenario.ANDROID_WORK_PROFILE.value,
                Device.retired_at.is_(None),
                Device.last_seen_at >= now - timedelta(days=unresponsive_days),
            )
            .limit(1)
        )
        is not None
    )
    decision = check_enrollment(
        req.scenario, req.platform, today=now.date(), work_profile_active=work_profile_active
    )
    # Count the use atomically, so that concurrent enrollments cannot exceed max_uses.
    used = db.execute(
        update(OnboardingToken)
        .where(
            OnboardingToken.id == token.id,
            or_(
                OnboardingToken.max_uses.is_(None), OnboardingToken.uses < OnboardingToken.max_uses
            ),
        )
        .values(uses=OnboardingToken.uses + 1)
    )
    if getattr(used, "rowcount", 1) != 1:
        raise TokenRejected(f"onboarding token {token.name!r} is used up")

    # A re-install of the agent in the same scenario replaces the earlier record.
    previous = db.scalars(
        select(Device).where(
            Device.hardware_id == req.hardware_id,
            Device.scenario == req.scenario.value,
            Device.retired_at.is_(None),
        )
    ).all()
    resolve_device_alerts(db, device_ids=[old.id for old in previous], now=now)
    for old in previous:
        old.retired_at = now
        add_event(
            db,
            device_id=old.id,
            kind="enrollment",
            now=now,
            summary="retired: the same device enrolled again in this scenario",
        )

    credential = new_secret(DEVICE_PREFIX)
    tags = [*token.tags, *([req.device_tag] if req.device_tag else [])]
    d = req.device
    device = Device(
        id=str(uuid.uuid4()),
        credential_digest=digest(credential),
        platform=req.platform.value,
        scenario=req.scenario.value,
        protection_scope=decision.scope.value,
        hardware_id=req.hardware_id,
        name=(d.name or f"{d.model} ({req.platform.value})")[:128],
        device_group=token.device_group,
        tags=format_tags(tags),
        assigned_tags=format_tags(tags),
        model=d.model,
        manufacturer=d.manufacturer,
        os_version=d.os_version,
        security_patch_level=d.security_patch_level,
        build=d.build,
        enrolled_at=now,
        last_seen_at=now,
        risk_level=RiskLevel.SECURED.value,
        risk_reason="no active alert above Informational",
        inventory_digest="",
        app_count=0,
        onboarding_token_id=token.id,
        enrollment_warnings=list(decision.warnings),
        privacy=enrollment_privacy(
            policy_for(privacy_rules, scope=decision.scope, device_group=token.device_group),
            req.privacy.model_dump(),
        ),
        signals={"integrity": [], "network": []},
        retired_at=None,
    )
    db.add(device)
    db.flush()
    add_event(
        db,
        device_id=device.id,
        kind="enrollment",
        now=now,
        summary=f"enrolled as {decision.spec.title} with token {token.name!r}; "
        f"protects: {decision.scope.value}",
        warnings=list(decision.warnings),
    )
    for old in previous:
        compliance.refresh_device(db, device_id=old.id, now=now)
    compliance.refresh_device(db, device_id=device.id, now=now)
    return Enrolled(device, credential, decision.warnings)


@dataclass(frozen=True, slots=True)
class AgentDevice:
    """What the agent routes need of the calling device, read in one query at authentication."""

    id: str
    platform: str
    scenario: str
    device_group: str
    privacy: dict[str, bool]
    assigned_tags: str
    inventory_digest: str
    risk_level: str
    policy_generation: int
    integrity_state: str = "unknown"
    integrity_input: str = ""
    integrity_valid_until: datetime | None = None
    attested: dict[str, Any] | None = None
    vuln_input: str = ""
    vuln_generation: int = 0
    vulns_current: int = 0  # the stored vulnerability generation


# The check-in path's statements are built once: SQLAlchemy caches their compiled SQL, but a
# statement built anew on every request pays for its cache key (several times the execution).
_AUTHENTICATE = select(
    Device.id,
    Device.platform,
    Device.scenario,
    Device.device_group,
    Device.privacy,
    Device.assigned_tags,
    Device.inventory_digest,
    Device.risk_level,
    Device.retired_at,
    Device.integrity_state,
    Device.integrity_input,
    Device.integrity_valid_until,
    Device.attested,
    Device.vuln_input,
    Device.vuln_generation,
    select(SyncGeneration.generation)
    .where(SyncGeneration.name == VULN_GENERATION)
    .scalar_subquery()
    .label("vulns_current"),
    select(SyncGeneration.generation)
    .where(SyncGeneration.name == POLICY_GENERATION)
    .scalar_subquery()
    .label("policy_generation"),
).where(Device.credential_digest == bindparam("digest"))
_RECORD_REPORT = insert(CheckIn)
_UPDATE_DEVICE = update(Device).where(Device.id == bindparam("device"))
_STORED_APPS = select(
    DeviceApp.identifier,
    DeviceApp.version,
    DeviceApp.name,
    DeviceApp.install_source,
    DeviceApp.sha256,
    DeviceApp.signer_sha256,
    DeviceApp.signer_sha1,
).where(DeviceApp.device_id == bindparam("device"))
_DELETE_APPS = delete(DeviceApp).where(
    DeviceApp.device_id == bindparam("device"),
    DeviceApp.identifier.in_(bindparam("gone", expanding=True)),
)
_INSERT_APPS = insert(DeviceApp)


def authenticate_device(db: Session, credential: str | None) -> AgentDevice:
    """The device this credential belongs to (one indexed query: every agent call pays it)."""
    if not credential or not credential.startswith(DEVICE_PREFIX):
        raise Unauthorized(
            "send the device credential as 'Authorization: Bearer omt_dev_…'",
            code="device_credential_required",
        )
    row = db.connection().execute(_AUTHENTICATE, {"digest": digest(credential)}).first()
    if row is None:
        raise Unauthorized("unknown device credential", code="bad_device_credential")
    if row.retired_at is not None:
        raise Unauthorized(f"device {row.id} was retired; enroll again", code="device_retired")
    return AgentDevice(
        id=row.id,
        platform=row.platform,
        scenario=row.scenario,
        device_group=row.device_group,
        privacy={k: bool(v) for k, v in row.privacy.items()},
        assigned_tags=row.assigned_tags,
        inventory_digest=row.inventory_digest,
        risk_level=row.risk_level,
        policy_generation=int(row.policy_generation or 0),
        integrity_state=row.integrity_state,
        integrity_input=row.integrity_input,
        integrity_valid_until=row.integrity_valid_until,
        attested=row.attested or {},
        vuln_input=row.vuln_input,
        vuln_generation=row.vuln_generation,
        vulns_current=int(row.vulns_current or 0),
    )


def device_groups(device: AgentDevice) -> list[str]:
    """What device-scoped indicators match: the device group and the assigned tags."""
    return sorted({device.device_group, *parse_tags(device.assigned_tags)} - {""})


def require_own(device: AgentDevice, device_id: str) -> None:
    if device.id != device_id:
        raise Forbidden(
            f"this credential belongs to device {device.id}; it cannot act for device {device_id}",
            code="not_your_device",
        )


@dataclass(frozen=True, slots=True)
class CheckInResult:
    duplicate: bool
    alerts_raised: int
    risk_level: RiskLevel
    apk_requests: tuple[str, ...] = ()
    integrity_state: IntegrityState = IntegrityState.UNKNOWN
    compromise_response: tuple[str, ...] = ()
    attestation_requests: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AppJudging:
    """How the check-in judges a changed inventory (see server.apps)."""

    protection: AppProtection
    apk_upload_scope: str


def check_in(
    db: Session,
    *,
    device: AgentDevice,
    req: CheckInRequest,
    body_digest: str,
    now: datetime,
    apps: AppJudging | None = None,
    integrity: IntegrityVerifiers | None = None,
    vulns: VulnProtection | None = None,
) -> CheckInResult:
    f = req.facts
    if f.platform.value != device.platform:
        raise InvalidInput(
            f"device {device.id} is enrolled as {device.platform} but reports {f.platform.value}",
            code="platform_mismatch",
        )
    if f.scenario.value != device.scenario:
        raise Conflict(
            f"device {device.id} is enrolled in scenario {device.scenario!r} but reports "
            f"{f.scenario.value!r}; enroll again to change scenario",
            code="scenario_mismatch",
        )
    conn = db.connection()
    # Recording the report id is the transaction's first write, so when it collides (a resend)
    # rolling back loses nothing, and no savepoint is needed on the common path.
    try:
        conn.execute(
            _RECORD_REPORT,
            {
                "device_id": device.id,
                "report_id": req.report_id,
                "body_digest": body_digest,
                "received_at": now,
            },
        )
    except IntegrityError:
        db.rollback()
        earlier = db.scalar(
            select(CheckIn.body_digest).where(
                CheckIn.device_id == device.id, CheckIn.report_id == req.report_id
            )
        )
        if earlier == body_digest:
            return CheckInResult(True, 0, RiskLevel(device.risk_level))
        raise Conflict(
            f"report id {req.report_id!r} was already used by this device with different "
            "content; every report needs a new id",
            code="report_id_reused",
        ) from None

    integrity_signals = [sig.model_dump() for sig in req.integrity_signals]
    changes: dict[str, object] = {
        "last_seen_at": now,
        "os_version": f.os_version,
        "security_patch_level": f.security_patch_level,
        "model": f.model,
        "manufacturer": f.manufacturer,
        "build": f.build,
        "tags": format_tags([*parse_tags(device.assigned_tags), *f.tags]),
        "protection_issues": sorted(set(f.protection_issues)),
        "signals": {
            "integrity": integrity_signals,
            # Raw network observations are kept only when network privacy is off.
            "network": []
            if network_privacy(device.privacy)
            else [obs.model_dump() for obs in req.network_observations],
        },
    }
    inventory_changed = False
    if req.apps is not None and not device.privacy.get("vulnerability_privacy_mode"):
        inventory = _sync_inventory(db, device=device, apps=req.apps, now=now)
        inventory_changed = bool(inventory)
        changes.update(inventory)
    judged = _judge_integrity(
        db,
        device=device,
        signals=integrity_signals,
        inventory_digest=str(changes.get("inventory_digest", device.inventory_digest)),
        apps=req.apps if inventory_changed else None,
        verifiers=integrity,
        now=now,
    )
    if judged is not None:
        changes.update(judged.columns)
    if vulns is not None:
        _assess_vulns(
            db,
            device=device,
            facts=f,
            inventory_digest=str(changes.get("inventory_digest", device.inventory_digest)),
            vulns=vulns,
            now=now,
        )
    conn.execute(_UPDATE_DEVICE, {"device": device.id, **changes})

    raised = 0
    requests: tuple[str, ...] = ()
    if inventory_changed and apps is not None:
        index = apps.protection.index(db)
        raised += app_service.evaluate_devices(
            db, device_ids=[device.id], index=index, now=now
        ).raised
        requests = tuple(
            app_service.apk_requests(db, device_id=device.id, scope=apps.apk_upload_scope)
        )
    exclude_url = bool(device.privacy.get("exclude_url_in_report"))
    exclude_app = bool(device.privacy.get("exclude_app_in_report"))
    network_private = network_privacy(device.privacy)
    detections = [
        _detection(
            d, exclude_url=exclude_url, exclude_app=exclude_app, network_private=network_private
        )
        for d in req.detections
    ]
    platform = Platform(device.platform)
    state = IntegrityState(device.integrity_state)
    if judged is not None:
        state = judged.state
        raised += integrity_service.record(
            db, device_id=device.id, platform=platform, judged=judged, now=now
        )
    if detections:
        raised += apply_detections(db, device_id=device.id, detections=detections, now=now).raised
    risk = RiskLevel(compliance.refresh_device(db, device_id=device.id, now=now).risk_level)
    respond: tuple[str, ...] = ()
    wanted: tuple[str, ...] = ()
    if integrity is not None:
        respond = tuple(integrity_service.compromise_response(state, platform, integrity))
        wanted = tuple(
            integrity_service.attestation_requests(device.attested or {}, platform, integrity, now)
        )
    return CheckInResult(
        False,
        raised,
        risk,
        requests,
        integrity_state=state,
        compromise_response=respond,
        attestation_requests=wanted,
    )


def _judge_integrity(
    db: Session,
    *,
    device: AgentDevice,
    signals: list[dict[str, Any]],
    inventory_digest: str,
    apps: list[AppReport] | None,
    verifiers: IntegrityVerifiers | None,
    now: datetime,
) -> integrity_service.Judgement | None:
    """A new verdict when the device's signals or apps changed, or an attestation finding aged
    out; None when the stored verdict stands (the common check-in: no query at all). The
    returned columns include the new input digest."""
    if verifiers is None:
        return None
    digest = integrity_service.input_digest(signals, inventory_digest)
    if digest == device.integrity_input and not integrity_service.due_for_evaluation(
        device.integrity_valid_until, now
    ):
        return None
    judged = integrity_service.judge(
        db,
        device_id=device.id,
        platform=Platform(device.platform),
        signals=integrity_service.signals_of(signals),
        apps=None
        if apps is None
        else [AppInfo(identifier=a.identifier, version=a.version, name=a.name) for a in apps],
        before=IntegrityState(device.integrity_state),
        verifiers=verifiers,
        now=now,
    )
    judged.columns["integrity_input"] = digest
    return judged


def _assess_vulns(
    db: Session,
    *,
    device: AgentDevice,
    facts: CheckInFacts,
    inventory_digest: str,
    vulns: VulnProtection,
    now: datetime,
) -> None:
    """Match the device again when its OS, apps or privacy mode changed, or the feeds did.
    Without a current state at hand (one is being built) nothing is written: the background
    re-match takes the device when the feeds moved, its next check-in when its facts did."""
    d = DeviceInput(
        device_id=device.id,
        platform=Platform(device.platform),
        scenario=EnrollmentScenario(device.scenario),
        os_version=facts.os_version,
        security_patch_level=facts.security_patch_level,
        model=facts.model,
        os_only=bool(device.privacy.get("vulnerability_privacy_mode")),
        inventory_digest=inventory_digest,
    )
    digest = vuln_input_digest(d)
    if digest == device.vuln_input and device.vuln_generation == device.vulns_current:
        return
    state = vulns.current(device.vulns_current)
    if state is None:
        return
    apps = () if d.os_only else stored_apps(db, device.id)
    try:
        result = vuln_assess(state, d, apps, now=now)
    except Exception as e:  # the check-in goes on; the device page says why
        result = vuln_failed(state, d, f"matching failed: {type(e).__name__}", now=now)
    vuln_store(db, device.id, result)


def network_privacy(privacy: dict[str, bool]) -> bool:
    """Network protection privacy is on unless the device's policy turned it off."""
    return bool(privacy.get("network_protection_privacy", True))


def _detection(
    d: DetectionReport, *, exclude_url: bool, exclude_app: bool, network_private: bool
) -> Detection:
    """A reported detection; with "exclude URL in report" on, a web detection loses every
    trace of the URL here too, whatever the agent sent; with "exclude app in report" on, every
    detection loses what names an app; and with network protection privacy on a network
    detection loses every SSID, BSSID and certificate detail (the privacy controls are
    enforced twice)."""
    evidence = d.evidence
    title, key = d.title, d.key
    if exclude_url:
        title, key, evidence = without_url(d.category, title, key, evidence)
    if exclude_app:
        title, key, evidence = without_app(d.category, title, key, evidence)
    if network_private:
        title, key, evidence = without_network_details(d.category, title, key, evidence)
    return Detection(
        category=d.category,
        title=title,
        severity=d.severity,
        key=key,
        evidence=tuple(sorted(evidence.items())),
        timeline_only=d.timeline_only,
        resolved=d.resolved,
    )


AppRow = tuple[str, str, str, str, str | None, str | None, str | None]


def _app_row(app: AppReport) -> AppRow:
    return (
        app.identifier,
        app.version,
        app.name,
        app.install_source.value,
        app.sha256.lower() if app.sha256 else None,
        app.signer_sha256.lower() if app.signer_sha256 else None,
        app.signer_sha1.lower() if app.signer_sha1 else None,
    )


def _sync_inventory(
    db: Session, *, device: AgentDevice, apps: list[AppReport], now: datetime
) -> dict[str, object]:
    """Store the reported inventory as a delta against what is stored; skip if unchanged.

    Returns the device columns to update (digest and count), empty when nothing changed.
    """
    reported = {a.identifier: _app_row(a) for a in apps}
    if len(reported) != len(apps):
        raise InvalidInput("the app inventory lists an app identifier twice", code="duplicate_app")
    inventory_digest = hashlib.sha256(orjson.dumps(sorted(reported.values()))).hexdigest()
    if inventory_digest == device.inventory_digest:
        return {}
    first = device.inventory_digest == ""
    conn = db.connection()
    stored = (
        {} if first else {r[0]: tuple(r) for r in conn.execute(_STORED_APPS, {"device": device.id})}
    )
    excluded = bool(device.privacy.get("exclude_app_in_report"))
    if excluded and any(k.startswith(app_service.EXCLUDED_PREFIX) for k in stored):
        # A flagged app is stored under an opaque name: compare the report in the same terms.
        hidden = {}
        for identifier, row in reported.items():
            opaque = app_service.excluded_identifier(device.id, identifier)
            if opaque in stored:
                hidden[opaque] = (opaque, row[1], "", *row[3:])
            else:
                hidden[identifier] = row
        reported = hidden
    removed = [k for k in stored if k not in reported]
    changed = [k for k, row in reported.items() if k in stored and stored[k] != row]
    added = [k for k in reported if k not in stored]
    gone = removed + changed
    if gone:
        conn.execute(_DELETE_APPS, {"device": device.id, "gone": gone})
    fresh = added + changed
    if fresh:
        conn.execute(
            _INSERT_APPS,
            [
                {
                    "device_id": device.id,
                    "identifier": r[0],
                    "version": r[1],
                    "name": r[2],
                    "install_source": r[3],
                    "sha256": r[4],
                    "signer_sha256": r[5],
                    "signer_sha1": r[6],
                }
                for r in (reported[k] for k in fresh)
            ],
        )
    if not first:
        # With app details excluded, the timeline says how many, never which.
        listed = 0 if excluded else 50
        add_event(
            db,
            device_id=device.id,
            kind="inventory",
            now=now,
            summary=f"app inventory changed: {len(added)} installed, {len(removed)} "
            f"removed, {len(changed)} updated",
            installed=sorted(added)[:listed],
            removed=sorted(removed)[:listed],
            updated=sorted(changed)[:listed],
        )
    return {"inventory_digest": inventory_digest, "app_count": len(reported)}


def bump_policy_generation(db: Session, *, now: datetime) -> int:
    """Every agent's next sync sees a new ETag and downloads the new policy; returns the new
    generation (agents read it with their authentication, see _AUTHENTICATE)."""
    return bump(db, POLICY_GENERATION, now=now)


def agent_policy(settings: Settings) -> dict[str, object]:
    """The server settings every agent follows (part of the sync payload and its ETag)."""
    return {
        "checkin_interval_seconds": settings.checkin_interval_seconds,
        "unresponsive_days": settings.unresponsive_days,
        "compromised_device_response": settings.compromised_device_response,
        "network": network_policy(settings),
    }


def sync_etag(
    device: AgentDevice, policy: dict[str, object], privacy_toggles: Sequence[str] = ()
) -> str:
    """Changes with the policy generation, the agent policy, the group, the privacy settings
    and the privacy keys the device user may change."""
    material = orjson.dumps(
        [device.policy_generation, policy, device.device_group, device.privacy, *privacy_toggles],
        option=orjson.OPT_SORT_KEYS,
    )
    return '"' + hashlib.sha256(material).hexdigest()[:32] + '"'


def own_device(db: Session, device_id: str) -> OwnDevice:
    device = db.get(Device, device_id)
    if device is None:
        raise Unauthorized("unknown device credential", code="bad_device_credential")
    alerts = db.scalars(
        select(Alert)
        .where(Alert.device_id == device.id, Alert.status.in_(ACTIVE))
        .order_by(Alert.id)
    ).all()
    return OwnDevice(
        device_id=device.id,
        platform=Platform(device.platform),
        scenario=EnrollmentScenario(device.scenario),
        protection_scope=device.protection_scope,
        risk_level=RiskLevel(device.risk_level),
        risk_reason=device.risk_reason,
        last_seen_at=device.last_seen_at,
        alerts=[
            OwnAlert(
                id=a.id,
                category=a.category,
                title=a.title,
                severity=a.severity,
                status=a.status,
                first_seen=a.first_seen,
                last_seen=a.last_seen,
            )
            for a in alerts
        ],
    )
