"""The server's live web index: built from the database, refreshed within seconds of a change.

Each worker process holds one `WebProtection`. Lookups (DoH, the URL check, the forward paths)
read `index()`, which never waits on the database once a first index exists: when the stored
revisions moved, a background thread rebuilds only the layers that changed (a feed refresh
rebuilds that feed's layer; an edited custom indicator rebuilds the small custom layer) and
swaps the new index in. A change made through this process calls `changed()` so its own next
lookup sees it at once; other processes notice within `poll_seconds`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openmtd.domain.web import WebVerdict
from openmtd.engines.web.index import IndexLayer, WebIndex
from openmtd.engines.web.lookalike import LookalikeDetector
from openmtd.engines.web.wire import IndicatorSet
from openmtd.server.web import indicators as custom
from openmtd.server.web import policy as web_policy
from openmtd.server.web.feeds import feed_indicator_set
from openmtd.store.models import Feed, SyncGeneration

CUSTOM_LAYER = "custom"


@dataclass(frozen=True, slots=True)
class Stamp:
    """What the index was built from: revisions of each source and of the policy."""

    custom: int
    feeds: tuple[tuple[int, int], ...]  # (feed id, revision) of enabled feeds
    policy: int


def read_stamp(db: Session) -> Stamp:
    feeds = db.execute(
        select(Feed.id, Feed.revision).where(Feed.enabled.is_(True)).order_by(Feed.id)
    ).all()
    policy = db.scalar(
        select(SyncGeneration.generation).where(
            SyncGeneration.name == web_policy.WEB_POLICY_GENERATION
        )
    )
    return Stamp(
        custom=custom.revision(db),
        feeds=tuple((r.id, r.revision) for r in feeds),
        policy=policy or 0,
    )


def feed_layer_name(feed_id: int) -> str:
    return f"feed:{feed_id}"


class WebProtection:
    def __init__(self, sessions: sessionmaker[Session], *, poll_seconds: float = 1.0) -> None:
        self._sessions = sessions
        self._poll = poll_seconds
        self._index = WebIndex()
        self._policy = web_policy.WebPolicyBody()
        self._stamp: Stamp | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._rebuilding = False

    # -- reading ------------------------------------------------------------------------

    def index(self) -> WebIndex:
        """The current index; the first call builds it, later calls never wait for a rebuild."""
        if self._stamp is None:
            self.refresh()
        elif time.monotonic() - self._checked >= self._poll:
            self._refresh_in_background()
        return self._index

    def policy(self) -> web_policy.WebPolicyBody:
        self.index()
        return self._policy

    def close(self) -> None:
        bind = self._sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()

    def changed(self) -> None:
        """Called after a change committed in this process: rebuild before the next lookup."""
        self.refresh()

    # -- rebuilding ---------------------------------------------------------------------

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._rebuilding:
                return
            self._rebuilding = True
            self._checked = time.monotonic()
        threading.Thread(target=self._background, name="web-index", daemon=True).start()

    def _background(self) -> None:
        try:
            self.refresh()
        finally:
            with self._lock:
                self._rebuilding = False

    def refresh(self) -> None:
        """Bring the index up to the stored revisions (rebuilding only what changed)."""
        with self._sessions() as db:
            stamp = read_stamp(db)
            old = self._stamp
            self._checked = time.monotonic()
            if stamp == old:
                return
            index = self._index
            if old is None or stamp.policy != old.policy:
                self._policy = web_policy.load_policy(db)
                heur = self._policy.heuristics
                index = index.with_lookalike(
                    LookalikeDetector(heur.lookalike_policy()) if heur.enabled else None
                )
            if old is None or stamp.custom != old.custom:
                layer = IndexLayer.build(CUSTOM_LAYER, custom.all_indicators(db))
                index = index.replace_layer(layer)
            before = dict(old.feeds) if old else {}
            now_feeds = dict(stamp.feeds)
            for feed_id, revision in stamp.feeds:
                if before.get(feed_id) != revision:
                    ind_set = feed_indicator_set(db, feed_id)
                    if ind_set is not None:
                        index = index.replace_layer(IndexLayer.build_set(ind_set))
            for feed_id in before:
                if feed_id not in now_feeds:
                    index = index.without_layer(feed_layer_name(feed_id))
            self._index = index
            self._stamp = stamp


def judge(
    index: WebIndex, target: str, *, now: datetime, device_groups: frozenset[str] | None
) -> WebVerdict:
    """A URL, or a bare host / IP (no '/' and no port or IPv6 colon), as a device would see it."""
    target = target.strip()
    if "/" not in target and ":" not in target.rstrip("]"):
        return index.check_host(target, now=now, device_groups=device_groups)
    return index.check_url(target, now=now, device_groups=device_groups)


def indicator_sets(db: Session) -> Iterator[tuple[str, int, int]]:
    """(name, revision, count) of every set an agent should hold."""
    yield CUSTOM_LAYER, custom.revision(db), custom.count(db)
    for row in db.execute(
        select(Feed.id, Feed.revision, Feed.entry_count).where(Feed.enabled.is_(True))
    ):
        yield feed_layer_name(row.id), row.revision, row.entry_count


def load_set(db: Session, name: str) -> IndicatorSet | None:
    if name == CUSTOM_LAYER:
        return IndicatorSet.of(CUSTOM_LAYER, custom.revision(db), custom.all_indicators(db))
    if name.startswith("feed:") and name[5:].isdigit():
        return feed_indicator_set(db, int(name[5:]))
    return None
