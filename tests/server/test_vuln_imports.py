"""Vulnerability feed imports into the store, on SQLite and PostgreSQL: incremental re-imports,
catalogs, one transaction per document, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from conftest import SHARED
from openmtd.cli.main import app
from openmtd.domain.errors import InvalidInput
from openmtd.intel.vuln_feeds import parse_cve5, parse_nvd, parse_osv, parse_sofa
from openmtd.intel.vuln_feeds.wire import record_from_json, record_to_json
from openmtd.server.vulns.imports import import_document
from openmtd.store.db import make_engine, make_session_factory, transaction
from openmtd.store.models import EpssRow, KevRow, VulnImport, VulnRecordRow

DATA = SHARED / "data"
SOFA = DATA / "sofa" / "v2_ios_data_feed.json"
KEV = DATA / "cisa-kev" / "known_exploited_vulnerabilities.json"
FIXTURES = Path(__file__).parents[1] / "intel" / "fixtures" / "vulns"
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _import(sessions: sessionmaker[Session], data: bytes, now: datetime = NOW) -> dict[str, object]:
    with transaction(sessions) as db:
        return import_document(db, data, origin="test", now=now).to_json()


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_a_reimport_writes_nothing_and_a_changed_record_is_updated(
    sessions: sessionmaker[Session],
) -> None:
    data = SOFA.read_bytes()
    first = _import(sessions, data)
    assert (first["format"], first["records"], first["new"]) == ("sofa", 1108, 1108)
    again = _import(sessions, data, NOW + timedelta(hours=1))
    assert (again["new"], again["changed"], again["unchanged"]) == (0, 0, 1108)
    with sessions() as db:
        assert db.scalar(select(func.max(VulnRecordRow.imported_at))) == NOW

    # Apple marks one more CVE of a release as exploited: one record changes.
    feed = json.loads(data)
    release = feed["OSVersions"][0]["SecurityReleases"][0]
    cve = next(c for c, exploited in release["CVEs"].items() if not exploited)
    release["CVEs"][cve] = True
    later = _import(sessions, json.dumps(feed).encode(), NOW + timedelta(days=1))
    assert (later["new"], later["changed"], later["unchanged"]) == (0, 1, 1107)
    with sessions() as db:
        row = db.get(VulnRecordRow, ("sofa", cve))
        assert row is not None and row.record["exploited"] is True
        assert row.imported_at == NOW + timedelta(days=1)
    assert _count(sessions, VulnImport) == 3


def test_sources_share_ids_without_clashing(sessions: sessionmaker[Session]) -> None:
    _import(sessions, (DATA / "cve-records" / "cve5" / "CVE-2023-42824.json").read_bytes())
    _import(sessions, (DATA / "cve-records" / "nvd-api-2.0" / "CVE-2023-42824.json").read_bytes())
    with sessions() as db:
        sources = db.scalars(
            select(VulnRecordRow.source).where(VulnRecordRow.id == "CVE-2023-42824")
        ).all()
    assert sorted(sources) == ["cve5", "nvd"]


def test_stored_records_read_back_exactly() -> None:
    parsed = [
        *parse_sofa(SOFA.read_bytes()).records,
        *parse_osv((FIXTURES / "asb_handwritten.json").read_bytes()).records,
        *parse_osv((FIXTURES / "osv_apps_handwritten.json").read_bytes()).records,
        *(
            r
            for p in sorted((DATA / "cve-records" / "cve5").glob("*.json"))
            for r in parse_cve5(p.read_bytes()).records
        ),
        *(
            r
            for p in sorted((DATA / "cve-records" / "nvd-api-2.0").glob("*.json"))
            for r in parse_nvd(p.read_bytes()).records
        ),
    ]
    for record in parsed:
        assert record_from_json(json.loads(json.dumps(record_to_json(record)))) == record


def test_kev_and_epss_catalogs(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    first = _import(sessions, KEV.read_bytes())
    assert (first["format"], first["new"]) == ("kev", 1404)
    catalog = json.loads(KEV.read_bytes())
    catalog["vulnerabilities"][0]["dueDate"] = "2030-01-01"
    changed = _import(sessions, json.dumps(catalog).encode())
    assert (changed["new"], changed["changed"], changed["unchanged"]) == (0, 1, 1403)
    assert _count(sessions, KevRow) == 1404

    epss = (FIXTURES / "epss_scores-2026-11-25.csv").read_bytes()
    scores = _import(sessions, epss)
    assert scores["format"] == "epss" and scores["records"] == _count(sessions, EpssRow) > 0
    smaller = b"\n".join(epss.splitlines()[:4]) + b"\n"  # comment, header, two rows
    _import(sessions, smaller)
    assert _count(sessions, EpssRow) == 2  # a daily snapshot replaces the previous one


@pytest.mark.parametrize(
    "data",
    [b"{not json", b'{"hello": 1}', b"[1, 2, 3]", b""],
    ids=["broken", "foreign", "ints", "empty"],
)
def test_a_document_that_is_no_feed_changes_nothing(
    sessions: sessionmaker[Session], data: bytes
) -> None:
    with pytest.raises(InvalidInput) as e, transaction(sessions) as db:
        import_document(db, data, origin="upload.json", now=NOW)
    assert e.value.code == "bad_vuln_feed"
    assert e.value.message.startswith("upload.json: ")
    assert _count(sessions, VulnImport) == 0
    assert _count(sessions, VulnRecordRow) == 0


def test_the_cli_imports_files_and_reports_failures(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "junk.json").write_text('{"hello": 1}')
    args = ["vulns", "import", str(SOFA), str(tmp_path / "junk.json"), str(tmp_path / "gone.json")]
    result = runner.invoke(app, [*args, "--data-dir", str(tmp_path / "srv"), "--json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert [(i["format"], i["new"]) for i in doc["imports"]] == [("sofa", 1108)]
    assert len(doc["failures"]) == 2
    assert "not a known vulnerability feed format" in doc["failures"][0]
    again = runner.invoke(
        app, ["vulns", "import", str(SOFA), "--data-dir", str(tmp_path / "srv")],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "1108" in again.output and "sofa" in again.output


def test_unusable_locations_are_reported_not_raised(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["vulns", "import", "feeds/\x00x.json", "--data-dir", str(tmp_path), "--json"]
    )
    assert result.exit_code == 1, result.output
    assert "not a usable file path" in json.loads(result.stdout)["failures"][0]
