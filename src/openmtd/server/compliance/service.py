"""Compliance policies over the store, and each device's stored verdict and partner state.

`refresh_device` is the one place a device's compliance is decided: it runs after every risk
change, check-in, enrollment, retirement and policy change. What time alone changes (a device
that stops checking in) is finished at read time from `unresponsive_after`; `sweep` announces
those changes (timeline, webhook) on the scheduler's beat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmtd.config import Settings
from openmtd.domain.enums import Platform, RiskLevel
from openmtd.domain.errors import Conflict, InvalidInput, NotFound
from openmtd.domain.integrity import IntegrityState
from openmtd.engines.compliance import (
    DEFAULT_POLICY_NAME,
    ComplianceFacts,
    CompliancePolicy,
    ComplianceVerdict,
    PartnerState,
    Reason,
    UnresponsiveAction,
    evaluate,
    policy_for_group,
    valid_min_os,
)
from openmtd.server.audit import service as audit
from openmtd.server.compliance.health import announce_health
from openmtd.server.timeline import add_event
from openmtd.server.web.sync import bump_counter
from openmtd.store.models import CheckIn, CompliancePolicyRow, Device

# Bumped whenever an access decision may change: the forward-auth cache of every server
# process drops its decisions when it moves.
ACCESS_GENERATION = "access"
SETTINGS_ACTOR = "settings"


def access_changed(db: Session, *, now: datetime) -> None:
    """An access decision may have changed: every server's forward-auth cache drops its
    decisions (this process's at commit, the others' within their poll interval)."""
    bump_counter(db, ACCESS_GENERATION, now=now)
    db.info["access_changed"] = True


def policy_of(row: CompliancePolicyRow) -> CompliancePolicy:
    return CompliancePolicy(
        name=row.name,
        max_risk=RiskLevel(row.max_risk),
        require_onboarding=row.require_onboarding,
        unresponsive_days=row.unresponsive_days,
        unresponsive_action=UnresponsiveAction(row.unresponsive_action),
        min_os_android=row.min_os_android,
        min_os_ios=row.min_os_ios,
        device_group=row.device_group,
    )


def settings_policy(settings: Settings) -> CompliancePolicy:
    """The all-groups policy the settings describe (until an admin edits it)."""
    return CompliancePolicy(
        name=DEFAULT_POLICY_NAME,
        max_risk=settings.compliance_max_risk,
        require_onboarding=settings.compliance_require_onboarding,
        unresponsive_days=settings.unresponsive_days,
        unresponsive_action=UnresponsiveAction(settings.unresponsive_action),
    )


def load_policies(db: Session) -> list[CompliancePolicy]:
    policies = [policy_of(r) for r in db.scalars(select(CompliancePolicyRow))]
    if not any(p.device_group is None for p in policies):
        policies.append(CompliancePolicy(name=DEFAULT_POLICY_NAME))
    return policies


def ensure_default_policy(db: Session, *, settings: Settings, now: datetime) -> bool:
    """Create the all-groups policy from the settings, or follow the settings while no admin
    has edited it; returns whether it changed (devices are then judged again)."""
    wanted = settings_policy(settings)
    row = db.scalar(select(CompliancePolicyRow).where(CompliancePolicyRow.device_group.is_(None)))
    if row is None:
        try:
            with db.begin_nested():
                db.add(_new_row(wanted, now=now, actor=SETTINGS_ACTOR))
        except IntegrityError:  # another server process created it first
            return False
        return True
    if row.updated_by != SETTINGS_ACTOR or policy_of(row).fingerprint() == wanted.fingerprint():
        return False
    _copy(wanted, row)
    row.updated_at = now
    return True


def _new_row(policy: CompliancePolicy, *, now: datetime, actor: str) -> CompliancePolicyRow:
    row = CompliancePolicyRow(created_at=now, updated_at=now, updated_by=actor)
    _copy(policy, row)
    return row


def _copy(policy: CompliancePolicy, row: CompliancePolicyRow) -> None:
    row.name = policy.name
    row.device_group = policy.device_group
    row.max_risk = policy.max_risk.value
    row.require_onboarding = policy.require_onboarding
    row.unresponsive_days = policy.unresponsive_days
    row.unresponsive_action = policy.unresponsive_action.value
    row.min_os_android = policy.min_os_android
    row.min_os_ios = policy.min_os_ios


# --- one device --------------------------------------------------------------------------------


def verdict_of(device: Device) -> ComplianceVerdict:
    """The stored verdict of a device (as `refresh_device` last wrote it)."""
    return ComplianceVerdict(
        policy=device.compliance_policy,
        reasons=tuple(Reason(str(r["code"]), str(r["text"])) for r in device.compliance_reasons),
        unresponsive_after=device.unresponsive_after or device.last_seen_at,
        unresponsive_noncompliant=device.unresponsive_noncompliant,
        base_state=PartnerState(device.health_base),
        last_seen_at=device.last_seen_at,
        unresponsive_days=_days(device),
    )


def _days(device: Device) -> int:
    if device.unresponsive_after is None:
        return 0
    return max(0, (device.unresponsive_after - device.last_seen_at).days)


@dataclass(frozen=True, slots=True)
class ComplianceView:
    compliant: bool
    reasons: list[str]
    unresponsive: bool
    partner_state: PartnerState
    policy: str


def view(device: Device, now: datetime) -> ComplianceView:
    verdict = verdict_of(device)
    reasons = verdict.all_reasons(now)
    return ComplianceView(
        compliant=not reasons,
        reasons=[r.text for r in reasons],
        unresponsive=verdict.is_unresponsive(now),
        partner_state=verdict.partner_state(now),
        policy=verdict.policy,
    )


def refresh_device(
    db: Session,
    *,
    device_id: str,
    now: datetime,
    policies: Sequence[CompliancePolicy] | None = None,
) -> Device:
    """Judge one device under its group's policy and store the verdict on it (returned, as
    read now); a change of compliance or partner state is a timeline event, moves the access
    generation and is announced."""
    db.flush()
    device = db.get(Device, device_id, populate_existing=True)
    if device is None:
        raise NotFound(f"device {device_id} does not exist")
    policy = policy_for_group(policies or load_policies(db), device.device_group)
    assert policy is not None  # load_policies always holds an all-groups policy
    checked_in = db.scalar(select(exists().where(CheckIn.device_id == device_id)))
    facts = ComplianceFacts(
        platform=Platform(device.platform),
        os_version=device.os_version,
        risk_level=RiskLevel(device.risk_level),
        risk_reason=device.risk_reason,
        last_seen_at=device.last_seen_at,
        onboarded=device.retired_at is None,
        checked_in=bool(checked_in),
        compromised=device.integrity_state == IntegrityState.COMPROMISED.value,
        protection_issues=tuple(str(i) for i in device.protection_issues or ()),
    )
    before = view(device, now) if device.compliance_fingerprint else None
    verdict = evaluate(facts, policy)
    device.compliance_policy = policy.name
    device.compliance_fingerprint = policy.fingerprint()
    device.compliance_ok = not verdict.reasons
    device.compliance_reasons = [{"code": r.code, "text": r.text} for r in verdict.reasons]
    device.unresponsive_after = verdict.unresponsive_after
    device.unresponsive_noncompliant = verdict.unresponsive_noncompliant
    device.health_base = verdict.base_state.value
    after = view(device, now)
    if before is None or (before.compliant, before.reasons) != (after.compliant, after.reasons):
        access_changed(db, now=now)
        if before is not None and before.compliant != after.compliant:
            add_event(
                db,
                device_id=device_id,
                kind="compliance",
                now=now,
                summary=(
                    f"compliant under policy {policy.name!r}"
                    if after.compliant
                    else f"noncompliant under policy {policy.name!r}: " + "; ".join(after.reasons)
                ),
                policy=policy.name,
            )
    _note_health(db, device, after.partner_state, now=now)
    return device


def _note_health(db: Session, device: Device, state: PartnerState, *, now: datetime) -> None:
    first = device.health_changed_at is None
    previous = None if first else device.health_state
    if previous == state.value:
        return
    device.health_state = state.value
    device.health_changed_at = now
    if not first:
        add_event(
            db,
            device_id=device.id,
            kind="health",
            now=now,
            summary=f"partner health state {previous} -> {state.value}",
        )
    announce_health(db, device=device, previous=previous, now=now)


SWEEP_BATCH = 500


def sweep(db: Session, *, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Devices whose state time alone changed since they were last judged (they stopped
    checking in) or whose policy changed under them: judge and announce. Returns how many."""
    policies = load_policies(db)
    fingerprints = {p.fingerprint() for p in policies}
    live = Device.retired_at.is_(None)
    went_quiet = (Device.unresponsive_after < now) & (
        Device.health_state != PartnerState.UNRESPONSIVE.value
    )
    stale = Device.compliance_fingerprint.not_in(sorted(fingerprints))
    ids = db.scalars(
        select(Device.id).where(live, or_(went_quiet, stale)).order_by(Device.id).limit(limit)
    ).all()
    for device_id in ids:
        refresh_device(db, device_id=device_id, now=now, policies=policies)
    return len(ids)


