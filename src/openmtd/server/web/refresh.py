"""Running feed refreshes: by hand (the API, the CLI) and on schedule (a server background task)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from openmtd.domain.errors import InvalidInput
from openmtd.server.apps.fleet import rejudge_all
from openmtd.server.apps.protection import APP_TYPES
from openmtd.server.compliance.schedule import sweep_compliance
from openmtd.server.context import AppContext
from openmtd.server.vulns import schedule as vuln_schedule
from openmtd.server.web import feeds
from openmtd.store.models import FeedEntry

log = logging.getLogger(__name__)
SCHEDULE_POLL_SECONDS = 30.0


def refresh_feed(
    sessions: sessionmaker[Session], *, feed_id: int, now: datetime, max_bytes: int
) -> None:
    """Fetch (outside any transaction), then apply the document in one transaction. A feed
    that cannot be read keeps its entries and records why. Callers then rebuild the index
    (ctx.web.changed())."""
    with sessions() as db:
        location = feeds.get(db, feed_id).location
    try:
        text = feeds.fetch(location, max_bytes=max_bytes)
    except InvalidInput as e:
        with sessions() as db:
            feeds.record_failure(db, feed=feeds.get(db, feed_id), reason=e.message, now=now)
            db.commit()
        return
    with sessions() as db:
        feeds.apply_document(db, feed=feeds.get(db, feed_id), text=text, now=now)
        db.commit()


def refresh_now(ctx: AppContext, *, feed_id: int, now: datetime) -> None:
    """Refresh one feed for a request (API, console) and rebuild this process's index; when
    the feed's app indicators changed, judge the fleet's apps again."""
    before = _app_state(ctx, feed_id)
    refresh_feed(ctx.sessions, feed_id=feed_id, now=now, max_bytes=ctx.settings.max_feed_bytes)
    ctx.web.changed()
    after = _app_state(ctx, feed_id)
    if before != after and (before[1] or after[1]):
        with ctx.sessions() as db:
            rejudge_all(db, ctx=ctx, now=now)
            db.commit()


def _app_state(ctx: AppContext, feed_id: int) -> tuple[int, int]:
    """(revision, app-indicator count) of one feed."""
    with ctx.sessions() as db:
        feed = feeds.get(db, feed_id)
        count = db.scalar(
            select(func.count())
            .select_from(FeedEntry)
            .where(FeedEntry.feed_id == feed_id, FeedEntry.type.in_(APP_TYPES))
        )
        return feed.revision, int(count or 0)


def refresh_due(ctx: AppContext) -> int:
    """Refresh every feed whose interval has passed; returns how many were refreshed."""
    now = ctx.clock()
    with ctx.sessions() as db:
        due = feeds.due_feeds(db, now=now)
    done = 0
    for feed_id in due:
        with ctx.sessions() as db:
            claimed = feeds.claim(db, feed_id=feed_id, now=now)
            db.commit()
        if not claimed:
            continue
        try:
            refresh_now(ctx, feed_id=feed_id, now=now)
            done += 1
        except Exception:  # one broken feed never stops the others
            log.exception("refreshing feed %s failed", feed_id)
    return done


def refresh_vuln_feeds(ctx: AppContext) -> int:
    """Import the configured vulnerability feeds that are due; the re-match follows."""
    settings = ctx.settings
    return vuln_schedule.refresh_feeds(
        ctx.sessions,
        settings.vuln_feed_locations,
        every=timedelta(hours=settings.vuln_feed_refresh_hours),
        now=ctx.clock(),
        max_bytes=settings.max_feed_bytes,
    )


async def schedule_loop(ctx: AppContext, *, poll_seconds: float = SCHEDULE_POLL_SECONDS) -> None:
    while True:
        try:
            await run_in_threadpool(refresh_due, ctx)
        except Exception:
            log.exception("scheduled feed refresh failed")
        try:
            await run_in_threadpool(refresh_vuln_feeds, ctx)
            await run_in_threadpool(ctx.vulns.catch_up)
        except Exception:
            log.exception("checking the vulnerability re-match failed")
        try:
            await run_in_threadpool(sweep_compliance, ctx)
        except Exception:
            log.exception("the compliance sweep failed")
        await asyncio.sleep(poll_seconds)
