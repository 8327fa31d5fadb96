"""Forward-auth decisions, cached per credential and dropped the moment access may change.

A cached entry holds what the decision needs (the device's stored compliance verdict), not the
answer: the answer is computed at each request from it and the current time, so a device that
stops checking in is denied at the right second even from the cache.

Invalidation: every change that may alter a decision moves the `access` counter in the
database (server.compliance.access_changed). This process drops its entries as soon as such a
transaction commits (a session hook); every process also reads the counter at most every
`POLL_SECONDS` and drops its entries when it moved, so a change made by another server
process reaches here within that time. Entries also expire after `ttl` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from openmtd.engines.access import Decision, decide, unidentified
from openmtd.server.access import service
from openmtd.server.access.service import Lookup
from openmtd.server.compliance.service import ACCESS_GENERATION
from openmtd.server.web.sync import counter

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
# The cache answers alone only while the counter was read this recently (a stalled poller
# sends every request to the database instead of answering from a cache it cannot vouch for).
STALE_SECONDS = 1.0
MAX_ENTRIES = 200_000


@dataclass(frozen=True, slots=True)
class Identity:
    kind: str  # token | certificate | none
    key: str  # the token, or the certificate's SHA-256
    problem: str = ""  # why there is no usable identity (kind "none")


@dataclass(frozen=True, slots=True)
class _Entry:
    lookup: Lookup
    loaded: float


class AccessDecisions:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        *,
        ttl: float,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._generation = -1
        self._polled = 0.0
        self._onboarding_required: bool | None = None
        # Moves with every invalidation: a lookup read before one is not cached after it.
        self._epoch = 0
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def _start_poller(self) -> None:
        """Read the counter in the background, so that no request waits for it."""
        with self._lock:
            if self._poller is not None or self._stop.is_set():
                return
            self._poller = threading.Thread(
                target=self._poll_forever, name="openmtd-access-poll", daemon=True
            )
            self._poller.start()

    def _poll_forever(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._poll_now()
            except Exception:  # a database hiccup: requests fall back to reading it
                log.warning("reading the access counter failed", exc_info=True)

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)

    def invalidate(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        self._entries.clear()
        self._onboarding_required = None
        self._epoch += 1

    def cached(self, identity: Identity) -> Decision | None:
        """The decision from the cache alone, or None when the database must be read."""
        if time.monotonic() - self._polled >= STALE_SECONDS:
            return None
        if identity.kind == "none":
            required = self._onboarding_required
            if required is None:
                return None
            return unidentified(identity.problem, require_onboarding=required)
        entry = self._entries.get((identity.kind, identity.key))
        if entry is None or time.monotonic() - entry.loaded > self._ttl:
            return None
        return self._answer(entry.lookup)

    def decide(self, identity: Identity) -> Decision:
        """The decision, reading the database when the cache cannot answer (blocking)."""
        self._start_poller()
        if time.monotonic() - self._polled >= POLL_SECONDS:
            self._poll_now()
        answer = self.cached(identity)
        if answer is not None:
            return answer
        now = self._clock()
        epoch = self._epoch
        with self._sessions() as db:
            if identity.kind == "none":
                required = service.onboarding_required(db)
                with self._lock:
                    if epoch == self._epoch:
                        self._onboarding_required = required
                return unidentified(identity.problem, require_onboarding=required)
            if identity.kind == "token":
                lookup = service.by_token(db, identity.key, now=now)
            else:
                lookup = service.by_certificate(db, identity.key, now=now)
            known: bool | None = self._onboarding_required
            if lookup.access is None and known is None:
                known = service.onboarding_required(db)
        with self._lock:
            if epoch == self._epoch:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[(identity.kind, identity.key)] = _Entry(lookup, time.monotonic())
                if known is not None:
                    self._onboarding_required = known
        return self._answer(lookup, known)

    def _answer(self, lookup: Lookup, required: bool | None = None) -> Decision:
        if lookup.access is None:
            if required is None:
                required = self._onboarding_required
            return unidentified(lookup.reason, require_onboarding=required is not False)
        return decide(lookup.access, self._clock())

    def _poll_now(self) -> None:
        """Read the access counter; drop every entry when it moved."""
        with self._sessions() as db:
            generation = counter(db, ACCESS_GENERATION)
        with self._lock:
            if generation != self._generation:
                self._drop()
                self._generation = generation
            self._polled = time.monotonic()
