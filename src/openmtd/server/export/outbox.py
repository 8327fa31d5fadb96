"""The durable outbox: events for export sinks, written in the transaction of the change.

`enqueue(db, topic=..., key=..., payload=..., now=...)` adds one row per configured sink that
subscribes to `topic`, in the caller's transaction: a rollback leaves nothing behind and a
commit cannot lose the event. The delivery worker (delivery.py) then sends each row at least
once, retrying with backoff, and a server restart resumes where it stopped.

Topics are open-ended strings; the sinks decide what they take (ExportSink.topics): "alert"
(server/export/alerts.py) and "device.health" (server/compliance/health.py) today. `key` is the
event's idempotency key: stable for one event, different for the next one (e.g.
"alert:42:resolved:<time>"); a sink never gets the same key queued twice, and receivers use it
to drop repeated deliveries. `payload` is a JSON object, stored as it is and sent as the
webhook body's `data`.

The configured sinks travel with the session (`db.info`): the export worker binds them to the
app's session factory (`bind_sinks`); a session without them queues nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from openmtd.export_settings import ExportSink
from openmtd.store.models import ExportOutbox

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
STATES = (PENDING, DELIVERED, DEAD)

#: db.info keys: the configured sinks, and "this transaction queued something" (the worker
#: wakes after such a commit).
SINKS_INFO = "openmtd.export.sinks"
QUEUED_INFO = "openmtd.export.queued"

MAX_KEY = 255
MAX_TOPIC = 32


def bind_sinks(sessions: sessionmaker[Session], sinks: Sequence[ExportSink]) -> None:
    """Make every session of `sessions` queue events for these sinks."""
    info = dict(sessions.kw.get("info") or {})
    info[SINKS_INFO] = tuple(sinks)
    sessions.configure(info=info)


def sinks_of(db: Session) -> tuple[ExportSink, ...]:
    sinks: tuple[ExportSink, ...] = db.info.get(SINKS_INFO, ())
    return sinks


def enqueue(db: Session, *, topic: str, key: str, payload: dict[str, Any], now: datetime) -> None:
    """Queue one event for every configured sink that subscribes to `topic`, in the caller's
    transaction (the caller commits). An event whose key a sink already has is not queued
    again for it."""
    sinks = [s for s in sinks_of(db) if s.subscribes(topic)]
    if not sinks:
        return
    _check(topic=topic, key=key, payload=payload)
    for sink in sinks:
        queue_for(db, sink=sink.name, topic=topic, key=key, payload=payload, now=now)


def queue_for(
    db: Session, *, sink: str, topic: str, key: str, payload: dict[str, Any], now: datetime
) -> bool:
    """Add one row for one sink; False when this sink already has the key."""
    _check(topic=topic, key=key, payload=payload)
    taken = select(ExportOutbox.id).where(ExportOutbox.sink == sink, ExportOutbox.key == key)
    if db.scalar(taken) is not None:
        return False
    row = ExportOutbox(
        sink=sink,
        topic=topic,
        key=key,
        payload=payload,
        created_at=now,
        state=PENDING,
        attempts=0,
        next_attempt_at=now,
        last_attempt_at=None,
        delivered_at=None,
        last_error=None,
    )
    try:
        # A savepoint: a concurrent transaction that queued the same key first makes this
        # insert fail without failing the caller's transaction.
        with db.begin_nested():
            db.add(row)
    except IntegrityError:
        return False
    db.info[QUEUED_INFO] = True
    return True


def _check(*, topic: str, key: str, payload: dict[str, Any]) -> None:
    if not topic or len(topic) > MAX_TOPIC:
        raise ValueError(f"an export topic has 1 to {MAX_TOPIC} characters: {topic!r}")
    if not key or len(key) > MAX_KEY:
        raise ValueError(f"an idempotency key has 1 to {MAX_KEY} characters: {key!r}")
    if not isinstance(payload, dict):
        raise ValueError("an export payload is a JSON object (a dict)")
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the export payload of {key!r} is not JSON: {e}") from e
