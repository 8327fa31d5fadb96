"""Conditional launch over the store: policy CRUD (audited), and the decision a managed app asks
for at launch, with its latch and its log entry.

The log is bounded per device: after each decision the device keeps its latest
`LOG_KEEP_PER_DEVICE` entries, none older than `LOG_KEEP_DAYS` days (pruned in the same
transaction); a device's entries go with the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmtd.domain.enums import Platform, RiskLevel
from openmtd.domain.errors import Conflict, NotFound
from openmtd.engines.apps.identifiers import canonical_package
from openmtd.engines.launch import (
    AppProtectionPolicy,
    LaunchAction,
    LaunchDecision,
    LaunchLatch,
    LaunchOutcome,
    decide_launch,
)
from openmtd.server.audit.service import record
from openmtd.server.launch.schemas import PolicyBody
from openmtd.store.models import (
    AppProtectionPolicyRow,
    Device,
    LaunchLatchRow,
    LaunchLogEntry,
)

LOG_KEEP_PER_DEVICE = 500
LOG_KEEP_DAYS = 90
_LEVELS_BY_CODE = {level.code: level for level in RiskLevel}


def level_of_code(code: int) -> RiskLevel:
    return _LEVELS_BY_CODE[code]


# --- policies ---------------------------------------------------------------------------------


def policy_of(row: AppProtectionPolicyRow) -> AppProtectionPolicy:
    return AppProtectionPolicy(
        id=row.id,
        name=row.name,
        app_ids=tuple(row.app_ids),
        device_group=row.device_group,
        platform=Platform(row.platform) if row.platform else None,
        max_risk=RiskLevel(row.max_risk),
        action=LaunchAction(row.action),
    )


def list_policies(db: Session) -> list[AppProtectionPolicyRow]:
    return list(db.scalars(select(AppProtectionPolicyRow).order_by(AppProtectionPolicyRow.id)))


def get_policy(db: Session, policy_id: int) -> AppProtectionPolicyRow:
    row = db.get(AppProtectionPolicyRow, policy_id)
    if row is None:
        raise NotFound(f"no app protection policy #{policy_id}")
    return row


def _fields(body: PolicyBody) -> dict[str, Any]:
    app_ids = list(dict.fromkeys(canonical_package(a) for a in body.app_ids))
    return {
        "name": body.name,
        "app_ids": app_ids,
        "device_group": body.device_group,
        "platform": body.platform.value if body.platform else None,
        "max_risk": body.max_risk.value,
        "action": body.action.value,
    }


def _check_name(db: Session, name: str, *, other_than: int | None = None) -> None:
    query = select(AppProtectionPolicyRow.id).where(AppProtectionPolicyRow.name == name)
    if other_than is not None:
        query = query.where(AppProtectionPolicyRow.id != other_than)
    existing = db.scalar(query)
    if existing is not None:
        raise Conflict(
            f"app protection policy #{existing} is already named {name!r}; choose another name",
            code="policy_name_taken",
            existing_id=existing,
        )


def create_policy(
    db: Session, *, body: PolicyBody, actor: str, now: datetime
) -> AppProtectionPolicyRow:
    fields = _fields(body)
    _check_name(db, fields["name"])
    row = AppProtectionPolicyRow(
        **fields, created_at=now, created_by=actor, updated_at=now, updated_by=actor
    )
    db.add(row)
    _flush_named(db, fields["name"])
    record(
        db,
        actor=actor,
        action="launch_policy.create",
        target=f"launch_policy:{row.id}",
        now=now,
        policy=fields,
    )
    return row


def replace_policy(
    db: Session, *, policy_id: int, body: PolicyBody, actor: str, now: datetime
) -> AppProtectionPolicyRow:
    row = get_policy(db, policy_id)
    fields = _fields(body)
    _check_name(db, fields["name"], other_than=policy_id)
    before = {key: getattr(row, key) for key in fields}
    changes = {k: [before[k], v] for k, v in fields.items() if before[k] != v}
    for key, value in fields.items():
        setattr(row, key, value)
    row.updated_at = now
    row.updated_by = actor
    _flush_named(db, fields["name"])
    record(
        db,
        actor=actor,
        action="launch_policy.update",
        target=f"launch_policy:{row.id}",
        now=now,
        changes=changes,
    )
    return row


def _flush_named(db: Session, name: str) -> None:
    """Flush; a concurrent request that took the name first becomes a Conflict, not a 500."""
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError as e:
        raise Conflict(
            f"an app protection policy is already named {name!r}; choose another name",
            code="policy_name_taken",
        ) from e


def delete_policy(db: Session, *, policy_id: int, actor: str, now: datetime) -> None:
    """Delete a policy; latches it set stay (and are lifted at the next launch when no other
    policy keeps the app blocked)."""
    row = get_policy(db, policy_id)
    record(
        db,
        actor=actor,
        action="launch_policy.delete",
        target=f"launch_policy:{row.id}",
        now=now,
        name=row.name,
    )
    db.delete(row)
    db.flush()


# --- the launch call --------------------------------------------------------------------------


def _applicable_rows(db: Session, *, device_group: str, platform: Platform) -> list[Any]:
    return list(
        db.scalars(
            select(AppProtectionPolicyRow).where(
                or_(
                    AppProtectionPolicyRow.device_group.is_(None),
                    AppProtectionPolicyRow.device_group == device_group,
                ),
                or_(
                    AppProtectionPolicyRow.platform.is_(None),
                    AppProtectionPolicyRow.platform == platform.value,
                ),
            )
        )
    )


def _latch_of(row: LaunchLatchRow | None) -> LaunchLatch | None:
    if row is None:
        return None
    return LaunchLatch(
        since=row.latched_at,
        action=LaunchAction(row.action),
        wiped=row.wiped,
        policy_id=row.policy_id,
    )


def _keep_latch(
    db: Session,
    *,
    device_id: str,
    app_id: str,
    latch: LaunchLatch,
    level: RiskLevel,
    now: datetime,
) -> None:
    row = db.get(LaunchLatchRow, (device_id, app_id))
    if row is None:
        row = LaunchLatchRow(
            device_id=device_id,
            app_id=app_id,
            policy_id=latch.policy_id,
            action=latch.action.value,
            wiped=latch.wiped,
            threat_level=level.code,
            latched_at=latch.since,
            last_blocked_at=now,
        )
        try:
            with db.begin_nested():
                db.add(row)
                db.flush()
            return
        except IntegrityError:  # a concurrent launch of the same app latched it first
            row = db.get(LaunchLatchRow, (device_id, app_id), populate_existing=True)
            if row is None:
                raise
    row.policy_id = latch.policy_id
    row.wiped = row.wiped or latch.wiped
    row.last_blocked_at = now


def decide(
    db: Session,
    *,
    device_id: str,
    device_group: str,
    platform: Platform,
    threat_level: RiskLevel,
    app_id: str,
    app_version: str | None,
    now: datetime,
    keep_per_device: int = LOG_KEEP_PER_DEVICE,
    keep_days: int = LOG_KEEP_DAYS,
) -> LaunchDecision:
    """Decide one launch of `app_id` on this device; update its latch and log the decision."""
    app_id = canonical_package(app_id)
    policies = [
        policy_of(r) for r in _applicable_rows(db, device_group=device_group, platform=platform)
    ]
    latch_row = db.get(LaunchLatchRow, (device_id, app_id))
    decision = decide_launch(
        app_id=app_id,
        device_group=device_group,
        platform=platform,
        threat_level=threat_level,
        policies=policies,
        latch=_latch_of(latch_row),
        now=now,
    )
    if decision.latch is None:
        if latch_row is not None:
            db.delete(latch_row)
    else:
        _keep_latch(
            db,
            device_id=device_id,
            app_id=app_id,
            latch=decision.latch,
            level=threat_level,
            now=now,
        )
    db.add(
        LaunchLogEntry(
            device_id=device_id,
            app_id=app_id,
            app_version=app_version or None,
            at=now,
            threat_level=decision.threat_level_code,
            decision=decision.outcome.value,
            action_code=decision.action_code,
            policy_id=decision.policy.id if decision.policy else None,
            policy_name=decision.policy.name if decision.policy else None,
            explanation=decision.reason,
        )
    )
    db.flush()
    prune_log(db, device_id=device_id, now=now, keep=keep_per_device, days=keep_days)
    return decision


def prune_log(db: Session, *, device_id: str, now: datetime, keep: int, days: int) -> int:
    """Keep the device's latest `keep` entries, none older than `days` days."""
    beyond = db.scalar(
        select(LaunchLogEntry.id)
        .where(LaunchLogEntry.device_id == device_id)
        .order_by(LaunchLogEntry.id.desc())
        .offset(keep)
        .limit(1)
    )
    too_old = LaunchLogEntry.at < now - timedelta(days=days)
    condition = too_old if beyond is None else or_(too_old, LaunchLogEntry.id <= beyond)
    result = db.execute(
        delete(LaunchLogEntry).where(LaunchLogEntry.device_id == device_id, condition)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- reading ----------------------------------------------------------------------------------


def launch_log(
    db: Session,
    *,
    device_id: str | None = None,
    app_id: str | None = None,
    outcome: LaunchOutcome | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[LaunchLogEntry], int]:
    """Log entries, newest first, with the total that matches."""
    where = []
    if device_id:
        where.append(LaunchLogEntry.device_id == device_id)
    if app_id:
        where.append(LaunchLogEntry.app_id == app_id)
    if outcome is not None:
        where.append(LaunchLogEntry.decision == outcome.value)
    total = db.scalar(select(func.count()).select_from(LaunchLogEntry).where(*where)) or 0
    rows = db.scalars(
        select(LaunchLogEntry)
        .where(*where)
        .order_by(LaunchLogEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return rows, total


def device_latches(db: Session, device_id: str) -> tuple[Device, list[LaunchLatchRow]]:
    device = db.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} does not exist")
    latches = db.scalars(
        select(LaunchLatchRow)
        .where(LaunchLatchRow.device_id == device_id)
        .order_by(LaunchLatchRow.app_id)
    ).all()
    return device, list(latches)
