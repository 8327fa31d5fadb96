"""What the server judges apps with: the app-indicator index and the compiled YARA rules.

One `AppProtection` per worker process. The index is rebuilt from the stored custom indicators
and feed entries of app types whenever their revisions move (app indicators are few next to
web ones: a full rebuild takes milliseconds for thousands). The YARA rules are compiled once,
from the built-in folder and the admin's folders (settings.yara_rule_dirs).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from openmtd.domain.web import Indicator, IndicatorType
from openmtd.engines.apps.reputation import AppIndex
from openmtd.engines.apps.yara_scan import Rules, builtin_rule_sources, compile_rules
from openmtd.engines.web.wire import meta_from_dict
from openmtd.server.apps.rules import load_rule_folder, rules_digest
from openmtd.server.web import indicators as custom
from openmtd.server.web.feeds import feed_defaults
from openmtd.store.models import CustomIndicator, Feed, FeedEntry

APP_TYPES = tuple(t.value for t in IndicatorType if t.is_app)


def app_indicators(db: Session) -> Iterator[Indicator]:
    """Every stored app indicator: the admin's own, then those of enabled feeds."""
    for row in db.scalars(
        select(CustomIndicator)
        .where(CustomIndicator.type.in_(APP_TYPES))
        .order_by(CustomIndicator.id)
    ):
        yield Indicator(IndicatorType(row.type), row.value, custom.meta_of(row))
    feeds = {f.id: f for f in db.scalars(select(Feed).where(Feed.enabled.is_(True)))}
    metas = {
        fid: [feed_defaults(f), *(meta_from_dict(m) for m in f.metas)] for fid, f in feeds.items()
    }
    if not feeds:
        return
    for feed_id, kind, value, m in db.execute(
        select(FeedEntry.feed_id, FeedEntry.type, FeedEntry.value, FeedEntry.meta_index).where(
            FeedEntry.type.in_(APP_TYPES), FeedEntry.feed_id.in_(list(feeds))
        )
    ):
        yield Indicator(IndicatorType(kind), value, metas[feed_id][m + 1])


def _stamp(db: Session) -> tuple[int, tuple[tuple[int, int], ...]]:
    feeds = db.execute(
        select(Feed.id, Feed.revision).where(Feed.enabled.is_(True)).order_by(Feed.id)
    ).all()
    return custom.revision(db), tuple((r.id, r.revision) for r in feeds)


class AppProtection:
    def __init__(self, *, rule_dirs: list[Path]) -> None:
        self._rule_dirs = rule_dirs
        self._rules: Rules | None = None
        self._rules_digest = ""
        self._index = AppIndex()
        self._stamp: tuple[int, tuple[tuple[int, int], ...]] | None = None
        self._lock = threading.Lock()

    def index(self, db: Session) -> AppIndex:
        """The app-indicator index as of the stored revisions (rebuilt when they moved)."""
        stamp = _stamp(db)
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._index = AppIndex(app_indicators(db))
                    self._stamp = stamp
        return self._index

    def rules(self) -> tuple[Rules, str]:
        """The compiled YARA rules and the digest that names them (compiled on first use)."""
        if self._rules is None:
            with self._lock:
                if self._rules is None:
                    sources = dict(builtin_rule_sources())
                    for folder in self._rule_dirs:
                        sources.update(load_rule_folder(folder))
                    self._rules_digest = rules_digest(sources)
                    self._rules = compile_rules(sources)
        return self._rules, self._rules_digest
