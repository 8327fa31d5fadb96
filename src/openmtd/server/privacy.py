"""Privacy controls on the server: the admin's policy applied to devices, and the changes the
person holding a device makes where the policy lets them (docs/privacy.md).

A device's stored `privacy` is its effective settings, the ones every enforcement point reads
(check-ins, app inventory and uploads, DoH, vulnerability matching, the console). They are set
at enrollment, changed by the device user for the keys the policy leaves to them, and brought
in line with the policy when the server starts (the policy is part of the settings). None of
this touches alerts, risk or compliance; a change is a timeline event naming only the keys.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from openmtd.config import Settings
from openmtd.domain.enums import EnrollmentScenario, ProtectionScope
from openmtd.domain.errors import Forbidden
from openmtd.engines.privacy import (
    PRIVACY_KEYS,
    DevicePrivacyPolicy,
    PrivacyRule,
    describe_change,
    enforce_policy,
    policy_for,
    privacy_settings,
    refused_changes,
    turned_on,
)
from openmtd.enrollment.scenarios import spec_for
from openmtd.server.timeline import add_event
from openmtd.store.db import transaction
from openmtd.store.models import Device, DeviceApp

log = logging.getLogger("openmtd.server.privacy")

BY_USER = "the device user"
BY_POLICY = "the organisation's privacy policy"


def scope_of(scenario: str) -> ProtectionScope:
    scope = spec_for(EnrollmentScenario(scenario)).scope
    if scope is None:  # unsupported scenarios never enroll
        raise ValueError(f"scenario {scenario!r} protects nothing")
    return scope


def device_policy(settings: Settings, *, scenario: str, device_group: str) -> DevicePrivacyPolicy:
    """The admin's privacy policy as it applies to a device of this scenario and group."""
    return policy_for(settings.privacy_rules(), scope=scope_of(scenario), device_group=device_group)


def user_toggles(settings: Settings, *, scenario: str, device_group: str) -> list[str]:
    """The privacy keys the person holding such a device may change."""
    return device_policy(settings, scenario=scenario, device_group=device_group).toggles()


@dataclass(frozen=True, slots=True)
class PrivacyState:
    privacy: dict[str, bool]
    user_toggles: list[str]
    changed: list[str]


def current(policy: DevicePrivacyPolicy, stored: Mapping[str, object]) -> PrivacyState:
    return PrivacyState(enforce_policy(policy, stored), policy.toggles(), [])


def change_by_user(
    db: Session,
    *,
    device_id: str,
    policy: DevicePrivacyPolicy,
    stored: Mapping[str, object],
    changes: Mapping[str, bool],
    now: datetime,
) -> PrivacyState:
    """The device user changes some keys; a key the policy keeps for the organisation is
    refused (403 privacy_key_locked, naming it) and nothing changes."""
    refused = refused_changes(policy, changes)
    if refused:
        allowed = ", ".join(policy.toggles()) or "none"
        raise Forbidden(
            f"the organisation does not let the device user change {', '.join(refused)} "
            f"(the user may change: {allowed})",
            code="privacy_key_locked",
            keys=refused,
        )
    before = enforce_policy(policy, stored)
    after = {**before, **{k: bool(v) for k, v in changes.items() if k in PRIVACY_KEYS}}
    changed = [k for k in PRIVACY_KEYS if before[k] != after[k]]
    if changed:
        _store(db, device_id=device_id, before=before, after=after, now=now, by=BY_USER)
    return PrivacyState(after, policy.toggles(), changed)


def apply_policy(db: Session, *, rules: Sequence[PrivacyRule], now: datetime) -> int:
    """Bring every enrolled device in line with the policy (its locked keys); returns how
    many devices changed."""
    rows = db.execute(
        select(Device.id, Device.protection_scope, Device.device_group, Device.privacy)
        .where(Device.retired_at.is_(None))
        .order_by(Device.id)
    ).all()
    changed = 0
    for row in rows:
        scope = ProtectionScope(row.protection_scope)
        stored = dict(row.privacy or {})
        policy = policy_for(rules, scope=scope, device_group=row.device_group)
        after = enforce_policy(policy, stored)
        if after == {k: stored.get(k) for k in PRIVACY_KEYS}:
            continue
        before = privacy_settings(stored, scope=scope).as_dict()
        _store(db, device_id=row.id, before=before, after=after, now=now, by=BY_POLICY)
        changed += 1
    return changed


def apply_policy_on_start(
    settings: Settings, sessions: sessionmaker[Session], now: datetime
) -> None:
    """Run at server start (the policy lives in the settings, so it changes only then)."""
    rules = settings.privacy_rules()
    if not rules:
        return
    try:
        with transaction(sessions) as db:
            changed = apply_policy(db, rules=rules, now=now)
    except Exception:  # the server still starts; the operator sees why devices lag behind
        log.exception("the privacy policy could not be applied to the enrolled devices")
        return
    if changed:
        log.info("privacy policy applied: %d device(s) changed", changed)


def _store(
    db: Session,
    *,
    device_id: str,
    before: Mapping[str, bool],
    after: dict[str, bool],
    now: datetime,
    by: str,
) -> None:
    """Write the new settings. Turning vulnerability privacy mode on drops the stored app
    inventory, turning network protection privacy on the stored network observations: what
    the device now keeps to itself is not kept here either. Alerts and events recorded before
    stay as they were, and risk and compliance do not move."""
    values: dict[str, object] = {"privacy": after}
    on = turned_on(before, after)
    if "vulnerability_privacy_mode" in on:
        db.execute(delete(DeviceApp).where(DeviceApp.device_id == device_id))
        values.update(inventory_digest="", app_count=0)
    if "network_protection_privacy" in on:
        signals = db.scalar(select(Device.signals).where(Device.id == device_id)) or {}
        values["signals"] = {**signals, "network": []}
    db.execute(update(Device).where(Device.id == device_id).values(**values))
    described = describe_change(before, after)
    if described:
        add_event(
            db,
            device_id=device_id,
            kind="privacy",
            now=now,
            summary=f"privacy settings changed by {by}: {described}",
            by=by,
            privacy=after,
        )