def refresh_group(db: Session, *, group: str | None, now: datetime) -> int:
    """Judge again every live device a policy change may concern (None: all of them)."""
    policies = load_policies(db)
    query = select(Device.id).where(Device.retired_at.is_(None))
    if group is not None:
        query = query.where(Device.device_group == group)
    ids = db.scalars(query).all()
    for device_id in ids:
        refresh_device(db, device_id=device_id, now=now, policies=policies)
    access_changed(db, now=now)
    return len(ids)


# --- policies ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyInput:
    name: str
    device_group: str | None
    max_risk: RiskLevel
    require_onboarding: bool
    unresponsive_days: int
    unresponsive_action: UnresponsiveAction
    min_os_android: str | None
    min_os_ios: str | None


def _check(data: PolicyInput) -> None:
    for platform, text in (("Android", data.min_os_android), ("iOS", data.min_os_ios)):
        if text is not None and not valid_min_os(text):
            raise InvalidInput(
                f"minimum {platform} version {text!r} is not a version (e.g. 14 or 17.4.1)",
                code="invalid_min_os",
            )


def list_policies(db: Session) -> list[CompliancePolicyRow]:
    return list(
        db.scalars(
            select(CompliancePolicyRow).order_by(
                CompliancePolicyRow.device_group.is_not(None), CompliancePolicyRow.name
            )
        )
    )


