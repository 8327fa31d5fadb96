"""Google's attestation revocation list (status.json), read from a URL or a file and cached.

The list is fetched when first needed and again after ``refresh``; the last good copy is kept
in memory and on disk (``data_dir/integrity/status.json``), so a server that cannot reach
Google keeps the list it had. A failed fetch is retried no sooner than ten minutes later. When
no list was ever read, verification goes on without one and says so in its facts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from openmtd.engines.integrity.revocation import RevocationList, parse_status_json
from openmtd.server.web.feeds import FeedUnavailable, fetch_bytes

MAX_STATUS_BYTES = 8 * 1024 * 1024
RETRY_AFTER_FAILURE = timedelta(minutes=10)
FETCH_TIMEOUT_SECONDS = 5.0
_EMPTY = b'{"entries": {}}'


@dataclass(frozen=True, slots=True)
class RevocationSnapshot:
    revocations: RevocationList
    status: str  # "off" | "file …" | "fetched …" | "cached …" | "unavailable: …"


class RevocationSource:
    def __init__(self, source: str, *, cache_file: Path, refresh: timedelta) -> None:
        self.source = source.strip()
        self.cache_file = cache_file
        self.refresh = refresh
        self._lock = threading.Lock()
        self._snapshot: RevocationSnapshot | None = None
        self._loaded_at: datetime | None = None
        self._failed_at: datetime | None = None
        self._error = ""

    def snapshot(self, now: datetime) -> RevocationSnapshot:
        if not self.source:
            return RevocationSnapshot(parse_status_json(_EMPTY), "off")
        with self._lock:
            if self._due(now):
                self._load(now)
            if self._snapshot is not None:
                return self._snapshot
            return RevocationSnapshot(parse_status_json(_EMPTY), f"unavailable: {self._error}")

    def _due(self, now: datetime) -> bool:
        if self._failed_at is not None and now - self._failed_at < RETRY_AFTER_FAILURE:
            return False
        return self._loaded_at is None or now - self._loaded_at >= self.refresh

    def _load(self, now: datetime) -> None:
        try:
            data, where = self._read()
            revocations = parse_status_json(data)
        except (FeedUnavailable, ValueError) as e:
            self._failed_at = now
            self._error = f"{self.source}: {e}"
            if self._snapshot is None:
                self._snapshot = self._from_cache()
            return
        self._snapshot = RevocationSnapshot(revocations, f"{where} {now.isoformat()}")
        self._loaded_at = now
        self._failed_at = None
        if where == "fetched":
            self._keep(data)

    def _read(self) -> tuple[bytes, str]:
        data = fetch_bytes(self.source, max_bytes=MAX_STATUS_BYTES, timeout=FETCH_TIMEOUT_SECONDS)
        remote = self.source.startswith(("http://", "https://"))
        return data, "fetched" if remote else "file"

    def _from_cache(self) -> RevocationSnapshot | None:
        try:
            revocations = parse_status_json(self.cache_file.read_bytes())
        except (OSError, ValueError):
            return None
        return RevocationSnapshot(revocations, f"cached copy ({self._error})")

    def _keep(self, data: bytes) -> None:
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_file.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(self.cache_file)
        except OSError:
            pass  # the in-memory copy still serves; the next fetch tries again
