"""What every request may use: settings, the session factory and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from openmtd.config import Settings
from openmtd.server.apps.protection import AppProtection
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
    _vuln_engine: Engine = field(init=False, repr=False)

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

    def close(self) -> None:
        self.vulns.close()
        self.web.close()
        self._vuln_engine.dispose()
        self.engine.dispose()