def policy_named(db: Session, name: str) -> CompliancePolicyRow | None:
    return db.scalar(select(CompliancePolicyRow).where(CompliancePolicyRow.name == name))


def get_policy(db: Session, policy_id: int) -> CompliancePolicyRow:
    row = db.get(CompliancePolicyRow, policy_id)
    if row is None:
        raise NotFound(f"compliance policy {policy_id} does not exist")
    return row


def _clash(db: Session, data: PolicyInput, *, other_than: int | None) -> None:
    query = select(CompliancePolicyRow).where(
        or_(
            func.lower(CompliancePolicyRow.name) == data.name.lower(),
            CompliancePolicyRow.device_group.is_(None)
            if data.device_group is None
            else CompliancePolicyRow.device_group == data.device_group,
        )
    )
    for row in db.scalars(query):
        if row.id == other_than:
            continue
        if row.name.lower() == data.name.lower():
            raise Conflict(f"a policy named {row.name!r} exists", code="policy_exists")
        raise Conflict(
            f"policy {row.name!r} already covers "
            + (f"group {data.device_group!r}" if data.device_group else "all groups"),
            code="group_has_policy",
        )


def create_policy(
    db: Session, *, data: PolicyInput, actor: str, now: datetime
) -> CompliancePolicyRow:
    _check(data)
    _clash(db, data, other_than=None)
    row = _new_row(_policy(data), now=now, actor=actor)
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="compliance.create",
        target=f"policy:{row.id}",
        now=now,
        **_audited(row),
    )
    refresh_group(db, group=data.device_group, now=now)
    return row


def update_policy(
    db: Session, *, policy_id: int, data: PolicyInput, actor: str, now: datetime
) -> CompliancePolicyRow:
    row = get_policy(db, policy_id)
    _check(data)
    if (row.device_group is None) != (data.device_group is None):
        raise InvalidInput(
            "the all-groups policy stays the all-groups policy; create a group policy instead",
            code="default_policy_scope",
        )
    _clash(db, data, other_than=row.id)
    old_group = row.device_group
    before = _audited(row)
    _copy(_policy(data), row)
    row.updated_at, row.updated_by = now, actor
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="compliance.update",
        target=f"policy:{row.id}",
        now=now,
        before=before,
        after=_audited(row),
    )
    if old_group != row.device_group and old_group is not None:
        refresh_group(db, group=old_group, now=now)
    refresh_group(db, group=row.device_group, now=now)
    return row


def delete_policy(db: Session, *, policy_id: int, actor: str, now: datetime) -> None:
    row = get_policy(db, policy_id)
    if row.device_group is None:
        raise Conflict("the all-groups policy cannot be deleted; edit it", code="default_policy")
    group = row.device_group
    audit.record(
        db,
        actor=actor,
        action="compliance.delete",
        target=f"policy:{row.id}",
        now=now,
        **_audited(row),
    )
    db.delete(row)
    db.flush()
    refresh_group(db, group=group, now=now)


def _policy(data: PolicyInput) -> CompliancePolicy:
    return CompliancePolicy(
        name=data.name,
        max_risk=data.max_risk,
        require_onboarding=data.require_onboarding,
        unresponsive_days=data.unresponsive_days,
        unresponsive_action=data.unresponsive_action,
        min_os_android=data.min_os_android,
        min_os_ios=data.min_os_ios,
        device_group=data.device_group,
    )


def _audited(row: CompliancePolicyRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "device_group": row.device_group,
        "max_risk": row.max_risk,
        "require_onboarding": row.require_onboarding,
        "unresponsive_days": row.unresponsive_days,
        "unresponsive_action": row.unresponsive_action,
        "min_os_android": row.min_os_android,
        "min_os_ios": row.min_os_ios,
    }
