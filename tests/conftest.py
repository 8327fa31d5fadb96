"""Shared fixtures: every store-backed test runs on SQLite and on PostgreSQL.

PostgreSQL comes from OPENMTD_TEST_POSTGRES_URL (default: the local server, database `test`).
Each test session gets its own schema, so parallel runs never see each other. When the server
is missing the PostgreSQL half skips with the command that starts it, unless
OPENMTD_REQUIRE_ALL=1 (as CI sets), which turns that skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from openmtd.config import Settings
from openmtd.server import security
from openmtd.server.app import create_app
from openmtd.store.db import make_engine, migrate
from openmtd.store.models import Base

POSTGRES_URL = os.environ.get(
    "OPENMTD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_ALL = os.environ.get("OPENMTD_REQUIRE_ALL") == "1"
SHARED = Path(__file__).resolve().parents[2] / "shared"


def missing(what: str, how: str) -> None:
    """Skip (developer laptop) or fail (CI) when a real component is not available."""
    message = f"{what} is not available; {how}"
    if REQUIRE_ALL:
        pytest.fail(f"OPENMTD_REQUIRE_ALL=1: {message}")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's own profile for tests in every test: each console test signs users in, and the
    production parameters cost ~0.2 s per hash or check here. Hashes stay real argon2id."""
    monkeypatch.setattr(security, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def _postgres_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str | None]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = make_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as e:  # noqa: BLE001 - any failure means "no server"
        yield None
        _ = e
        return
    try:
        yield _postgres_schema_url(POSTGRES_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'openmtd.db'}"


@pytest.fixture(scope="session")
def _migrated(_postgres_url: str | None, _sqlite_url: str) -> Iterator[dict[str, Engine]]:
    """One migrated engine per database for the session; disposed before the schema is dropped
    (so no connection is left for the garbage collector to warn about)."""
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    _sqlite_url: str,
    _postgres_url: str | None,
    _migrated: dict[str, Engine],
) -> Iterator[str]:
    """A migrated, empty database on each backend."""
    if request.param == "postgresql":
        if _postgres_url is None:
            missing(
                "PostgreSQL at " + POSTGRES_URL,
                "start it with: pg_ctlcluster --skip-systemctl-redirect "
                "$(ls /etc/postgresql) main start",
            )
        url = _postgres_url
    else:
        url = _sqlite_url
    assert url is not None
    engine = _migrated.get(url)
    if engine is None:
        engine = make_engine(url)
        migrate(engine)
        _migrated[url] = engine
    yield url
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        public_url="https://mtd.example.test",
        migrate_on_start=False,
        feed_scheduler=False,  # tests run refresh_due() themselves
        android_revocation_source="",  # no network here; revocation tests name a file
    )


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> Iterator[Any]:
    application = create_app(settings, clock=clock)
    yield application
    application.state.ctx.close()


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


class Api:
    """Test helpers that act through the real HTTP API, as each kind of caller."""

    def __init__(self, app: Any, client: TestClient, clock: FakeClock) -> None:
        self.app = app
        self.client = client
        self.clock = clock
        self._headers: dict[str, dict[str, str]] = {}

    def headers(self, role: str = "admin") -> dict[str, str]:
        """Authorization headers of a user with `role` (created on first use)."""
        if role not in self._headers:
            from openmtd.domain.enums import Role
            from openmtd.server.security import create_api_token
            from openmtd.server.users.service import create_user

            ctx = self.app.state.ctx
            with ctx.sessions.begin() as db:
                user = create_user(
                    db,
                    username=f"{role}-user",
                    password="correct horse battery",
                    role=Role(role),
                    actor="test",
                    now=self.clock(),
                )
                db.flush()
                _row, token = create_api_token(
                    db, user, name="test", role=Role(role), now=self.clock(), days=None
                )
            self._headers[role] = {"Authorization": f"Bearer {token}"}
        return self._headers[role]

    def onboarding_token(self, **body: Any) -> str:
        body.setdefault("name", f"token-{uuid.uuid4().hex[:6]}")
        r = self.client.post("/api/onboarding/tokens", json=body, headers=self.headers())
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def enroll(
        self,
        scenario: str = "android-work-profile",
        *,
        token: str | None = None,
        hardware_id: str | None = None,
        expect: int = 201,
        **extra: Any,
    ) -> dict[str, Any]:
        platform = scenario.split("-")[0]
        body = {
            "onboarding_token": token or self.onboarding_token(),
            "platform": platform,
            "scenario": scenario,
            "hardware_id": hardware_id or uuid.uuid4().hex,
            "device": {
                "model": "Pixel 8" if platform == "android" else "iPhone 15",
                "os_version": "14" if platform == "android" else "18.3.2",
            },
            **extra,
        }
        r = self.client.post("/api/agent/v1/enroll", json=body)
        assert r.status_code == expect, r.text
        return dict(r.json())

    def checkin(
        self, device: dict[str, Any], *, expect: int = 200, **overrides: Any
    ) -> dict[str, Any]:
        scenario = overrides.pop("scenario", None) or device.get(
            "_scenario", "android-work-profile"
        )
        platform = scenario.split("-")[0]
        body = {
            "report_id": overrides.pop("report_id", uuid.uuid4().hex),
            "collected_at": self.clock().isoformat(),
            "facts": overrides.pop(
                "facts",
                {
                    "platform": platform,
                    "scenario": scenario,
                    "os_version": "14" if platform == "android" else "18.3.2",
                    "security_patch_level": "2026-10-01" if platform == "android" else None,
                    "model": "Pixel 8",
                },
            ),
            **overrides,
        }
        r = self.client.post(
            f"/api/agent/v1/devices/{device['device_id']}/checkins",
            json=body,
            headers={"Authorization": f"Bearer {device['device_credential']}"},
        )
        assert r.status_code == expect, r.text
        return dict(r.json())


@pytest.fixture
def api(app: Any, client: TestClient, clock: FakeClock) -> Api:
    return Api(app, client, clock)
