"""Custom indicators: the admin's own domains, URLs and IPs (create, edit, import, export)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from openmtd.domain.enums import Severity
from openmtd.domain.errors import Conflict, InvalidInput, NotFound
from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.engines.web.canonical import InvalidUrl, canonical_indicator
from openmtd.intel.web_feeds import FeedFormat, ImportReport, parse_indicators
from openmtd.server.audit.service import record
from openmtd.server.web.schemas import IndicatorCreate, IndicatorUpdate
from openmtd.server.web.sync import bump
from openmtd.store.models import CustomIndicator, SyncGeneration

CUSTOM_GENERATION = "indicators:custom"
IMPORT_BATCH = 5000


def revision(db: Session) -> int:
    return (
        db.scalar(select(SyncGeneration.generation).where(SyncGeneration.name == CUSTOM_GENERATION))
        or 0
    )


def count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(CustomIndicator)) or 0


def source_of(indicator_id: int) -> str:
    return f"#{indicator_id}"


def meta_of(row: CustomIndicator) -> IndicatorMeta:
    return IndicatorMeta(
        kind=MatchKind.INDICATOR,
        source=source_of(row.id),
        action=IndicatorAction(row.action),
        severity=Severity(row.severity),
        title=row.title,
        description=row.description,
        recommended_actions=row.recommended_actions,
        category=row.category,
        mitre_techniques=tuple(row.mitre_techniques),
        generate_alert=row.generate_alert,
        expires_at=row.expires_at,
        device_groups=tuple(row.device_groups),
    )


def all_indicators(db: Session) -> Iterator[Indicator]:
    for row in db.scalars(select(CustomIndicator).order_by(CustomIndicator.id)):
        yield Indicator(IndicatorType(row.type), row.value, meta_of(row))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def canonical_value(kind: IndicatorType, value: str) -> str:
    try:
        return canonical_indicator(kind, value)
    except InvalidUrl as e:
        raise InvalidInput(
            f"{kind.value} indicator {value[:200]!r}: {e.message}", code="bad_indicator"
        ) from e


def get(db: Session, indicator_id: int) -> CustomIndicator:
    row = db.get(CustomIndicator, indicator_id)
    if row is None:
        raise NotFound(f"no indicator #{indicator_id}")
    return row


def create(db: Session, *, body: IndicatorCreate, actor: str, now: datetime) -> CustomIndicator:
    value = canonical_value(body.type, body.value)
    existing = db.scalar(
        select(CustomIndicator.id).where(
            CustomIndicator.type == body.type.value, CustomIndicator.value == value
        )
    )
    if existing is not None:
        raise Conflict(
            f"indicator #{existing} already covers {body.type.value} {value}; edit that one",
            code="indicator_exists",
            existing_id=existing,
        )
    row = CustomIndicator(
        type=body.type.value,
        value=value,
        action=body.action.value,
        severity=body.severity.value,
        title=body.title,
        description=body.description,
        recommended_actions=body.recommended_actions,
        category=body.category,
        mitre_techniques=list(body.mitre_techniques),
        generate_alert=body.generate_alert,
        expires_at=_utc(body.expires_at),
        device_groups=sorted(set(body.device_groups)),
        created_at=now,
        created_by=actor,
        updated_at=now,
    )
    db.add(row)
    db.flush()
    record(
        db,
        actor=actor,
        action="indicator.create",
        target=f"indicator:{row.id}",
        now=now,
        type=row.type,
        value=row.value,
        indicator_action=row.action,
    )
    bump(db, CUSTOM_GENERATION, now=now)
    return row


def update_indicator(
    db: Session, *, indicator_id: int, body: IndicatorUpdate, actor: str, now: datetime
) -> CustomIndicator:
    row = get(db, indicator_id)
    changes = body.model_dump(exclude_unset=True, exclude={"clear_expiry"})
    if "expires_at" in changes:
        changes["expires_at"] = _utc(body.expires_at)
    if body.clear_expiry:
        changes["expires_at"] = None
    for key, value in changes.items():
        if value is None and key != "expires_at":
            continue
        if isinstance(value, IndicatorAction | Severity):
            value = value.value
        if key == "device_groups":
            value = sorted(set(value))
        setattr(row, key, value)
    row.updated_at = now
    record(
        db,
        actor=actor,
        action="indicator.update",
        target=f"indicator:{row.id}",
        now=now,
        changes=sorted(changes),
    )
    bump(db, CUSTOM_GENERATION, now=now)
    return row


def delete(db: Session, *, indicator_id: int, actor: str, now: datetime) -> None:
    row = get(db, indicator_id)
    record(
        db,
        actor=actor,
        action="indicator.delete",
        target=f"indicator:{row.id}",
        now=now,
        type=row.type,
        value=row.value,
    )
    db.delete(row)
    bump(db, CUSTOM_GENERATION, now=now)


@dataclass(frozen=True, slots=True)
class IndicatorQuery:
    q: str = ""
    type: IndicatorType | None = None
    action: IndicatorAction | None = None
    include_expired: bool = True


def search(
    db: Session, *, query: IndicatorQuery, now: datetime, limit: int, offset: int
) -> tuple[list[CustomIndicator], int]:
    stmt = select(CustomIndicator)
    if query.q:
        escaped = query.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        needle = f"%{escaped}%"
        stmt = stmt.where(
            or_(
                CustomIndicator.value.like(needle, escape="\\"),
                func.lower(CustomIndicator.title).like(needle, escape="\\"),
            )
        )
    if query.type is not None:
        stmt = stmt.where(CustomIndicator.type == query.type.value)
    if query.action is not None:
        stmt = stmt.where(CustomIndicator.action == query.action.value)
    if not query.include_expired:
        stmt = stmt.where(
            or_(CustomIndicator.expires_at.is_(None), CustomIndicator.expires_at > now)
        )
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(stmt.order_by(CustomIndicator.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def import_defaults(*, action: IndicatorAction, title: str, category: str) -> IndicatorMeta:
    """What an imported line carries unless the document says otherwise."""
    return IndicatorMeta(
        kind=MatchKind.INDICATOR,
        source="import",
        action=action,
        title=title,
        category=category,
    )


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    report: ImportReport
    created: int
    updated: int
    unchanged: int
    app_values: tuple[str, ...] = ()  # values of app indicators created or changed


def _row_values(ind: Indicator, *, actor: str, now: datetime) -> dict[str, object]:
    m = ind.meta
    return {
        "type": ind.type.value,
        "value": ind.value,
        "action": m.action.value,
        "severity": m.severity.value,
        "title": m.title[:255],
        "description": m.description,
        "recommended_actions": m.recommended_actions,
        "category": m.category[:64],
        "mitre_techniques": list(m.mitre_techniques),
        "generate_alert": m.generate_alert,
        "expires_at": m.expires_at,
        "device_groups": sorted(set(m.device_groups)),
        "created_at": now,
        "created_by": actor,
        "updated_at": now,
    }


_COMPARED = (
    "action",
    "severity",
    "title",
    "description",
    "recommended_actions",
    "category",
    "mitre_techniques",
    "generate_alert",
    "expires_at",
    "device_groups",
)


def import_document(
    db: Session, *, text: str, fmt: FeedFormat, defaults: IndicatorMeta, actor: str, now: datetime
) -> ImportOutcome:
    """Upsert every indicator of a document (keyed by type and value); bad lines are reported."""
    parsed, report = parse_indicators(text, fmt, defaults=defaults)
    existing: dict[tuple[str, str], CustomIndicator] = {
        (r.type, r.value): r for r in db.scalars(select(CustomIndicator))
    }
    created = updated = unchanged = 0
    fresh: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    app_values: list[str] = []
    for ind in parsed:
        key = (ind.type.value, ind.value)
        if key in seen:
            continue
        seen.add(key)
        values = _row_values(ind, actor=actor, now=now)
        row = existing.get(key)
        if row is None:
            fresh.append(values)
            created += 1
            if ind.type.is_app:
                app_values.append(ind.value)
            continue
        if all(getattr(row, f) == values[f] for f in _COMPARED):
            unchanged += 1
            continue
        if ind.type.is_app:
            app_values.append(ind.value)
        for f in _COMPARED:
            setattr(row, f, values[f])
        row.updated_at = now
        updated += 1
    for start in range(0, len(fresh), IMPORT_BATCH):
        db.execute(insert(CustomIndicator), fresh[start : start + IMPORT_BATCH])
    record(
        db,
        actor=actor,
        action="indicator.import",
        target="indicators",
        now=now,
        format=report.format.value,
        created=created,
        updated=updated,
        problems=report.problem_count,
    )
    if created or updated:
        bump(db, CUSTOM_GENERATION, now=now)
    return ImportOutcome(report, created, updated, unchanged, tuple(app_values))


def expire_now(db: Session, *, indicator_id: int, actor: str, now: datetime) -> None:
    """Stop an indicator matching without deleting it (kept for the record)."""
    get(db, indicator_id)
    db.execute(
        update(CustomIndicator)
        .where(CustomIndicator.id == indicator_id)
        .values(expires_at=now, updated_at=now)
    )
    record(db, actor=actor, action="indicator.expire", target=f"indicator:{indicator_id}", now=now)
    bump(db, CUSTOM_GENERATION, now=now)
