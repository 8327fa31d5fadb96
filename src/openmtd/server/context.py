"""What every request may use: settings, the session factory and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from openmtd.config import Settings
from openmtd.server.access.ca import AccessCA
from openmtd.server.access.decisions import AccessDecisions
from openmtd.server.apps.protection import AppProtection
from openmtd.server.export.delivery import ExportWorker
from openmtd.server.integrity.verifiers import IntegrityVerifiers
from openmtd.server.vulns.protection import VulnProtection
from openmtd.server.web.protection import WebProtection
from openmtd.store.db import make_engine, make_session_factory


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime] = field(default=utc_now)
    web: WebProtection = field(init=False)
    apps: AppProtection = field(init=False)
    integrity: IntegrityVerifiers = field(init=False)
    vulns: VulnProtection = field(init=False)
    export: ExportWorker = field(init=False)  # alert export: outbox delivery
    access: AccessDecisions = field(init=False)
    access_ca: AccessCA = field(init=False)
    _vuln_engine: Engine = field(init=False, repr=False)
    _access_engine: Engine = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The web index reads through an engine of its own: lookups and rebuilds happen in
        # the middle of requests that hold a connection (one per process on SQLite).
        reader = make_engine(self.settings.resolved_database_url(), pool_size=2)
        self.web = WebProtection(make_session_factory(reader))
        self.apps = AppProtection(rule_dirs=list(self.settings.yara_rule_dirs))
        self.integrity = IntegrityVerifiers.from_settings(self.settings)
        # The background re-match has its connection too: it must not queue behind requests.
        self._vuln_engine = make_engine(self.settings.resolved_database_url(), pool_size=1)
        self.vulns = VulnProtection(make_session_factory(self._vuln_engine), lambda: self.clock())
        # Alert export: binds the sinks to self.sessions; delivers on a connection of its own.
        self.export = ExportWorker(
            self.settings, request_sessions=self.sessions, clock=lambda: self.clock()
        )
        # Forward-auth reads on its own connections too: a decision must never queue behind
        # a check-in holding the only SQLite connection.
        self._access_engine = make_engine(self.settings.resolved_database_url(), pool_size=4)
        self.access = AccessDecisions(
            make_session_factory(self._access_engine),
            lambda: self.clock(),
            ttl=self.settings.access_cache_seconds,
        )
        self.access_ca = AccessCA(
            self.settings.access_ca_dir or self.settings.data_dir / "access-ca"
        )
        event.listen(self.sessions, "after_commit", self._after_commit)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop("access_changed", False):
            self.access.invalidate()

    def close(self) -> None:
        self.export.close()
        self.vulns.close()
        self.web.close()
        self.access.close()
        if event.contains(self.sessions, "after_commit", self._after_commit):
            event.remove(self.sessions, "after_commit", self._after_commit)
        self._vuln_engine.dispose()
        self._access_engine.dispose()
        self.engine.dispose()
