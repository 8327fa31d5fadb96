"""Importing the configured vulnerability feeds on schedule (settings.vuln_feed_locations).

A feed is due when its last attempt, successful or not, is older than the refresh interval;
an attempt that fails is logged in the import log with its reason, so a dead feed is retried
once per interval, not once per poll.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openmtd.domain.errors import OpenMTDError
from openmtd.server.vulns.imports import import_document
from openmtd.server.web.feeds import fetch_bytes
from openmtd.store.models import VulnImport

log = logging.getLogger(__name__)
SCHEDULER = "scheduler"
FAILED_FORMAT = "failed"


def due_locations(
    db: Session, locations: Sequence[str], *, every: timedelta, now: datetime
) -> list[str]:
    rows = db.execute(
        select(VulnImport.origin, func.max(VulnImport.imported_at))
        .where(VulnImport.origin.in_(list(locations)))
        .group_by(VulnImport.origin)
    )
    last: dict[str, datetime] = dict(rows.all())
    return [loc for loc in dict.fromkeys(locations) if loc not in last or last[loc] <= now - every]


def refresh_feeds(
    sessions: sessionmaker[Session],
    locations: Sequence[str],
    *,
    every: timedelta,
    now: datetime,
    max_bytes: int,
) -> int:
    """Import every due feed (each in its own transaction); returns how many changed anything."""
    if not locations:
        return 0
    with sessions() as db:
        due = due_locations(db, locations, every=every, now=now)
    changed = 0
    for location in due:
        try:
            data = fetch_bytes(location, max_bytes=max_bytes)
            with sessions() as db:
                summary = import_document(db, data, origin=location, now=now)
                db.commit()
            changed += bool(summary.new or summary.changed or summary.format == "epss")
        except OpenMTDError as e:
            log.warning("vulnerability feed %s: %s", location, e.message)
            with sessions() as db:
                failure = {"origin": location, "format": FAILED_FORMAT, "error": e.message[:1000]}
                db.add(
                    VulnImport(
                        origin=location[:2048],
                        format=FAILED_FORMAT,
                        imported_at=now,
                        summary=failure,
                    )
                )
                db.commit()
    return changed
