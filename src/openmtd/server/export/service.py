"""The sinks' delivery status, a test event, and dead events queued again (admin actions)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from openmtd import __version__
from openmtd.domain.enums import AlertClassification, AlertStatus, Severity
from openmtd.domain.errors import NotFound
from openmtd.engines.export.event import AlertChange, AlertDevice, AlertEvent
from openmtd.export_settings import ExportSink, SinkFormat, SinkKind
from openmtd.server.audit import service as audit
from openmtd.server.export.outbox import DEAD, DELIVERED, PENDING, QUEUED_INFO, queue_for
from openmtd.store.models import ExportOutbox

RECENT_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class SinkStatus:
    name: str
    kind: SinkKind
    format: SinkFormat
    topics: tuple[str, ...]
    target: str  # without secrets
    pending: int
    delivered: int  # within the retention time
    dead: int
    last_delivered_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    oldest_pending_at: datetime | None


@dataclass(frozen=True, slots=True)
class Problem:
    """A pending event that failed at least once, or a dead one."""

    id: int
    sink: str
    topic: str
    key: str
    state: str
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None


def find_sink(sinks: Sequence[ExportSink], name: str) -> ExportSink:
    for sink in sinks:
        if sink.name == name:
            return sink
    raise NotFound(f"export sink {name!r} is not configured", code="sink_not_found")


def sink_statuses(db: Session, sinks: Sequence[ExportSink]) -> list[SinkStatus]:
    names = [s.name for s in sinks]
    counts: dict[tuple[str, str], int] = {}
    for name, state, count in db.execute(
        select(ExportOutbox.sink, ExportOutbox.state, func.count())
        .where(ExportOutbox.sink.in_(names))
        .group_by(ExportOutbox.sink, ExportOutbox.state)
    ).all():
        counts[(name, state)] = int(count)
    last_delivered = dict(
        db.execute(
            select(ExportOutbox.sink, func.max(ExportOutbox.delivered_at))
            .where(ExportOutbox.sink.in_(names), ExportOutbox.state == DELIVERED)
            .group_by(ExportOutbox.sink)
        ).all()
    )
    oldest_pending = dict(
        db.execute(
            select(ExportOutbox.sink, func.min(ExportOutbox.created_at))
            .where(ExportOutbox.sink.in_(names), ExportOutbox.state == PENDING)
            .group_by(ExportOutbox.sink)
        ).all()
    )
    out = []
    for sink in sinks:
        error = db.execute(
            select(ExportOutbox.last_error, ExportOutbox.last_attempt_at)
            .where(
                ExportOutbox.sink == sink.name,
                ExportOutbox.state != DELIVERED,
                ExportOutbox.last_error.is_not(None),
            )
            .order_by(ExportOutbox.last_attempt_at.desc(), ExportOutbox.id.desc())
            .limit(1)
        ).first()
        out.append(
            SinkStatus(
                name=sink.name,
                kind=sink.kind,
                format=sink.wire_format,
                topics=tuple(sink.topics),
                target=sink.target(),
                pending=counts.get((sink.name, PENDING), 0),
                delivered=counts.get((sink.name, DELIVERED), 0),
                dead=counts.get((sink.name, DEAD), 0),
                last_delivered_at=last_delivered.get(sink.name),
                last_error=error[0] if error else None,
                last_error_at=error[1] if error else None,
                oldest_pending_at=oldest_pending.get(sink.name),
            )
        )
    return out


def problems(
    db: Session, sinks: Sequence[ExportSink], *, limit: int = RECENT_PROBLEMS
) -> list[Problem]:
    """The newest failing or dead events of the configured sinks."""
    rows = db.scalars(
        select(ExportOutbox)
        .where(
            ExportOutbox.sink.in_([s.name for s in sinks]),
            ExportOutbox.state != DELIVERED,
            ExportOutbox.last_error.is_not(None),
        )
        .order_by(ExportOutbox.id.desc())
        .limit(limit)
    ).all()
    return [
        Problem(
            r.id,
            r.sink,
            r.topic,
            r.key,
            r.state,
            r.attempts,
            r.created_at,
            r.last_attempt_at,
            r.next_attempt_at,
            r.last_error,
        )
        for r in rows
    ]


def test_event(*, sink: ExportSink, actor: str, now: datetime) -> AlertEvent:
    """A made-up Informational alert that every format can carry."""
    return AlertEvent(
        key=f"test:{sink.name}:{uuid.uuid4().hex}",
        change=AlertChange.TEST,
        occurred_at=now,
        alert_id=0,
        title="openmtd test event",
        category="Test",
        severity=Severity.INFORMATIONAL,
        status=AlertStatus.NEW,
        classification=AlertClassification.INFORMATIONAL_EXPECTED,
        evidence={"requested_by": actor, "server_version": __version__},
        first_seen=now,
        last_seen=now,
        count=1,
        device=AlertDevice(
            id="00000000-0000-0000-0000-000000000000",
            name="openmtd test device",
            platform="android",
            scenario="android-work-profile",
            device_group="test",
        ),
    )


def queue_test(
    db: Session, *, sinks: Sequence[ExportSink], name: str, actor: str, now: datetime
) -> str:
    """Queue a test event for one sink (audited); returns its idempotency key."""
    sink = find_sink(sinks, name)
    event = test_event(sink=sink, actor=actor, now=now)
    queue_for(db, sink=sink.name, topic="alert", key=event.key, payload=event.to_payload(), now=now)
    audit.record(
        db, actor=actor, action="export.test", target=f"export:{sink.name}", now=now, key=event.key
    )
    return event.key


def retry_dead(
    db: Session, *, sinks: Sequence[ExportSink], name: str, actor: str, now: datetime
) -> int:
    """Queue a sink's dead events again, with fresh attempts (audited); returns how many."""
    sink = find_sink(sinks, name)
    result = db.execute(
        update(ExportOutbox)
        .where(ExportOutbox.sink == sink.name, ExportOutbox.state == DEAD)
        .values(state=PENDING, attempts=0, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    audit.record(
        db,
        actor=actor,
        action="export.retry_dead",
        target=f"export:{sink.name}",
        now=now,
        requeued=count,
    )
    if count:
        db.info[QUEUED_INFO] = True
    return count
