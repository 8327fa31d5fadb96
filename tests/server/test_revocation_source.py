"""Google's revocation list read from a file or a URL (a real HTTP server on loopback), kept on
disk, and kept when a later fetch fails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import SHARED
from openmtd.server.integrity.revocation_source import RevocationSource

STATUS = (SHARED / "data" / "android-key-attestation" / "status.json").read_bytes()
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


class StatusServer:
    def __init__(self) -> None:
        self.body = STATUS
        self.status = 200
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                owner.hits += 1
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *_args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/attestation/status"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[StatusServer]:
    s = StatusServer()
    yield s
    s.close()


def test_off_when_empty(tmp_path: Path) -> None:
    snapshot = RevocationSource("", cache_file=tmp_path / "s.json", refresh=timedelta(hours=1))
    assert snapshot.snapshot(NOW).status == "off"


def test_a_file(tmp_path: Path) -> None:
    path = SHARED / "data" / "android-key-attestation" / "status.json"
    source = RevocationSource(str(path), cache_file=tmp_path / "s.json", refresh=timedelta(hours=1))
    snapshot = source.snapshot(NOW)
    assert snapshot.status.startswith("file ")
    assert snapshot.revocations.lookup(int("cc66e9a93713b6e643b26c15879786f7", 16)) is not None
    assert not (tmp_path / "s.json").exists()  # only fetched lists are kept


def test_a_url_is_fetched_once_per_refresh_and_kept_on_disk(
    tmp_path: Path, server: StatusServer
) -> None:
    cache = tmp_path / "integrity" / "status.json"
    source = RevocationSource(server.url, cache_file=cache, refresh=timedelta(hours=24))
    assert source.snapshot(NOW).status.startswith("fetched ")
    assert cache.read_bytes() == STATUS
    source.snapshot(NOW + timedelta(hours=1))
    assert server.hits == 1
    source.snapshot(NOW + timedelta(hours=25))
    assert server.hits == 2


def test_a_failed_fetch_keeps_the_last_good_list_and_waits(
    tmp_path: Path, server: StatusServer
) -> None:
    source = RevocationSource(
        server.url, cache_file=tmp_path / "s.json", refresh=timedelta(hours=1)
    )
    good = source.snapshot(NOW)
    server.status = 503
    later = source.snapshot(NOW + timedelta(hours=2))
    assert later == good  # the list it had
    assert server.hits == 2
    source.snapshot(NOW + timedelta(hours=2, minutes=5))
    assert server.hits == 2  # no retry within ten minutes
    source.snapshot(NOW + timedelta(hours=2, minutes=11))
    assert server.hits == 3


def test_a_restarted_server_uses_the_copy_on_disk_when_google_is_unreachable(
    tmp_path: Path, server: StatusServer
) -> None:
    cache = tmp_path / "s.json"
    RevocationSource(server.url, cache_file=cache, refresh=timedelta(hours=1)).snapshot(NOW)
    server.body = b"{not json"
    restarted = RevocationSource(server.url, cache_file=cache, refresh=timedelta(hours=1))
    snapshot = restarted.snapshot(NOW)
    assert snapshot.status.startswith("cached copy")
    assert len(snapshot.revocations) == 5


def test_nothing_at_all_is_reported_as_unavailable(tmp_path: Path) -> None:
    source = RevocationSource(
        "http://127.0.0.1:9/status", cache_file=tmp_path / "s.json", refresh=timedelta(hours=1)
    )
    snapshot = source.snapshot(NOW)
    assert snapshot.status.startswith("unavailable: ")
    assert len(snapshot.revocations) == 0
