"""Running feed refreshes: by hand (the API, the CLI) and on schedule (a server background task)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from starlette.concurrency import run_in_threadpool

from openmtd.domain.errors import InvalidInput
from openmtd.server.context import AppContext
from openmtd.server.web import feeds

log = logging.getLogger(__name__)
SCHEDULE_POLL_SECONDS = 30.0


def refresh_feed(ctx: AppContext, *, feed_id: int, now: datetime) -> None:
    """Fetch (outside any transaction), then apply the document in one transaction."""
    with ctx.sessions() as db:
        feed = feeds.get(db, feed_id)
        location = feed.location
    try:
        text = feeds.fetch(location, max_bytes=ctx.settings.max_feed_bytes)
    except InvalidInput as e:
        with ctx.sessions() as db:
            feed = feeds.get(db, feed_id)
            feeds.record_failure(db, feed=feed, reason=e.message, now=now)
            db.commit()
            return
    with ctx.sessions() as db:
        feed = feeds.get(db, feed_id)
        feeds.apply_document(db, feed=feed, text=text, now=now)
        db.commit()
    ctx.web.changed()


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
            refresh_feed(ctx, feed_id=feed_id, now=now)
            done += 1
        except Exception:  # one broken feed never stops the others
            log.exception("refreshing feed %s failed", feed_id)
    return done


async def schedule_loop(ctx: AppContext, *, poll_seconds: float = SCHEDULE_POLL_SECONDS) -> None:
    while True:
        try:
            await run_in_threadpool(refresh_due, ctx)
        except Exception:
            log.exception("scheduled feed refresh failed")
        await asyncio.sleep(poll_seconds)
