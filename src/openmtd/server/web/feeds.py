"""Threat-intelligence feeds: add, refresh from a URL or a server file, store entries, schedule."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import delete, func, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from openmtd.domain.enums import Severity
from openmtd.domain.errors import Conflict, InvalidInput, NotFound
from openmtd.domain.web import IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.engines.web.wire import IndicatorSet, meta_from_dict, meta_to_dict
from openmtd.intel.web_feeds import FeedFormat, ImportReport, detect_format, parse_indicators
from openmtd.server.audit.service import record
from openmtd.server.web.schemas import FeedCreate, FeedUpdate
from openmtd.server.web.sync import POLICY_GENERATION, bump
from openmtd.store.models import Feed, FeedEntry

log = logging.getLogger(__name__)

DEFAULT_META = -1
WRITE_BATCH = 5000
MAX_PROBLEMS_KEPT = 20


class FeedUnavailable(InvalidInput):
    code = "feed_unavailable"


def feed_defaults(feed: Feed) -> IndicatorMeta:
    return IndicatorMeta(
        kind=MatchKind.FEED,
        source=feed.name,
        action=IndicatorAction(feed.action),
        severity=Severity(feed.severity),
        category=feed.category,
    )


def get(db: Session, feed_id: int) -> Feed:
    feed = db.get(Feed, feed_id)
    if feed is None:
        raise NotFound(f"no feed #{feed_id}")
    return feed


def check_location(location: str, allowed_dirs: list[Path]) -> None:
    if location.startswith(("http://", "https://")):
        return
    try:
        path = Path(location).expanduser().resolve()
    except (ValueError, OSError, RuntimeError) as e:  # a NUL byte, an unknown ~user, a loop
        raise InvalidInput(
            f"{location!r} is not a usable file path: {e}", code="feed_location_refused"
        ) from None
    if not any(path.is_relative_to(d.resolve()) for d in allowed_dirs):
        dirs = ", ".join(str(d) for d in allowed_dirs) or "(none configured)"
        raise InvalidInput(
            f"a feed is an http(s) URL or a file under a feed folder ({dirs}); "
            f"{location!r} is neither",
            code="feed_location_refused",
        )


def create(
    db: Session, *, body: FeedCreate, actor: str, now: datetime, allowed_dirs: list[Path]
) -> Feed:
    check_location(body.location, allowed_dirs)
    if db.scalar(select(Feed.id).where(Feed.name == body.name)) is not None:
        raise Conflict(f"a feed named {body.name!r} exists", code="feed_exists")
    feed = Feed(
        name=body.name,
        location=body.location,
        format=body.format,
        action=body.action.value,
        severity=body.severity.value,
        category=body.category,
        enabled=body.enabled,
        refresh_minutes=body.refresh_minutes,
        revision=0,
        entry_count=0,
        metas=[],
        last_refresh_at=None,
        last_status="never",
        last_report={},
        created_at=now,
        created_by=actor,
    )
    db.add(feed)
    db.flush()
    record(
        db,
        actor=actor,
        action="feed.create",
        target=f"feed:{feed.id}",
        now=now,
        name=feed.name,
        location=feed.location,
    )
    return feed


def update_feed(
    db: Session,
    *,
    feed_id: int,
    body: FeedUpdate,
    actor: str,
    now: datetime,
    allowed_dirs: list[Path],
) -> Feed:
    feed = get(db, feed_id)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "location" in changes:
        check_location(changes["location"], allowed_dirs)
    for key, value in changes.items():
        setattr(feed, key, value.value if isinstance(value, IndicatorAction | Severity) else value)
    if {"action", "severity", "category", "enabled"} & changes.keys():
        feed.revision += 1  # the entries' meaning changed: agents and the index reload it
        bump(db, POLICY_GENERATION, now=now)
    record(
        db,
        actor=actor,
        action="feed.update",
        target=f"feed:{feed.id}",
        now=now,
        changes=sorted(changes),
    )
    return feed


def delete_feed(db: Session, *, feed_id: int, actor: str, now: datetime) -> None:
    feed = get(db, feed_id)
    db.execute(delete(FeedEntry).where(FeedEntry.feed_id == feed.id))
    record(db, actor=actor, action="feed.delete", target=f"feed:{feed.id}", now=now, name=feed.name)
    db.delete(feed)
    bump(db, POLICY_GENERATION, now=now)


def fetch(location: str, *, max_bytes: int, timeout: float = 60.0) -> str:
    """The feed document as text (UTF-8, undecodable bytes replaced)."""
    return fetch_bytes(location, max_bytes=max_bytes, timeout=timeout).decode(
        "utf-8", errors="replace"
    )


def fetch_bytes(location: str, *, max_bytes: int, timeout: float = 60.0) -> bytes:
    """A document from an http(s) URL or a file, at most `max_bytes` (FeedUnavailable else)."""
    if location.startswith(("http://", "https://")):
        try:
            with httpx.stream("GET", location, timeout=timeout, follow_redirects=True) as r:
                if r.status_code != 200:
                    raise FeedUnavailable(f"{location} answered HTTP {r.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise FeedUnavailable(f"{location} is larger than {max_bytes} bytes")
                    chunks.append(chunk)
        except httpx.HTTPError as e:
            raise FeedUnavailable(f"{location}: {e}") from e
        return b"".join(chunks)
    try:
        path = Path(location).expanduser()
        if path.stat().st_size > max_bytes:
            raise FeedUnavailable(f"{location} is larger than {max_bytes} bytes")
        return path.read_bytes()
    except OSError as e:
        raise FeedUnavailable(f"{location}: {e.strerror or e}") from e
    except (ValueError, RuntimeError) as e:  # a NUL byte in the path, an unknown ~user
        raise FeedUnavailable(f"{location!r} is not a usable file path: {e}") from e


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    report: ImportReport
    added: int
    removed: int
    changed: int
    entry_count: int


def _report_dict(
    report: ImportReport, *, added: int, removed: int, changed: int
) -> dict[str, object]:
    return {
        "format": report.format.value,
        "lines": report.lines,
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "ignored": report.ignored,
        "ignored_reasons": dict(report.ignored_reasons),
        "problem_count": report.problem_count,
        "problems": [
            {"line": p.line, "reason": p.reason, "text": p.text}
            for p in report.problems[:MAX_PROBLEMS_KEPT]
        ],
        "added": added,
        "removed": removed,
        "changed": changed,
    }


def apply_document(db: Session, *, feed: Feed, text: str, now: datetime) -> RefreshOutcome:
    """Replace the feed's entries with the document's, writing only the difference."""
    fmt = detect_format(text, feed.location) if feed.format == "auto" else FeedFormat(feed.format)
    defaults = feed_defaults(feed)
    parsed, report = parse_indicators(text, fmt, defaults=defaults)
    metas: dict[IndicatorMeta, int] = {}
    wanted: dict[tuple[str, str], int] = {}
    for ind in parsed:
        index = DEFAULT_META if ind.meta == defaults else metas.setdefault(ind.meta, len(metas))
        wanted[(ind.type.value, ind.value)] = index
    stored: dict[tuple[str, str], int] = {
        (t, v): m
        for t, v, m in db.execute(
            select(FeedEntry.type, FeedEntry.value, FeedEntry.meta_index).where(
                FeedEntry.feed_id == feed.id
            )
        )
    }
    removed = [k for k in stored if k not in wanted]
    added = [k for k in wanted if k not in stored]
    changed = [k for k, m in wanted.items() if k in stored and stored[k] != m]
    for start in range(0, len(removed) + len(changed), WRITE_BATCH):
        batch = (removed + changed)[start : start + WRITE_BATCH]
        db.execute(
            delete(FeedEntry).where(
                FeedEntry.feed_id == feed.id,
                tuple_(FeedEntry.type, FeedEntry.value).in_(batch),
            )
        )
    fresh = added + changed
    for start in range(0, len(fresh), WRITE_BATCH):
        db.execute(
            insert(FeedEntry),
            [
                {"feed_id": feed.id, "type": t, "value": v, "meta_index": wanted[(t, v)]}
                for t, v in fresh[start : start + WRITE_BATCH]
            ],
        )
    new_metas = [meta_to_dict(m) for m in metas]
    if added or removed or changed or new_metas != feed.metas:
        feed.revision += 1
        feed.metas = new_metas
        bump(db, POLICY_GENERATION, now=now)
    feed.entry_count = len(wanted)
    feed.last_refresh_at = now
    feed.last_status = "ok" if not report.problem_count or report.accepted else "error"
    feed.last_report = _report_dict(
        report, added=len(added), removed=len(removed), changed=len(changed)
    )
    return RefreshOutcome(report, len(added), len(removed), len(changed), len(wanted))


def record_failure(db: Session, *, feed: Feed, reason: str, now: datetime) -> None:
    """A refresh that could not read its document keeps the previous entries."""
    feed.last_refresh_at = now
    feed.last_status = "error"
    feed.last_report = {"error": reason}


def feed_indicator_set(db: Session, feed_id: int) -> IndicatorSet | None:
    feed = db.get(Feed, feed_id)
    if feed is None:
        return None
    defaults = feed_defaults(feed)
    metas = [defaults, *(meta_from_dict(m) for m in feed.metas)]
    entries = tuple(
        (IndicatorType(t), v, m + 1)
        for t, v, m in db.execute(
            select(FeedEntry.type, FeedEntry.value, FeedEntry.meta_index).where(
                FeedEntry.feed_id == feed_id
            )
        )
    )
    return IndicatorSet(f"feed:{feed.id}", feed.revision, tuple(metas), entries)


def due_feeds(db: Session, *, now: datetime) -> list[int]:
    """Enabled feeds whose refresh interval has passed."""
    rows = db.execute(
        select(Feed.id, Feed.refresh_minutes, Feed.last_refresh_at).where(
            Feed.enabled.is_(True), Feed.refresh_minutes > 0
        )
    ).all()
    return [
        r.id
        for r in rows
        if r.last_refresh_at is None
        or r.last_refresh_at + timedelta(minutes=r.refresh_minutes) <= now
    ]


def claim(db: Session, *, feed_id: int, now: datetime) -> bool:
    """Mark a due feed as being refreshed, so only one server process refreshes it."""
    feed = db.get(Feed, feed_id)
    if feed is None:
        return False
    done = db.execute(
        update(Feed)
        .where(
            Feed.id == feed_id,
            or_(Feed.last_refresh_at.is_(None), Feed.last_refresh_at == feed.last_refresh_at),
        )
        .values(last_refresh_at=now)
    )
    return bool(getattr(done, "rowcount", 0))


def list_feeds(db: Session) -> list[Feed]:
    return list(db.scalars(select(Feed).order_by(Feed.name)))


def total_entries(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(FeedEntry)) or 0
