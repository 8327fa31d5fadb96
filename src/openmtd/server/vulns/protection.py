"""The server's vulnerability matching: one warm state per process, and the full re-match.

`VulnProtection` holds the newest `VulnState`. When the stored generation moves (an import, a
mapping change) a background thread builds the new state and then re-matches every device
whose results are older, in small batches of their own transactions: the API and check-ins go
on meanwhile and read the previous results until each device's new ones are committed.
The server starts building its first state when it starts.

`rematch_stale` is the re-match itself; `openmtd vulns rematch` runs it in the foreground.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from openmtd.domain.device import AppInfo
from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.server.vulns.assess import DeviceInput, assess, failed, store, stored_rows
from openmtd.server.vulns.queries import RecommendationCache
from openmtd.server.vulns.state import STALE_GENERATION, VULN_GENERATION, VulnState, build_state
from openmtd.server.web.sync import counter
from openmtd.store.models import Device, DeviceApp

log = logging.getLogger(__name__)
REMATCH_BATCH = 100
#: How long a first read waits for the background build before building a state itself.
BUILD_WAIT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class RematchStatus:
    """What the background work is doing, for the API and the console."""

    state: str = "idle"  # idle, building, matching, failed
    generation: int = 0  # of the newest built state
    done: int = 0  # devices re-matched by the current (or last) run
    total: int = 0  # devices it found to re-match
    started_at: datetime | None = None
    finished_at: datetime | None = None
    build_seconds: float = 0.0
    match_seconds: float = 0.0
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "generation": self.generation,
            "done": self.done,
            "total": self.total,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "build_seconds": round(self.build_seconds, 3),
            "match_seconds": round(self.match_seconds, 3),
            "error": self.error,
        }


def device_input(device: Device) -> DeviceInput:
    return DeviceInput(
        device_id=device.id,
        platform=Platform(device.platform),
        scenario=EnrollmentScenario(device.scenario),
        os_version=device.os_version,
        security_patch_level=device.security_patch_level,
        model=device.model,
        os_only=bool((device.privacy or {}).get("vulnerability_privacy_mode")),
        inventory_digest=device.inventory_digest,
    )


def stale_count(db: Session, generation: int) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(Device)
            .where(Device.retired_at.is_(None), Device.vuln_generation != generation)
        )
        or 0
    )


def rematch_stale(
    sessions: sessionmaker[Session],
    state: VulnState,
    *,
    clock: Callable[[], datetime],
    progress: Callable[[int], None] | None = None,
    batch: int = REMATCH_BATCH,
    keep_going: Callable[[], bool] = lambda: True,
) -> int:
    """Match every active device whose results are older than `state`; returns how many.
    Stops early when a newer generation is stored (its own re-match will follow)."""
    done = 0
    while keep_going():
        with sessions() as db:
            if counter(db, VULN_GENERATION) != state.generation:
                return done
            devices = db.scalars(
                select(Device)
                .where(Device.retired_at.is_(None), Device.vuln_generation != state.generation)
                .order_by(Device.id)
                .limit(batch)
                .with_for_update()
            ).all()
            if not devices:
                return done
            apps = _apps_of(db, [d.id for d in devices if not device_input(d).os_only])
            previous = stored_rows(db, [d.id for d in devices])
            now = clock()
            for device in devices:
                d = device_input(device)
                try:
                    result = assess(state, d, apps.get(device.id, ()), now=now)
                except Exception as e:  # a device the matcher cannot read must not stop the run
                    log.exception("matching device %s failed", device.id)
                    result = failed(state, d, f"matching failed: {type(e).__name__}", now=now)
                store(db, device.id, result, previous[device.id])
            db.commit()
        done += len(devices)
        if progress is not None:
            progress(len(devices))
    return done


def _apps_of(db: Session, device_ids: list[str]) -> dict[str, list[AppInfo]]:
    apps: dict[str, list[AppInfo]] = {}
    if not device_ids:
        return apps
    query = select(
        DeviceApp.device_id, DeviceApp.identifier, DeviceApp.version, DeviceApp.name
    ).where(DeviceApp.device_id.in_(device_ids))
    for device_id, identifier, version, name in db.connection().execute(query):
        apps.setdefault(device_id, []).append(AppInfo(identifier, version, name))
    return apps


def mark_all_stale(db: Session) -> int:
    """Every active device is matched again by the next re-match; returns how many."""
    done = db.execute(
        update(Device).where(Device.retired_at.is_(None)).values(vuln_generation=STALE_GENERATION)
    )
    return int(getattr(done, "rowcount", 0) or 0)


class VulnProtection:
    """One per server process: the newest state and the background thread that renews it."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock
        self._state: VulnState | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._built = threading.Event()  # set once a first state exists
        self._again = False
        self._closed = False
        self.status = RematchStatus()
        self.recommendations = RecommendationCache()

    # --- reading -----------------------------------------------------------------------------

    def current(self, generation: int) -> VulnState | None:
        """The state of this generation when it is built; otherwise None, and a build starts."""
        state = self._state
        if state is not None and state.generation == generation:
            return state
        self.renew()
        return None

    def readable(self, db: Session) -> VulnState:
        """The newest state for reading (severities, records): built here if none exists yet,
        and renewed in the background when the stored generation moved."""
        state = self._state
        if state is None:  # wait for the background build rather than build a second state
            deadline = time.monotonic() + BUILD_WAIT_SECONDS
            while not (self._built.is_set() or self._idle.is_set()):
                if time.monotonic() > deadline:
                    break
                self._built.wait(0.05)
            state = self._state
        if state is None:
            state = build_state(db)
            with self._lock:
                if self._state is None or self._state.generation < state.generation:
                    self._state = state
                    self._built.set()
        if state.generation != counter(db, VULN_GENERATION):
            self.renew()
        return state

    # --- renewing ------------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Renew when the stored generation moved (an import by the CLI or another process)
        or devices wait for a re-match; the scheduler calls this every poll."""
        with self._sessions() as db:
            generation = counter(db, VULN_GENERATION)
            state = self._state
            behind = state is None or state.generation != generation
            if behind or stale_count(db, generation):
                self.renew()

    def renew(self) -> None:
        """Build the stored generation and re-match the devices behind it (in the background)."""
        with self._lock:
            if self._closed:
                return
            if not self._idle.is_set():
                self._again = True
                return
            self._idle.clear()
            self._again = False
        threading.Thread(target=self._run, name="openmtd-vuln-rematch", daemon=True).start()

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait until no background work runs (tests, the CLI); False on timeout."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """No new background work; waits a little for a running one to finish its batch."""
        with self._lock:
            self._closed = True
        self._idle.wait(timeout)

    def _run(self) -> None:
        """One job: build and re-match, again as long as renewals arrive meanwhile. The status
        adds up the job's passes, so `done` of `total` and the timings describe all of it."""
        self.status = RematchStatus("building", self.status.generation, started_at=self._clock())
        try:
            while True:
                self._once()
                with self._lock:
                    if not self._again or self._closed or self.status.state == "failed":
                        break
                    self._again = False
            if self.status.state != "failed":
                self.status = replace(self.status, state="idle", finished_at=self._clock())
        finally:
            self._idle.set()

    def _once(self) -> None:
        started = time.perf_counter()
        self.status = replace(self.status, state="building")
        try:
            with self._sessions() as db:
                state = build_state(db)
            self._state = state
            self._built.set()
            built = time.perf_counter()
            with self._sessions() as db:
                behind = stale_count(db, state.generation)
            self.status = replace(
                self.status,
                state="matching",
                generation=state.generation,
                total=self.status.done + behind,
                build_seconds=self.status.build_seconds + built - started,
            )
            rematch_stale(
                self._sessions,
                state,
                clock=self._clock,
                progress=self._progress,
                keep_going=lambda: not self._closed,
            )
            self.status = replace(
                self.status, match_seconds=self.status.match_seconds + time.perf_counter() - built
            )
        except Exception as e:
            log.exception("vulnerability re-match failed")
            self.status = replace(
                self.status, state="failed", finished_at=self._clock(), error=type(e).__name__
            )

    def _progress(self, count: int) -> None:
        self.status = replace(self.status, done=self.status.done + count)
